/*
 * live.h - the live blocks of a trace in allocation order, with ranks.
 *
 * The .cmt format names the block a free releases by its rank among the
 * blocks live at that moment, counted back from the newest (0 = the most
 * recently allocated block still live).  The original format used the
 * distance in tags instead, which grows with every short-lived block
 * allocated since; the rank does not, since dead blocks are not counted.
 *
 * The writer turns tags into ranks and the reader ranks into tags.  Both
 * keep the live tags in an array in allocation order, dead ones marked, with
 * a Fenwick tree of live counts over it: O(log n) both ways, O(1) for the
 * common case of freeing the newest block.  The array is compacted when
 * more than half of it is dead, so its size follows the live blocks.
 */
#ifndef CMT_LIVE_H
#define CMT_LIVE_H

#include <stddef.h>
#include <stdint.h>

typedef struct cmt_live {
    uint64_t *tags;  /* 1-based; a dead entry has LIVE_DEAD set */
    uint32_t *tree;  /* Fenwick tree of live counts, 1-based */
    size_t n;        /* entries in use; the last is always live */
    size_t cap;
    size_t live;
} cmt_live;

void cmt_live_init(cmt_live *set);
void cmt_live_destroy(cmt_live *set);

/* Adds TAG, which must be greater than every tag added before. */
void cmt_live_push(cmt_live *set, uint64_t tag);

/* Finds the block of rank RANK (0 = newest live) and stores its position
 * in *POS.  Returns 0, or -1 if fewer than RANK + 1 blocks are live. */
int cmt_live_find_rank(const cmt_live *set, uint64_t rank, size_t *pos);

/* Finds live block TAG and stores its position in *POS.  Returns 0, or -1
 * if TAG is not live. */
int cmt_live_find_tag(const cmt_live *set, uint64_t tag, size_t *pos);

/* The tag at POS (from a find). */
static inline uint64_t cmt_live_tag_at(const cmt_live *set, size_t pos)
{
    return set->tags[pos];
}

/* The rank (0 = newest live) of the block at POS. */
uint64_t cmt_live_rank_at(const cmt_live *set, size_t pos);

/* Removes the block at POS; positions found before are no longer valid. */
void cmt_live_remove_at(cmt_live *set, size_t pos);

#endif /* CMT_LIVE_H */
