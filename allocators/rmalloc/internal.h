/*
 * internal.h - rmalloc's heap, as its files share it: not part of the API.
 *
 * The heap is one reserved region counted in 16-byte units.  Blocks lie
 * end to end from its start up to `top`; a bit a unit (`starts`) marks
 * where each block, live or free, begins, so a block's size is the distance
 * to the next mark.  The last 4 bytes of every block are its owner word:
 * the handle slot + 1, or 0 for a free block.  A free block (a hole) holds
 * its free-list links and its size at its start.
 *
 * Handles name slots: a 4-byte word a slot (`where`: the block's unit, or
 * the next free slot) and a byte of generation.  What few blocks have
 * besides (a lock count, an alignment above 16) lives in a side table keyed
 * by slot, so the common block pays 5 bytes of table and the owner word.
 */
#ifndef RMALLOC_INTERNAL_H
#define RMALLOC_INTERNAL_H

#include "rmalloc.h"

#include <pthread.h>

#define RMI_HIDDEN __attribute__((visibility("hidden")))

#define UNIT 16u       /* bytes: every block starts on one, so every payload is aligned for max_align_t */
#define OWNER_BYTES 4u /* the owner word that ends every block */
#define NONE UINT32_MAX
#define MAX_UNITS (UINT32_MAX - 1u) /* 64 GiB */
#define MAX_LOCKS UINT16_MAX
#define EXACT_UNITS 32u /* holes of up to 512 bytes have a list of their exact size, and are freed unmerged */
#define LISTS 64        /* of holes: one a size up to EXACT_UNITS, then one a power of two */

/* The start of a free block. */
typedef struct hole {
    uint32_t next, prev; /* in its list */
    uint32_t units;
} hole;

/* A handle's slot: 5 bytes, packed, so that a lookup reads one cache line
 * (the word and the generation in two arrays cost a Python replay a miss
 * more a free). */
typedef struct __attribute__((packed)) slot {
    uint32_t where;     /* the block's unit; the next free slot while free */
    uint8_t generation; /* odd while the slot holds a block */
} slot;

/* What a block has beyond its unit: only blocks locked or aligned above 16
 * bytes have an entry. */
typedef struct side {
    uint32_t key;        /* slot + 1; 0: an empty entry */
    uint16_t locks;
    uint8_t align_shift; /* the block's alignment is 2^align_shift units */
    uint8_t unused;
} side;

/* A block locked lately: its count, kept out of the side table.  The
 * replay locks every block to write it and unlocks it at once, and a
 * side table entry made and dropped each time was 11% of a Python
 * replay's time. */
#define RECENT_LOCKS 8
typedef struct recent_lock {
    uint32_t key; /* slot + 1; 0: empty */
    uint32_t locks;
} recent_lock;

struct rm_heap {
    uint8_t *base;
    uint64_t *starts; /* bit u: a block or a hole starts at unit u (below top) */
    uint64_t *words;  /* bit w: starts[w] is not zero */
    uint64_t *groups; /* bit g: words[g] is not zero */
    uint64_t marks_units; /* what the three cover, a multiple of 64 */
    uint32_t capacity; /* units */
    unsigned flags;
    uint32_t top, peak_top;
    uint32_t held; /* the top at its highest since memory last went back: the pages up to it may be
                    * resident */
    uint32_t first_hole; /* a block start (or top) at or below every hole */
    uint32_t resume;     /* where the last compaction stopped short of the top, or NONE */
    uint32_t zero_from;  /* the heap holds zeros from here up: it never wrote them since they were mapped or
                          * given back */
    uint32_t lists[LISTS];
    uint64_t nonempty; /* bit l: lists[l] has holes */
    /* the handle table */
    slot *slots;
    uint32_t nslots, slots_cap, free_slot;
    side *sides;
    uint32_t sides_cap, sides_used;
    recent_lock recent[RECENT_LOCKS];
    uint32_t locked; /* blocks with a lock count above 0, here or in the side table */
    uint32_t aligned; /* blocks aligned above 16 bytes */
    /* counts */
    uint64_t live_blocks, live_units;
    uint64_t holes, hole_units;
    uint64_t stuck_units; /* hole units that the last compaction could not close */
    uint64_t compactions, bytes_moved, compact_ns, longest_compact_ns, failures, given_back;
    bool shared; /* rm_heap_share: every call takes the mutex */
    pthread_mutex_t mutex;
};

/* ------------------------------------------------ handles.c: the table */

/* A free slot marked in use, with a new generation; NONE if the table
 * can't grow. */
RMI_HIDDEN uint32_t rmi_new_slot(rm_heap *h);

/* Gives the slot back, and its side entry with it. */
RMI_HIDDEN void rmi_drop_slot(rm_heap *h, uint32_t index);

/* The slot HANDLE names, or NONE if it is not a live handle of the heap.
 * Inline: every call but a new block's starts here. */
static inline uint32_t rmi_slot_of(const rm_heap *h, rm_handle_t handle)
{
    uint64_t index = (handle & 0xffffffffu) - 1u;
    if (!h || handle == RM_INVALID_HANDLE || index >= h->nslots)
        return NONE;
    uint8_t generation = h->slots[index].generation;
    if ((handle >> 32) != generation || !(generation & 1u))
        return NONE;
    return (uint32_t)index;
}

static inline rm_handle_t rmi_handle_of(const rm_heap *h, uint32_t index)
{
    return ((rm_handle_t)h->slots[index].generation << 32) | (index + 1u);
}

/* The side entry of slot INDEX, or NULL. */
RMI_HIDDEN side *rmi_side_find(const rm_heap *h, uint32_t index);

/* Sets the alignment of the new block of slot INDEX; returns false (and
 * changes nothing) if the side table can't grow. */
RMI_HIDDEN bool rmi_set_align(rm_heap *h, uint32_t index, unsigned align_shift);

/* One more lock of slot INDEX; false (nothing changed) at MAX_LOCKS, or
 * if the side table can't grow. */
RMI_HIDDEN bool rmi_lock_slot(rm_heap *h, uint32_t index);

/* One lock fewer, if it has any. */
RMI_HIDDEN void rmi_unlock_slot(rm_heap *h, uint32_t index);

/* Which of the recent locks is slot INDEX's, or RECENT_LOCKS if none
 * (INDEX NONE: an empty entry, whose key is 0). */
static inline unsigned rmi_recent_of(const rm_heap *h, uint32_t index)
{
    unsigned i = 0;
    while (i < RECENT_LOCKS && h->recent[i].key != index + 1u)
        i++;
    return i;
}

static inline unsigned rmi_locks(const rm_heap *h, uint32_t index)
{
    if (!h->locked)
        return 0; /* the common case: nothing locked, no lookup */
    unsigned i = rmi_recent_of(h, index);
    if (i < RECENT_LOCKS)
        return h->recent[i].locks;
    const side *s = rmi_side_find(h, index);
    return s ? s->locks : 0;
}

/* The block's alignment, in units. */
static inline uint32_t rmi_align_units(const rm_heap *h, uint32_t index)
{
    if (!h->aligned)
        return 1;
    const side *s = rmi_side_find(h, index);
    return s ? 1u << s->align_shift : 1;
}

/* Bytes of the handle table and the side table. */
RMI_HIDDEN uint64_t rmi_table_bytes(const rm_heap *h);

/* Checks the table against the heap's counts: for rm_heap_check. */
RMI_HIDDEN bool rmi_table_check(const rm_heap *h, char *why, size_t len);

#endif /* RMALLOC_INTERNAL_H */
