/*
 * handles.c - the handle table: a 4-byte word and a generation byte a
 * slot, and a side table for the few blocks that are locked or aligned.
 *
 * The word is the block's unit while the slot is in use (16-byte units
 * from the heap's base reach 64 GiB), and the next free slot while it is
 * free.  A handle is the slot + 1 in its low 32 bits and the generation
 * in its high ones: a freed slot's next block gets a new generation, so
 * the old handle is refused until the byte wraps (128 reuses of the slot).
 * Lock counts and alignments went in a side table rather than the slot
 * because a block of a replay or a program that locks to access is locked
 * for a moment: a 16-bit count a slot would be a third of the table for
 * entries that are almost all zero.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>

/* The table grows by an eighth (64 slots at least), not twice: doubling
 * held 8.4 M slots for a Python run's 6.0 M blocks, and a first page of
 * slots was 15% of soffice's 26 KB live. */
#define SLOTS_STEP 64u
#define SIDES_MIN 16u

uint32_t rmi_new_slot(rm_heap *h)
{
    uint32_t index;
    if (h->free_slot != NONE) {
        index = h->free_slot;
        h->free_slot = h->slots[index].where;
    } else {
        if (h->nslots == h->slots_cap) {
            uint32_t step = h->slots_cap / 8 > SLOTS_STEP ? h->slots_cap / 8 : SLOTS_STEP;
            if (h->slots_cap > NONE - 1 - step)
                return NONE;
            uint32_t cap = h->slots_cap + step;
            slot *slots = realloc(h->slots, (size_t)cap * sizeof *slots);
            if (!slots)
                return NONE;
            h->slots = slots;
            h->slots_cap = cap;
        }
        index = h->nslots++;
        h->slots[index].generation = 0;
    }
    h->slots[index].generation++; /* odd: in use */
    return index;
}

static inline uint32_t side_hash(uint32_t index, uint32_t cap)
{
    return (uint32_t)(((index + 1u) * 0x9E3779B1u) >> 7) & (cap - 1u);
}

side *rmi_side_find(const rm_heap *h, uint32_t index)
{
    if (!h->sides_used)
        return NULL;
    for (uint32_t i = side_hash(index, h->sides_cap);; i = (i + 1) & (h->sides_cap - 1)) {
        side *s = &h->sides[i];
        if (s->key == index + 1u)
            return s;
        if (s->key == 0)
            return NULL;
    }
}

static void side_put(side *table, uint32_t cap, side entry)
{
    uint32_t i = side_hash(entry.key - 1u, cap);
    while (table[i].key)
        i = (i + 1) & (cap - 1);
    table[i] = entry;
}

/* Deletes the entry at I by shifting back the entries of its run that
 * hashed before it: no tombstones, so lookups stay short. */
static void side_delete(rm_heap *h, uint32_t i)
{
    uint32_t mask = h->sides_cap - 1;
    for (uint32_t j = (i + 1) & mask; h->sides[j].key; j = (j + 1) & mask) {
        uint32_t home = side_hash(h->sides[j].key - 1u, h->sides_cap);
        /* Move j into i if its home does not lie in (i, j]. */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            h->sides[i] = h->sides[j];
            i = j;
        }
    }
    h->sides[i].key = 0;
    h->sides_used--;
}

static bool side_grow(rm_heap *h)
{
    uint32_t cap = h->sides_cap ? h->sides_cap * 2 : SIDES_MIN;
    side *table = calloc(cap, sizeof *table);
    if (!table)
        return false;
    for (uint32_t i = 0; i < h->sides_cap; i++)
        if (h->sides[i].key)
            side_put(table, cap, h->sides[i]);
    free(h->sides);
    h->sides = table;
    h->sides_cap = cap;
    return true;
}

/* Sets the lock count (of a block whose count is not among the recent
 * ones) and the alignment of slot INDEX; false (nothing changed) if the
 * table can't grow. */
static bool side_set(rm_heap *h, uint32_t index, unsigned locks, unsigned align_shift)
{
    side *s = rmi_side_find(h, index);
    unsigned old_locks = s ? s->locks : 0, old_shift = s ? s->align_shift : 0;
    if (!s && (locks || align_shift)) {
        if (2 * (h->sides_used + 1) > h->sides_cap && !side_grow(h))
            return false;
        side_put(h->sides, h->sides_cap, (side){.key = index + 1u});
        h->sides_used++;
        s = rmi_side_find(h, index);
    }
    h->locked += (locks > 0) - (old_locks > 0);
    h->aligned += (align_shift > 0) - (old_shift > 0);
    if (!s)
        return true;
    if (!locks && !align_shift) {
        side_delete(h, (uint32_t)(s - h->sides));
        return true;
    }
    s->locks = (uint16_t)locks;
    s->align_shift = (uint8_t)align_shift;
    return true;
}

bool rmi_set_align(rm_heap *h, uint32_t index, unsigned align_shift)
{
    return side_set(h, index, 0, align_shift);
}

/* The recent entry of slot INDEX, or NULL. */
static recent_lock *recent_of(rm_heap *h, uint32_t index)
{
    unsigned i = rmi_recent_of(h, index);
    return i < RECENT_LOCKS ? &h->recent[i] : NULL;
}

bool rmi_lock_slot(rm_heap *h, uint32_t index)
{
    recent_lock *r = h->locked ? recent_of(h, index) : NULL;
    if (r) {
        if (r->locks == MAX_LOCKS)
            return false;
        r->locks++;
        return true;
    }
    side *s = rmi_side_find(h, index);
    if (s && s->locks) {
        if (s->locks == MAX_LOCKS)
            return false;
        s->locks++;
        return true;
    }
    if ((r = recent_of(h, NONE)) != NULL) { /* an empty entry: key 0 */
        *r = (recent_lock){.key = index + 1u, .locks = 1};
        h->locked++;
        return true;
    }
    return side_set(h, index, 1, s ? s->align_shift : 0);
}

void rmi_unlock_slot(rm_heap *h, uint32_t index)
{
    if (!h->locked)
        return;
    recent_lock *r = recent_of(h, index);
    if (r) {
        if (--r->locks == 0) {
            r->key = 0;
            h->locked--;
        }
        return;
    }
    side *s = rmi_side_find(h, index);
    if (s && s->locks)
        side_set(h, index, s->locks - 1u, s->align_shift); /* a count that falls never grows the table */
}

void rmi_drop_slot(rm_heap *h, uint32_t index)
{
    recent_lock *r = h->locked ? recent_of(h, index) : NULL;
    if (r) {
        r->key = 0;
        h->locked--;
    }
    if (h->sides_used)
        side_set(h, index, 0, 0); /* deleting never fails */
    h->slots[index].generation++; /* even: free */
    h->slots[index].where = h->free_slot;
    h->free_slot = index;
}

uint64_t rmi_table_bytes(const rm_heap *h)
{
    return (uint64_t)h->slots_cap * sizeof(slot) +
           (uint64_t)h->sides_cap * sizeof(side);
}

bool rmi_table_check(const rm_heap *h, char *why, size_t len)
{
    uint64_t live = 0, free_slots = 0;
    for (uint32_t i = 0; i < h->nslots; i++)
        live += h->slots[i].generation & 1u;
    for (uint32_t i = h->free_slot; i != NONE; i = h->slots[i].where)
        if (i >= h->nslots || (h->slots[i].generation & 1u) || ++free_slots > h->nslots) {
            snprintf(why, len, "the free slots are broken at slot %u", i);
            return false;
        }
    if (live != h->live_blocks || live + free_slots != h->nslots) {
        snprintf(why, len, "%llu slots in use and %llu free of %u, for %llu blocks", (unsigned long long)live,
                 (unsigned long long)free_slots, h->nslots, (unsigned long long)h->live_blocks);
        return false;
    }
    uint32_t used = 0, locked = 0, aligned = 0;
    for (uint32_t i = 0; i < h->sides_cap; i++) {
        const side *s = &h->sides[i];
        if (!s->key)
            continue;
        if (s->key > h->nslots || !(h->slots[s->key - 1].generation & 1u) || rmi_side_find(h, s->key - 1) != s ||
            (!s->locks && !s->align_shift)) {
            snprintf(why, len, "side entry %u (slot %u) is stale, lost or empty", i, s->key - 1);
            return false;
        }
        used++;
        locked += s->locks > 0;
        aligned += s->align_shift > 0;
    }
    for (unsigned i = 0; i < RECENT_LOCKS; i++) {
        const recent_lock *r = &h->recent[i];
        if (!r->key)
            continue;
        const side *s = r->key <= h->nslots ? rmi_side_find(h, r->key - 1) : NULL;
        if (r->key > h->nslots || !(h->slots[r->key - 1].generation & 1u) || !r->locks || (s && s->locks)) {
            snprintf(why, len, "recent lock %u (slot %u) is stale, empty or counted twice", i, r->key - 1);
            return false;
        }
        locked++;
    }
    if (used != h->sides_used || locked != h->locked || aligned != h->aligned) {
        snprintf(why, len, "%u side entries (%u locked, %u aligned), counted %u (%u, %u)", used, locked, aligned,
                 h->sides_used, h->locked, h->aligned);
        return false;
    }
    return true;
}
