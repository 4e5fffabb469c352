/*
 * tagger.c - addresses into tags (tagger.h says the rules).
 */
#include "tagger.h"

int cmt_tagger_init(cmt_tagger *t, unsigned values, bool with_slots, cmt_tag_forget *forget, void *context)
{
    *t = (cmt_tagger){.next_tag = 1, .forget = forget, .context = context, .with_slots = with_slots};
    return cmt_map_init(&t->live, with_slots ? 4 : values);
}

void cmt_tagger_destroy(cmt_tagger *t)
{
    cmt_map_destroy(&t->live);
    cmt_slots_destroy(&t->slots);
}

/* E's slot; 0 without slots, when d is not E's (it is the next entry's). */
static uint32_t slot_of(const cmt_tagger *t, const cmt_map_entry *e)
{
    return t->with_slots ? (uint32_t)e->d : 0;
}

static void forget(cmt_tagger *t, const cmt_map_entry *e)
{
    if (t->forget)
        t->forget(t->context, e);
}

cmt_tag_result cmt_tagger_tag(cmt_tagger *t, cmt_event *ev, uint64_t arg, uint64_t result, cmt_event *implied,
                              cmt_map_entry **entry)
{
    *entry = NULL;
    ev->tag = 0;
    ev->arg_tag = 0;
    bool passes = ev->op == CMT_OP_FREE || ev->op == CMT_OP_REALLOC;
    cmt_map_entry *old = passes && arg ? cmt_map_find(&t->live, arg) : NULL;
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
        ev->arg_tag = old->a;
        ev->arg_slot = slot_of(t, old);
        if (cmt_releases_block(ev->op, result != 0, ev->size)) {
            if (result == arg) { /* in place: the block lives on, under a new tag */
                ev->tag = old->a = t->next_tag++;
                ev->slot = ev->arg_slot;
                *entry = old;
                return CMT_TAG_IN_PLACE;
            }
            forget(t, old);
            if (t->with_slots)
                cmt_slots_give(&t->slots, ev->arg_slot);
            cmt_map_remove(&t->live, old);
        }
    }
    if (!result || !cmt_op_allocates(ev->op))
        return CMT_TAG_EVENT;
    cmt_tag_result rc = CMT_TAG_EVENT;
    cmt_map_entry *e = cmt_map_insert(&t->live, result);
    if (!e)
        return CMT_TAG_NO_MEMORY;
    if (e->a) {
        if (t->strict)
            return CMT_TAG_STILL_LIVE;
        t->counts.reused_live++;
        *implied = (cmt_event){.op = CMT_OP_FREE, .count = 1, .arg_tag = e->a, .arg_slot = slot_of(t, e),
                               .thread = ev->thread};
        forget(t, e);
        rc = CMT_TAG_IMPLIED;
    } else if (t->with_slots) {
        uint32_t slot;
        if (cmt_slots_take(&t->slots, &slot) < 0)
            return CMT_TAG_NO_MEMORY;
        e->d = slot;
    }
    ev->slot = slot_of(t, e);
    ev->tag = e->a = t->next_tag++;
    *entry = e;
    return rc;
}
