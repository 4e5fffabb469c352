/*
 * test_units.c - the pieces under the format: varints, the checksum, the
 * live-block ranks, the hash map, the tagger; and the recorder's notes of
 * the time.
 */
#include "helpers.h"
#include "cmt_internal.h"
#include "recorder.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

Test(varint, round_trips_boundaries_and_random_values)
{
    uint64_t values[200] = {0, 1, 127, 128, 255, 16383, 16384, UINT32_MAX, (1ULL << 63) - 1,
                            1ULL << 63, UINT64_MAX};
    srand(7);
    for (int i = 11; i < 200; i++)
        values[i] = ((uint64_t)rand() << 33 ^ (uint64_t)rand()) >> (rand() % 64);
    for (int i = 0; i < 200; i++) {
        uint8_t buf[CMT_VARINT_MAX];
        size_t n = cmti_varint_put(buf, values[i]);
        cr_assert_eq(n, cmti_varint_size(values[i]));
        const uint8_t *p = buf;
        uint64_t back;
        cr_assert_eq(cmti_varint_get(&p, buf + n, &back), 0);
        cr_assert_eq(back, values[i]);
        cr_assert_eq(p, buf + n);
    }
}

Test(varint, rejects_truncation_and_overflow)
{
    uint8_t buf[CMT_VARINT_MAX];
    size_t n = cmti_varint_put(buf, UINT64_MAX);
    cr_assert_eq(n, 10);
    uint64_t v;
    for (size_t cut = 0; cut < n; cut++) {
        const uint8_t *p = buf;
        cr_assert_eq(cmti_varint_get(&p, buf + cut, &v), -1, "cut at %zu", cut);
    }
    uint8_t too_big[11] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
    const uint8_t *p = too_big;
    cr_assert_eq(cmti_varint_get(&p, too_big + 10, &v), -1, "2^64 must not fit");
    uint8_t too_long[11] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    p = too_long;
    cr_assert_eq(cmti_varint_get(&p, too_long + 11, &v), -1, "11 bytes is too long");
}

Test(checksum, does_not_depend_on_how_data_is_split)
{
    uint8_t data[1000];
    for (int i = 0; i < 1000; i++)
        data[i] = (uint8_t)(i * 31 + 7);
    cmti_checksum whole, pieces;
    cmti_checksum_init(&whole);
    cmti_checksum_update(&whole, data, sizeof data);
    cmti_checksum_init(&pieces);
    for (size_t at = 0, step = 1; at < sizeof data; at += step, step = step % 13 + 1)
        cmti_checksum_update(&pieces, data + at, at + step > sizeof data ? sizeof data - at : step);
    cr_assert_eq(cmti_checksum_final(&whole), cmti_checksum_final(&pieces));
}

Test(checksum, sees_a_flipped_bit_and_a_missing_byte)
{
    uint8_t data[64] = {0};
    cmti_checksum a, b, c;
    cmti_checksum_init(&a);
    cmti_checksum_update(&a, data, sizeof data);
    data[17] ^= 4;
    cmti_checksum_init(&b);
    cmti_checksum_update(&b, data, sizeof data);
    cmti_checksum_init(&c);
    cmti_checksum_update(&c, data, sizeof data - 1);
    cr_assert_neq(cmti_checksum_final(&a), cmti_checksum_final(&b));
    cr_assert_neq(cmti_checksum_final(&b), cmti_checksum_final(&c));
}

/* The live set against a plain array that does the same the slow way:
 * STEPS random pushes and removals, pushing GROW percent of the time in
 * phases of PHASE steps and 100 - GROW in the phases between, so that
 * the live set grows (ranks far enough back to need the tree) and shrinks
 * to nothing (the end moving back); a quarter of the removals go through
 * the blocks in the order they were made, as a teardown does (each ranked
 * from the one before).  WITH_SLOTS: the reader's set, whose slots follow
 * their tags. */
static void check_ranks(int steps, int grow, int phase, bool with_slots)
{
    cmti_live set;
    cmti_live_init(&set, with_slots);
    uint64_t *model = malloc((size_t)steps * sizeof *model);
    size_t nmodel = 0, in_order = 0;
    uint64_t next = 1;
    srand(42);
    for (int step = 0; step < steps; step++) {
        int dice = rand() % 100, growing = step / phase % 2 == 0;
        if (nmodel == 0 || rand() % 100 < (growing ? grow : 100 - grow)) {
            cmti_live_push(&set, next, (uint32_t)(next * 7)); /* a slot to follow the tag through compaction */
            model[nmodel++] = next++;
            continue;
        }
        size_t rank = rand() % 3 ? (size_t)rand() % (nmodel < 3 ? nmodel : 3) : (size_t)rand() % nmodel;
        size_t index = nmodel - 1 - rank;
        if (rand() % 4 == 0) {
            /* A teardown: the blocks in the order they were made, from
             * where the last one was (the next has moved into its place). */
            index = in_order < nmodel ? in_order : 0;
            rank = nmodel - 1 - index;
            in_order = index;
        }
        size_t pos;
        uint64_t found;
        if (dice < 50) {
            cr_assert_eq(cmti_live_find_rank(&set, rank, &pos), 0);
            cr_assert_eq(cmti_live_tag_at(&set, pos), model[index], "step %d rank %zu", step, rank);
            if (with_slots)
                cr_assert_eq(cmti_live_slot_at(&set, pos), (uint32_t)(model[index] * 7), "step %d: its slot", step);
            cmti_live_remove_at(&set, pos);
        } else { /* the coder's way: the rank asked, then taken */
            cr_assert_eq(cmti_live_rank_of(&set, model[index], false, &found), 0);
            cr_assert_eq(found, rank, "step %d", step);
            cr_assert_eq(set.live, nmodel, "step %d: asking takes nothing", step);
            cr_assert_eq(cmti_live_rank_of(&set, model[index], true, &found), 0);
            cr_assert_eq(found, rank, "step %d", step);
        }
        cr_assert_eq(cmti_live_rank_of(&set, model[index], false, &found), -1, "step %d: a dead tag", step);
        memmove(&model[index], &model[index + 1], (nmodel - index - 1) * sizeof *model);
        nmodel--;
        cr_assert_eq(set.live, nmodel);
    }
    size_t pos;
    cr_assert_eq(cmti_live_find_rank(&set, nmodel, &pos), -1, "a rank past the live blocks");
    uint64_t rank;
    cr_assert_eq(cmti_live_rank_of(&set, next, false, &rank), -1, "a tag never added");
    cr_assert_eq(cmti_live_rank_of(&set, next, true, &rank), -1, "a tag never added, taken");
    free(model);
    cmti_live_destroy(&set);
}

Test(live, ranks_agree_with_a_naive_model)
{
    check_ranks(100000, 62, 10000, true);
    check_ranks(100000, 62, 10000, false);
}

/* Tens of thousands live: tens of the tree's groups of 1,024 positions,
 * grown, emptied from the newest end and grown again. */
Test(live, ranks_agree_with_a_naive_model_across_many_groups)
{
    check_ranks(300000, 70, 75000, true);
    check_ranks(300000, 70, 75000, false);
}

/* A far block is ranked from the last one ranked far back, while the
 * newest end moves back past that one and the set grows again: the new
 * blocks are then at positions it counted as after it. */
Test(live, a_rank_from_the_last_far_one_survives_the_end_moving_back)
{
    cmti_live set;
    cmti_live_init(&set, false);
    uint64_t rank;
    for (uint64_t tag = 1; tag <= 2000; tag++)
        cmti_live_push(&set, tag, 0);
    cr_assert_eq(cmti_live_rank_of(&set, 101, false, &rank), 0);
    cr_assert_eq(rank, 1899);
    for (uint64_t tag = 2000; tag > 50; tag--) /* the newest first: the end moves back */
        cr_assert_eq(cmti_live_rank_of(&set, tag, true, &rank), 0);
    cr_assert_eq(set.n, 50);
    for (uint64_t tag = 2001; tag <= 4000; tag++) /* at the positions from 50 on */
        cmti_live_push(&set, tag, 0);
    cr_assert_eq(cmti_live_rank_of(&set, 2001 + 70, false, &rank), 0);
    cr_assert_eq(rank, 4000 - 2071, "ranked %llu", (unsigned long long)rank);
    cmti_live_destroy(&set);
}

Test(live, keeps_memory_proportional_to_live_blocks)
{
    cmti_live set;
    cmti_live_init(&set, false);
    /* 10^6 blocks through, never more than 100 live at once. */
    for (uint64_t tag = 1; tag <= 1000000; tag++) {
        cmti_live_push(&set, tag, 0);
        if (tag > 100) {
            size_t pos;
            cr_assert_eq(cmti_live_find_rank(&set, 99, &pos), 0);
            cmti_live_remove_at(&set, pos); /* the oldest: never at the end */
        }
    }
    cr_assert_eq(set.live, 100);
    cr_assert_leq(set.cap, 1024, "capacity %zu for 100 live blocks", set.cap);
    cmti_live_destroy(&set);
}

/* A table grown and shrunk across CMT_TABLE_PAGES, where it moves between
 * malloc and pages of its own: what was there stays, what is new is zero. */
Test(table, keeps_its_contents_and_zeroes_the_rest_across_the_page_threshold)
{
    size_t small = CMT_TABLE_PAGES / 16, large = CMT_TABLE_PAGES * 2, larger = CMT_TABLE_PAGES * 4;
    unsigned char *t = cmti_table_alloc(small);
    for (size_t i = 0; i < small; i++)
        cr_assert_eq(t[i], 0, "fresh memory is zeroed (byte %zu)", i);
    memset(t, 0xab, small);
    size_t steps[] = {small / 4, small, small * 2, large, larger, small / 2, large};
    size_t size = small, filled = small;
    for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
        t = cmti_table_resize(t, size, steps[k]);
        size_t kept = filled < steps[k] ? filled : steps[k];
        for (size_t i = 0; i < steps[k]; i += 997)
            cr_assert_eq(t[i], i < kept ? 0xab : 0, "step %zu byte %zu", k, i);
        cr_assert_eq(t[kept - 1], 0xab, "step %zu: the last byte kept", k);
        size = steps[k];
        filled = kept;
    }
    cmti_table_free(t, size);
}

Test(map, inserts_finds_removes_and_shrinks)
{
    cmti_map map;
    cmti_map_init(&map, 3);
    for (uint64_t k = 1; k <= 50000; k++)
        cmti_map_insert(&map, k * 16)->value[0] = k;
    for (uint64_t k = 1; k <= 50000; k++) {
        cmti_map_entry *e = cmti_map_find(&map, k * 16);
        cr_assert_not_null(e);
        cr_assert_eq(e->value[0], k);
    }
    for (uint64_t k = 1; k <= 50000; k += 2)
        cmti_map_remove(&map, cmti_map_find(&map, k * 16));
    for (uint64_t k = 1; k <= 50000; k++)
        cr_assert_eq(cmti_map_find(&map, k * 16) != NULL, k % 2 == 0, "key %llu", (unsigned long long)k);
    for (uint64_t k = 2; k <= 50000; k += 2)
        cmti_map_remove(&map, cmti_map_find(&map, k * 16));
    cr_assert_eq(map.count, 0);
    cr_assert_leq(map.mask + 1, 1024, "the table shrinks as blocks die");
    cmti_map_destroy(&map);
}

/* Mean slots between MAP's entries and their homes. */
static double mean_displacement(const cmti_map *map)
{
    double sum = 0;
    size_t n = 0;
    for (size_t i = 0; i < map->capacity; i++) {
        const cmti_map_entry *e = cmti_map_slot(map, i);
        if (e->key) {
            sum += (double)(i - cmti_map_home(map, e->key));
            n++;
        }
    }
    return n ? sum / (double)n : 0;
}

/* Heap addresses (multiples of 16, blocks of a few small sizes one after
 * another, as an allocator carves them) spread as random keys do: at
 * three-eighths full, linear probing leaves these 0.17 slots from their
 * homes.  The hash that took the product's middle bits left them 0.54
 * slots away (and a Python run's 3.4, at a quarter full). */
Test(map, heap_addresses_land_near_their_homes)
{
    cmti_map map;
    cmti_map_init(&map, 1);
    const uint64_t sizes[] = {32, 48, 64};
    uint64_t address = 0x55d0c0a10000, state = 2;
    for (uint64_t k = 0; k < 12289; k++) { /* just past 3/4 of 16,384 slots: 3/8 of 32,768 */
        cmti_map_insert(&map, address)->value[0] = k + 1;
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        address += sizes[(state >> 33) % 3];
    }
    cr_assert_eq(map.mask + 1, 32768);
    double mean = mean_displacement(&map);
    cr_assert_lt(mean, 0.4, "%.2f slots from home on average", mean);
    cmti_map_destroy(&map);
}

/* Checks MAP against the model: KEYS[i] is live with value VALUES[i] where
 * LIVE[i]. */
static void map_agrees(const cmti_map *map, unsigned values, const uint64_t *keys, const uint64_t *vals,
                       const bool *live, size_t n, const char *when)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        cmti_map_entry *e = cmti_map_find(map, keys[i]);
        cr_assert_eq(e != NULL, live[i], "%s: key %zu found %d, live %d", when, i, e != NULL, live[i]);
        if (!e)
            continue;
        count++;
        cr_assert_eq(e->value[0], vals[i], "%s: key %zu's value[0]", when, i);
        if (values == 3) {
            cr_assert_eq(e->value[1], ~vals[i], "%s: key %zu's value[1]", when, i);
            cr_assert_eq(e->value[2], vals[i] * 3, "%s: key %zu's value[2]", when, i);
        }
    }
    cr_assert_eq(map->count, count, "%s: count", when);
}

/* Random inserts and removes past the size where the table gets pages of
 * its own (and grows with mremap), down again, for both entry sizes. */
Test(map, agrees_with_a_model_through_growth_in_place_and_shrinking)
{
    enum { KEYS = 400000 };
    uint64_t *keys = malloc(KEYS * sizeof *keys), *vals = calloc(KEYS, sizeof *vals);
    bool *live = calloc(KEYS, sizeof *live);
    cr_assert(keys && vals && live);
    for (unsigned values = 1; values <= 3; values += 2) {
        cmti_map map;
        cmti_map_init(&map, values);
        uint64_t state = 88172645463325252ull;
        for (size_t i = 0; i < KEYS; i++) {
            keys[i] = (i + 1) * 16 + (i % 7 == 0 ? 0x7f0000000000ull : 0); /* two heaps */
            live[i] = false;
        }
        /* Phase p of 4: mostly inserts, then mostly removes, twice. */
        for (int phase = 0; phase < 4; phase++) {
            unsigned insert_percent = phase % 2 == 0 ? 80 : 15;
            for (size_t step = 0; step < 600000; step++) {
                state ^= state << 13, state ^= state >> 7, state ^= state << 17;
                size_t i = (size_t)(state >> 20) % KEYS;
                if ((state & 127) * 100 / 128 < insert_percent) {
                    cmti_map_entry *e = cmti_map_insert(&map, keys[i]);
                    cr_assert_eq(e->key, keys[i]);
                    if (!live[i])
                        cr_assert(e->value[0] == 0 && (values == 1 || (e->value[1] == 0 && e->value[2] == 0)),
                                  "a new entry starts at zero");
                    vals[i] = state | 1;
                    e->value[0] = vals[i];
                    if (values == 3) {
                        e->value[1] = ~vals[i];
                        e->value[2] = vals[i] * 3;
                    }
                    live[i] = true;
                } else if (live[i]) {
                    cmti_map_remove(&map, cmti_map_find(&map, keys[i]));
                    live[i] = false;
                }
            }
            char when[64];
            snprintf(when, sizeof when, "%u value(s), phase %d", values, phase);
            map_agrees(&map, values, keys, vals, live, KEYS, when);
        }
        cmti_map_destroy(&map);
    }
    free(keys);
    free(vals);
    free(live);
}

/* The tagger against a model of the live blocks, over a small pool of
 * addresses that allocators hand out again and again: every tag an event
 * gets, every block found live, what is counted, and a table of the live
 * blocks only. */
Test(tagger, agrees_with_a_model_of_the_live_blocks)
{
    enum { POOL = 5000 };
    uint64_t *tag_of = calloc(POOL, sizeof *tag_of); /* 0: not live */
    cr_assert_not_null(tag_of);
    cmti_tagger t;
    cr_assert_eq(cmti_tagger_init(&t, 3, false, NULL, NULL), 0);
    uint64_t state = 88172645463325252ull, next = 1, live = 0, unknown_frees = 0, unknown_reallocs = 0;
    for (int step = 0; step < 400000; step++) {
        state ^= state << 13, state ^= state >> 7, state ^= state << 17;
        /* Phases of growth and decline, so that sweeps and shrinking come. */
        bool growing = (step / 50000) % 2 == 0;
        size_t a = (size_t)(state >> 24) % POOL, b = (size_t)(state >> 44) % POOL;
        unsigned pick = (unsigned)(state & 15);
        cmt_event ev = {.count = 1, .size = 16}, implied;
        cmti_map_entry *e;
        cmti_tag_result rc;
        if (pick < (growing ? 9u : 4u)) {
            ev.op = CMT_OP_MALLOC;
            rc = cmti_tagger_tag(&t, &ev, 0, (a + 1) * 16, &implied, &e);
            cr_assert_eq(rc, tag_of[a] ? CMT_TAG_IMPLIED : CMT_TAG_EVENT, "step %d", step);
            if (rc == CMT_TAG_IMPLIED)
                cr_assert_eq(implied.arg_tag, tag_of[a]);
            else
                cr_assert(e->value[1] == 0 && e->value[2] == 0, "step %d: a new block's values start at 0", step);
            e->value[1] = e->value[2] = state | 1; /* for a reuse of the entry to clear */
            live += !tag_of[a];
        } else if (pick < 14) {
            ev.op = CMT_OP_FREE;
            rc = cmti_tagger_tag(&t, &ev, (a + 1) * 16, 0, &implied, &e);
            cr_assert_eq(rc, tag_of[a] ? CMT_TAG_EVENT : CMT_TAG_DROP, "step %d", step);
            if (tag_of[a])
                cr_assert_eq(ev.arg_tag, tag_of[a]);
            unknown_frees += !tag_of[a];
            live -= tag_of[a] != 0;
            tag_of[a] = 0;
            continue;
        } else {
            ev.op = CMT_OP_REALLOC;
            rc = cmti_tagger_tag(&t, &ev, (a + 1) * 16, (b + 1) * 16, &implied, &e);
            cr_assert_eq(ev.arg_tag, tag_of[a], "step %d", step);
            unknown_reallocs += !tag_of[a];
            if (a == b && tag_of[a]) {
                cr_assert_eq(rc, CMT_TAG_IN_PLACE);
            } else {
                cr_assert_eq(rc, tag_of[b] && b != a ? CMT_TAG_IMPLIED : CMT_TAG_EVENT, "step %d", step);
                live -= tag_of[a] != 0;
                tag_of[a] = 0;
                live += !tag_of[b];
            }
            a = b;
        }
        cr_assert_eq(ev.tag, next++, "step %d", step);
        tag_of[a] = ev.tag;
        cr_assert_eq(t.live.count, live, "step %d: %zu entries for %llu live blocks", step, t.live.count,
                     (unsigned long long)live);
        if (step % 10000 == 0)
            for (size_t i = 0; i < POOL; i++) {
                e = cmti_tagger_find(&t, (i + 1) * 16);
                cr_assert_eq(e ? e->value[CMTI_TAGGED_TAG] : 0, tag_of[i], "step %d, address %zu", step, i);
            }
    }
    cr_assert_eq(t.counts.unknown_frees, unknown_frees);
    cr_assert_eq(t.counts.unknown_reallocs, unknown_reallocs);
    cmti_tagger_destroy(&t);
    free(tag_of);
}

/* The recorder's notes of the time: a call gets the last note's time from
 * before its number, good until the next note's. */
Test(times, a_call_gets_the_time_noted_last_before_its_number)
{
    static time_notes notes;
    uint64_t until;
    cr_assert_eq(time_notes_of(&notes, 0, &until), 0, "no notes: no time");
    time_notes_add(&notes, 5, 100);
    time_notes_add(&notes, 10, 200);
    time_notes_add(&notes, 25, 300);
    cr_assert_eq(time_notes_last(&notes), 300);
    cr_assert_eq(time_notes_of(&notes, 3, &until), 100, "numbered before the first note: the first's");
    cr_assert_eq(until, 10);
    cr_assert_eq(time_notes_of(&notes, 9, &until), 100);
    cr_assert_eq(time_notes_of(&notes, 10, &until), 200);
    cr_assert_eq(until, 25);
    cr_assert_eq(time_notes_of(&notes, 1000, &until), 300);
    cr_assert_eq(until, UINT64_MAX, "good until another note comes");
    cr_assert_eq(notes.count, 1, "the notes before are dropped");
}

/* A full ring of notes (the sink's thread far behind) keeps every other
 * one, the oldest among them, and takes the new one. */
Test(times, a_full_ring_keeps_every_other_note)
{
    static time_notes notes;
    for (uint64_t i = 0; i <= TIME_NOTES; i++)
        time_notes_add(&notes, 10 * i, 1000 * i);
    cr_assert_eq(notes.count, TIME_NOTES / 2 + 1);
    uint64_t until;
    cr_assert_eq(time_notes_of(&notes, 0, &until), 0);
    cr_assert_eq(until, 20, "the second note went");
    cr_assert_eq(time_notes_of(&notes, 15, &until), 0);
    cr_assert_eq(time_notes_of(&notes, 25, &until), 2000);
    cr_assert_eq(time_notes_of(&notes, 10 * TIME_NOTES - 1, &until), 1000 * (TIME_NOTES - 2));
    cr_assert_eq(time_notes_of(&notes, 10 * TIME_NOTES, &until), 1000 * TIME_NOTES, "the newest is kept");
}

/* The ring (record/ring.c) without the sink: it asks whether the sink has
 * a thread (then a ring may hold RING_MOST slots) and waits for it only
 * past that, which these tests stay far below. */
bool sink_has_thread(void)
{
    return true;
}

void sink_wait_for(ring *r, uint64_t tail)
{
    (void)r;
    (void)tail;
    cr_assert_fail("the ring waited for a sink with %u slots free", RING_MOST);
}

/* Writes call C, numbered SEQ, to ring R as a hook does. */
static void ring_write(ring *r, uint64_t seq, hooked_call c)
{
    unsigned slots = record_slots_for(c.op, c.addr, c.size);
    uint32_t *time, *stack;
    record *rec = ring_claim(r, slots, &time, &stack);
    cr_assert_not_null(rec);
    record_put(rec, slots, seq, &c, false);
    ring_publish(r, slots);
}

/* A record of two slots that does not fit in a chunk leaves its last slot
 * a pad.  The sink stops where it is told, which can be right on the pad;
 * its next look for the next number (at every ring, taking nothing) steps
 * past the pad into the next chunk, and the take that follows starts again
 * from the ring's tail: it must find the same record.  (It found a slot of
 * the next chunk instead, and the sink waited forever: one short Python
 * run in thirty hung at exit.) */
Test(ring, a_look_past_a_pad_then_a_take_find_the_same_record)
{
    ring_keep(false);
    ring *r = ring_create();
    cr_assert_not_null(r);
    uint64_t seq = 0;
    for (; seq < CHUNK_SLOTS - 1; seq++)
        ring_write(r, seq, (hooked_call){.op = CMT_OP_MALLOC, .addr = 16 * (seq + 1), .size = 8});
    ring_write(r, seq, (hooked_call){.op = CMT_OP_REALLOC, .addr = 32, .arg = 16, .size = 100});
    uint64_t head = atomic_load(&r->head);
    cr_assert_eq(head, CHUNK_SLOTS + 2, "the chunk's last slot padded, the realloc in the next");

    uint64_t tail = atomic_load(&r->tail);
    for (uint64_t i = 0; i < CHUNK_SLOTS - 1; i++) {
        const record *rec = ring_next(r, &tail, head, NULL);
        cr_assert_not_null(rec);
        cr_assert_eq(record_seq(rec), i);
        tail += record_slots(rec);
    }
    atomic_store(&r->tail, tail); /* told to stop before the realloc: the tail on the pad */

    uint64_t look = atomic_load(&r->tail);
    const record *first = ring_next(r, &look, head, NULL);
    cr_assert_not_null(first);
    cr_assert_eq(record_seq(first), CHUNK_SLOTS - 1);

    uint64_t take = atomic_load(&r->tail);
    const record *rec = ring_next(r, &take, head, NULL);
    cr_assert_not_null(rec, "the take found nothing where the look found the realloc");
    cr_assert_eq(record_seq(rec), CHUNK_SLOTS - 1, "the take found a record numbered %llu",
                 (unsigned long long)record_seq(rec));
    hooked_call c = record_call(rec);
    cr_assert_eq(c.op, CMT_OP_REALLOC);
    cr_assert_eq(c.arg, 16);
    cr_assert_eq(c.size, 100);
    take += record_slots(rec);
    cr_assert_null(ring_next(r, &take, head, NULL), "nothing after it");
    ring_destroy(r);
}

/* Keys whose home is the last home slot make a run longer than the
 * overflow past it: the overflow grows, and doubling sets its entries
 * aside and places them again. */
Test(map, runs_past_the_last_home_slot)
{
    for (unsigned values = 1; values <= 3; values += 2) {
        cmti_map map;
        cmti_map_init(&map, values);
        size_t first_mask = map.mask;
        uint64_t keys[700];
        size_t n = 0;
        for (uint64_t k = 16; n < 700; k += 16)
            if (cmti_map_home(&map, k) == first_mask)
                keys[n++] = k;
        for (size_t i = 0; i < n; i++)
            cmti_map_insert(&map, keys[i])->value[0] = i + 1;
        cr_assert_gt(map.capacity - map.mask - 1, 64, "the overflow grew");
        /* Enough others to double the table twice. */
        uint64_t others[3000];
        size_t m = 0;
        for (uint64_t k = 1; map.mask < 4 * first_mask; k++)
            if (!cmti_map_find(&map, k * 48 + 8)) {
                cr_assert_lt(m, 3000);
                others[m++] = k * 48 + 8;
                cmti_map_insert(&map, k * 48 + 8)->value[0] = 0xabc;
            }
        for (size_t i = 0; i < n; i++) {
            cmti_map_entry *e = cmti_map_find(&map, keys[i]);
            cr_assert(e && e->value[0] == i + 1, "key %zu after doubling", i);
        }
        for (size_t i = 0; i < n; i += 3)
            cmti_map_remove(&map, cmti_map_find(&map, keys[i]));
        for (size_t i = 0; i < n; i++)
            cr_assert_eq(cmti_map_find(&map, keys[i]) != NULL, i % 3 != 0, "key %zu after removes", i);
        /* The others gone, the table halves with runs in its overflow. */
        for (size_t i = 0; i < m; i++)
            cmti_map_remove(&map, cmti_map_find(&map, others[i]));
        cr_assert_lt(map.mask, 4 * first_mask, "the table shrank");
        for (size_t i = 0; i < n; i++) {
            cmti_map_entry *e = cmti_map_find(&map, keys[i]);
            cr_assert_eq(e != NULL, i % 3 != 0, "key %zu after halving", i);
            cr_assert(!e || e->value[0] == i + 1, "key %zu's value after halving", i);
        }
        cmti_map_destroy(&map);
    }
}

/* The progress line's figures: how far into its file a source has read,
 * of the file's size. */
Test(source, says_how_far_into_its_file_it_has_read, .fini = scratch_cleanup)
{
    const char *path = scratch_path("progress.trace");
    char *text = malloc(40 * 100000 + 1);
    size_t n = 0;
    for (int i = 0; i < 100000; i++)
        n += (size_t)sprintf(text + n, "malloc(16) = 0x%x\nfree(0x%x)\n", 0x1000 + i % 7 * 16, 0x1000 + i % 7 * 16);
    write_text(path, text);
    free(text);
    char err[512];
    cmt_source *s = cmt_source_open(path, NULL, err, sizeof err);
    cr_assert_not_null(s, "%s", err);
    uint64_t done, total, before = 0;
    cmt_event ev;
    for (int events = 0; cmt_source_next(s, &ev) > 0; events++) {
        cmt_source_progress(s, &done, &total);
        cr_assert_eq(total, n, "the file's size");
        cr_assert(done >= before && done <= total, "%llu of %llu", (unsigned long long)done,
                  (unsigned long long)total);
        before = done;
    }
    cr_assert_eq(done, total, "all of it, at the end");
    cmt_source_close(s);
}

/* The ordered map against a model, a sorted array of the same keys:
 * every floor and ceiling the same, through adds, overwrites and removes
 * of keys that cluster (addresses do) and of the extremes. */
#define MODEL_KEYS 4096

static size_t model_find(const uint64_t *keys, size_t n, uint64_t key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (keys[mid] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo; /* the first not below KEY */
}

Test(ordered, floors_and_ceilings_agree_with_a_sorted_model)
{
    static uint64_t keys[MODEL_KEYS], values[MODEL_KEYS];
    size_t n = 0;
    cmti_ordered map;
    cr_assert_eq(cmti_ordered_init(&map), 0);
    uint64_t found, value;
    cr_assert(!cmti_ordered_floor(&map, 5, &found, &value), "empty");
    cr_assert(!cmti_ordered_ceiling(&map, 5, &found, &value), "empty");
    uint64_t state = 12345;
    for (int step = 0; step < 200000; step++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t r = state >> 11;
        uint64_t key = r % 7 == 0 ? (r % 2 ? UINT64_MAX : 0) : 0x7f0000000000ull + (r % 20000) * 16;
        size_t at = model_find(keys, n, key);
        bool present = at < n && keys[at] == key;
        if (r % 3 && n < MODEL_KEYS) {
            cr_assert_eq(cmti_ordered_put(&map, key, r), 0);
            if (!present) {
                memmove(keys + at + 1, keys + at, (n - at) * sizeof *keys);
                memmove(values + at + 1, values + at, (n - at) * sizeof *values);
                keys[at] = key;
                n++;
            }
            values[at] = r;
        } else {
            cr_assert_eq(cmti_ordered_remove(&map, key), present, "step %d: key %llx", step, (unsigned long long)key);
            if (present) {
                memmove(keys + at, keys + at + 1, (n - at - 1) * sizeof *keys);
                memmove(values + at, values + at + 1, (n - at - 1) * sizeof *values);
                n--;
            }
        }
        cr_assert_eq(map.count, n);
        uint64_t probe = r % 5 == 0 ? key : key + (r >> 40) % 40 - 20;
        size_t c = model_find(keys, n, probe);
        bool has_ceiling = c < n, has_floor = (c < n && keys[c] == probe) || c > 0;
        cr_assert_eq(cmti_ordered_ceiling(&map, probe, &found, &value), has_ceiling, "step %d", step);
        if (has_ceiling)
            cr_assert(found == keys[c] && value == values[c], "step %d: ceiling of %llx", step,
                      (unsigned long long)probe);
        cr_assert_eq(cmti_ordered_floor(&map, probe, &found, &value), has_floor, "step %d", step);
        if (has_floor) {
            size_t f = c < n && keys[c] == probe ? c : c - 1;
            cr_assert(found == keys[f] && value == values[f], "step %d: floor of %llx", step,
                      (unsigned long long)probe);
        }
    }
    cmti_ordered_destroy(&map);
}

/* Out of memory: a put that can't grow the map leaves it as it was. */
Test(ordered, a_put_that_runs_out_of_memory_changes_nothing)
{
    cmti_ordered map;
    cr_assert_eq(cmti_ordered_init(&map), 0);
    uint64_t k = 0;
    for (;; k++) {
        cmti_fail_allocation(1, true);
        int rc = cmti_ordered_put(&map, k * 16, k);
        cmti_fail_allocation(0, false);
        if (rc < 0)
            break;
        cr_assert_lt(k, 1u << 20, "the map never needed to grow");
    }
    cr_assert_eq(map.count, k, "the failed put added nothing");
    uint64_t found, value;
    cr_assert(!cmti_ordered_floor(&map, k * 16, &found, &value) || found == (k - 1) * 16);
    cr_assert_eq(cmti_ordered_put(&map, k * 16, k), 0, "with memory again it goes in");
    cr_assert(cmti_ordered_floor(&map, k * 16 + 3, &found, &value) && found == k * 16 && value == k);
    cmti_ordered_destroy(&map);
}

