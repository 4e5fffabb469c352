/*
 * test_cli.c - the real tools, run as a user runs them, on the samples and
 * on real traces made elsewhere (CMT_SHARED_TRACES; skipped when absent).
 */
#include "helpers.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TestSuite(cli, .fini = scratch_cleanup);

#define T2C CMT_TOOLS "/trace2cmt"
#define REPLAY CMT_TOOLS "/cmtreplay"

/* Encodes the Python sample with trace2cmt OPTIONS into NAME in the
 * scratch folder; returns its path. */
static const char *encoded_sample(const char *options, const char *name)
{
    const char *cmt = scratch_path(name);
    cr_assert_eq(runf(NULL, NULL, "%s -q %s -o %s %s/python-json.trace", T2C, options, cmt, CMT_SAMPLES), 0);
    return cmt;
}

/* The encoded Python sample without its last DROP bytes, as cut.cmt. */
static const char *cut_sample(const char *options, size_t drop)
{
    const char *cmt = encoded_sample(options, "good.cmt"), *cut = scratch_path("cut.cmt");
    size_t len;
    char *data = read_file(cmt, &len);
    write_file(cut, data, len - drop);
    free(data);
    return cut;
}

Test(cli, help_and_version_exit_zero_and_bad_usage_exits_two)
{
    static const char *const tools[] = {"trace2cmt", "cmtreplay", "cmtstat", "cmtlifetimes", "cmtoverhead", "cmtrecord"};
    for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++) {
        char *out, *err;
        cr_assert_eq(runf(&out, NULL, "%s/%s --help", CMT_TOOLS, tools[i]), 0);
        cr_assert(strstr(out, "Usage:"), "%s", out);
        free(out);
        cr_assert_eq(runf(&out, NULL, "%s/%s --version", CMT_TOOLS, tools[i]), 0);
        cr_assert(strstr(out, CMT_VERSION_STRING));
        free(out);
        cr_assert_eq(runf(NULL, &err, "%s/%s --no-such-option x", CMT_TOOLS, tools[i]), 2);
        /* getopt says what is wrong, once; the tool adds only the hint. */
        char want[128];
        snprintf(want, sizeof want, ": unrecognized option '--no-such-option'\nTry '%s --help' for more information.\n",
                 tools[i]);
        const char *said = strstr(err, want);
        cr_assert(said && said[strlen(want)] == '\0' && !memchr(err, '\n', (size_t)(said - err)), "%s: %s", tools[i],
                  err);
        free(err);
    }
    char *err;
    cr_assert_eq(runf(NULL, &err, "%s -a nonesuch x.cmt", REPLAY), 2);
    cr_assert(strstr(err, "no allocator 'nonesuch'"), "%s", err);
    free(err);
    cr_assert_eq(runf(NULL, &err, "%s -l 99 x", T2C), 2);
    free(err);
    const char *no_seek_points[] = {"--raw", "--addresses"};
    for (size_t i = 0; i < 2; i++) {
        cr_assert_eq(runf(NULL, &err, "%s %s --seek-every 100 x", T2C, no_seek_points[i]), 2);
        cr_assert(strstr(err, "has no seek points"), "%s", err);
        free(err);
    }
}

Test(cli, allocators_are_listed)
{
    char *out;
    cr_assert_eq(runf(&out, NULL, "%s -a list", REPLAY), 0);
    cr_assert(strstr(out, "system") && strstr(out, "jemalloc"), "%s", out);
    free(out);
}

Test(cli, convert_and_replay_the_sample_against_every_allocator)
{
    char *out, *err;
    cr_assert_eq(runf(NULL, &err, "%s -o %s %s/python-json.trace", T2C, scratch_path("py.cmt"), CMT_SAMPLES), 0);
    cr_assert(strstr(err, "trace2cmt: 3506 events, "), "%s", err);
    cr_assert(strstr(err, "bytes/event (zstd -9)"), "%s", err);
    free(err);
    cr_assert_eq(runf(&out, NULL, "%s -a all %s", REPLAY, scratch_path("py.cmt")), 0);
    cr_assert(strstr(out, "3,506 events"), "%s", out);
    cr_assert(strstr(out, "\nsystem ") && strstr(out, "\n" JEMALLOC_OR_RMALLOC " "), "%s", out);
    free(out);
    cr_assert_eq(runf(&out, NULL, "%s -a " JEMALLOC_OR_RMALLOC " --json %s", REPLAY, scratch_path("py.cmt")), 0);
    cr_assert(strstr(out, "{\"allocator\": \"" JEMALLOC_OR_RMALLOC "\", \"events\": 3506,"), "%s", out);
    free(out);
}

Test(cli, the_verbose_trace_converts_back_to_the_same_file)
{
    const char *cmt = encoded_sample("", "a.cmt");
    char *err;
    cr_assert_eq(runf(NULL, &err, "%s -a " JEMALLOC_OR_RMALLOC " -v %s > %s", REPLAY, cmt, scratch_path("je.trace")), 0);
    cr_assert(strstr(err, "allocator       " JEMALLOC_OR_RMALLOC), "-v sends the report to stderr: %s", err);
    free(err);
    cr_assert_eq(runf(NULL, NULL, "%s -q --strict -o %s %s", T2C, scratch_path("b.cmt"), scratch_path("je.trace")), 0);
    size_t la, lb;
    char *a = read_file(cmt, &la), *b = read_file(scratch_path("b.cmt"), &lb);
    cr_assert(la == lb && memcmp(a, b, la) == 0, "re-encoding the replayed trace changed it");
    free(a);
    free(b);
}

/* rmalloc honours the memalign family: -v prints where each block was
 * made, and an aligned one lies on what it asked. */
Test(cli, rmalloc_gives_the_memalign_family_their_alignment)
{
    char *out;
    cr_assert_eq(runf(&out, NULL, "%s -a rmalloc -v %s/every-call.trace 2> /dev/null", REPLAY, CMT_SAMPLES), 0);
    int aligned = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        unsigned long align, size, at;
        const char *where = strstr(line, "# at 0x");
        if (!where || (sscanf(line, "posix_memalign(%lu, %lu)", &align, &size) != 2 &&
                       sscanf(line, "aligned_alloc(%lu, %lu)", &align, &size) != 2 &&
                       sscanf(line, "memalign(%lu, %lu)", &align, &size) != 2))
            continue;
        cr_assert_eq(sscanf(where, "# at 0x%lx", &at), 1, "%s", line);
        cr_assert_eq(at % align, 0, "%s", line);
        aligned++;
    }
    cr_assert_eq(aligned, 3, "the three aligned calls of the sample");
    free(out);
}

/* A .cmt file keeps no addresses, so its text names blocks as 0<tag>: that
 * text, every kind of call in it, converts back to the same file. */
Test(cli, the_text_of_a_cmt_file_converts_back_to_the_same_file)
{
    const char *samples[] = {"python-json.trace", "every-call.trace"};
    for (size_t i = 0; i < 2; i++) {
        const char *a = scratch_path("a.cmt"), *text = scratch_path("a.trace"), *b = scratch_path("b.cmt");
        cr_assert_eq(runf(NULL, NULL, "%s -q -o %s %s/%s", T2C, a, CMT_SAMPLES, samples[i]), 0);
        cr_assert_eq(runf(NULL, NULL, "%s -q -s -o %s %s", T2C, text, a), 0);
        char *printed = read_file(text, NULL);
        cr_assert(strstr(printed, "free(0<"), "%s: blocks are named 0<tag>", samples[i]);
        free(printed);
        char *err;
        cr_assert_eq(runf(NULL, &err, "%s -q --strict -o %s %s", T2C, b, text), 0, "%s: %s", samples[i], err);
        free(err);
        size_t la, lb;
        char *x = read_file(a, &la), *y = read_file(b, &lb);
        cr_assert(la == lb && memcmp(x, y, la) == 0, "%s: converting the text back changed the file", samples[i]);
        free(x);
        free(y);
    }
}

Test(cli, stdin_and_stdout_are_dash)
{
    char *out;
    cr_assert_eq(runf(NULL, NULL, "%s -q - < %s/every-call.trace | %s --json - > %s", T2C, CMT_SAMPLES, REPLAY,
                      scratch_path("r.json")), 0);
    out = read_file(scratch_path("r.json"), NULL);
    cr_assert(strstr(out, "\"peak_live_bytes\": 800,"), "%s", out);
    free(out);
    cr_assert_eq(runf(&out, NULL, "%s -s -q -o - %s/every-call.trace", T2C, CMT_SAMPLES), 0);
    cr_assert(strstr(out, "realloc(1000<1>, 300) = 3000<3>\n"), "%s", out);
    free(out);
}

Test(cli, a_bad_line_names_file_and_line_and_leaves_no_output)
{
    const char *in = scratch_path("bad.trace"), *out_path = scratch_path("bad.cmt");
    write_text(in, "malloc(8) = 0x10\nfree(0x10)\nmalloc(eight) = 0x20\n");
    char *err;
    cr_assert_eq(runf(NULL, &err, "%s -o %s %s", T2C, out_path, in), 1);
    char want[512];
    snprintf(want, sizeof want, "trace2cmt: %s:3: can't parse: malloc(eight) = 0x20\n", in);
    cr_assert_str_eq(err, want);
    free(err);
    cr_assert_not(file_exists(out_path), "no half-written output");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls -a %s | grep -c bad.cmt", scratch_dir());
    char *count;
    run(cmd, &count, NULL);
    cr_assert_str_eq(count, "0\n", "no temporary file left either");
    free(count);
}

Test(cli, a_failed_conversion_keeps_the_file_that_was_there)
{
    const char *in = scratch_path("bad.trace"), *out_path = scratch_path("keep.cmt");
    write_text(out_path, "precious");
    write_text(in, "malloc(8) = 0x10\nnonsense\n");
    cr_assert_eq(runf(NULL, NULL, "%s -q -o %s %s", T2C, out_path, in), 1);
    char *kept = read_file(out_path, NULL);
    cr_assert_str_eq(kept, "precious");
    free(kept);
}

Test(cli, unknown_frees_are_counted_and_strict_makes_them_errors)
{
    const char *in = scratch_path("late.trace");
    write_text(in, "free(0x500)\nmalloc(8) = 0x10\nfree(0x10)\n");
    char *err;
    cr_assert_eq(runf(NULL, &err, "%s -o /dev/null %s", T2C, in), 0);
    cr_assert(strstr(err, "2 events") && strstr(err, "1 frees of addresses not live skipped"), "%s", err);
    free(err);
    cr_assert_eq(runf(NULL, &err, "%s --strict -o /dev/null %s", T2C, in), 1);
    cr_assert(strstr(err, ":1: address is not live (--strict): free(0x500)"), "%s", err);
    free(err);
}

Test(cli, damaged_and_foreign_inputs_are_errors_naming_the_file)
{
    cut_sample("", 500);
    write_text(scratch_path("notes.txt"), "Shopping list\n");
    struct {
        const char *path, *message;
    } cases[] = {
        {scratch_path("cut.cmt"), "truncated"},
        {scratch_path("notes.txt"), ":1: can't parse: Shopping list"},
        {"/dev/null", "empty file"},
        {"/nonexistent/x.cmt", "No such file"},
        {scratch_dir(), "is a directory"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[512], *err;
        snprintf(path, sizeof path, "%s", cases[i].path);
        cr_assert_eq(runf(NULL, &err, "%s %s", REPLAY, path), 1, "%s", path);
        cr_assert(strstr(err, path) && strstr(err, cases[i].message), "%s: %s", path, err);
        cr_assert_eq(strchr(err, '\n'), err + strlen(err) - 1, "one line: %s", err);
        free(err);
    }
    char *err;
    cr_assert_eq(runf(NULL, &err, "%s -o /dev/null %s", T2C, scratch_dir()), 1);
    cr_assert(strstr(err, "is a directory"), "%s", err);
    free(err);
}

Test(cli, a_truncated_verbose_replay_leaves_no_trace_file)
{
    const char *cut = cut_sample("--raw", 20);
    cr_assert_eq(runf(NULL, NULL, "%s -v -o %s %s", REPLAY, scratch_path("v.trace"), cut), 1);
    cr_assert_not(file_exists(scratch_path("v.trace")));
}

/* ------------------------------------------------------- real traces */

static void expect_real_trace(const char *name, const char *prepare, uint64_t events)
{
    const char *path = shared_trace(name);
    if (!path)
        cr_skip_test(CMT_SHARED_TRACES "/%s is not here", name);
    char *err, *out;
    cr_assert_eq(runf(NULL, &err, "%s %s | %s -o %s -", prepare, path, T2C, scratch_path("real.cmt")), 0);
    char want[64];
    snprintf(want, sizeof want, "trace2cmt: %llu events, ", (unsigned long long)events);
    cr_assert(strstr(err, want), "%s", err);
    free(err);
    cr_assert_eq(runf(&out, &err, "%s -a all %s", REPLAY, scratch_path("real.cmt")), 0, "%s", err);
    cr_assert(strstr(out, "\nsystem ") && strstr(out, "\n" JEMALLOC_OR_RMALLOC " "), "%s", out);
    free(out);
    free(err);
}

Test(cli, the_bzip2_trace_with_its_294_mb_blocks_replays)
{
    expect_real_trace("401.bzip2.txt", "cat", 53); /* its README says 55; the file has 53 lines */
}

Test(cli, the_hmmer_trace_replays_its_first_block_freed_last)
{
    expect_real_trace("456.hmmer.test.txt.bz2", "bzip2 -dc", 180216);
    char *out;
    cr_assert_eq(runf(&out, NULL, "%s --json -a " JEMALLOC_OR_RMALLOC " %s", REPLAY, scratch_path("real.cmt")), 0);
    cr_assert(strstr(out, "\"end_live_blocks\": 1,"), "%s", out);
    free(out);
}

/* 456.hmmer as the original trace2cmt wrote it (its README: 530,655
 * bytes) reads as its text does, into the very same .cmt, and replays
 * with tag 1 freed near its end, which the original cmtreplay refused; the
 * original's -s form has its tags. */
Test(cli, the_hmmer_trace_in_the_original_binary_format_reads_as_its_text)
{
    const char *hmmer = shared_trace("456.hmmer.test.txt.bz2");
    if (!hmmer)
        cr_skip_test("456.hmmer is not in " CMT_SHARED_TRACES);
    const char *text = scratch_path("h.txt"), *original = scratch_path("h.cmt0");
    const char *from_text = scratch_path("ht.cmt"), *from_original = scratch_path("ho.cmt");
    cr_assert_eq(runf(NULL, NULL, "bzcat %s > %s", hmmer, text), 0);
    char err[512];
    cmt_source *s = cmt_source_open(text, NULL, err, sizeof err);
    cr_assert_not_null(s, "%s", err);
    size_t n;
    int rc;
    cmt_event *events = source_events(s, &n, &rc);
    cmt_source_close(s);
    cr_assert_eq(rc, 0);
    cr_assert_eq(n, 180216);
    encode_cmt0(original, events, n);
    free(events);
    size_t len;
    free(read_file(original, &len));
    cr_assert_eq(len, 530655);
    char *out, *errs;
    cr_assert_eq(runf(NULL, NULL, "%s -q -o %s %s", T2C, from_text, text), 0);
    cr_assert_eq(runf(NULL, &errs, "%s -o %s %s", T2C, from_original, original), 0);
    cr_assert(strstr(errs, "trace2cmt: 180216 events, ") && strstr(errs, ", read as cmt0\n"), "%s", errs);
    free(errs);
    cr_assert_eq(runf(NULL, NULL, "cmp %s %s", from_text, from_original), 0);
    cr_assert_eq(runf(&out, NULL, "%s -q -f cmt0 -s %s | tail -n 5 | grep -n '<1>'", T2C, original), 0);
    cr_assert_str_eq(out, "1:free(0<1>)\n");
    free(out);
    cr_assert_eq(runf(&out, NULL, "%s --json %s", REPLAY, original), 0);
    cr_assert(strstr(out, "\"events\": 180216,") && strstr(out, "\"end_live_blocks\": 1,"), "%s", out);
    free(out);
}

Test(cli, rmalloc_knobs_timeline_and_the_max_memory_experiment)
{
    const char *cmt = encoded_sample("", "py.cmt");
    char *out, *err;
    cr_assert_eq(runf(&out, NULL, "%s -a rmalloc --pinned 0.05 %s", REPLAY, cmt), 0);
    cr_assert(strstr(out, "allocator       rmalloc\n") && strstr(out, "\ncompaction      "), "%s", out);
    free(out);
    cr_assert_eq(runf(&out, NULL, "%s -a rmalloc --no-compact --json %s", REPLAY, cmt), 0);
    cr_assert(strstr(out, "\"compactions\": 0,"), "%s", out);
    free(out);
    cr_assert_eq(runf(NULL, &err, "%s -a rmalloc --pinned 2 %s", REPLAY, cmt), 2);
    cr_assert(strstr(err, "--pinned takes a fraction from 0 to 1, not '2'"), "%s", err);
    free(err);
    cr_assert_eq(runf(NULL, NULL, "%s -a system,rmalloc --timeline %s --timeline-every 1000 %s", REPLAY,
                      scratch_path("tl"), cmt), 0);
    char *table = read_file(scratch_path("tl.rmalloc"), NULL);
    cr_assert(strncmp(table, "# event live_bytes footprint_bytes\n1000 ", 40) == 0, "%s", table);
    free(table);
    cr_assert(file_exists(scratch_path("tl.system")));
    cr_assert_eq(runf(&out, &err, "%s --maxmem %s", REPLAY, cmt), 0, "%s", err);
    cr_assert(strstr(out, "optimal (peak live bytes)                       1,123,160      1.000\n"), "%s", out);
    cr_assert(strstr(out, "rmalloc, compacting: smallest heap") && strstr(out, "rmalloc, no compaction: smallest heap"),
              "%s", out);
#ifndef CMT_SANITIZED /* jemalloc is preloaded, which a sanitized cmtreplay refuses */
    cr_assert(strstr(out, "jemalloc: peak footprint"), "%s", out);
#endif
    free(out);
    free(err);
    cr_assert_eq(runf(NULL, &err, "%s --maxmem - < %s", REPLAY, cmt), 2);
    free(err);
}

/* A block the program had that the replay could not make: said after the
 * report, exit 1 unless --allow-failures; never counted as live. */
Test(cli, allocations_that_fail_only_in_the_replay_are_said_and_fail_the_run)
{
    const char *trace = scratch_path("huge.trace");
    write_text(trace, "malloc(16) = 0x10\nmalloc(1152921504606846976) = 0x30\nfree(0x10)\nfree(0x30)\n");
    char *out, *err;
    cr_assert_eq(runf(&out, &err, "%s -a all %s", REPLAY, trace), 1);
    cr_assert(strstr(err, "WARNING: system: 1 allocations (1,152,921,504,606,846,976 bytes asked) failed in the "
                          "replay that did not fail when traced") && strstr(err, "--allow-failures"),
              "%s", err);
#ifndef CMT_SANITIZED /* jemalloc is preloaded, which a sanitized cmtreplay refuses */
    cr_assert(strstr(err, "WARNING: jemalloc: 1 allocations (1,152,921,504,606,846,976 bytes asked)"), "%s", err);
#endif
    cr_assert(strstr(out, "peak live 16 bytes in 1 blocks"), "%s", out);
    free(out);
    free(err);
    cr_assert_eq(runf(NULL, &err, "%s --stop-on-failure %s", REPLAY, trace), 1);
    cr_assert(strstr(err, "huge.trace: event 2: malloc of 1152921504606846976 bytes failed in the replay"), "%s",
              err);
    free(err);
    cr_assert_eq(runf(&out, &err, "%s --allow-failures %s", REPLAY, trace), 0);
    cr_assert(strstr(out, "(blocks that exist in the replay; 1 that failed in it left out)"), "%s", out);
    cr_assert(strstr(err, "WARNING: system"), "%s", err);
    free(out);
    free(err);
}

/* Damaged zstd data, in a .cmt file and in a compressed text trace: the
 * documented form, FILE: byte N: corrupt. */
Test(cli, corrupt_zstd_data_is_named_by_file_and_byte)
{
    const char *cmt = encoded_sample("", "zs.cmt");
    const char *text = scratch_path("zs.trace.zst");
    cr_assert_eq(runf(NULL, NULL, "zstd -q -c %s/python-json.trace > %s", CMT_SAMPLES, text), 0);
    const char *const files[] = {cmt, text};
    for (size_t i = 0; i < 2; i++) {
        size_t len;
        char *data = read_file(files[i], &len);
        for (size_t at = 20; at < len - 8; at++)
            data[at] ^= 0x5a;
        write_file(files[i], data, len);
        free(data);
        char *err, want[4096];
        cr_assert_eq(runf(NULL, &err, "%s/cmtstat %s", CMT_TOOLS, files[i]), 1);
        snprintf(want, sizeof want, "cmtstat: %s: byte ", files[i]);
        cr_assert(strstr(err, want) && strstr(err, ": corrupt: zstd data: "), "%s", err);
        free(err);
    }
}

Test(cli, the_report_puts_each_unit_by_its_number)
{
    const char *cmt = encoded_sample("", "py.cmt");
    char *out;
    cr_assert_eq(runf(&out, NULL, "%s -a rmalloc %s", REPLAY, cmt), 0);
    const char *line = strstr(out, "footprint       peak ");
    cr_assert_not_null(line, "%s", out);
    char peak_unit[32], end_unit[32];
    cr_assert_eq(sscanf(line, "footprint       peak %*[0-9,] bytes (%*f %31[^)]), at end %*[0-9,] bytes (%*f %31[^)])",
                        peak_unit, end_unit), 2, "%.80s", line);
    free(out);
}

Test(cli, options_that_would_do_nothing_are_refused)
{
    const char *cmt = encoded_sample("", "py.cmt");
    static const char *const refused[][2] = {
        {"-a system --capacity 1000000", "--capacity is an rmalloc option"},
        {"-a system,null --pinned 0.1", "--pinned is an rmalloc option"},
        {"--no-compact", "--no-compact is an rmalloc option"},
        {"-a system --maxmem", "no -a with it"},
        {"--stop-on-failure --allow-failures", "not both"},
        {"-a null -v", "the null allocator's blocks share their bytes"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        char *err;
        cr_assert_eq(runf(NULL, &err, "%s %s %s", REPLAY, refused[i][0], cmt), 2, "%s", refused[i][0]);
        cr_assert(strstr(err, refused[i][1]), "%s: %s", refused[i][0], err);
        free(err);
    }
}

Test(cli, the_cppcheck_kdump_reads_directly_and_through_kdump2trace)
{
    const char *path = shared_trace("cppcheck.kdump.txt.zst");
    if (!path)
        cr_skip_test(CMT_SHARED_TRACES "/cppcheck.kdump.txt.zst is not here");
    char *err;
    cr_assert_eq(runf(NULL, &err, "%s -o %s %s", T2C, scratch_path("direct.cmt"), path), 0, "%s", err);
    cr_assert(strstr(err, "trace2cmt: 42681 events, ") && strstr(err, "read as kdump; 1 records of other kinds skipped"),
              "%s", err);
    free(err);
    cr_assert_eq(runf(NULL, NULL, "zstd -dc %s | PATH=%s:$PATH %s/kdump2trace.sh | %s -q --strict -o %s -", path,
                      CMT_TOOLS, CMT_SCRIPTS, T2C, scratch_path("piped.cmt")), 0);
    size_t la, lb;
    char *a = read_file(scratch_path("direct.cmt"), &la), *b = read_file(scratch_path("piped.cmt"), &lb);
    cr_assert(la == lb && memcmp(a, b, la) == 0, "the pipeline and the direct read differ");
    free(a);
    free(b);
}

Test(cli, the_valgrind_and_kdump_recordings_of_one_run_agree)
{
    char vg[4096], kd[4096];
    if (!shared_trace("cppcheck.valgrind.txt.zst") || !shared_trace("cppcheck.kdump.txt.zst"))
        cr_skip_test("the cppcheck traces are not in " CMT_SHARED_TRACES);
    snprintf(vg, sizeof vg, "%s", shared_trace("cppcheck.valgrind.txt.zst"));
    snprintf(kd, sizeof kd, "%s", shared_trace("cppcheck.kdump.txt.zst"));
    char *err;
    cr_assert_eq(runf(NULL, &err, "%s -o %s %s", T2C, scratch_path("vg.cmt"), vg), 0, "%s", err);
    cr_assert(strstr(err, "read as valgrind"), "%s", err);
    free(err);
    cr_assert_eq(runf(NULL, NULL, "%s -q -o %s %s", T2C, scratch_path("kd.cmt"), kd), 0);
    size_t nv, nk;
    int rc;
    cmt_event *v = decode_events(scratch_path("vg.cmt"), &nv, &rc, NULL, 0);
    cmt_event *k = decode_events(scratch_path("kd.cmt"), &nk, &rc, NULL, 0);
    cr_assert_eq(nv, nk);
    cr_assert_gt(nv, 40000);
    for (size_t i = 0; i < nv; i++) {
        /* jemalloc's utrace reports calloc(n, s) as malloc(n * s). */
        cmt_event want = v[i];
        if (want.op == CMT_OP_CALLOC)
            want = (cmt_event){.op = CMT_OP_MALLOC, .tag = want.tag, .size = cmt_event_bytes(&want), .count = 1};
        cr_assert(cmt_event_same(&want, &k[i]), "event %zu differs", i + 1);
    }
    free(v);
    free(k);
}

Test(cli, the_cheri_dtrace_log_reads_directly_and_through_log2trace)
{
    if (!shared_trace("cheri.dtrace.txt"))
        cr_skip_test(CMT_SHARED_TRACES "/cheri.dtrace.txt is not here");
    char path[4096], *err, *out;
    snprintf(path, sizeof path, "%s", shared_trace("cheri.dtrace.txt"));
    cr_assert_eq(runf(NULL, &err, "%s -o %s %s", T2C, scratch_path("d.cmt"), path), 0, "%s", err);
    cr_assert(strstr(err, "trace2cmt: 4 events, ") && strstr(err, "read as dtrace"), "%s", err);
    free(err);
    size_t n;
    int rc;
    cmt_event *events = decode_events(scratch_path("d.cmt"), &n, &rc, NULL, 0);
    cr_assert_eq(n, 4);
    cr_assert_eq(events[0].time, 1536334807907404599, "the timestamps are kept in the .cmt file");
    cr_assert_eq(events[3].time, 1536334807909463803);
    free(events);
    cr_assert_eq(runf(&out, NULL, "PATH=%s:$PATH %s/log2trace.sh < %s", CMT_TOOLS, CMT_SCRIPTS, path), 0);
    cr_assert(strstr(out, "malloc(96) = 81d21e100<1>\n") && strstr(out, "realloc(81d220288, 340) = 81d279480<3>\n"),
              "%s", out);
    free(out);
}

Test(cli, the_soffice_ops_file_converts_and_replays_with_lockops)
{
    const char *path = shared_trace("soffice.ops.txt.zst");
    if (!path)
        cr_skip_test(CMT_SHARED_TRACES "/soffice.ops.txt.zst is not here");
    char ops[4096], *err, *out;
    snprintf(ops, sizeof ops, "%s", path);
    cr_assert_eq(runf(NULL, &err, "%s -o %s %s", T2C, scratch_path("so.cmt"), ops), 0, "%s", err);
    cr_assert(strstr(err, "trace2cmt: 21587 events, ") && strstr(err, "read as ops") &&
                  strstr(err, "; 28 accesses run past their block's end"),
              "%s", err);
    free(err);
    size_t n;
    int rc;
    cmt_event *events = decode_events(scratch_path("so.cmt"), &n, &rc, NULL, 0);
    uint64_t calls[CMT_OP_COUNT] = {0};
    for (size_t i = 0; i < n; i++)
        calls[events[i].op]++;
    free(events);
    cr_assert_eq(calls[CMT_OP_MALLOC], 174);
    cr_assert_eq(calls[CMT_OP_FREE], 54);
    cr_assert_eq(calls[CMT_OP_LOAD], 13457);
    cr_assert_eq(calls[CMT_OP_STORE], 7853);
    cr_assert_eq(calls[CMT_OP_MODIFY], 49);

    cr_assert_eq(runf(&out, &err, "%s -a rmalloc %s", REPLAY, scratch_path("so.cmt")), 0, "%s", err);
    cr_assert(strstr(out, "accesses        load 13457, store 7853, modify 49 (each with its block locked)"),
              "%s", out);
    free(out);
    free(err);

    /* The replay's -v output is a text trace with accesses: it converts
     * back to the same events. */
    cr_assert_eq(runf(NULL, NULL, "%s -a system -v -o %s %s", REPLAY, scratch_path("so.txt"), scratch_path("so.cmt")), 0);
    cr_assert_eq(runf(NULL, &err, "%s --strict -o %s %s", T2C, scratch_path("back.cmt"), scratch_path("so.txt")), 0,
                 "%s", err);
    free(err);
    size_t la, lb;
    char *a = read_file(scratch_path("so.cmt"), &la), *b = read_file(scratch_path("back.cmt"), &lb);
    cr_assert(la == lb && memcmp(a, b, la) == 0, "the -v output converts back to a different file");
    free(a);
    free(b);
}

Test(cli, a_memtrace_log_reads_as_it_comes_from_valgrind)
{
    write_text(scratch_path("app.memtrace"), "==4242== Memcheck, a memory error detector\n"
                                             ">>> N 69586984 352\n"
                                             ">>> S 69587000 8\n"
                                             "==4242== some other line\n"
                                             ">>> L 69590000 4\n"
                                             ">>> F 69586984 0\n");
    char *err;
    cr_assert_eq(runf(NULL, NULL, "zstd -q -f %s", scratch_path("app.memtrace")), 0);
    cr_assert_eq(runf(NULL, &err, "%s -s %s.zst", T2C, scratch_path("app.memtrace")), 0, "%s", err);
    cr_assert(strstr(err, "trace2cmt: 3 events, ") && strstr(err, "read as memtrace; 2 records of other kinds "
                                                                  "skipped; 1 accesses outside every live block skipped"),
              "%s", err);
    free(err);
}

Test(cli, text_traces_replay_directly_as_their_cmt_files_do)
{
    const char *cmt = encoded_sample("", "p.cmt");
    char *from_text, *from_cmt;
    cr_assert_eq(runf(&from_text, NULL, "%s --json --no-touch -a rmalloc %s/python-json.trace", REPLAY, CMT_SAMPLES), 0);
    cr_assert_eq(runf(&from_cmt, NULL, "%s --json --no-touch -a rmalloc %s", REPLAY, cmt), 0);
    /* The same calls and live bytes; times and RSS differ from run to run. */
    const char *keys[] = {"\"calls\": {", "\"peak_live_bytes\":", "\"peak_footprint\":"};
    for (size_t i = 0; i < 3; i++) {
        const char *a = strstr(from_text, keys[i]), *b = strstr(from_cmt, keys[i]);
        cr_assert(a && b);
        cr_assert_eq(strncmp(a, b, strcspn(a, ",}") + 1), 0, "%s differs:\n%s\n%s", keys[i], from_text, from_cmt);
    }
    free(from_text);
    free(from_cmt);
}

/* Every tool that reads traces, on every kind of bad input: exit 1, one
 * line naming the file (and the byte or line where it applies), and an
 * output file that was there before left as it was. */
Test(cli, every_tool_turns_away_every_bad_input_and_keeps_the_old_output)
{
    const char *good = encoded_sample("--raw", "bad-good.cmt");
    size_t len;
    char *data = read_file(good, &len);
    struct {
        const char *name;
        const char *path;
        const char *says;
    } inputs[] = {
        {"cut", scratch_path("bad-cut.cmt"), "byte "},
        {"flipped", scratch_path("bad-flip.cmt"), "byte "},
        {"version", scratch_path("bad-version.cmt"), "format version 9.1 is not supported"},
        {"empty", scratch_path("bad-empty.cmt"), "empty file"},
        {"directory", scratch_dir(), "is a directory"},
        {"/dev/null", "/dev/null", "empty file"},
        {"missing", "/nonexistent/trace.cmt", "No such file"},
        {"elf", "/bin/true", "an ELF file (a program or library), not a trace"},
        {"bzip2", scratch_path("bad.trace.bz2"), "bzip2-compressed; only zstd is read directly (bzcat "},
        {"magic", scratch_path("bad-magic.cmt"), "not a .cmt trace (bad magic number"},
        {"binary", scratch_path("bad-binary"), "binary data, neither a .cmt file nor a text trace"},
    };
    cr_assert_eq(runf(NULL, NULL, "bzip2 -c %s/every-call.trace > %s", CMT_SAMPLES, inputs[8].path), 0);
    write_file(inputs[0].path, data, len - 7);
    data[len / 2] ^= 0x10;
    write_file(inputs[1].path, data, len);
    data[len / 2] ^= 0x10;
    data[4] = 9;
    write_file(inputs[2].path, data, len);
    write_file(inputs[3].path, data, 0);
    data[4] = 1;
    data[0] = 'X';
    write_file(inputs[9].path, data, len);
    data[0] = 'a';
    data[1] = '\0';
    write_file(inputs[10].path, data, len);
    free(data);
    static const char *const tools[] = {"trace2cmt", "cmtreplay", "cmtstat", "cmtlifetimes", "cmtoverhead"};
    const char *out = scratch_path("bad-out.txt");
    for (size_t t = 0; t < sizeof tools / sizeof tools[0]; t++) {
        for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
            write_text(out, "what was there before\n");
            char *err;
            /* cmtreplay's -o is the -v trace's. */
            int rc = runf(NULL, &err, "%s/%s %s -o %s %s", CMT_TOOLS, tools[t],
                          strcmp(tools[t], "cmtreplay") == 0 ? "-v" : "", out, inputs[i].path);
            /* cmtoverhead turns away a .cmt file without addresses at its first
             * allocation, before the damage past the first block (the cut);
             * damage in the first block (the flip) it finds first. */
            bool readable_cmt = i == 0 && strcmp(tools[t], "cmtoverhead") == 0;
            const char *says = readable_cmt ? "a .cmt file that keeps no addresses" : inputs[i].says;
            cr_assert_eq(rc, 1, "%s on %s: exit %d: %s", tools[t], inputs[i].name, rc, err);
            cr_assert(strstr(err, inputs[i].path) && strstr(err, says), "%s on %s: %s", tools[t], inputs[i].name,
                      err);
            cr_assert_eq(strchr(err, '\n'), err + strlen(err) - 1, "%s on %s: one line: %s", tools[t],
                         inputs[i].name, err);
            char *kept = read_file(out, NULL);
            cr_assert_str_eq(kept, "what was there before\n", "%s on %s", tools[t], inputs[i].name);
            free(kept);
            free(err);
        }
    }
}

Test(cli, salvage_keeps_every_block_before_the_damage)
{
    /* 456.hmmer's blocks hold 32 Ki opcodes (32766 events and the block's
     * checksum record): a file cut in its second
     * block still gives the first whole. */
    const char *hmmer = shared_trace("456.hmmer.test.txt.bz2");
    if (!hmmer)
        cr_skip_test("456.hmmer is not in " CMT_SHARED_TRACES);
    const char *cmt = scratch_path("h.cmt"), *cut = scratch_path("hcut.cmt"), *fixed = scratch_path("hfixed.cmt");
    cr_assert_eq(runf(NULL, NULL, "bzcat %s | %s -q -o %s -", hmmer, T2C, cmt), 0);
    cr_assert_eq(runf(NULL, NULL, "head -c 20000 %s > %s", cmt, cut), 0);
    char *err;
    cr_assert_eq(runf(NULL, &err, "%s -q %s -o %s", T2C, cut, fixed), 1);
    free(err);
    cr_assert_eq(runf(NULL, &err, "%s --salvage -o %s %s", T2C, fixed, cut), 0);
    cr_assert(strstr(err, "warning: ") && strstr(err, "truncated") && strstr(err, "salvaged the 32766 events before it"),
              "%s", err);
    free(err);
    size_t n;
    int rc;
    free(decode_events(fixed, &n, &rc, NULL, 0));
    cr_assert_eq(rc, 0, "the salvaged file is whole");
    cr_assert_eq(n, 32766);
    char *out;
    cr_assert_eq(runf(&out, &err, "%s --salvage --json %s", REPLAY, cut), 0);
    cr_assert(strstr(out, "\"events\": 32766"), "%s", out);
    cr_assert(strstr(err, "warning: "), "%s", err);
    free(out);
    free(err);
}

/* -a preload:LIBRARY: a user's own malloc, preloaded into a replay of its
 * own, which takes the replay's calls (it counts them), and none of the
 * replayer's own; the functions it lacks are found elsewhere, said, and
 * never called; a library that replaces nothing is refused. */
Test(cli, a_preloaded_library_is_the_replay_s_malloc)
{
#ifdef CMT_SANITIZED
    cr_skip_test("a library preloaded into a sanitized cmtreplay would come before the sanitizer");
#endif
    const char *cmt = encoded_sample("", "pre.cmt"), *count = scratch_path("calls");
    char *out, *err;
    cr_assert_eq(runf(&out, &err, "TEST_ALLOCATOR_COUNT=%s %s -a preload:%s --json %s", count, REPLAY, TEST_ALLOCATOR,
                      cmt),
                 0, "%s", err);
    cr_assert(strstr(out, "\"fallbacks\": \"\"") && strstr(out, "\"events\": 3506"), "%s", out);
    free(out);
    free(err);
    char *calls = read_file(count, NULL);
    cr_assert_not_null(calls, "the library's count");
    cr_assert_geq(strtoul(calls, NULL, 10), 3506, "every call of the trace went to the library: %s", calls);
    free(calls);
    cr_assert_eq(runf(&out, NULL, "%s -a preload:%s %s", REPLAY, TEST_ALLOCATOR_PARTIAL, cmt), 0);
    cr_assert(strstr(out, "not replaced    posix_memalign, aligned_alloc, malloc_usable_size: from another library"),
              "%s", out);
    free(out);
    cr_assert_eq(runf(NULL, &err, "%s -a preload:/lib/x86_64-linux-gnu/libz.so.1 %s", REPLAY, cmt), 1);
    cr_assert(strstr(err, "does not replace malloc: malloc, calloc"), "%s", err);
    free(err);
    cr_assert_eq(runf(NULL, &err, "%s -a preload:/nonexistent.so %s", REPLAY, cmt), 2);
    free(err);
}

/* A library's own count is what it holds less what was in use when the
 * replay began: jemalloc starts at 2.8 MB resident, which once made the
 * footprint of a trace of 800 live bytes 2.9 MB; and not less what it held
 * free then, which the replay's blocks take: tcmalloc's footprint of the
 * Python sample was 0.934 of its live bytes, less than it held. */
Test(cli, a_preloaded_library_s_footprint_is_what_the_replay_made_it_hold)
{
#ifdef CMT_SANITIZED
    cr_skip_test("a library preloaded into a sanitized cmtreplay would come before the sanitizer");
#endif
    const char *libraries[][2] = {{"jemalloc", "libjemalloc.so.2"}, {"tcmalloc", "libtcmalloc_minimal.so.4"}};
    int tried = 0;
    for (size_t i = 0; i < 2; i++) {
        char path[256];
        snprintf(path, sizeof path, "/usr/lib/x86_64-linux-gnu/%s", libraries[i][1]);
        if (access(path, R_OK) != 0)
            continue;
        tried++;
        char *out;
        cr_assert_eq(runf(&out, NULL, "%s -a %s --json %s/every-call.trace", REPLAY, libraries[i][0], CMT_SAMPLES), 0);
        const char *fp = strstr(out, "\"peak_footprint\": ");
        cr_assert(fp, "%s", out);
        cr_assert_lt(strtoull(fp + 18, NULL, 10), 1u << 20, "%s", out);
        free(out);
        cr_assert_eq(runf(&out, NULL, "%s -a %s --json %s/python-json.trace", REPLAY, libraries[i][0], CMT_SAMPLES), 0);
        const char *overhead = strstr(out, "\"overhead\": ");
        cr_assert(overhead, "%s", out);
        cr_assert_geq(strtod(overhead + 12, NULL), 1.0, "%s: the footprint under the live bytes: %s",
                      libraries[i][0], out);
        free(out);
    }
    if (!tried)
        cr_skip_test("neither libjemalloc2 nor libtcmalloc-minimal4 is installed");
}

/* tcmalloc and mimalloc, where installed (tools/setup.sh installs them):
 * listed, and replayed on a trace's threads in a process of their own. */
Test(cli, tcmalloc_and_mimalloc_are_listed_and_replay_threads)
{
    char *out;
    cr_assert_eq(runf(&out, NULL, "%s -a list", REPLAY), 0);
    cr_assert(strstr(out, "tcmalloc ") && strstr(out, "mimalloc ") && strstr(out, "preload:LIBRARY.so"), "%s", out);
    bool installed = strstr(out, "not installed") == NULL;
    free(out);
#ifdef CMT_SANITIZED
    char *err;
    cr_assert_eq(runf(NULL, &err, "%s -a preload:%s %s", REPLAY, TEST_ALLOCATOR, encoded_sample("", "san.cmt")), 2);
    cr_assert(strstr(err, "built with AddressSanitizer"), "said, not crashed: %s", err);
    free(err);
    cr_skip_test("a library preloaded into a sanitized cmtreplay would come before the sanitizer");
#endif
    if (!installed)
        cr_skip_test("tcmalloc or mimalloc is not installed");
    const char *cmt = scratch_path("threads.cmt");
    cr_assert_eq(runf(NULL, NULL, "%s/cmtrecord -q -o %s -- %s calls threads > /dev/null", CMT_TOOLS, cmt,
                      RECORD_TARGET),
                 0);
    cr_assert_eq(runf(&out, NULL, "%s -a tcmalloc,mimalloc --json %s", REPLAY, cmt), 0);
    cr_assert(strstr(out, "\"allocator\": \"tcmalloc\"") && strstr(out, "\"allocator\": \"mimalloc\""), "%s", out);
    cr_assert(strstr(out, "\"threads\": 5, \"cross_thread_frees\": 4"), "%s", out);
    free(out);
}

/* Beside the others, the null allocator's time per event is the
 * replayer's own: said under the table and in each report. */
Test(cli, the_replayer_s_own_cost_is_reported_beside_the_allocators)
{
    const char *cmt = encoded_sample("", "harness.cmt");
    char *out;
    cr_assert_eq(runf(&out, NULL, "%s -a null,system %s", REPLAY, cmt), 0);
    cr_assert(strstr(out, "\nnull  ") && strstr(out, "the replayer's own cost (null): "), "%s", out);
    free(out);
    cr_assert_eq(runf(&out, NULL, "%s -a null,system --json %s", REPLAY, cmt), 0);
    const char *h = strstr(out, "\"harness_ns_per_event\": ");
    cr_assert(h && strtod(h + 24, NULL) > 0, "%s", out);
    free(out);
}

/* A trace replays to the same figures from its text and from its .cmt:
 * the decoder's memory is the replayer's own, not in glibc's heap (its
 * zstd window once made the .cmt's footprint 3.8 MB where the text's is
 * 1.3). */
Test(cli, the_decoder_s_memory_is_not_in_the_replayed_footprint)
{
    char *text, *cmt;
    cr_assert_eq(runf(&text, NULL, "%s -a system --json %s/python-json.trace", REPLAY, CMT_SAMPLES), 0);
    cr_assert_eq(runf(&cmt, NULL, "%s -a system --json %s", REPLAY, encoded_sample("", "footprint.cmt")), 0);
    const char *a = strstr(text, "\"peak_footprint\": "), *b = strstr(cmt, "\"peak_footprint\": ");
    cr_assert(a && b, "%s", cmt);
    cr_assert_eq(strtoull(a + 18, NULL, 10), strtoull(b + 18, NULL, 10), "text: %s\n.cmt: %s", text, cmt);
    free(text);
    free(cmt);
}

/* --pace on a trace with times (a CHERI dtrace log, 40 ms between its
 * calls) keeps its gaps; on one without, it warns and replays at once. */
Test(cli, pace_keeps_a_timed_trace_s_gaps_and_warns_of_a_trace_without)
{
    const char *trace = scratch_path("timed.dtrace");
    write_text(trace, "call-trace\t1536334807900000000\t50a0805 14\tmalloc\t96\t81d21e100\n"
                      "call-trace\t1536334807940000000\t\tfree\t81d21e100\t\n"
                      "call-trace\t1536334807980000000\t50a0805 14\tmalloc\t16\t81d239670\n");
    char *out, *err;
    cr_assert_eq(runf(&out, &err, "%s --pace %s", REPLAY, trace), 0, "%s", err);
    const char *pace = strstr(out, "\npace            the recorded gaps kept: ");
    cr_assert(pace, "%s", out);
    const char *wall = strstr(pace, "asleep, ");
    cr_assert(wall && strtod(wall + 8, NULL) >= 79.0, "%s", out);
    cr_assert_str_eq(err, "");
    free(out);
    free(err);
    cr_assert_eq(runf(&out, &err, "%s --pace %s", REPLAY, encoded_sample("", "untimed.cmt")), 0);
    cr_assert(!strstr(out, "\npace "), "%s", out);
    cr_assert(strstr(err, "--pace: ") && strstr(err, "has no times to keep"), "%s", err);
    free(out);
    free(err);
}

/* The kernel's figures: the page faults of writing a 64 MiB block, which
 * --no-touch does not write. */
Test(cli, the_kernel_counts_the_replay_s_page_faults)
{
    const char *trace = scratch_path("big.trace");
    write_text(trace, "malloc(67108864) = 0x10\nfree(0x10)\n");
    char *touched, *untouched;
    cr_assert_eq(runf(&touched, NULL, "%s --json %s", REPLAY, trace), 0);
    cr_assert_eq(runf(&untouched, NULL, "%s --no-touch --json %s", REPLAY, trace), 0);
    const char *a = strstr(touched, "\"minor_faults\": "), *b = strstr(untouched, "\"minor_faults\": ");
    cr_assert(a && b && strstr(touched, "\"user_seconds\": "), "%s", touched);
    unsigned long with = strtoul(a + 16, NULL, 10), without = strtoul(b + 16, NULL, 10);
    cr_assert_gt(with, without + 16, "%lu faults writing 64 MiB, %lu without (huge pages make them few)", with,
                 without);
    free(touched);
    free(untouched);
    /* --touch=page: a byte a page, every page resident all the same. */
    char *paged;
    cr_assert_eq(runf(&paged, NULL, "%s --touch=page --json %s", REPLAY, trace), 0);
    const char *c = strstr(paged, "\"minor_faults\": ");
    cr_assert_not_null(c);
    unsigned long page = strtoul(c + 16, NULL, 10);
    cr_assert(page + 64 >= with && page <= with + 64, "%lu faults a byte a page, %lu writing all", page, with);
    free(paged);
    cr_assert_eq(runf(NULL, NULL, "%s --touch=some %s 2>/dev/null", REPLAY, trace), 2);
}

/* -r N: N replays in fresh processes, the median by time with the spread. */
Test(cli, repeated_replays_give_the_median_and_the_spread)
{
    const char *cmt = encoded_sample("", "rep.cmt");
    char *out;
    cr_assert_eq(runf(&out, NULL, "%s -r 3 --json %s", REPLAY, cmt), 0);
    const char *spread = strstr(out, "\"repetitions\": 3, \"ns_per_event_spread\": [");
    cr_assert_not_null(spread, "%s", out);
    double lo = strtod(spread + 42, NULL), hi = strtod(strchr(spread + 42, ',') + 1, NULL);
    const char *ns = strstr(out, "\"ns_per_event\": ");
    double median = strtod(ns + 16, NULL);
    cr_assert(lo <= median + 0.01 && median <= hi + 0.01, "%f <= %f <= %f", lo, median, hi);
    free(out);
    cr_assert_eq(runf(&out, NULL, "%s -r 2 -a system,rmalloc %s", REPLAY, cmt), 0);
    cr_assert(strstr(out, "(each the median of 2 replays; ns/event from fastest to slowest: system "), "%s", out);
    free(out);
    cr_assert_eq(runf(NULL, NULL, "%s -r 3 -v %s > /dev/null 2>&1", REPLAY, cmt), 2);
    cr_assert_eq(runf(NULL, NULL, "%s -r 0 %s > /dev/null 2>&1", REPLAY, cmt), 2);
}

/* -a plugin:LIBRARY.so: an allocator with a vtable of its own
 * (tests/plugin_allocator.c), replayed serially and on a trace's
 * threads; a library without the vtable is refused. */
Test(cli, a_plugin_s_vtable_is_replayed)
{
    const char *cmt = encoded_sample("", "plugin.cmt");
    char *out, *err;
    cr_assert_eq(runf(&out, &err, "%s -a plugin:%s --json %s", REPLAY, PLUGIN_ALLOCATOR, cmt), 0, "%s", err);
    cr_assert(strstr(out, "\"allocator\": \"plugin:libplugin_allocator.so\"") && strstr(out, "\"events\": 3506") &&
                  strstr(out, "\"failed_in_replay\": 0,"),
              "%s", out);
    /* It counts exactly the bytes it holds: its peak is the peak of live bytes. */
    cr_assert(strstr(out, "\"peak_live_bytes\": 1123160,") && strstr(out, "\"peak_footprint\": 1123160,"), "%s", out);
    free(out);
    free(err);
    const char *threads = scratch_path("plugin-threads.cmt");
    cr_assert_eq(runf(NULL, NULL, "%s/cmtrecord -q -o %s -- %s calls threads > /dev/null", CMT_TOOLS, threads,
                      RECORD_TARGET),
                 0);
    cr_assert_eq(runf(&out, NULL, "%s -a plugin:%s --json %s", REPLAY, PLUGIN_ALLOCATOR, threads), 0);
    cr_assert(strstr(out, "\"threads\": 5, \"cross_thread_frees\": 4"), "%s", out);
    free(out);
    cr_assert_eq(runf(NULL, &err, "%s -a plugin:/lib/x86_64-linux-gnu/libz.so.1 %s", REPLAY, cmt), 2);
    cr_assert(strstr(err, "exports no cmt_allocator_plugin"), "%s", err);
    free(err);
}

/* A real trace cut into segments (one every 5,000 events: 36 of them for
 * 456.hmmer, whose first block lives to the end; and cppcheck's) gives
 * the same statistics and lifetime summary read on four threads as in
 * order, byte for byte. */
static void expect_segments_read_as_the_whole(const char *name, const char *prepare)
{
    const char *path = shared_trace(name);
    if (!path)
        cr_skip_test(CMT_SHARED_TRACES "/%s is not here", name);
    const char *cmt = scratch_path("seeking.cmt");
    cr_assert_eq(runf(NULL, NULL, "%s %s | %s -q --seek-every 5000 -o %s -", prepare, path, T2C, cmt), 0);
    const char *tools[] = {CMT_TOOLS "/cmtstat --json", CMT_TOOLS "/cmtlifetimes --summary"};
    for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++) {
        char *whole, *segments;
        cr_assert_eq(runf(&whole, NULL, "CMT_THREADS=1 %s %s", tools[i], cmt), 0);
        cr_assert_eq(runf(&segments, NULL, "CMT_THREADS=4 %s %s", tools[i], cmt), 0);
        cr_assert_str_eq(segments, whole, "%s", tools[i]);
        cr_assert_gt(strlen(whole), 100);
        free(whole);
        free(segments);
    }
}

Test(cli, a_real_trace_read_by_segments_gives_what_it_gives_read_in_order)
{
    expect_segments_read_as_the_whole("456.hmmer.test.txt.bz2", "bzip2 -dc");
    expect_segments_read_as_the_whole("cppcheck.valgrind.txt.zst", "zstd -dc");
}
