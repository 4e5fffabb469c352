/*
 * test_replay.c - replays against glibc and jemalloc, with figures worked
 * out by hand.
 */
#include "helpers.h"
#include "allocator.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

TestSuite(replay, .fini = scratch_cleanup);

static const char *sample_cmt(const char *trace)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s/trace2cmt -q -o '%s' '%s/%s'", CMT_TOOLS, scratch_path("s.cmt"), CMT_SAMPLES, trace);
    cr_assert_eq(run(cmd, NULL, NULL), 0, "%s", cmd);
    return scratch_path("s.cmt");
}

static cmt_replay_report replay_file(const char *path, const cmt_allocator *a, cmt_output *trace)
{
    char err[512];
    cmt_reader *r = cmt_reader_open(path, err, sizeof err);
    cr_assert_not_null(r, "%s", err);
    cmt_replay_options options = {.touch = true, .trace = trace};
    cmt_replay_report report;
    cr_assert_eq(cmt_replay(r, a, &options, &report, err, sizeof err), 0, "%s", err);
    cmt_reader_close(r);
    return report;
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

Test(replay, jemalloc_gives_the_hand_computed_figures)
{
    check_hand_computed_figures(&cmt_allocator_jemalloc);
}

/* Replays with -v into a text trace and reads the pointers back. */
static void check_pointers(const cmt_allocator *a)
{
    const char *cmt = sample_cmt("python-json.trace");
    char err[512];
    cmt_output *out = cmt_output_open(scratch_path("v.trace"), err, sizeof err);
    cmt_replay_report rep = replay_file(cmt, a, out);
    cr_assert_eq(cmt_output_commit(out, err, sizeof err), 0, "%s", err);
    /* Strict: every free names a live block at its new address, and no
     * address is handed out twice while live. */
    cmt_text_options strict = {.strict = true};
    cmt_text_reader *t = cmt_text_open(scratch_path("v.trace"), &strict, err, sizeof err);
    cmt_event ev;
    size_t n = 0;
    int rc;
    while ((rc = cmt_text_next(t, &ev)) > 0) {
        n++;
        if (ev.tag)
            cr_assert_neq(ev.addr, 0);
        if (ev.align)
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

Test(replay, jemalloc_pointers_are_real_and_consistent)
{
    check_pointers(&cmt_allocator_jemalloc);
}

Test(replay, both_allocators_see_the_same_live_bytes)
{
    const char *cmt = sample_cmt("python-json.trace");
    cmt_replay_report sys = replay_file(cmt, &cmt_allocator_system, NULL);
    cmt_replay_report je = replay_file(cmt, &cmt_allocator_jemalloc, NULL);
    cr_assert_eq(sys.peak_live_bytes, je.peak_live_bytes);
    cr_assert_eq(sys.peak_live_event, je.peak_live_event);
    cr_assert_gt(sys.peak_live_bytes, 0);
}

Test(replay, jemalloc_counts_its_own_arena_only)
{
    /* Bytes the replayer itself allocates go to jemalloc's default arena;
     * a replay of one small block must not see them. */
    void *noise = malloc(50 << 20);
    memset(noise, 1, 50 << 20);
    cmt_replay_report rep = replay_file(sample_cmt("every-call.trace"), &cmt_allocator_jemalloc, NULL);
    cr_assert_lt(rep.peak_footprint, 10 << 20, "footprint %llu", (unsigned long long)rep.peak_footprint);
    free(noise);
}

Test(replay, an_allocation_that_fails_only_in_the_replay_is_counted)
{
    const char *path = scratch_path("huge.trace");
    write_text(path, "malloc(1152921504606846976) = 0x10\nmalloc(8) = 0x20\nfree(0x10)\nfree(0x20)\n");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s/trace2cmt -q -o '%s' '%s'", CMT_TOOLS, scratch_path("huge.cmt"), path);
    cr_assert_eq(run(cmd, NULL, NULL), 0);
    for (size_t i = 0; cmt_allocators[i]; i++) {
        cmt_replay_report rep = replay_file(scratch_path("huge.cmt"), cmt_allocators[i], NULL);
        cr_assert_eq(rep.failed_in_replay, 1, "%s", cmt_allocators[i]->name);
        cr_assert_eq(rep.events, 4, "the replay went on past the failure");
    }
}

Test(replay, allocators_are_listed_and_found_by_name)
{
    cr_assert_eq(cmt_allocator_find("system"), &cmt_allocator_system);
    cr_assert_eq(cmt_allocator_find("jemalloc"), &cmt_allocator_jemalloc);
    cr_assert_null(cmt_allocator_find("tcmalloc-not-yet"));
    cr_assert_eq(cmt_round_alignment(0), sizeof(void *));
    cr_assert_eq(cmt_round_alignment(24), 32);
    cr_assert_eq(cmt_round_alignment(4096), 4096);
}
