/*
 * live.h - the live blocks of a trace in allocation order, with ranks.
 *
 * The .cmt format names the block a free releases by its rank among the
 * blocks live at that moment, counted back from the newest (0 = the most
 * recently allocated block still live).  The original format used the
 * distance in tags instead, which grows with every short-lived block
 * allocated since; the rank does not, since dead blocks are not counted.
 *
 * The writer turns tags into ranks and the reader ranks into tags (and
 * slots).  Both keep the tags in an array in allocation order, with a bit
 * for each that says whether it is still live.  The bits are counted in
 * words of 64 and groups of 16 words: a Fenwick tree of the groups' live
 * counts (10 KB for millions of blocks live) and each word's first tag
 * are small enough to stay in the cache, so that a rank or a tag is found
 * with a search there, a group's bits and one word of the array, not a
 * chain of cache misses across it.  Blocks mostly die young, so the
 * searches start from the newest end, but a tag is first looked for next
 * to the last one found: a program that tears down a structure frees its
 * blocks in the order it made them, or in reverse.  The array is
 * compacted when more than half of it is dead, so its size follows the
 * live blocks.
 */
#ifndef CMT_LIVE_H
#define CMT_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cmti_live {
    uint64_t *tags;  /* by position, 0-based, in allocation order; dead ones too */
    uint32_t *slots; /* by position: the block's slot (slots.h), for the reader; NULL for the writer */
    uint64_t *bits;  /* a live bit for each position, 64 to a word */
    uint64_t *first; /* the tag at each word's first position */
    uint32_t *tree;  /* Fenwick tree of the live counts of groups of 16 words, 1-based */
    size_t n;        /* positions in use; the last is always live */
    size_t cap;      /* positions allocated: a multiple of 64 */
    size_t live;
    size_t finger;   /* the word where the last tag was found */
    size_t rank_finger;      /* the last position ranked far from the newest (SIZE_MAX: none) */
    uint64_t after_finger;   /* the live positions after it */
    size_t bytes;    /* of the one table the arrays are in */
    bool with_slots;
} cmti_live;

/* An empty set, keeping each block's slot WITH_SLOTS (the reader; the
 * writer's set is a third smaller without); 0, or -1 when out of memory
 * (then only destroy it). */
int cmti_live_init(cmti_live *set, bool with_slots);
void cmti_live_destroy(cmti_live *set);

/* Adds TAG, which must be greater than every tag added before, with its
 * SLOT (if the set keeps them).  Returns 0, or -1 when out of memory, the
 * set as it was. */
int cmti_live_push(cmti_live *set, uint64_t tag, uint32_t slot);

/* Finds the block of rank RANK (0 = newest live) and stores its position
 * in *POS.  Returns 0, or -1 if fewer than RANK + 1 blocks are live. */
int cmti_live_find_rank(const cmti_live *set, uint64_t rank, size_t *pos);

/* The tag at POS (from a find). */
static inline uint64_t cmti_live_tag_at(const cmti_live *set, size_t pos)
{
    return set->tags[pos];
}

/* The slot pushed with the tag at POS (in a set that keeps them). */
static inline uint32_t cmti_live_slot_at(const cmti_live *set, size_t pos)
{
    return set->slots[pos];
}

/* True if the block at POS (below set->n) is live: the positions in
 * allocation order whose blocks are. */
static inline bool cmti_live_is_live(const cmti_live *set, size_t pos)
{
    return set->bits[pos / 64] >> (pos % 64) & 1;
}

/* Removes the block at POS; positions found before are no longer valid. */
void cmti_live_remove_at(cmti_live *set, size_t pos);

/* The rank (0 = newest live) of live block TAG in *RANK, and with TAKE
 * the block removed.  Returns 0, or -1 if TAG is not live. */
int cmti_live_rank_of(cmti_live *set, uint64_t tag, bool take, uint64_t *rank);

#endif /* CMT_LIVE_H */
