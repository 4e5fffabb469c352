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
