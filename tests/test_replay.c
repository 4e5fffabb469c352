/*
 * test_replay.c - replays against glibc and rmalloc, with figures worked
 * out by hand.
 */
#include "helpers.h"
#include "allocator.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

TestSuite(replay, .fini = scratch_cleanup);

static const char *sample_cmt(const char *trace)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", CMT_SAMPLES, trace);
    return encode_trace(path, scratch_path("s.cmt"));
}

/* The replay of the trace at PATH against A with OPTIONS, which must succeed. */
static cmt_replay_report replay_path(const char *path, const cmt_allocator *a, cmt_replay_options options)
{
    char err[512];
    cmt_source *r = cmt_source_open(path, NULL, err, sizeof err);
    cr_assert_not_null(r, "%s", err);
    cmt_replay_report report;
    cr_assert_eq(cmt_replay(r, a, &options, &report, err, sizeof err), 0, "%s", err);
    cmt_source_close(r);
    return report;
}

static cmt_replay_report replay_with(const char *path, const cmt_allocator *a, cmt_output *trace,
                                     const char *settings)
{
    return replay_path(path, a,
                       (cmt_replay_options){.touch = CMT_TOUCH_ALL, .trace = trace, .allocator = {.settings = settings}});
}

static cmt_replay_report replay_file(const char *path, const cmt_allocator *a, cmt_output *trace)
{
    return replay_with(path, a, trace, NULL);
}

static void check_hand_computed_figures(const cmt_allocator *a)
{
    cmt_replay_report rep = replay_file(sample_cmt("every-call.trace"), a, NULL);
    cr_assert_str_eq(rep.allocator, a->name);
    cr_assert_eq(rep.events, 17);
    cr_assert_eq(rep.peak_live_bytes, 800);
    cr_assert_eq(rep.peak_live_blocks, 5);
    cr_assert_eq(rep.peak_live_event, 6);
    cr_assert_eq(rep.end_live_bytes, 0);
    cr_assert_eq(rep.calls[CMT_OP_FREE], 7);
    cr_assert_eq(rep.calls[CMT_OP_REALLOC], 3);
    cr_assert_eq(rep.free_null, 1);
    cr_assert_eq(rep.failed_in_trace, 1, "malloc(2^60) failed when traced");
    cr_assert_eq(rep.failed_in_replay, 0);
    cr_assert_eq(rep.failure_not_reproduced, 0, "and fails again");
    cr_assert_geq(rep.peak_footprint, 800, "the allocator holds at least what is live");
    cr_assert_gt(rep.peak_rss, 0);
}

Test(replay, system_gives_the_hand_computed_figures)
{
    check_hand_computed_figures(&cmt_allocator_system);
}

/* Replays with -v into a text trace and reads the pointers back, strictly:
 * every free names a live block by its pointer, no pointer is handed out
 * twice while live, for every allocator.  A relocating allocator's
 * pointers are its handles (its blocks' addresses are not unique while
 * live: compaction moves one where another was, and such a trace once
 * failed to read back); the address follows as a comment.  Its heap is
 * made tight, so that it compacts. */
static void check_pointers(const cmt_allocator *a)
{
    const char *cmt = sample_cmt("python-json.trace");
    char err[512];
    cmt_output *out = cmt_output_open(scratch_path("v.trace"), err, sizeof err);
    cmt_replay_report rep = replay_with(cmt, a, out, a->lock ? "capacity=1400000" : NULL);
    cr_assert_eq(cmt_output_commit(out, err, sizeof err), 0, "%s", err);
    cr_assert_eq(rep.failed_in_replay, 0);
    if (a->lock) {
        cr_assert_gt(rep.compactions, 0, "blocks moved");
        char *text = read_file(scratch_path("v.trace"), NULL);
        cr_assert(strstr(text, "  # at 0x"), "where the bytes were");
        free(text);
    }
    cmt_text_options strict = {.strict = true};
    cmt_text_reader *t = cmt_text_open(scratch_path("v.trace"), &strict, err, sizeof err);
    cmt_event ev;
    size_t n = 0;
    int rc;
    while ((rc = cmt_text_next(t, &ev)) > 0) {
        n++;
        if (ev.tag)
            cr_assert_neq(ev.addr, 0);
        if (ev.align && !a->lock)
            cr_assert_eq(ev.addr % ev.align, 0, "aligned to %llu", (unsigned long long)ev.align);
    }
    cr_assert_eq(rc, 0, "%s", cmt_text_error(t));
    cr_assert_eq(n, rep.events);
    cmt_text_close(t);
}

Test(replay, system_pointers_are_real_and_consistent)
{
    check_pointers(&cmt_allocator_system);
}

Test(replay, rmalloc_gives_the_hand_computed_figures)
{
    check_hand_computed_figures(&cmt_allocator_rmalloc);
}

Test(replay, rmalloc_pointers_are_real_and_consistent)
{
    check_pointers(&cmt_allocator_rmalloc);
}

Test(replay, every_allocator_sees_the_same_live_bytes)
{
    const char *cmt = sample_cmt("python-json.trace");
    cmt_replay_report sys = replay_file(cmt, &cmt_allocator_system, NULL);
    cr_assert_gt(sys.peak_live_bytes, 0);
    for (size_t i = 1; cmt_allocators[i]; i++) {
        cmt_replay_report other = replay_file(cmt, cmt_allocators[i], NULL);
        cr_assert_eq(other.peak_live_bytes, sys.peak_live_bytes, "%s", cmt_allocators[i]->name);
        cr_assert_eq(other.peak_live_event, sys.peak_live_event, "%s", cmt_allocators[i]->name);
    }
}

/* rmalloc's account of its peak footprint adds up to it, byte for byte:
 * the bytes asked for, the rounding above them (under 16 a block), the
 * owner words (4 a block), free blocks (those held by locks among them), what
 * lies above the top and the tables; glibc gives none. */
Test(replay, rmalloc_accounts_for_every_byte_of_its_peak_footprint)
{
    const char *path = sample_cmt("python-json.trace");
    for (int pinned = 0; pinned < 2; pinned++) {
        cmt_replay_report rep = replay_with(path, &cmt_allocator_rmalloc, NULL, pinned ? "pinned=0.3" : NULL);
        const cmt_heap_stats *b = &rep.at_peak;
        cr_assert_eq(b->table_bytes + b->header_bytes + b->usable_bytes + b->free_bytes + b->pinned_free_bytes +
                         b->unused_bytes,
                     b->bytes, "pinned %d", pinned);
        cr_assert_geq(b->bytes, rep.peak_footprint - rep.peak_footprint / 1024, "the moment the footprint peaked");
        cr_assert_geq(b->usable_bytes, rep.live_at_peak_footprint);
        uint64_t blocks = b->header_bytes / 4; /* an owner word a block */
        cr_assert_gt(blocks, 0);
        cr_assert_lt(b->usable_bytes - rep.live_at_peak_footprint, 16 * blocks, "rounding to 16 bytes");
        cr_assert_gt(b->table_bytes, 0);
        if (pinned)
            cr_assert_gt(b->pinned_free_bytes, 0, "blocks locked for life keep holes from closing");
        else
            cr_assert_eq(b->pinned_free_bytes, 0);
    }
    cmt_replay_report glibc = replay_file(path, &cmt_allocator_system, NULL);
    cr_assert_eq(glibc.at_peak.usable_bytes + glibc.at_peak.table_bytes, 0, "glibc does not say");
}

Test(replay, rmalloc_compacts_in_a_tight_heap_and_pinning_costs_memory)
{
    const char *cmt = sample_cmt("python-json.trace");
    cmt_replay_report free_to_move = replay_with(cmt, &cmt_allocator_rmalloc, NULL, NULL);
    cr_assert_eq(free_to_move.failed_in_replay, 0);
    cr_assert(free_to_move.relocating);
    cr_assert_lt(free_to_move.peak_footprint, free_to_move.peak_live_bytes * 12 / 10,
                 "footprint %llu for %llu live", (unsigned long long)free_to_move.peak_footprint,
                 (unsigned long long)free_to_move.peak_live_bytes);
    /* In a heap 1% larger than the peak, only compaction gets through. */
    char tight[48], tight_fixed[64], tight_pinned[64];
    snprintf(tight, sizeof tight, "capacity=%llu", (unsigned long long)(free_to_move.peak_live_bytes * 101 / 100));
    snprintf(tight_fixed, sizeof tight_fixed, "no-compaction,%s", tight);
    snprintf(tight_pinned, sizeof tight_pinned, "%s,pinned=0.5", tight);
    cmt_replay_report compacting = replay_with(cmt, &cmt_allocator_rmalloc, NULL, tight);
    cmt_replay_report fixed = replay_with(cmt, &cmt_allocator_rmalloc, NULL, tight_fixed);
    cr_assert_eq(compacting.failed_in_replay, 0);
    cr_assert_gt(compacting.compactions, 0);
    cr_assert_gt(fixed.failed_in_replay, 0, "without compaction the tight heap runs out");
    cr_assert_eq(fixed.compactions, 0);
    /* Pinned blocks can't move, so the same tight heap fails when half are pinned. */
    cmt_replay_report pinned = replay_with(cmt, &cmt_allocator_rmalloc, NULL, tight_pinned);
    cr_assert_gt(pinned.failed_in_replay, 0);
}

/* Real traces made elsewhere replay under rmalloc with the system
 * replay's live bytes, block for block, and a footprint at most glibc's
 * and near the floor (each block rounded up to 16, its owner word and
 * handle): 456.hmmer 1.012, cppcheck 1.074 and soffice 1.105 of their
 * peak live bytes when this was written. */
Test(replay, rmalloc_replays_real_traces_below_glibc_and_near_the_floor, .timeout = 120)
{
    const struct {
        const char *name;
        double at_most;
    } traces[] = {{"456.hmmer.test.txt.bz2", 1.02}, {"cppcheck.valgrind.txt.zst", 1.09}, {"soffice.ops.txt.zst", 1.15}};
    for (size_t i = 0; i < sizeof traces / sizeof *traces; i++) {
        const char *path = shared_trace(traces[i].name);
        if (!path)
            cr_skip_test(CMT_SHARED_TRACES "/%s is not here", traces[i].name);
        if (strstr(path, ".bz2")) { /* only zstd is read directly */
            cr_assert_eq(runf(NULL, NULL, "bzip2 -dc %s > %s", path, scratch_path("real.txt")), 0);
            path = scratch_path("real.txt");
        }
        const char *cmt = encode_trace(path, scratch_path("real.cmt"));
        cmt_replay_report sys = replay_file(cmt, &cmt_allocator_system, NULL);
        cmt_replay_report rm = replay_file(cmt, &cmt_allocator_rmalloc, NULL);
        cr_assert_eq(rm.failed_in_replay, 0, "%s", traces[i].name);
        cr_assert_eq(rm.peak_live_bytes, sys.peak_live_bytes, "%s", traces[i].name);
        cr_assert_eq(rm.peak_live_blocks, sys.peak_live_blocks, "%s", traces[i].name);
        cr_assert_eq(rm.end_live_bytes, sys.end_live_bytes, "%s", traces[i].name);
        cr_assert_leq(rm.peak_footprint, sys.peak_footprint, "%s: rmalloc %llu, glibc %llu", traces[i].name,
                      (unsigned long long)rm.peak_footprint, (unsigned long long)sys.peak_footprint);
        cr_assert_leq((double)rm.peak_footprint, traces[i].at_most * (double)rm.peak_live_bytes,
                      "%s: %llu for %llu live", traces[i].name, (unsigned long long)rm.peak_footprint,
                      (unsigned long long)rm.peak_live_bytes);
    }
}

/* rmalloc reads its own settings and refuses what is not one of them,
 * naming it; what it formats it reads back. */
Test(replay, rmalloc_reads_its_settings_and_refuses_others)
{
    cmt_rmalloc_settings s;
    char err[256];
    cr_assert_eq(cmt_rmalloc_parse_settings("pinned=0.25,no-compaction,capacity=65536", &s, err, sizeof err), 0,
                 "%s", err);
    cr_assert(s.pinned == 0.25 && s.no_compaction && s.capacity == 65536);
    cr_assert_eq(cmt_rmalloc_parse_settings(NULL, &s, err, sizeof err), 0);
    cr_assert(s.pinned == 0 && !s.no_compaction && s.capacity == 0, "none: every default");
    char text[128];
    cmt_rmalloc_settings back, knobs = {.pinned = 0.1, .capacity = 1 << 20};
    cmt_rmalloc_format_settings(text, sizeof text, &knobs);
    cr_assert_eq(cmt_rmalloc_parse_settings(text, &back, err, sizeof err), 0, "%s: %s", text, err);
    cr_assert(back.pinned == knobs.pinned && back.capacity == knobs.capacity && !back.no_compaction, "%s", text);
    const char *bad[] = {"pinned=2", "pinned=", "capacity=big", "capacity=8", "arena_max=1", "no-compactions",
                         "pinned=0.1,,"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_assert_eq(cmt_rmalloc_parse_settings(bad[i], &s, err, sizeof err), -1, "%s", bad[i]);
        cr_assert(strstr(err, "rmalloc: can't take the setting '"), "%s: %s", bad[i], err);
    }
    cmt_allocator_options options = {.settings = "arena_max=1"};
    cr_assert_null(cmt_allocator_rmalloc.create(&options, err, sizeof err));
    cr_assert(strstr(err, "'arena_max=1'"), "%s", err);
}

Test(replay, the_max_memory_bisection_finds_the_edge)
{
    const char *cmt = sample_cmt("python-json.trace");
    char err[512];
    for (int fixed = 0; fixed < 2; fixed++) {
        cmt_rmalloc_settings knobs = {.no_compaction = fixed};
        uint64_t capacity, peak;
        cr_assert_eq(cmt_rmalloc_min_capacity(cmt, &knobs, 4096, &capacity, &peak, err, sizeof err), 0, "%s", err);
        cr_assert_geq(capacity, peak);
        char settings[128];
        knobs.capacity = capacity;
        cmt_rmalloc_format_settings(settings, sizeof settings, &knobs);
        cr_assert_eq(replay_with(cmt, &cmt_allocator_rmalloc, NULL, settings).failed_in_replay, 0,
                     "%llu bytes must fit", (unsigned long long)capacity);
        knobs.capacity = capacity - 4096;
        cmt_rmalloc_format_settings(settings, sizeof settings, &knobs);
        cr_assert_gt(replay_with(cmt, &cmt_allocator_rmalloc, NULL, settings).failed_in_replay, 0,
                     "%llu bytes must not", (unsigned long long)knobs.capacity);
    }
}

Test(replay, the_timeline_has_a_row_every_n_events)
{
    const char *cmt = sample_cmt("python-json.trace");
    char err[512];
    cmt_output *timeline = cmt_output_open(scratch_path("t.txt"), err, sizeof err);
    replay_path(cmt, &cmt_allocator_rmalloc, (cmt_replay_options){.timeline = timeline, .timeline_every = 500});
    cr_assert_eq(cmt_output_commit(timeline, err, sizeof err), 0);
    char *text = read_file(scratch_path("t.txt"), NULL);
    const char *start = "# event live_bytes footprint_bytes\n500 ";
    cr_assert(strncmp(text, start, strlen(start)) == 0, "%s", text);
    cr_assert(strstr(text, "\n3500 ") && strstr(text, "\n3506 "), "a last row at the end: %s", text);
    int rows = 0;
    for (char *p = text; (p = strchr(p, '\n')); p++)
        rows++;
    cr_assert_eq(rows, 1 + 7 + 1, "header, 7 rows of 500, the end");
    free(text);
    /* 3506 events, a row every 1753: the end has its row already. */
    timeline = cmt_output_open(scratch_path("t.txt"), err, sizeof err);
    replay_path(cmt, &cmt_allocator_rmalloc, (cmt_replay_options){.timeline = timeline, .timeline_every = 1753});
    cr_assert_eq(cmt_output_commit(timeline, err, sizeof err), 0);
    text = read_file(scratch_path("t.txt"), NULL);
    rows = 0;
    for (char *p = text; (p = strchr(p, '\n')); p++)
        rows++;
    cr_assert_eq(rows, 1 + 2, "header, 2 rows, no second row at the end: %s", text);
    free(text);
}

Test(replay, an_allocation_that_fails_only_in_the_replay_is_counted)
{
    const char *path = scratch_path("huge.trace");
    write_text(path, "malloc(1152921504606846976) = 0x10\nmalloc(8) = 0x20\nfree(0x10)\nfree(0x20)\n");
    encode_trace(path, scratch_path("huge.cmt"));
    for (size_t i = 0; cmt_allocators[i]; i++) {
        cmt_replay_report rep = replay_file(scratch_path("huge.cmt"), cmt_allocators[i], NULL);
        cr_assert_eq(rep.failed_in_replay, 1, "%s", cmt_allocators[i]->name);
        cr_assert_eq(rep.failed_bytes, 1152921504606846976ULL);
        cr_assert_eq(rep.events, 4, "the replay went on past the failure");
        /* The block exists only in the trace: live counts the replay's. */
        cr_assert_eq(rep.peak_live_bytes, 8, "%s", cmt_allocators[i]->name);
        cr_assert_eq(rep.peak_live_blocks, 1);
        cr_assert_geq(rep.peak_footprint, rep.peak_live_bytes, "an overhead of at least 1");
    }
}

Test(replay, a_realloc_to_zero_that_returned_a_block_is_not_freed_twice)
{
    /* Recorded under an allocator whose realloc(p, 0) returns a block;
     * replayed under ones whose realloc(p, 0) frees p.  Once a double free. */
    write_text(scratch_path("zero.trace"), "malloc(8) = 0x10\nrealloc(0x10, 0) = 0x20\nfree(0x20)\n");
    encode_trace(scratch_path("zero.trace"), scratch_path("zero.cmt"));
    for (size_t i = 0; cmt_allocators[i]; i++) {
        cmt_replay_report rep = replay_file(scratch_path("zero.cmt"), cmt_allocators[i], NULL);
        cr_assert_eq(rep.events, 3, "%s", cmt_allocators[i]->name);
        cr_assert_eq(rep.end_live_blocks, 0);
    }
}

Test(replay, allocators_are_listed_and_found_by_name)
{
    cr_assert_eq(cmt_allocator_find("system"), &cmt_allocator_system);
    cr_assert_null(cmt_allocator_find("jemalloc"), "a library preloaded, not a vtable");
    cr_assert_str_eq(cmt_preload_find("jemalloc")->package, "libjemalloc2");
    cr_assert_null(cmt_allocator_find("tcmalloc-not-yet"));
    cr_assert_eq(cmt_round_alignment(0), sizeof(void *));
    cr_assert_eq(cmt_round_alignment(24), 32);
    cr_assert_eq(cmt_round_alignment(4096), 4096);
}

/* ------------------------------------------------------------ accesses */

/* An allocator on the C library's malloc (ASan's, in the sanitizer build,
 * so that a byte touched past a block is a test failure) that counts its
 * locks and keeps a copy of the last block freed. */
static struct {
    int locks, unlocks, depth, max_depth;
    uint8_t freed[64];
    size_t freed_len;
} probe;

typedef struct probe_block {
    size_t size;
    uint8_t bytes[];
} probe_block;

static void *probe_create(const cmt_allocator_options *o, char *err, size_t errlen)
{
    (void)o, (void)err, (void)errlen;
    memset(&probe, 0, sizeof probe);
    return &probe;
}
static void probe_destroy(void *heap) { (void)heap; }
static void *probe_malloc(void *heap, size_t size)
{
    (void)heap;
    probe_block *b = calloc(1, sizeof *b + size);
    b->size = size;
    return b;
}
static void *probe_calloc(void *heap, size_t count, size_t size) { return probe_malloc(heap, count * size); }
static void probe_free(void *heap, void *p)
{
    (void)heap;
    probe_block *b = p;
    if (!b)
        return;
    probe.freed_len = b->size < sizeof probe.freed ? b->size : sizeof probe.freed;
    memcpy(probe.freed, b->bytes, probe.freed_len);
    free(b);
}
static void *probe_realloc(void *heap, void *p, size_t size)
{
    void *q = probe_malloc(heap, size);
    probe_free(heap, p);
    return q;
}
static void *probe_memalign(void *heap, size_t align, size_t size) { (void)align; return probe_malloc(heap, size); }
static size_t probe_usable_size(void *heap, void *p) { (void)heap; return ((probe_block *)p)->size; }
static void probe_stats(void *heap, cmt_heap_stats *s) { (void)heap; memset(s, 0, sizeof *s); }
static void *probe_lock(void *heap, void *p)
{
    (void)heap;
    probe.locks++;
    if (++probe.depth > probe.max_depth)
        probe.max_depth = probe.depth;
    return ((probe_block *)p)->bytes;
}
static void probe_unlock(void *heap, void *p)
{
    (void)heap, (void)p;
    probe.unlocks++;
    probe.depth--;
}
static const cmt_allocator probe_allocator =
    CMT_ALLOCATOR_VTABLE(probe, "test allocator", .lock = probe_lock, .unlock = probe_unlock);

static const char *converted(const char *text)
{
    write_text(scratch_path("acc.trace"), text);
    return encode_trace(scratch_path("acc.trace"), scratch_path("acc.cmt"));
}

Test(replay, accesses_read_and_write_their_bytes_inside_a_locked_block)
{
    const char *path = converted("malloc(16) = 0x1000\n"
                                 "store(0x1000, 8)\n"
                                 "modify(0x1000+4, 8)\n"
                                 "load(0x1000+12, 16)\n" /* runs 12 bytes past the end */
                                 "store(0x1000+15, 4096)\n"
                                 "free(0x1000)\n");
    cmt_replay_report rep = replay_path(path, &probe_allocator, (cmt_replay_options){.touch = CMT_TOUCH_NONE});
    cr_assert_eq(rep.calls[CMT_OP_STORE], 2);
    cr_assert_eq(rep.calls[CMT_OP_MODIFY], 1);
    cr_assert_eq(rep.calls[CMT_OP_LOAD], 1);
    cr_assert_eq(probe.locks, 5, "one for the malloc's touch, one an access");
    cr_assert_eq(probe.unlocks, 5);
    cr_assert_eq(probe.max_depth, 1);
    static const uint8_t want[16] = {0xa5, 0xa5, 0xa5, 0xa5, 0xa6, 0xa6, 0xa6, 0xa6,
                                     0x01, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00, 0xa5};
    cr_assert_eq(probe.freed_len, 16);
    cr_assert_arr_eq(probe.freed, want, 16, "stored, modified and clipped bytes");
}

Test(replay, verbose_accesses_name_the_block_by_its_pointer)
{
    const char *path = converted("malloc(16) = 0x1000\nload(0x1000+4, 4)\nfree(0x1000)\n");
    for (size_t i = 0; cmt_allocators[i]; i++) {
        const cmt_allocator *a = cmt_allocators[i];
        char err[512];
        cmt_output *out = cmt_output_open(scratch_path("v.trace"), err, sizeof err);
        replay_file(path, a, out);
        cr_assert_eq(cmt_output_commit(out, err, sizeof err), 0, "%s", err);
        char *text = read_file(scratch_path("v.trace"), NULL);
        char *lines[3];
        lines[0] = strtok(text, "\n");
        lines[1] = strtok(NULL, "\n");
        lines[2] = strtok(NULL, "\n");
        unsigned long long p[3];
        cr_assert(lines[2] && sscanf(lines[0], "malloc(16) = %llx<1>", &p[0]) == 1 &&
                      sscanf(lines[1], "load(%llx<1>+4, 4)", &p[1]) == 1 && sscanf(lines[2], "free(%llx<1>)", &p[2]) == 1,
                  "%s: %s", a->name, text);
        cr_assert(p[0] == p[1] && p[1] == p[2] && p[0] != 0, "%s: %s", a->name, text);
        /* A relocating allocator's bytes are where the comment says. */
        cr_assert_eq(strstr(lines[0], "  # at 0x") != NULL, a->lock != NULL, "%s", lines[0]);
        cr_assert_eq(strstr(lines[1], "  # at 0x") != NULL, a->lock != NULL, "%s", lines[1]);
        free(text);
    }
}

/* A realloc that failed when traced keeps its block as it was; where the
 * replay's realloc succeeds, its block is taken back to the old size, so
 * that the trace's later accesses to the old bytes stay inside it (they
 * once ran past the shrunken block, and glibc aborted on the corruption).
 * A zero-byte block is not taken back to 0 bytes, which would free it. */
Test(replay, a_realloc_that_fails_only_when_traced_keeps_the_old_size)
{
    const char *path = converted("malloc(4096) = 0x1000\n"
                                 "realloc(0x1000, 16) = 0x0\n"
                                 "store(0x1000+8, 4000)\n"
                                 "calloc(0, 8) = 0x3000\n"
                                 "realloc(0x3000, 8) = 0x0\n"
                                 "malloc(64) = 0x4000\n"
                                 "free(0x4000)\n"
                                 "free(0x3000)\n"
                                 "free(0x1000)\n");
    for (size_t i = 0; cmt_allocators[i]; i++) {
        cmt_replay_report rep = replay_file(path, cmt_allocators[i], NULL);
        cr_assert_eq(rep.events, 9, "%s", cmt_allocators[i]->name);
        cr_assert_eq(rep.failure_not_reproduced, 2, "%s", cmt_allocators[i]->name);
        cr_assert_eq(rep.end_live_blocks, 0);
    }
}

/* --------------------------------------------------------------- threads */

/* A trace built event by event, with threads. */
typedef struct built {
    cmt_event *events;
    size_t n, cap;
    uint64_t next_tag;
} built;

static uint64_t built_malloc(built *b, uint32_t thread, uint64_t size)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 4096;
        b->events = realloc(b->events, b->cap * sizeof *b->events);
    }
    uint64_t tag = ++b->next_tag;
    b->events[b->n++] = (cmt_event){.op = CMT_OP_MALLOC, .tag = tag, .size = size, .count = 1, .thread = thread};
    return tag;
}

static void built_op(built *b, cmt_op op, uint32_t thread, uint64_t tag, uint64_t offset, uint64_t size)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 4096;
        b->events = realloc(b->events, b->cap * sizeof *b->events);
    }
    b->events[b->n++] = (cmt_event){.op = op, .arg_tag = tag, .offset = offset, .size = size, .count = 1,
                                    .thread = thread};
}

/* B encoded into the scratch file NAME, and its events freed. */
static const char *built_encode(built *b, const char *name)
{
    const char *path = scratch_path(name);
    encode_events(path, b->events, b->n, 3);
    free(b->events);
    b->events = NULL;
    return path;
}

/* Replays B threaded and serially: the same live figures and hand-offs,
 * every block made; returns the threaded report. */
static cmt_replay_report replay_both_ways(built *b, uint64_t cross_thread_frees, uint64_t threads)
{
    const char *path = built_encode(b, "threads.cmt");
    cmt_replay_report threaded = replay_file(path, &cmt_allocator_system, NULL);
    cmt_replay_report one =
        replay_path(path, &cmt_allocator_system, (cmt_replay_options){.touch = CMT_TOUCH_ALL, .serial = true});
    cr_assert_eq(threaded.threads, threads);
    cr_assert_eq(one.threads, 1, "--serial: one thread");
    cr_assert_str_eq(one.serial_reason, "--serial");
    cr_assert_str_eq(threaded.serial_reason, "");
    cr_assert_eq(threaded.cross_thread_frees, cross_thread_frees);
    cr_assert_eq(one.cross_thread_frees, cross_thread_frees, "counted serially too");
    cr_assert_eq(threaded.events, one.events);
    cr_assert_eq(threaded.peak_live_bytes, one.peak_live_bytes);
    cr_assert_eq(threaded.end_live_bytes, one.end_live_bytes);
    cr_assert_eq(threaded.live_area, one.live_area, "the live bytes over time follow the recorded order");
    cr_assert_eq(threaded.failed_in_replay, 0);
    cr_assert_geq(threaded.wall_seconds, 0.0);
    return threaded;
}

/* Every block handed from one thread to the other and back: a wait at
 * every event. */
Test(replay, ping_pong_hand_offs_between_two_threads, .timeout = 60)
{
    built b = {0};
    for (int i = 0; i < 50000; i++) {
        uint64_t x = built_malloc(&b, 1, 32);
        built_op(&b, CMT_OP_STORE, 2, x, 0, 32);
        built_op(&b, CMT_OP_FREE, 2, x, 0, 0);
        uint64_t y = built_malloc(&b, 2, 48);
        built_op(&b, CMT_OP_FREE, 1, y, 0, 0);
    }
    replay_both_ways(&b, 100000, 2);
}

/* rmalloc replays a trace's threads on as many, its heap shared: blocks
 * made on one thread, written, read and freed on the other, while both
 * allocate (and so compact); the same live figures as on one thread. */
Test(replay, rmalloc_replays_a_trace_s_threads, .timeout = 60)
{
    built b = {0};
    for (int i = 0; i < 20000; i++) {
        uint64_t x = built_malloc(&b, 1, 32 + (uint64_t)(i % 200));
        built_op(&b, CMT_OP_STORE, 2, x, 0, 16);
        uint64_t y = built_malloc(&b, 2, 48);
        built_op(&b, CMT_OP_LOAD, 1, y, 8, 8);
        built_op(&b, CMT_OP_FREE, 2, x, 0, 0);
        if (i % 3)
            built_op(&b, CMT_OP_FREE, 1, y, 0, 0);
    }
    const char *path = built_encode(&b, "rmalloc-threads.cmt");
    cmt_replay_report threaded = replay_file(path, &cmt_allocator_rmalloc, NULL);
    cmt_replay_report one =
        replay_path(path, &cmt_allocator_rmalloc, (cmt_replay_options){.touch = CMT_TOUCH_ALL, .serial = true});
    cr_assert_eq(threaded.threads, 2);
    cr_assert_str_eq(threaded.serial_reason, "");
    cr_assert_eq(threaded.cross_thread_frees, 20000 + 13333);
    cr_assert_eq(threaded.failed_in_replay, 0);
    cr_assert_eq(threaded.events, one.events);
    cr_assert_eq(threaded.peak_live_bytes, one.peak_live_bytes);
    cr_assert_eq(threaded.end_live_bytes, one.end_live_bytes);
    cr_assert_gt(threaded.compactions, 0, "compactions ran beside the threads' writes");
}

/* One thread far ahead of the other, which at the end frees the first's
 * long-lived blocks; a thread that frees everything eight others made. */
Test(replay, a_thread_far_ahead_and_one_that_frees_all_the_others_made, .timeout = 60)
{
    built b = {0};
    uint64_t kept[1000];
    for (int i = 0; i < 1000; i++)
        kept[i] = built_malloc(&b, 1, 100);
    for (int i = 0; i < 200000; i++) {
        uint64_t t = built_malloc(&b, 1, 16 + (uint64_t)(i % 64));
        built_op(&b, CMT_OP_FREE, 1, t, 0, 0);
    }
    for (int i = 0; i < 1000; i++)
        built_op(&b, CMT_OP_FREE, 2, kept[i], 0, 0);
    replay_both_ways(&b, 1000, 2);

    built all = {0};
    uint64_t made[8][2000];
    for (int k = 0; k < 2000; k++)
        for (uint32_t t = 0; t < 8; t++)
            made[t][k] = built_malloc(&all, t + 1, 24 + t);
    for (int k = 0; k < 2000; k++)
        for (uint32_t t = 0; t < 8; t++)
            built_op(&all, CMT_OP_FREE, 9, made[t][k], 0, 0);
    cmt_replay_report rep = replay_both_ways(&all, 16000, 9);
    cr_assert_eq(rep.end_live_blocks, 0);
}

/* An allocator that counts the bytes its blocks hold at once: what the
 * threads of a replay really had live together, whatever the trace says. */
typedef struct together {
    _Atomic uint64_t live, most;
} together;

static void *together_create(const cmt_allocator_options *options, char *err, size_t errlen)
{
    (void)options, (void)err, (void)errlen;
    return calloc(1, sizeof(together));
}

static void *together_malloc(void *heap, size_t size)
{
    together *t = heap;
    uint64_t *p = malloc(size + 16);
    if (!p)
        return NULL;
    *p = size;
    uint64_t live = atomic_fetch_add(&t->live, size) + size, most = atomic_load(&t->most);
    while (live > most && !atomic_compare_exchange_weak(&t->most, &most, live))
        ;
    return p + 2;
}

static void together_free(void *heap, void *p)
{
    if (!p)
        return;
    uint64_t *block = (uint64_t *)p - 2;
    atomic_fetch_sub(&((together *)heap)->live, *block);
    free(block);
}

static void together_stats(void *heap, cmt_heap_stats *stats)
{
    stats->bytes = atomic_load(&((together *)heap)->most);
}

static const cmt_allocator together_allocator = {
    .name = "together", .create = together_create, .destroy = free, .malloc = together_malloc,
    .free = together_free, .stats = together_stats};

/* An allocator whose statistics are slow, as glibc's are on a heap of
 * millions of blocks, and that counts how often it is asked. */
static _Atomic unsigned slow_stats_asked;

static void slow_stats(void *heap, cmt_heap_stats *stats)
{
    struct timespec nap = {0, 100000};
    nanosleep(&nap, NULL);
    slow_stats_asked++;
    together_stats(heap, stats);
}

/* Its blocks are a few slots of its own (not malloc's, whose quarantine
 * under ASan grows the resident bytes at every call). */
static _Alignas(16) unsigned char slow_slots[4][64];
static size_t slow_slot_size[4]; /* 0: free */

static void *slow_malloc(void *heap, size_t size)
{
    for (int i = 0; i < 4; i++)
        if (!slow_slot_size[i] && size && size <= 64) {
            slow_slot_size[i] = size;
            atomic_fetch_add(&((together *)heap)->live, size);
            uint64_t live = atomic_load(&((together *)heap)->live);
            if (live > atomic_load(&((together *)heap)->most))
                atomic_store(&((together *)heap)->most, live);
            return slow_slots[i];
        }
    return NULL;
}

static void slow_free(void *heap, void *p)
{
    if (p) {
        size_t *size = &slow_slot_size[(unsigned char(*)[64])p - slow_slots];
        atomic_fetch_sub(&((together *)heap)->live, *size);
        *size = 0;
    }
}

static const cmt_allocator slow_stats_allocator = {
    .name = "slow-stats", .create = together_create, .destroy = free, .malloc = slow_malloc,
    .free = slow_free, .stats = slow_stats};

/* Slow statistics are asked again only once the resident bytes have
 * grown, where the replay writes its blocks (a flat heap: a few times,
 * not at every sample due), and at every sample with --touch=none; the
 * peak footprint is found all the same. */
Test(replay, slow_statistics_are_asked_when_the_resident_bytes_grow)
{
    built b = {0};
    for (int i = 0; i < 100000; i++)
        built_op(&b, CMT_OP_FREE, 0, built_malloc(&b, 0, 32), 0, 0);
    const char *path = built_encode(&b, "flat.cmt");
    unsigned asked[2];
    for (int touch = 0; touch < 2; touch++) {
        slow_stats_asked = 0;
        cmt_replay_report rep = replay_path(path, &slow_stats_allocator,
                                            (cmt_replay_options){.touch = touch ? CMT_TOUCH_ALL : CMT_TOUCH_NONE});
        asked[touch] = slow_stats_asked;
        cr_assert_eq(rep.peak_footprint, 32, "touch %d: %llu", touch, (unsigned long long)rep.peak_footprint);
        cr_assert_gt(rep.sample_seconds, 0);
    }
    cr_assert_geq(asked[0], 12, "--touch=none: every sample due (every 16384 events)");
    cr_assert_lt(asked[1], asked[0] / 2, "asked %u times where the heap stayed flat, %u without writing", asked[1],
                 asked[0]);
}

/* Two threads taking turns, each making 100 blocks of 1000 bytes and
 * freeing them, with no hand-off between them: within a window of N
 * events no more than N events' blocks join the recorded 100 (window 1:
 * the recorded order exactly), where unbounded the second thread may run
 * all its turns beside the first's. */
Test(replay, the_window_keeps_the_blocks_live_at_once_the_recorded_ones, .timeout = 60)
{
    built b = {0};
    for (uint32_t turn = 0; turn < 40; turn++) {
        uint64_t tags[100];
        for (int i = 0; i < 100; i++)
            tags[i] = built_malloc(&b, turn % 2 + 1, 1000);
        for (int i = 0; i < 100; i++)
            built_op(&b, CMT_OP_FREE, turn % 2 + 1, tags[i], 0, 0);
    }
    const char *path = built_encode(&b, "turns.cmt");
    for (uint64_t window = 1; window <= 64; window *= 8) {
        cmt_replay_report rep =
            replay_path(path, &together_allocator, (cmt_replay_options){.touch = CMT_TOUCH_ALL, .window = window});
        cr_assert_eq(rep.threads, 2);
        cr_assert_eq(rep.window, window);
        cr_assert_eq(rep.peak_live_bytes, 100000);
        cr_assert_leq(rep.peak_footprint, 100000 + (window - 1) * 1000, "window %llu: %llu bytes live at once",
                      (unsigned long long)window, (unsigned long long)rep.peak_footprint);
        cr_assert_geq(rep.peak_footprint, 100000);
    }
}

/* An allocator that notes whether each call came from the thread that
 * began the replay, and which cannot make blocks of NOT_MADE_SIZE bytes. */
#define NOT_MADE_SIZE 777
static pthread_t replaying_thread;
static _Atomic unsigned long calls_on_replaying_thread, calls_elsewhere;

static void note_thread(void)
{
    if (pthread_equal(pthread_self(), replaying_thread))
        calls_on_replaying_thread++;
    else
        calls_elsewhere++;
}

static void *noting_malloc(void *heap, size_t size)
{
    note_thread();
    return size == NOT_MADE_SIZE ? NULL : together_malloc(heap, size);
}

static void noting_free(void *heap, void *p)
{
    note_thread();
    together_free(heap, p);
}

static const cmt_allocator noting_allocator = {
    .name = "noting", .create = together_create, .destroy = free, .malloc = noting_malloc,
    .free = noting_free, .stats = together_stats};

static cmt_replay_report replay_noting(const char *path, bool serial)
{
    replaying_thread = pthread_self();
    calls_on_replaying_thread = calls_elsewhere = 0;
    return replay_path(path, &noting_allocator, (cmt_replay_options){.touch = CMT_TOUCH_ALL, .serial = serial});
}

/* A recorded program's first thread is its main thread, and glibc gives
 * the main thread an arena no other gets: a trace of one thread replays
 * wholly on the thread that called the replay (not handed to a replay
 * thread, which took three times as long an event), and a trace whose
 * second thread comes late runs its first thread's events there too,
 * before and after, the blocks made before taken over, one that the
 * replay could not make included. */
Test(replay, the_first_recorded_thread_runs_on_the_thread_that_replays, .timeout = 60)
{
    built one = {0};
    for (int i = 0; i < 5000; i++)
        built_op(&one, CMT_OP_FREE, 7, built_malloc(&one, 7, 40), 0, 0);
    const char *path = built_encode(&one, "one-thread.cmt");
    cmt_replay_report rep = replay_noting(path, false);
    cr_assert_eq(rep.threads, 1);
    cr_assert_str_eq(rep.serial_reason, "", "one thread: nothing made serial");
    cr_assert_eq(calls_on_replaying_thread, 10000);
    cr_assert_eq(calls_elsewhere, 0);

    built late = {0};
    uint64_t before[3000];
    for (int i = 0; i < 3000; i++)
        before[i] = built_malloc(&late, 1, i == 1234 ? NOT_MADE_SIZE : 64);
    for (int i = 0; i < 3000; i++) {
        built_op(&late, CMT_OP_FREE, i % 2 ? 1 : 2, before[i], 0, 0);
        built_op(&late, CMT_OP_FREE, 1, built_malloc(&late, 1, 32), 0, 0);
    }
    path = built_encode(&late, "late-thread.cmt");
    cmt_replay_report serial = replay_noting(path, true);
    cr_assert_eq(calls_elsewhere, 0);
    rep = replay_noting(path, false);
    cr_assert_eq(rep.threads, 2);
    cr_assert_eq(rep.cross_thread_frees, 1500);
    cr_assert_eq(serial.cross_thread_frees, 1500);
    cr_assert_eq(rep.failed_in_replay, 1, "the block of %d bytes", NOT_MADE_SIZE);
    cr_assert_eq(serial.failed_in_replay, 1);
    cr_assert_eq(rep.peak_live_bytes, serial.peak_live_bytes);
    cr_assert_eq(rep.end_live_bytes, 0);
    cr_assert_eq(rep.end_live_blocks, 0);
    /* What the allocator held at once: the blocks made before the second
     * thread, and as many as the window lets thread 1 make ahead of 2. */
    cr_assert_geq(rep.peak_footprint, serial.peak_footprint);
    cr_assert_leq(rep.peak_footprint, serial.peak_footprint + 64 * 32, "%llu, serially %llu",
                  (unsigned long long)rep.peak_footprint, (unsigned long long)serial.peak_footprint);
    cr_assert_eq(calls_elsewhere, 1499, "thread 2's frees on a thread of their own (but of the block not made)");
    cr_assert_eq(calls_on_replaying_thread, 3000 + 1500 + 6000, "thread 1's calls where the replay began");
}

/* --pace: events 100 ms apart in the trace are 100 ms apart in the
 * replay, serial and threaded, and the sleeps are not the allocator's
 * time (a third of them asked for: a loaded machine may start a thread
 * late, its first event then due); a trace without times replays unpaced
 * and says so. */
Test(replay, pace_keeps_the_recorded_gaps_off_the_clock, .timeout = 60)
{
    built b = {0};
    uint64_t x = built_malloc(&b, 1, 4000);
    built_op(&b, CMT_OP_FREE, 2, x, 0, 0);
    uint64_t y = built_malloc(&b, 2, 4000);
    built_op(&b, CMT_OP_FREE, 1, y, 0, 0);
    for (size_t i = 0; i < b.n; i++)
        b.events[i].time = 5000000000u + i * 100000000u;
    const char *path = scratch_path("paced.cmt");
    encode_events(path, b.events, b.n, 3);
    for (int serial = 0; serial < 2; serial++) {
        for (int pace = 0; pace < 2; pace++) {
            cmt_replay_options options = {.touch = CMT_TOUCH_ALL, .serial = serial, .pace = pace, .window = 64};
            cmt_replay_report rep = replay_path(path, &cmt_allocator_system, options);
            cr_assert_eq(rep.threads, serial ? 1 : 2);
            cr_assert_eq(rep.paced, pace);
            cr_assert_eq(rep.cross_thread_frees, 2);
            if (!pace) {
                cr_assert_eq(rep.paced_seconds, 0);
                continue;
            }
            cr_assert_geq(rep.wall_seconds, 0.299, "serial %d: %f s", serial, rep.wall_seconds);
            cr_assert_geq(rep.paced_seconds, 0.1, "serial %d: %f s asleep", serial, rep.paced_seconds);
            cr_assert_lt(rep.seconds, rep.wall_seconds - 0.1, "serial %d: the sleeps off the clock", serial);
        }
    }
    for (size_t i = 0; i < b.n; i++)
        b.events[i].time = 0;
    encode_events(path, b.events, b.n, 3);
    free(b.events);
    cmt_replay_report rep =
        replay_path(path, &cmt_allocator_system, (cmt_replay_options){.touch = CMT_TOUCH_ALL, .pace = true});
    cr_assert(!rep.paced, "no times: nothing to pace");
}

/* A recorded run of the recorder's test program: four workers each hand a
 * block to the main thread, which frees it. */
Test(replay, a_recorded_run_replays_on_its_threads)
{
    const char *cmt = scratch_path("recorded.cmt");
    char *out;
    cr_assert_eq(runf(NULL, NULL, "%s/cmtrecord -q -o %s -- %s calls threads > /dev/null", CMT_TOOLS, cmt,
                      RECORD_TARGET),
                 0);
    cr_assert_eq(runf(&out, NULL, "%s/cmtreplay --json %s", CMT_TOOLS, cmt), 0);
    cr_assert(strstr(out, "\"threads\": 5, \"cross_thread_frees\": 4,"), "%s", out);
    const char *live = strstr(out, "\"peak_live_bytes\": ");
    cr_assert_not_null(live);
    char system_live[64];
    snprintf(system_live, sizeof system_live, "%.*s", (int)strcspn(live, ",") + 1, live); /* the comma too */
    free(out);
    cr_assert_eq(runf(&out, NULL, "%s/cmtreplay --serial --json %s", CMT_TOOLS, cmt), 0);
    cr_assert(strstr(out, "\"threads\": 1, \"cross_thread_frees\": 4,") && strstr(out, "\"serial_reason\": \"--serial\""),
              "%s", out);
    free(out);
    cr_assert_eq(runf(&out, NULL, "%s/cmtreplay -a rmalloc --json %s", CMT_TOOLS, cmt), 0);
    cr_assert(strstr(out, "\"threads\": 5, \"cross_thread_frees\": 4,") && strstr(out, "\"serial_reason\": \"\""),
              "rmalloc's heap is shared: %s", out);
    cr_assert(strstr(out, system_live) && strstr(out, "\"failed_in_replay\": 0,"), "%s under glibc: %s", system_live,
              out);
    free(out);
}

/* Johnstone and Wilson's other measures, by hand, under the null
 * allocator, whose footprint is its largest block: two blocks of 4000
 * bytes made and freed.  Live after each event 4000, 8000, 4000, 0:
 * 16,000 byte-events.  The footprint, sampled after event 1 (4000, with
 * 4000 live: 1.0 at its peak), is 4000 from that event on: 16,000
 * byte-events too (taken as it was before, events 1 and 4 would not count
 * it), where the peaks' ratio is 0.5.  On two threads the live bytes over
 * time are the same. */
Test(replay, the_overhead_at_the_peak_footprint_and_over_the_replay)
{
    const cmt_allocator *null = cmt_allocator_find("null");
    for (int threads = 0; threads < 2; threads++) {
        built b = {0};
        uint64_t x = built_malloc(&b, 1, 4000), y = built_malloc(&b, 1 + threads, 4000);
        built_op(&b, CMT_OP_FREE, 1, x, 0, 0);
        built_op(&b, CMT_OP_FREE, 1 + threads, y, 0, 0);
        const char *path = built_encode(&b, "areas.cmt");
        cmt_replay_report rep = replay_path(path, null, (cmt_replay_options){.touch = CMT_TOUCH_NONE});
        cr_assert_eq(rep.threads, threads ? 2 : 1);
        cr_assert_eq(rep.live_area, 16000.0, "%f", rep.live_area);
        if (threads)
            continue; /* a second thread's samples fall where its events run */
        cr_assert_eq(rep.peak_footprint, 4000);
        cr_assert_eq(rep.live_at_peak_footprint, 4000);
        cr_assert_eq(rep.footprint_area, 16000.0, "%f", rep.footprint_area);
    }
}

/* The moment of the peak footprint is the first it came within 1/1024 of
 * it: under the null allocator (its footprint the largest block), 5,000
 * and 400,000 bytes live with a footprint of 400,000, then, alone, a
 * block of 400,300.  The footprint's peak is 400,300, but it was 400,000
 * with 405,000 live: that is the moment, not the end with 400,300 live
 * (a g++ trace's tables grew a few bytes at its end, and the measure said
 * 1.251 where it was 1.082). */
Test(replay, the_peak_footprint_s_moment_is_when_it_first_came_near)
{
    built b = {0};
    uint64_t small = built_malloc(&b, 1, 5000), big = built_malloc(&b, 1, 400000);
    built_op(&b, CMT_OP_FREE, 1, small, 0, 0);
    built_op(&b, CMT_OP_FREE, 1, big, 0, 0);
    built_malloc(&b, 1, 400300);
    const char *path = built_encode(&b, "moment.cmt");
    cmt_replay_report rep = replay_path(path, cmt_allocator_find("null"), (cmt_replay_options){.touch = CMT_TOUCH_NONE});
    cr_assert_eq(rep.peak_footprint, 400300);
    cr_assert_eq(rep.at_peak.bytes, 400000);
    cr_assert_eq(rep.live_at_peak_footprint, 405000);
}

/* The null allocator: every block the same bytes, nothing freed; the
 * replay's figures as for any allocator, its footprint the largest block,
 * a block too large for its reservation a failure. */
Test(replay, the_null_allocator_measures_the_replayer_alone)
{
    const cmt_allocator *null = cmt_allocator_find("null");
    cr_assert_not_null(null, "found by name");
    for (size_t i = 0; cmt_allocators[i]; i++)
        cr_assert_neq(cmt_allocators[i], null, "not among the allocators to choose");
    cmt_replay_report rep = replay_file(sample_cmt("every-call.trace"), null, NULL);
    cr_assert_eq(rep.events, 17);
    cr_assert_eq(rep.peak_live_bytes, 800);
    cr_assert_eq(rep.failed_in_trace, 1, "malloc(2^60) fails under null too");
    cr_assert_eq(rep.failure_not_reproduced, 0);
    cr_assert_leq(rep.peak_footprint, 800, "the largest block, not the sum");
    cr_assert_gt(rep.peak_footprint, 0);
}
