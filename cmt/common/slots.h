/*
 * slots.h - a dense number for each live block: what the readers hand
 * the replay with every event (cmt_event.slot, .arg_slot), so that it
 * keeps its blocks in a flat array rather than hashing tags.
 *
 * A block takes a slot when it is made and gives it back when it goes;
 * the next block takes the slot given back last.  A new number is made
 * only when none is free, so the numbers never reach the most blocks live
 * at once: an array indexed by them follows the live set, not the trace.
 * Hashing tags was a third of the null replay's clock on 456.hmmer
 * (map insert, remove and find: 14.5% of the process, the clock 33%).
 */
#ifndef CMT_SLOTS_H
#define CMT_SLOTS_H

#include "internal.h"

#include <stdint.h>

typedef struct cmti_slots {
    uint32_t *free; /* slots given back, the last on top */
    size_t nfree, cap;
    uint32_t next;  /* the first slot never taken */
} cmti_slots;

/* A slot for a new block: 0 and *SLOT set, or -1 when out of memory (or
 * of 2^32 slots), the pool as it was. */
static inline int cmti_slots_take(cmti_slots *pool, uint32_t *slot)
{
    if (pool->nfree) {
        *slot = pool->free[--pool->nfree];
        return 0;
    }
    if (pool->next == UINT32_MAX)
        return -1;
    *slot = pool->next++;
    return 0;
}

/* SLOT's block is gone.  Out of memory to keep it, the slot is not used
 * again: the numbers stay unique, and may then pass the peak live. */
static inline void cmti_slots_give(cmti_slots *pool, uint32_t slot)
{
    if (pool->nfree == pool->cap) {
        size_t cap = pool->cap ? 2 * pool->cap : 1024;
        uint32_t *grown = cmti_realloc(pool->free, cap * sizeof *grown);
        if (!grown)
            return;
        pool->free = grown;
        pool->cap = cap;
    }
    pool->free[pool->nfree++] = slot;
}

static inline void cmti_slots_destroy(cmti_slots *pool)
{
    cmti_free(pool->free);
    *pool = (cmti_slots){0};
}

/* Makes *TABLE, an array of *COUNT entries of ENTRY_BYTES indexed by
 * slot, hold SLOT: doubled until it does, zeroed where new.  Returns 0,
 * or -1 when out of memory, the table as it was.  Free it with
 * cmti_table_free(*TABLE, *COUNT * ENTRY_BYTES). */
static inline int cmti_slot_table_fit(void **table, size_t *count, size_t entry_bytes, uint32_t slot)
{
    if (slot < *count)
        return 0;
    size_t n = *count ? *count : 1024;
    while (n <= slot)
        n *= 2;
    void *grown = cmti_table_resize(*table, *count * entry_bytes, n * entry_bytes);
    if (!grown)
        return -1;
    *table = grown;
    *count = n;
    return 0;
}

#endif /* CMT_SLOTS_H */
