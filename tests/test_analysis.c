/*
 * test_analysis.c - the annotators against files worked out by hand (and
 * the seed's own examples), the statistics on hand-built traces, and the
 * --compare report.
 */
#include "helpers.h"
#include "analysis.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

TestSuite(analysis, .fini = scratch_cleanup);

#define DATA CMT_SOURCE_DIR "/tests/data"

/* The file GOT must equal WANT line by line; the first difference is
 * named. */
static void expect_same_lines(const char *got_path, const char *want_path)
{
    char *got = read_file(got_path, NULL), *want = read_file(want_path, NULL);
    size_t line = 1;
    char *g = got, *w = want;
    while (*g || *w) {
        char *gn = strchr(g, '\n'), *wn = strchr(w, '\n');
        size_t gl = gn ? (size_t)(gn - g) : strlen(g), wl = wn ? (size_t)(wn - w) : strlen(w);
        cr_assert(gl == wl && memcmp(g, w, gl) == 0, "line %zu:\n got: %.*s\nwant: %.*s", line, (int)gl, g,
                  (int)wl, w);
        g += gl + (gn != NULL);
        w += wl + (wn != NULL);
        line++;
    }
    free(got);
    free(want);
}

Test(analysis, lifetimes_annotates_as_the_seed_example)
{
    const char *out = scratch_path("lifetimes.out");
    cr_assert_eq(runf(NULL, NULL, "%s/cmtlifetimes -o %s %s/lifetimes.trace", CMT_TOOLS, out, DATA), 0);
    expect_same_lines(out, DATA "/lifetimes.expected");
}

Test(analysis, lifetimes_reads_cmt_files_too)
{
    const char *cmt = scratch_path("l.cmt");
    cr_assert_eq(runf(NULL, NULL, "%s/trace2cmt -q -o %s %s/lifetimes.trace", CMT_TOOLS, cmt, DATA), 0);
    char *text;
    cr_assert_eq(runf(&text, NULL, "%s/cmtlifetimes %s", CMT_TOOLS, cmt), 0);
    /* .cmt keeps no addresses; tags count from 1. */
    cr_assert_str_eq(text, "malloc(8) = 0<1>\n"
                           "realloc(0<1>, 16) = 0<2>                          # 8 bytes, allocated 1 lines ago\n"
                           "free(0<2>)                                        # 16 bytes, allocated 1 lines ago\n");
    free(text);
}

Test(analysis, lifetimes_summary_counts_each_lifetime_and_size)
{
    const char *out = scratch_path("summary.out");
    cr_assert_eq(runf(NULL, NULL, "%s/cmtlifetimes --summary -o %s %s/summary.trace", CMT_TOOLS, out, DATA), 0);
    expect_same_lines(out, DATA "/summary.expected");
    char *json;
    cr_assert_eq(runf(&json, NULL, "%s/cmtlifetimes --summary --json %s/summary.trace", CMT_TOOLS, DATA), 0);
    cr_assert(strstr(json, "\"freed\": 6, \"never_freed\": 1, \"rows\": [{\"count\": 2, \"lifetime\": 1, \"size\": 16}"),
              "%s", json);
    free(json);
}

Test(analysis, overhead_annotates_layout_and_pages_as_worked_out)
{
    const char *out = scratch_path("overhead.out");
    cr_assert_eq(runf(NULL, NULL, "%s/cmtoverhead -o %s %s/overhead.trace", CMT_TOOLS, out, DATA), 0);
    expect_same_lines(out, DATA "/overhead.expected");
    /* Lines 8 to 10 are the seed's example, word for word. */
    char *text = read_file(out, NULL);
    cr_assert(strstr(text, "malloc(20) = 81d2899a0<8>                         # prev 81d289980, gap 0, next "
                           "81d28ba20, gap 8300, pages [8508041, 8508041], 0 more pages \n"
                           "malloc(96) = 81d21e100<9>                         # prev 81d21e040, gap 104, next "
                           "81d220238, gap 8408, pages [8507934, 8507934], 0 more pages \n"
                           "free(81d2899a0<8>)                                # 20 bytes, allocated 2 lines ago, "
                           "prev 81d289980, gap 0, next 81d28ba20, gap 8300, pages [8508041-8508041], 0 fewer pages\n"));
    free(text);
}

Test(analysis, overhead_needs_addresses_and_leaves_no_output_without)
{
    const char *cmt = scratch_path("o.cmt"), *out = scratch_path("o.out");
    cr_assert_eq(runf(NULL, NULL, "%s/trace2cmt -q -o %s %s/overhead.trace", CMT_TOOLS, cmt, DATA), 0);
    char *err;
    cr_assert_eq(runf(NULL, &err, "%s/cmtoverhead -o %s %s", CMT_TOOLS, out, cmt), 1);
    cr_assert(strstr(err, "o.cmt: a .cmt file that keeps no addresses"), "%s", err);
    cr_assert_not(file_exists(out));
    free(err);
    /* trace2cmt --addresses keeps them: the same notes as from the text. */
    const char *kept = scratch_path("kept.cmt"), *from_text = scratch_path("t.out");
    cr_assert_eq(runf(NULL, NULL, "%s/trace2cmt -q --addresses -o %s %s/overhead.trace", CMT_TOOLS, kept, DATA), 0);
    cr_assert_eq(runf(NULL, NULL, "%s/cmtoverhead -o %s %s && %s/cmtoverhead -o %s %s/overhead.trace", CMT_TOOLS, out,
                      kept, CMT_TOOLS, from_text, DATA), 0);
    char *a = read_file(out, NULL), *b = read_file(from_text, NULL);
    cr_assert_str_eq(a, b);
    free(a);
    free(b);
    /* And from a file without them, --addresses has nothing to keep. */
    cr_assert_eq(runf(NULL, &err, "%s/trace2cmt -q --addresses -o %s %s", CMT_TOOLS, out, cmt), 1);
    cr_assert(strstr(err, "o.cmt: --addresses: the input keeps no addresses"), "%s", err);
    free(err);
    /* cmtreplay -v puts them back. */
    cr_assert_eq(runf(NULL, NULL, "%s/cmtreplay -a " JEMALLOC_OR_RMALLOC " -v %s 2>/dev/null | %s/cmtoverhead -o %s -", CMT_TOOLS,
                      cmt, CMT_TOOLS, out), 0);
    char *text = read_file(out, NULL);
    cr_assert(strstr(text, "# prev 0, gap -1, next 0, gap -1, pages ["), "the first block has no neighbours: %s", text);
    free(text);
}

Test(analysis, a_bad_line_is_named_and_nothing_is_written)
{
    write_text(scratch_path("bad.trace"), "malloc(8) = 0x10\nmalloc(eight) = 0x20\n");
    for (int i = 0; i < 3; i++) {
        static const char *const tools[] = {"cmtlifetimes", "cmtoverhead", "cmtstat"};
        char *err;
        const char *out = scratch_path("bad.out");
        cr_assert_eq(runf(NULL, &err, "%s/%s -o %s %s", CMT_TOOLS, tools[i], out, scratch_path("bad.trace")), 1);
        cr_assert(strstr(err, "bad.trace:2: can't parse: malloc(eight) = 0x20"), "%s: %s", tools[i], err);
        cr_assert_not(file_exists(out), "%s", tools[i]);
        free(err);
    }
}

/* ------------------------------------------------------------ statistics */

static cmt_trace_stats stats_of(const char *path)
{
    char err[512];
    cmt_source *s = cmt_source_open(path, NULL, err, sizeof err);
    cr_assert_not_null(s, "%s", err);
    cmt_trace_stats stats;
    cr_assert_eq(cmt_stats_read(s, &stats, NULL, err, sizeof err), 0, "%s", err);
    cmt_source_close(s);
    return stats;
}

Test(analysis, stats_of_every_call_as_worked_out)
{
    /* samples/every-call.trace: the peak and the blocks are in its comments;
     * lifetimes: block 1 lives 2 events (1-3), 2 and 8 five and seven, the
     * others 8 or 9; the trace is 17 events long. */
    cmt_trace_stats s = stats_of(CMT_SAMPLES "/every-call.trace");
    cr_assert_eq(s.events, 17);
    cr_assert_eq(s.calls[CMT_OP_FREE], 7);
    cr_assert_eq(s.free_null, 1);
    cr_assert_eq(s.failed, 1);
    cr_assert_eq(s.allocated_blocks, 8);
    cr_assert_eq(s.allocated_bytes, 950);
    cr_assert_eq(s.peak_live_bytes, 800);
    cr_assert_eq(s.peak_live_blocks, 5);
    cr_assert_eq(s.peak_event, 6);
    cr_assert_eq(s.live_bytes, 0);
    cr_assert_eq(s.temporary, 1, "malloc(0) is freed with no allocation after it");
    cr_assert_eq(s.sizes.count[0], 1, "malloc(0)");
    cr_assert_eq(s.sizes.count[6], 1, "50 in [32, 64)");
    cr_assert_eq(s.sizes.count[7], 4, "100, 100, 64, 80 in [64, 128)");
    cr_assert_eq(s.sizes.count[9], 2, "300, 256 in [256, 512)");
    cr_assert_eq(s.lifetimes.count[2], 1, "2 in [2, 4)");
    cr_assert_eq(s.lifetimes.count[3], 2, "5 and 7 in [4, 8)");
    cr_assert_eq(s.lifetimes.count[4], 5, "8 and 9 in [8, 16)");
    /* Macro: 2/17 = 0.12; 5/17, 7/17, 8/17 below 0.5; 9/17 = 0.53 four times. */
    cr_assert_eq(s.macro.count[4], 1, "[0.1, 0.25)");
    cr_assert_eq(s.macro.count[5], 3, "[0.25, 0.5)");
    cr_assert_eq(s.macro.count[6], 4, "[0.5, 0.75)");
}

Test(analysis, stats_count_temporaries_leaks_and_micro_lifetimes)
{
    write_text(scratch_path("acc.trace"), "malloc(10) = 0x100\n"  /* 1: A */
                                          "store(0x100, 4)\n"     /* 2 */
                                          "malloc(20) = 0x200\n"  /* 3: B */
                                          "load(0x100+4, 4)\n"    /* 4 */
                                          "free(0x100)\n"         /* 5: A lived 4 events, 2 its own */
                                          "malloc(30) = 0x300\n"  /* 6: C */
                                          "free(0x300)\n"         /* 7: a temporary */
                                          "malloc(40) = 0x400\n"); /* 8: D, never freed */
    cmt_trace_stats s = stats_of(scratch_path("acc.trace"));
    cr_assert_eq(s.temporary, 1);
    cr_assert_eq(s.live_blocks, 2, "B and D are never freed");
    cr_assert_eq(s.live_bytes, 60);
    cr_assert_eq(s.accessed_bytes, 8);
    cr_assert_eq(s.micro.count[5], 1, "A: 2 of 4 = 0.5");
    cr_assert_eq(s.micro.count[0], 2, "B and C: none of their own; D's life is empty");
    char *out;
    cr_assert_eq(runf(&out, NULL, "%s/cmtstat --json %s", CMT_TOOLS, scratch_path("acc.trace")), 0);
    cr_assert(strstr(out, "\"never_freed_bytes\": 60, \"never_freed_blocks\": 2, \"temporary\": 1"), "%s", out);
    cr_assert(strstr(out, "\"micro_lifetime_histogram\": [2, 0, 0, 0, 0, 1, 0, 0, 0, 0]"), "%s", out);
    free(out);
    cr_assert_eq(runf(&out, NULL, "%s/cmtstat %s", CMT_TOOLS, scratch_path("acc.trace")), 0);
    cr_assert(strstr(out, "peak live       60 bytes in 2 blocks, at event 8 (100.0% of the way)"), "%s", out);
    free(out);
}

/* --------------------------------------------------------------- report */

/* The floor of an allocator that aligns every block for max_align_t:
 * blocks of 1, 17 and 0 bytes take 16, 32 and 16; the one of 17 freed
 * and one of 100 made (112): 144 bytes in 3 blocks at most, where the
 * most live was 101. */
Test(analysis, stats_round_each_live_block_up_to_its_alignment)
{
    const cmt_event events[] = {
        {.op = CMT_OP_MALLOC, .size = 1, .count = 1, .tag = 1, .slot = 0},
        {.op = CMT_OP_MALLOC, .size = 17, .count = 1, .tag = 2, .slot = 1},
        {.op = CMT_OP_MALLOC, .size = 0, .count = 1, .tag = 3, .slot = 2},
        {.op = CMT_OP_FREE, .arg_tag = 2, .arg_slot = 1, .count = 1},
        {.op = CMT_OP_MALLOC, .size = 100, .count = 1, .tag = 4, .slot = 1},
    };
    cmt_trace_stats s;
    cr_assert_eq(cmt_stats_init(&s), 0);
    for (size_t i = 0; i < sizeof events / sizeof events[0]; i++)
        cr_assert_eq(cmt_stats_add(&s, &events[i]), 0);
    cmt_stats_finish(&s);
    cr_assert_eq(s.peak_live_bytes, 101);
    cr_assert_eq(s.peak_aligned_bytes, 144);
    cr_assert_eq(s.peak_aligned_blocks, 3);
}

Test(analysis, compare_draws_pictures_and_a_page)
{
    if (run("command -v gnuplot >/dev/null", NULL, NULL) != 0)
        cr_skip_test("gnuplot is not installed");
    const char *dir = scratch_path("report");
    char *err;
    cr_assert_eq(runf(NULL, &err, "%s/cmtreplay --compare %s %s/python-json.trace", CMT_TOOLS, dir, CMT_SAMPLES), 0,
                 "%s", err);
    free(err);
    static const char *const files[] = {"memory.png", "memory.svg", "sizes.png", "sizes.svg", "lifetimes.png",
                                        "lifetimes.svg", "macro.png", "macro.svg", "index.html"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        size_t len = 0;
        free(read_file(path, &len));
        cr_assert_gt(len, 1000, "%s", files[i]);
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/index.html", dir);
    char *page = read_file(path, NULL);
    cr_assert(strstr(page, "<svg") && strstr(page, "rmalloc") && strstr(page, "peak live"), "the page has it all");
#ifndef __SANITIZE_ADDRESS__ /* preloaded allocators are refused there */
    cr_assert(strstr(page, "jemalloc"), "every allocator installed");
#endif
    char *rss = read_file(scratch_path("report/timeline.system.rss"), NULL);
    cr_assert(strncmp(rss, "# seconds event rss_bytes\n", 26) == 0, "the kernel's samples: %s", rss);
    free(rss);
    free(page);
}

Test(analysis, compare_without_gnuplot_says_how_to_get_it)
{
    const char *dir = scratch_path("nognuplot");
    char *err;
    cr_assert_eq(runf(NULL, &err, "PATH=/nonexistent %s/cmtreplay --compare %s %s/python-json.trace", CMT_TOOLS,
                      dir, CMT_SAMPLES),
                 1);
    cr_assert(strstr(err, "gnuplot, which is not installed (apt-get install gnuplot-nox"), "%s", err);
    free(err);
    cr_assert_not(file_exists(dir), "nothing is made");
}

/* ------------------------------------------------------------- segments */

/* STATS as cmtstat --json prints them. */
static char *stats_json(cmt_trace_stats *stats)
{
    char err[512];
    const char *json = scratch_path("stats.json");
    cmt_output *out = cmt_output_open(json, err, sizeof err);
    cr_assert_not_null(out, "%s", err);
    cmt_stats_print(out, "trace", stats, true);
    cr_assert_eq(cmt_output_commit(out, err, sizeof err), 0, "%s", err);
    return read_file(json, NULL);
}

/* The statistics of PATH read in order, and by segments on three threads
 * (which must be how it was read if BY_SEGMENTS), as JSON. */
static void stats_both_ways(const char *path, bool by_segments, char **in_order, char **segments)
{
    setenv("CMT_THREADS", "1", 1);
    cmt_trace_stats stats = stats_of(path);
    *in_order = stats_json(&stats);
    setenv("CMT_THREADS", "3", 1);
    char err[512];
    cmt_source *s = cmt_source_open(path, NULL, err, sizeof err);
    cr_assert_not_null(s, "%s", err);
    int rc = cmt_stats_read_segments(s, &stats, NULL, err, sizeof err);
    cr_assert(rc >= 0 || !by_segments, "%s", err);
    cr_assert(rc > 0 || !by_segments, "read by segments");
    if (rc <= 0)
        cr_assert_eq(cmt_stats_read(s, &stats, NULL, err, sizeof err), 0, "%s", err);
    unsetenv("CMT_THREADS");
    cmt_source_close(s);
    *segments = stats_json(&stats);
}

Test(analysis, stats_read_by_segments_are_the_stats_read_in_order)
{
    /* Random traces of every kind: blocks that live across many seek
     * points, die in another segment, are accessed there (micro
     * lifetimes), reallocated; the peak in any segment; blocks of 0
     * bytes; sizes as programs ask for them, and (the last seeds) as
     * random traces do, up to 2^64, which take the live bytes round 2^64
     * (the file is then read in order, to the same figures). */
    char path[4096];
    snprintf(path, sizeof path, "%s", scratch_path("seeking.cmt")); /* scratch_path's buffer is reused */
    for (unsigned seed = 1; seed <= 14; seed++) {
        size_t n = 30000;
        cmt_event *events = random_events(n, seed);
        bool huge = seed > 12;
        for (size_t i = 0; i < n; i++) {
            cmt_event *ev = &events[i];
            if (!cmt_op_allocates(ev->op))
                continue;
            if (!huge) {
                ev->size = ev->size ? 1 + (ev->size - 1) % (1u << 20) : 0; /* 0 stays 0: a realloc frees */
                ev->count %= 1u << 6;
            }
            if (seed > 8 && (ev->op == CMT_OP_MALLOC || ev->op == CMT_OP_CALLOC) && i % 3)
                ev->size = 0; /* many blocks of 0 bytes, and short segments */
        }
        encode_events_seeking(path, events, n, seed > 8 ? 7 * seed : 500 + 300 * seed);
        char *in_order, *by_segments;
        stats_both_ways(path, !huge, &in_order, &by_segments);
        cr_assert_str_eq(by_segments, in_order, "seed %u", seed);
        free(in_order);
        free(by_segments);
        free(events);
    }
}

Test(analysis, a_segment_whose_blocks_hold_no_bytes_still_makes_the_aligned_peak)
{
    /* A segment that makes only a block of 0 bytes: the live bytes come
     * to no new peak, but the blocks rounded to 16 bytes do (16 + 16),
     * which the merge must see although the segment's own blocks never
     * held a byte.  A seek point after every event. */
    const cmt_event events[] = {
        {.op = CMT_OP_MALLOC, .tag = 1, .size = 16, .count = 1},
        {.op = CMT_OP_MALLOC, .tag = 2, .size = 0, .count = 1},
        {.op = CMT_OP_FREE, .arg_tag = 1, .count = 1},
        {.op = CMT_OP_FREE, .arg_tag = 2, .count = 1},
    };
    char path[4096];
    snprintf(path, sizeof path, "%s", scratch_path("zero.cmt"));
    encode_events_seeking(path, events, 4, 1);
    for (int threads = 1; threads <= 2; threads++) {
        setenv("CMT_THREADS", threads == 1 ? "1" : "2", 1);
        cmt_trace_stats s = stats_of(path);
        unsetenv("CMT_THREADS");
        cr_assert_eq(s.peak_aligned_bytes, 32, "%d threads: %llu", threads, (unsigned long long)s.peak_aligned_bytes);
        cr_assert_eq(s.peak_aligned_blocks, 2);
        cr_assert_eq(s.peak_live_bytes, 16);
    }
}
