/*
 * blocks.h - the live blocks of a trace being analysed, by slot: a flat
 * array indexed by the slot numbers the readers give each live block
 * (cmt_event.slot), where a map of tags was 33% of cmtstat's time on a
 * 19 M-event Python trace with 2.66 M blocks live, and took more memory.
 */
#ifndef CMT_ANALYSIS_BLOCKS_H
#define CMT_ANALYSIS_BLOCKS_H

#include "cmt_internal.h"

/* A live block: its tag (0: the slot is free), bytes, the event it was
 * made at, and what its user keeps of it: the accesses to it (the
 * statistics), its address (the layout), or its stack (the sites). */
typedef struct live_block {
    uint64_t tag, bytes, born;
    union {
        uint64_t accesses, address, stack;
    };
} live_block;

typedef struct live_blocks {
    live_block *by_slot;
    size_t slots; /* entries of by_slot */
    size_t live;
} live_blocks;

/* Live block TAG, in SLOT; NULL if there is none. */
static inline live_block *live_blocks_find(live_blocks *t, uint64_t tag, uint32_t slot)
{
    return tag && slot < t->slots && t->by_slot[slot].tag == tag ? &t->by_slot[slot] : NULL;
}

/* The live block a free or a realloc EV passes (released, or kept by a
 * realloc that failed); NULL for other events and blocks not live. */
static inline live_block *live_blocks_passed(live_blocks *t, const cmt_event *ev)
{
    return ev->op == CMT_OP_FREE || ev->op == CMT_OP_REALLOC ? live_blocks_find(t, ev->arg_tag, ev->arg_slot) : NULL;
}

/* The block EV returns, made at event BORN; NULL when out of memory, or
 * when EV's slot is another live block's (events without the readers'
 * slots). */
static inline live_block *live_blocks_add(live_blocks *t, const cmt_event *ev, uint64_t born)
{
    if (cmti_slot_table_fit((void **)&t->by_slot, &t->slots, sizeof *t->by_slot, ev->slot) < 0 ||
        t->by_slot[ev->slot].tag)
        return NULL;
    live_block *b = &t->by_slot[ev->slot];
    *b = (live_block){.tag = ev->tag, .bytes = cmt_event_bytes(ev), .born = born};
    t->live++;
    return b;
}

/* Block B is gone. */
static inline void live_blocks_remove(live_blocks *t, live_block *b)
{
    b->tag = 0;
    t->live--;
}

static inline void live_blocks_destroy(live_blocks *t)
{
    cmti_table_free(t->by_slot, t->slots * sizeof *t->by_slot);
    *t = (live_blocks){0};
}

#endif /* CMT_ANALYSIS_BLOCKS_H */
