/*
 * tagger.h - addresses into tags: the one set of rules every reader of
 * addresses follows, the text readers (text/parse.c) and the recorder
 * (record/sink.c) alike.
 *
 * A block gets the next tag when a call returns it and keeps it until a
 * call releases it (cmt_releases_block).  What a trace may say that a
 * program could not, each counted and handled one way:
 *   - a free of a block that is not live (from before the trace, or a
 *     double free): dropped, counted as an unknown free;
 *   - a realloc of a block that is not live: read as realloc(NULL, n),
 *     counted as an unknown realloc;
 *   - an allocation that returns a block still live (the trace missed its
 *     free, or another thread's free raced the record): the old block is
 *     freed first by an implied free, counted as reused live.
 * And what programs do that is easy to get wrong: a realloc that fails
 * keeps its block; realloc(p, 0) frees p whatever it returns; a realloc
 * that returns the block it was passed (in place) gives it a new tag, as
 * every realloc that returns a block does.
 *
 * Blocks are named by a key of the caller's choosing (an address, a
 * handle + 1), never 0.
 */
#ifndef CMT_TAGGER_H
#define CMT_TAGGER_H

#include "map.h"
#include "slots.h"
#include "../cmt.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct cmti_tag_counts {
    uint64_t unknown_frees;    /* free of a block not live: dropped */
    uint64_t unknown_reallocs; /* realloc of a block not live: realloc(NULL, n) */
    uint64_t reused_live;      /* a block returned while still live: an implied free first */
} cmti_tag_counts;

/* What a tagger's entry holds: the block's tag and (with_slots) its slot;
 * the caller's own two values between them, in a tagger of three or four
 * values, which the caller names. */
enum { CMTI_TAGGED_TAG = 0, CMTI_TAGGED_SLOT = 3 };

/* Called when a live block goes (freed, moved by a realloc, or freed by
 * an implied free), before its entry is removed or reused. */
typedef void cmti_tag_forget(void *context, const cmti_map_entry *e);

typedef struct cmti_tagger {
    cmti_map live; /* key -> the values below */
    cmti_slots slots; /* with_slots: the live blocks' (ev->slot, ev->arg_slot) */
    bool with_slots;
    uint64_t next_tag;
    cmti_tag_counts counts;
    bool strict; /* what would be counted is an error instead */
    cmti_tag_forget *forget;
    void *context;
} cmti_tagger;

/* An empty tagger; its entries hold VALUES values (1: the tag only, or 3).
 * WITH_SLOTS (VALUES 3 only): events get slots too, at the cost of a
 * fourth value an entry (CMTI_TAGGED_SLOT).  FORGET may be NULL.  Returns 0, or -1 when
 * out of memory (then only destroy it). */
int cmti_tagger_init(cmti_tagger *t, unsigned values, bool with_slots, cmti_tag_forget *forget, void *context);
void cmti_tagger_destroy(cmti_tagger *t);

typedef enum cmti_tag_result {
    CMT_TAG_EVENT,      /* the event is tagged */
    CMT_TAG_IN_PLACE,   /* tagged: a realloc that kept its block where it was */
    CMT_TAG_IMPLIED,    /* tagged, and an implied free must come before it */
    CMT_TAG_DROP,       /* a free of a block not live: counted, the event dropped */
    CMT_TAG_NOT_LIVE,   /* strict: the block passed is not live */
    CMT_TAG_STILL_LIVE, /* strict: the block returned is still live */
    CMT_TAG_NO_MEMORY,  /* out of memory: the tagger is only to be destroyed */
} cmti_tag_result;

/* E's slot; 0 without slots (value[3] is then not E's but the next
 * entry's). */
static inline uint32_t cmti_tagger_slot_of(const cmti_tagger *t, const cmti_map_entry *e)
{
    return t->with_slots ? (uint32_t)e->value[CMTI_TAGGED_SLOT] : 0;
}

/* Tells the tagger's user that block E is going. */
static inline void cmti_tagger_forget(cmti_tagger *t, const cmti_map_entry *e)
{
    if (t->forget)
        t->forget(t->context, e);
}

/* Tags EV (op, sizes set), a call passed the block keyed ARG (0: none, or
 * NULL; looked at only for free and realloc, the calls that pass one) that
 * returned the block keyed RESULT (0: none, or NULL): sets ev->arg_tag and
 * ev->tag (and their slots).  A realloc in place keeps its slot, and so
 * does a block returned while still live.  *ENTRY is the returned block's
 * entry (NULL if none), good until the next call, for the caller's values:
 * new ones are zero; in place, and with CMT_TAG_IMPLIED, they are the
 * block's that was there (the implied free's, which FORGET has seen).
 * With CMT_TAG_IMPLIED, *IMPLIED is the free to write first.  After a
 * strict error the tagger is not to be used again.  Inline: every event a
 * recorder or a text reader sees comes through here, and the call's own
 * cost was 21 instructions an event, 40% of the tagger's. */
static inline cmti_tag_result cmti_tagger_tag(cmti_tagger *t, cmt_event *ev, uint64_t arg, uint64_t result,
                                              cmt_event *implied, cmti_map_entry **entry)
{
    *entry = NULL;
    ev->tag = 0;
    ev->arg_tag = 0;
    bool passes = ev->op == CMT_OP_FREE || ev->op == CMT_OP_REALLOC;
    cmti_map_entry *old = passes && arg ? cmti_map_find(&t->live, arg) : NULL;
    if (passes && arg && !old) {
        if (t->strict)
            return CMT_TAG_NOT_LIVE;
        if (ev->op == CMT_OP_FREE) {
            t->counts.unknown_frees++;
            return CMT_TAG_DROP;
        }
        t->counts.unknown_reallocs++; /* from before the trace: a fresh allocation */
    }
    if (old) {
        ev->arg_tag = old->value[CMTI_TAGGED_TAG];
        ev->arg_slot = cmti_tagger_slot_of(t, old);
        if (cmt_releases_block(ev->op, result != 0, ev->size)) {
            if (result == arg) { /* in place: the block lives on, under a new tag */
                ev->tag = old->value[CMTI_TAGGED_TAG] = t->next_tag++;
                ev->slot = ev->arg_slot;
                *entry = old;
                return CMT_TAG_IN_PLACE;
            }
            cmti_tagger_forget(t, old);
            if (t->with_slots)
                cmti_slots_give(&t->slots, ev->arg_slot);
            cmti_map_remove(&t->live, old);
        }
    }
    if (!result || !cmt_op_allocates(ev->op))
        return CMT_TAG_EVENT;
    cmti_tag_result rc = CMT_TAG_EVENT;
    cmti_map_entry *e = cmti_map_insert(&t->live, result);
    if (!e)
        return CMT_TAG_NO_MEMORY;
    if (e->value[CMTI_TAGGED_TAG]) {
        if (t->strict)
            return CMT_TAG_STILL_LIVE;
        t->counts.reused_live++;
        *implied = (cmt_event){.op = CMT_OP_FREE, .count = 1, .arg_tag = e->value[CMTI_TAGGED_TAG],
                               .arg_slot = cmti_tagger_slot_of(t, e), .thread = ev->thread, .time = ev->time};
        cmti_tagger_forget(t, e);
        rc = CMT_TAG_IMPLIED;
    } else if (t->with_slots) {
        uint32_t slot;
        if (cmti_slots_take(&t->slots, &slot) < 0)
            return CMT_TAG_NO_MEMORY;
        e->value[CMTI_TAGGED_SLOT] = slot;
    }
    ev->slot = cmti_tagger_slot_of(t, e);
    ev->tag = e->value[CMTI_TAGGED_TAG] = t->next_tag++;
    *entry = e;
    return rc;
}

/* cmti_tagger_tag, where it is plain, for a free of block KEY: in a tagger
 * without slots, a block that is live.  Its tag, the block gone; 0 where
 * not plain (nothing done: cmti_tagger_tag is for it). */
static inline uint64_t cmti_tagger_free_live(cmti_tagger *t, uint64_t key)
{
    cmti_map_entry *e = key && !t->with_slots ? cmti_map_find(&t->live, key) : NULL;
    if (!e)
        return 0;
    uint64_t tag = e->value[CMTI_TAGGED_TAG];
    cmti_tagger_forget(t, e);
    cmti_map_remove(&t->live, e);
    return tag;
}

/* The same for a call that returned block KEY: in a tagger without slots,
 * a block not live.  Its tag, new; 0 where not plain (nothing done). */
static inline uint64_t cmti_tagger_returned_new(cmti_tagger *t, uint64_t key)
{
    cmti_map_entry *e = key && !t->with_slots ? cmti_map_insert(&t->live, key) : NULL;
    if (!e || e->value[CMTI_TAGGED_TAG])
        return 0;
    return e->value[CMTI_TAGGED_TAG] = t->next_tag++;
}

/* The live block keyed KEY, or NULL. */
static inline cmti_map_entry *cmti_tagger_find(const cmti_tagger *t, uint64_t key)
{
    return cmti_map_find(&t->live, key);
}

#endif /* CMT_TAGGER_H */
