/*
 * tagger.c - addresses into tags (tagger.h says the rules).
 */
#include "tagger.h"

int cmti_tagger_init(cmti_tagger *t, unsigned values, bool with_slots, cmti_tag_forget *forget, void *context)
{
    *t = (cmti_tagger){.next_tag = 1, .forget = forget, .context = context, .with_slots = with_slots};
    return cmti_map_init(&t->live, with_slots ? 4 : values);
}

void cmti_tagger_destroy(cmti_tagger *t)
{
    cmti_map_destroy(&t->live);
    cmti_slots_destroy(&t->slots);
}

/* E's slot; 0 without slots, when d is not E's (it is the next entry's). */
static uint32_t slot_of(const cmti_tagger *t, const cmti_map_entry *e)
{
    return t->with_slots ? (uint32_t)e->value[CMTI_TAGGED_SLOT] : 0;
}

static void forget(cmti_tagger *t, const cmti_map_entry *e)
{
    if (t->forget)
        t->forget(t->context, e);
}

cmti_tag_result cmti_tagger_tag(cmti_tagger *t, cmt_event *ev, uint64_t arg, uint64_t result, cmt_event *implied,
                              cmti_map_entry **entry)
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
        ev->arg_slot = slot_of(t, old);
        if (cmt_releases_block(ev->op, result != 0, ev->size)) {
            if (result == arg) { /* in place: the block lives on, under a new tag */
                ev->tag = old->value[CMTI_TAGGED_TAG] = t->next_tag++;
                ev->slot = ev->arg_slot;
                *entry = old;
                return CMT_TAG_IN_PLACE;
            }
            forget(t, old);
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
        *implied = (cmt_event){.op = CMT_OP_FREE, .count = 1, .arg_tag = e->value[CMTI_TAGGED_TAG], .arg_slot = slot_of(t, e),
                               .thread = ev->thread, .time = ev->time};
        forget(t, e);
        rc = CMT_TAG_IMPLIED;
    } else if (t->with_slots) {
        uint32_t slot;
        if (cmti_slots_take(&t->slots, &slot) < 0)
            return CMT_TAG_NO_MEMORY;
        e->value[CMTI_TAGGED_SLOT] = slot;
    }
    ev->slot = slot_of(t, e);
    ev->tag = e->value[CMTI_TAGGED_TAG] = t->next_tag++;
    *entry = e;
    return rc;
}
