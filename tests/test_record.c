/*
 * test_record.c - cmtrecord on real programs: a program of the project's
 * own that makes every call, in threads and a fork (tests/record_target.c),
 * and a system program; their counts against valgrind --trace-malloc=yes
 * on the same run; a crash; the live statistics.
 */
#include "helpers.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

TestSuite(record, .fini = scratch_cleanup);

#define RECORD CMT_TOOLS "/cmtrecord"

typedef struct counts {
    uint64_t calls[CMT_OP_COUNT];
    uint64_t free_null, threads, events;
} counts;

static counts count(const char *cmt)
{
    size_t n;
    int rc;
    char err[512];
    cmt_event *events = decode_events(cmt, &n, &rc, err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    counts c = {.events = n};
    for (size_t i = 0; i < n; i++) {
        c.calls[events[i].op]++;
        c.free_null += events[i].op == CMT_OP_FREE && !events[i].arg_tag;
        if (events[i].thread > c.threads)
            c.threads = events[i].thread;
    }
    free(events);
    return c;
}

/* valgrind --trace-malloc=yes, its exit handlers that free glibc's own
 * memory off, as they do not run without it. */
#define VALGRIND "valgrind --trace-malloc=yes --run-libc-freeres=no --run-cxx-freeres=no"

/* What valgrind counts for COMMAND. */
static counts valgrind_counts(const char *command)
{
    const char *log = scratch_path("valgrind.log"), *cmt = scratch_path("valgrind.cmt");
    cr_assert_eq(runf(NULL, NULL, VALGRIND " --log-file=%s %s > /dev/null", log, command), 0);
    cr_assert_eq(runf(NULL, NULL, "%s/trace2cmt -q -o %s %s", CMT_TOOLS, cmt, log), 0);
    return count(cmt);
}

static bool have_valgrind(void)
{
    return run("command -v valgrind > /dev/null", NULL, NULL) == 0;
}

/* The calls of C by kind, valgrind's way: it logs posix_memalign and
 * aligned_alloc as memalign; frees without free(NULL). */
static uint64_t kind_count(const counts *c, int op)
{
    switch (op) {
    case CMT_OP_FREE: return c->calls[op] - c->free_null;
    case CMT_OP_MEMALIGN:
        return c->calls[CMT_OP_MEMALIGN] + c->calls[CMT_OP_POSIX_MEMALIGN] + c->calls[CMT_OP_ALIGNED_ALLOC];
    case CMT_OP_POSIX_MEMALIGN:
    case CMT_OP_ALIGNED_ALLOC: return 0;
    default: return c->calls[op];
    }
}

/* OURS against valgrind's THEIRS: every allocation and every free of a
 * block, the first call (which starts the recorder, perhaps from a
 * library's constructor) included.  free(NULL) can only be fewer: glibc
 * calls it on itself at thread exit, past any preloaded library. */
static void expect_same_calls(const counts *ours, const counts *theirs)
{
    for (int op = 0; op < CMT_OP_COUNT; op++) {
        uint64_t a = kind_count(ours, op), b = kind_count(theirs, op);
        cr_assert_eq(a, b, "%s: cmtrecord %llu, valgrind %llu", cmt_op_name((cmt_op)op), (unsigned long long)a,
                     (unsigned long long)b);
    }
    cr_assert_leq(ours->free_null, theirs->free_null);
}

Test(record, every_entry_point_and_threads_as_valgrind_counts_them)
{
    const char *cmt = scratch_path("target.cmt");
    char *out, *err;
    cr_assert_eq(runf(&out, &err, "%s -o %s -- %s calls pvalloc threads", RECORD, cmt, RECORD_TARGET), 0, "%s", err);
    cr_assert_str_eq(out, "done\n", "the program's output is its own");
    cr_assert(strstr(err, "cmtrecord: ") && strstr(err, "target.cmt: "), "%s", err);
    free(out);
    free(err);
    counts ours = count(cmt);
    cr_assert_eq(ours.calls[CMT_OP_POSIX_MEMALIGN], 1);
    cr_assert_eq(ours.calls[CMT_OP_ALIGNED_ALLOC], 1);
    cr_assert_geq(ours.calls[CMT_OP_MEMALIGN], 3, "memalign, valloc, pvalloc");
    cr_assert_geq(ours.calls[CMT_OP_REALLOC], 4003, "realloc and reallocarray, 4000 in threads");
    cr_assert_eq(ours.threads, 5, "the main thread and four workers");
    if (!have_valgrind())
        cr_skip_test("valgrind is not installed: the counts are not compared");
    /* valgrind aborts on pvalloc: compared without it. */
    cr_assert_eq(runf(NULL, NULL, "%s -q -o %s -- %s calls threads > /dev/null", RECORD, cmt, RECORD_TARGET), 0);
    ours = count(cmt);
    char command[1024];
    snprintf(command, sizeof command, "%s calls threads", RECORD_TARGET);
    counts theirs = valgrind_counts(command);
    expect_same_calls(&ours, &theirs);
}

/* CMTRECORD_THREAD=0: no thread of the recorder's own, the program's
 * threads converting and writing as their chunks fill; the same calls. */
Test(record, without_a_thread_of_its_own_the_same_calls)
{
    const char *with = scratch_path("with-thread.cmt"), *without = scratch_path("without-thread.cmt");
    cr_assert_eq(runf(NULL, NULL, "%s -q -o %s -- %s calls threads many > /dev/null", RECORD, with,
                      RECORD_TARGET),
                 0);
    char *err;
    cr_assert_eq(runf(NULL, &err, "CMTRECORD_THREAD=0 %s -q --stats 0.01 -o %s -- %s calls threads many > /dev/null",
                      RECORD, without, RECORD_TARGET),
                 0, "%s", err);
    cr_assert(strstr(err, "Current allocations by age"), "the statistics, from the program's threads: %s", err);
    free(err);
    counts a = count(with), b = count(without);
    expect_same_calls(&b, &a);
    cr_assert_gt(b.events, 400000, "more calls than a chunk holds, many times over");
    cr_assert_eq(b.threads, a.threads);
}

/* COMMAND recorded (with at least EVENTS events) and run under valgrind:
 * the same calls. */
static void expect_as_valgrind_counts(const char *command, const char *name, uint64_t events)
{
    if (!have_valgrind())
        cr_skip_test("valgrind is not installed");
    const char *cmt = scratch_path(name);
    cr_assert_eq(runf(NULL, NULL, "%s -q -o %s -- %s > /dev/null", RECORD, cmt, command), 0);
    counts ours = count(cmt), theirs = valgrind_counts(command);
    cr_assert_gt(ours.events, events);
    expect_same_calls(&ours, &theirs);
}

/* The op as valgrind logs it: posix_memalign and aligned_alloc as
 * memalign. */
static cmt_op valgrind_op(cmt_op op)
{
    return op == CMT_OP_POSIX_MEMALIGN || op == CMT_OP_ALIGNED_ALLOC ? CMT_OP_MEMALIGN : op;
}

/* The events of CMT but free(NULL) (which glibc makes at exit past a
 * preloaded library, and valgrind sees), in *N. */
static cmt_event *events_but_free_null(const char *cmt, size_t *n)
{
    int rc;
    char err[512];
    cmt_event *events = decode_events(cmt, n, &rc, err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    size_t kept = 0;
    for (size_t i = 0; i < *n; i++)
        if (!(events[i].op == CMT_OP_FREE && !events[i].arg_tag))
            events[kept++] = events[i];
    *n = kept;
    return events;
}

/* A deterministic run of one thread recorded, and read from valgrind's
 * log of the same run: the same events (at least EVENTS) in the same
 * order, each with the same size and the same tags, so the recorder tags
 * every block as the text reader tags it from its addresses. */
static void expect_as_valgrind_logs(const char *command, const char *name, size_t events)
{
    if (!have_valgrind())
        cr_skip_test("valgrind is not installed");
    const char *cmt = scratch_path(name);
    cr_assert_eq(runf(NULL, NULL, "%s -q -o %s -- %s > /dev/null", RECORD, cmt, command), 0);
    valgrind_counts(command);
    size_t n_ours, n_theirs;
    cmt_event *ours = events_but_free_null(cmt, &n_ours);
    cmt_event *theirs = events_but_free_null(scratch_path("valgrind.cmt"), &n_theirs);
    cr_assert_eq(n_ours, n_theirs, "%s: cmtrecord %zu events, valgrind %zu", command, n_ours, n_theirs);
    cr_assert_geq(n_ours, events, "%s: %zu events", command, n_ours);
    for (size_t i = 0; i < n_ours; i++) {
        const cmt_event *a = &ours[i], *b = &theirs[i];
        cr_assert(valgrind_op(a->op) == b->op && a->size == b->size && a->tag == b->tag &&
                      a->arg_tag == b->arg_tag && (a->op != CMT_OP_CALLOC || a->count == b->count),
                  "%s: event %zu: cmtrecord %s(%llu) tag %llu of %llu, valgrind %s(%llu) tag %llu of %llu", command,
                  i + 1, cmt_op_name(a->op), (unsigned long long)a->size, (unsigned long long)a->tag,
                  (unsigned long long)a->arg_tag, cmt_op_name(b->op), (unsigned long long)b->size,
                  (unsigned long long)b->tag, (unsigned long long)b->arg_tag);
    }
    free(ours);
    free(theirs);
}

Test(record, a_run_of_one_thread_event_for_event_as_valgrind_logs_it)
{
    char command[1024];
    snprintf(command, sizeof command, "%s calls", RECORD_TARGET);
    expect_as_valgrind_logs(command, "calls.cmt", 20);
    snprintf(command, sizeof command, "sort -k2 %s/python-json.trace", CMT_SAMPLES);
    expect_as_valgrind_logs(command, "sort-events.cmt", 100);
}

/* Every call has its time, from the coarse clock, noted by the sink's
 * thread (ENV empty) or by the program's threads (CMTRECORD_THREAD=0): in
 * each thread in the order of its calls, and the program's pause between
 * them is there. */
static void expect_times(const char *env, const char *name)
{
    const char *cmt = scratch_path(name);
    cr_assert_eq(runf(NULL, NULL, "%s " RECORD " -q -o %s %s threads pause calls", env, cmt, RECORD_TARGET), 0);
    size_t n;
    int rc;
    char err[512];
    cmt_event *events = decode_events(cmt, &n, &rc, err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    uint64_t last[64] = {0}, gap = 0;
    for (size_t i = 0; i < n; i++) {
        const cmt_event *ev = &events[i];
        cr_assert_neq(ev->time, 0, "event %zu has no time", i);
        cr_assert_lt(ev->thread, 64);
        cr_assert_geq(ev->time, last[ev->thread], "event %zu: before its thread's last", i);
        if (i > 0 && ev->time > events[i - 1].time && ev->time - events[i - 1].time > gap)
            gap = ev->time - events[i - 1].time;
        last[ev->thread] = ev->time;
    }
    /* 300 ms, give or take the clock's tick (4 ms here, 10 at most) and
     * the sink's nap (1 ms). */
    cr_assert(gap >= 290000000 && gap < 400000000, "%s: the longest gap is %llu ns", name, (unsigned long long)gap);
    free(events);
}

Test(record, every_call_has_its_time)
{
    expect_times("", "times.cmt");
    expect_times("CMTRECORD_THREAD=0", "times-stamped.cmt");
}

/* Records of one slot and of two, across many chunks: as valgrind counts
 * the calls. */
Test(record, calls_across_many_chunks_as_valgrind_counts_them)
{
    char command[1024];
    snprintf(command, sizeof command, "%s many", RECORD_TARGET);
    expect_as_valgrind_counts(command, "many.cmt", 430000);
}

Test(record, a_system_program_as_valgrind_counts_it)
{
    char command[1024];
    snprintf(command, sizeof command, "sort -k2 %s/python-json.trace", CMT_SAMPLES);
    expect_as_valgrind_counts(command, "sort.cmt", 100);
}

/* A C++ program: libstdc++'s emergency pool (72,704 bytes, allocated by
 * its constructor before the recorder's runs) is the first call. */
Test(record, a_cxx_program_as_valgrind_counts_it)
{
    expect_as_valgrind_counts("cmake -E echo cxx", "cxx.cmt", 1000);
}

/* _exit runs no exit handlers: the files must be whole all the same, in a
 * forked child and in the parent, and between them hold every allocation
 * valgrind counts in the two processes. */
Test(record, a_fork_and_exit_now_in_both_processes_loses_nothing)
{
    const char *cmt = scratch_path("exitnow.cmt");
    char *out;
    cr_assert_eq(runf(&out, NULL, "%s -q -o %s -- %s many exit-now", RECORD, cmt, RECORD_TARGET), 0);
    cr_assert_str_eq(out, "done\n");
    free(out);
    char *found;
    cr_assert_eq(runf(&found, NULL, "ls %s/exitnow.*.cmt", scratch_dir()), 0, "the child's file");
    found[strcspn(found, "\n")] = '\0';
    counts parent = count(cmt), child = count(found);
    free(found);
    cr_assert_eq(child.calls[CMT_OP_MALLOC], 1000, "the child's allocations, its file ended by _exit");
    cr_assert_eq(child.calls[CMT_OP_FREE], 1000);
    cr_assert_geq(parent.calls[CMT_OP_MALLOC], 200000, "the parent's, its file ended by _exit too");
    if (!have_valgrind())
        cr_skip_test("valgrind is not installed: the counts are not compared");
    /* valgrind's log of each process (a forked child's from the fork on). */
    const char *logs = scratch_path("exitnow-vg");
    cr_assert_eq(runf(NULL, NULL, "mkdir -p %s && " VALGRIND " --log-file=%s/log.%%p %s many exit-now "
                                  "> /dev/null", logs, logs, RECORD_TARGET), 0);
    char *names;
    cr_assert_eq(runf(&names, NULL, "ls -S %s/log.*", logs), 0);
    counts theirs[2];
    int n = 0;
    for (char *name = strtok(names, "\n"); name; name = strtok(NULL, "\n")) {
        cr_assert_lt(n, 2, "two processes");
        const char *cmt_log = scratch_path(n ? "exitnow-vg1.cmt" : "exitnow-vg0.cmt");
        cr_assert_eq(runf(NULL, NULL, "%s/trace2cmt -q -o %s %s", CMT_TOOLS, cmt_log, name), 0);
        theirs[n++] = count(cmt_log);
    }
    free(names);
    cr_assert_eq(n, 2);
    expect_same_calls(&parent, &theirs[0]); /* the larger log is the parent's */
    expect_same_calls(&child, &theirs[1]);
}

Test(record, a_forked_child_writes_its_own_file)
{
    const char *cmt = scratch_path("parent.cmt");
    cr_assert_eq(runf(NULL, NULL, "%s -q -o %s -- %s fork > /dev/null", RECORD, cmt, RECORD_TARGET), 0);
    char *found;
    cr_assert_eq(runf(&found, NULL, "ls %s/parent.*.cmt", scratch_dir()), 0, "the child's file");
    found[strcspn(found, "\n")] = '\0';
    counts child = count(found);
    cr_assert_eq(child.events, 2, "the child's malloc(4242) and its free, nothing of the parent's");
    free(found);
    count(cmt); /* the parent's decodes too */
}

Test(record, a_vfork_child_that_execs_leaves_the_parent_recording)
{
    const char *cmt = scratch_path("vfork.cmt");
    cr_assert_eq(runf(NULL, NULL, "%s -q -o %s -- %s vfork > /dev/null", RECORD, cmt, RECORD_TARGET), 0);
    counts c = count(cmt);
    cr_assert_geq(c.calls[CMT_OP_MALLOC], 100, "the parent's 100 allocations after the child's exec");
    cr_assert_geq(c.calls[CMT_OP_FREE], 100);
}

Test(record, a_crashing_program_leaves_a_whole_file)
{
    const char *cmt = scratch_path("crash.cmt");
    char *err;
    cr_assert_eq(runf(NULL, &err, "%s -o %s -- %s crash", RECORD, cmt, RECORD_TARGET), 128 + 11,
                 "the program's own fate: SIGSEGV; %s", err);
    free(err);
    counts c = count(cmt);
    cr_assert_geq(c.calls[CMT_OP_MALLOC], 100, "every allocation before the crash");
}

Test(record, a_program_that_aborts_inside_malloc_still_dies)
{
    /* glibc aborts on a double free: the recorder ends the file in the
     * SIGABRT handler and the program still dies of SIGABRT, promptly.  (If
     * glibc held malloc's lock, which ending the file needs, hooks.c gives
     * up after two seconds; this test does not reach that case.) */
    char *err;
    cr_assert_eq(runf(NULL, &err, "timeout 20 %s -q -o %s -- %s heap-abort", RECORD, scratch_path("abort.cmt"),
                      RECORD_TARGET),
                 128 + 6, "%s", err);
    free(err);
}

Test(record, a_killed_program_leaves_every_block_written_before)
{
    const char *cmt = scratch_path("killed.cmt");
    char *out, *err;
    cr_assert_eq(runf(NULL, &err, "%s -o %s -- %s killed", RECORD, cmt, RECORD_TARGET), 128 + 9);
    cr_assert(strstr(err, "--salvage reads every whole block"), "the summary says what to do: %s", err);
    free(err);
    cr_assert_eq(runf(NULL, &err, "%s/cmtstat %s", CMT_TOOLS, cmt), 1, "never ended: a plain read fails");
    cr_assert(strstr(err, "truncated"), "%s", err);
    free(err);
    cr_assert_eq(runf(&out, NULL, "%s/cmtstat --salvage --json %s 2>/dev/null", CMT_TOOLS, cmt), 0);
    const char *events = strstr(out, "\"events\": ");
    cr_assert_not_null(events, "%s", out);
    /* 400,000 calls; lost at most the block in hand (32 Ki events). */
    cr_assert_gt(strtoull(events + 10, NULL, 10), 400000 - 32768, "%s", out);
    free(out);
}

Test(record, live_statistics_show_allocations_by_age)
{
    char *err;
    int rc = runf(NULL, &err, "%s -q --stats 0.05 -o %s -- %s threads > /dev/null", RECORD, scratch_path("stats.cmt"),
                  RECORD_TARGET);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    cr_assert(strstr(err, "current allocations") && strstr(err, "Current allocations by age") &&
                  strstr(err, "< 1 s") && strstr(err, "reallocs in place"),
              "%s", err);
    free(err);
}

Test(record, preloaded_by_hand_with_the_environment)
{
    const char *cmt = scratch_path("byhand.cmt");
    char *out;
    cr_assert_eq(runf(&out, NULL, "cd %s && LD_PRELOAD=%s/../record/libcmtrecord.so CMTRECORD_OUTPUT=%s %s calls",
                      scratch_dir(), CMT_TOOLS, cmt, RECORD_TARGET), 0);
    free(out);
    /* Without cmtrecord to say which process is the one it started, the
     * file is named for the process. */
    char *found;
    cr_assert_eq(runf(&found, NULL, "ls %s/byhand.*.cmt", scratch_dir()), 0);
    found[strcspn(found, "\n")] = '\0';
    cr_assert_geq(count(found).calls[CMT_OP_MALLOC], 3);
    free(found);
}

/* One naming rule: FILE for the process cmtrecord starts, STEM.PID.cmt
 * for every other process, STEM.PID.N.cmt after a process's Nth exec (a
 * child used to inherit its parent's N); the summary names every file. */
Test(record, every_process_names_its_file_by_one_rule_and_the_summary_lists_them)
{
    const char *dir = scratch_path("names");
    char *err;
    cr_assert_eq(runf(NULL, &err, "mkdir -p %s && %s -o %s/run.cmt -- bash -c 'exec bash -c \"sort /dev/null; true\"'",
                      dir, RECORD, dir),
                 0);
    char *names;
    cr_assert_eq(runf(&names, NULL, "ls %s", dir), 0);
    size_t files = 0, exec_images = 0;
    for (char *name = strtok(names, "\n"); name; name = strtok(NULL, "\n")) {
        files++;
        long pid, image;
        char tail[16] = "";
        bool plain = sscanf(name, "run.%ld.%15s", &pid, tail) == 2 && strcmp(tail, "cmt") == 0;
        bool after_exec = sscanf(name, "run.%ld.%ld.%15s", &pid, &image, tail) == 3 && image == 1 &&
                          strcmp(tail, "cmt") == 0;
        exec_images += after_exec;
        cr_assert(strcmp(name, "run.cmt") == 0 || plain || after_exec, "%s: not the rule's", name);
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        cr_assert(strstr(err, path), "the summary names %s: %s", path, err);
    }
    free(names);
    cr_assert_geq(exec_images, 2, "bash after its exec, and sort after the fork and exec (bash forks; sh vforks)");
    char heading[64];
    snprintf(heading, sizeof heading, "cmtrecord: %zu files, ", files);
    cr_assert(strstr(err, heading), "%s", err);
    free(err);
}

Test(record, frees_the_recording_could_not_match_are_counted)
{
    const char *cmt = scratch_path("inherited.cmt");
    char *err;
    cr_assert_eq(runf(NULL, &err, "%s -o %s -- %s inherited > /dev/null", RECORD, cmt, RECORD_TARGET), 0);
    cr_assert(strstr(err, "1 frees and 0 reallocs of blocks"), "the child's free of its parent's block: %s", err);
    free(err);
}

/* glibc's own MALLOC_TRACE log, as glibc writes it (not lines written by
 * hand): callers with and without symbols, a failed malloc as (nil), the
 * frees of blocks from before mtrace() began. */
Test(record, a_log_glibc_mtrace_writes_reads_whole)
{
    if (run("test -e /lib/x86_64-linux-gnu/libc_malloc_debug.so.0", NULL, NULL) != 0)
        cr_skip_test("no libc_malloc_debug.so.0");
    const char *log = scratch_path("mtrace.log"), *cmt = scratch_path("mtrace.cmt");
    cr_assert_eq(runf(NULL, NULL, "LD_PRELOAD=libc_malloc_debug.so.0 MALLOC_TRACE=%s %s mtrace calls threads > /dev/null",
                      log, RECORD_TARGET),
                 0);
    char *text = read_file(log, NULL);
    cr_assert(strstr(text, ":(release_early_blocks+") && strstr(text, " + (nil) 0x"), "callers with symbols, a failure");
    free(text);
    char *err;
    cr_assert_eq(runf(NULL, &err, "%s/trace2cmt -o %s %s", CMT_TOOLS, cmt, log), 0, "%s", err);
    cr_assert(strstr(err, "read as mtrace") && strstr(err, "2 frees of addresses not live skipped"),
              "record_early's two blocks, allocated before mtrace(): %s", err);
    free(err);
    size_t n;
    int rc;
    char message[512];
    cmt_event *events = decode_events(cmt, &n, &rc, message, sizeof message);
    cr_assert_eq(rc, 0, "%s", message);
    uint64_t failed = 0, reallocs = 0;
    for (size_t i = 0; i < n; i++) {
        failed += cmt_event_failed(&events[i]);
        reallocs += events[i].op == CMT_OP_REALLOC;
    }
    free(events);
    cr_assert_eq(failed, 1, "malloc(SIZE_MAX / 2), kept as a failure");
    cr_assert_eq(reallocs, 4002, "realloc, reallocarray and the threads' 4000 (realloc(p, 0) is logged as a free)");
    /* The callers came through the .cmt file, named from the program. */
    char *json;
    cr_assert_eq(runf(&json, NULL, "%s/cmtstat --sites --json %s", CMT_TOOLS, cmt), 0);
    cr_assert(strstr(json, "{\"function\": \"worker\", \"file\": \"" CMT_SOURCE_DIR "/tests/record_target.c\""),
              "the threads' function (the others may be inlined into main): %s", json);
    free(json);
}

/* --addresses: every block the program got, where glibc put it (16-byte
 * aligned, never two live blocks at one address), and every block it
 * freed named there too; cmtoverhead then lays the run out. */
Test(record, addresses_are_kept_with_the_option)
{
    const char *cmt = scratch_path("addr.cmt"), *plain = scratch_path("plain.cmt");
    cr_assert_eq(runf(NULL, NULL, "%s -q --addresses -o %s %s calls threads > /dev/null", RECORD, cmt, RECORD_TARGET), 0);
    cr_assert_eq(runf(NULL, NULL, "%s -q -o %s %s calls threads > /dev/null", RECORD, plain, RECORD_TARGET), 0);
    size_t n, m;
    int rc;
    char message[512];
    cmt_event *events = decode_events(cmt, &n, &rc, message, sizeof message);
    cr_assert_eq(rc, 0, "%s", message);
    free(decode_events(plain, &m, &rc, message, sizeof message));
    cr_assert_eq(n, m, "the same calls either way");
    uint64_t *at = calloc(n + 2, sizeof *at), blocks = 0;
    for (size_t i = 0; i < n; i++) {
        const cmt_event *ev = &events[i];
        if (ev->arg_tag && !cmt_op_accesses(ev->op))
            cr_assert_eq(ev->arg_addr, at[ev->arg_tag], "event %zu passes its block's address", i);
        if (ev->tag) {
            cr_assert(ev->addr && ev->addr % 16 == 0, "event %zu returned %llx", i, (unsigned long long)ev->addr);
            cr_assert_lt(ev->tag, n + 2);
            at[ev->tag] = ev->addr;
            blocks++;
        }
        if (cmt_event_releases(ev))
            at[ev->arg_tag] = 0;
    }
    cr_assert_gt(blocks, 1000);
    free(at);
    free(events);
    char *out;
    cr_assert_eq(runf(&out, NULL, "%s/cmtoverhead %s | grep -c '# prev [1-9a-f]'", CMT_TOOLS, cmt), 0);
    cr_assert_gt(atoi(out), 0, "blocks with neighbours: %s", out);
    free(out);
}

Test(record, a_static_program_is_named_as_such)
{
    char *err;
    cr_assert_eq(runf(NULL, &err, "%s -o %s -- /sbin/ldconfig -p > /dev/null", RECORD, scratch_path("static.cmt")), 0);
    cr_assert(strstr(err, "linked statically: LD_PRELOAD cannot reach"), "%s", err);
    free(err);
}

Test(record, usage_errors_and_missing_programs)
{
    cr_assert_eq(runf(NULL, NULL, "%s > /dev/null 2>&1", RECORD), 2);
    char *refused;
    cr_assert_eq(runf(NULL, &refused, "%s -o - -- true", RECORD), 2, "no - for the file");
    cr_assert(strstr(refused, "standard output is its own"), "%s", refused);
    free(refused);
    cr_assert_eq(runf(NULL, NULL, "%s --stats x -- true > /dev/null 2>&1", RECORD), 2);
    char *err;
    cr_assert_eq(runf(NULL, &err, "%s -o %s -- /nonexistent/program", RECORD, scratch_path("none.cmt")), 127);
    cr_assert(strstr(err, "/nonexistent/program: No such file"), "%s", err);
    free(err);
}

/* -------------------------------------------------------------- call sites */

TestSuite(sites, .fini = scratch_cleanup);

/* FIELD of the sites in FUNCTION (a site is a line of it), added up, in
 * cmtstat --sites --json output JSON; -1 if there is no such site. */
static long long site_field(const char *json, const char *function, const char *field)
{
    char key[256], name[256];
    snprintf(key, sizeof key, "{\"function\": \"%s\"", function);
    snprintf(name, sizeof name, "\"%s\": ", field);
    long long sum = -1;
    for (const char *site = strstr(json, key); site; site = strstr(site + 1, key)) {
        const char *end = strchr(site, '}'), *at = strstr(site, name);
        cr_assert(at && at < end, "%s has no %s", function, field);
        sum = (sum < 0 ? 0 : sum) + atoll(at + strlen(name));
    }
    return sum;
}

/* The file of SITE's text, its string field NAME ("file", "module"). */
static void expect_site_text(const char *json, const char *function, const char *name, const char *ending)
{
    char key[256];
    snprintf(key, sizeof key, "{\"function\": \"%s\"", function);
    const char *site = strstr(json, key);
    cr_assert_not_null(site, "no site %s", function);
    snprintf(key, sizeof key, "\"%s\": \"", name);
    const char *at = strstr(site, key);
    cr_assert_not_null(at);
    at += strlen(key);
    const char *close = strchr(at, '"');
    size_t n = strlen(ending);
    cr_assert((size_t)(close - at) >= n && strncmp(close - n, ending, n) == 0, "%s's %s: %.*s", function, name,
              (int)(close - at), at);
}

/* Records PROGRAM with --stacks into a file of the scratch folder, named
 * NAME; its path. */
static const char *record_stacks(const char *program, const char *name)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s", scratch_path(name));
    cr_assert_eq(runf(NULL, NULL, RECORD " -q --stacks -o %s %s", path, program), 0);
    return path;
}

static char *sites_json(const char *cmt)
{
    char *out;
    cr_assert_eq(runf(&out, NULL, "%s/cmtstat --sites --json %s", CMT_TOOLS, cmt), 0);
    return out;
}

Test(sites, each_function_is_named_for_what_it_does)
{
    const char *cmt = record_stacks(RECORD_SITES, "sites.cmt");
    char *json = sites_json(cmt);
    /* 256 blocks of 4096 bytes and the array of them, all live at once. */
    cr_assert_eq(site_field(json, "holds_the_peak", "peak_live_bytes"), 256 * 4096 + 256 * 8, "%s", json);
    cr_assert_eq(site_field(json, "holds_the_peak", "leaked_bytes"), 0);
    expect_site_text(json, "holds_the_peak", "file", "record_sites.c");
    cr_assert_gt(site_field(json, "holds_the_peak", "line"), 0);
    cr_assert_eq(site_field(json, "holds_the_peak", "allocations"), 257);
    cr_assert_eq(site_field(json, "leaks", "leaked_bytes"), 5000);
    cr_assert_eq(site_field(json, "leaks", "allocations"), 50);
    /* In the main thread and in another. */
    cr_assert_eq(site_field(json, "makes_temporaries", "temporary"), 2000);
    cr_assert_eq(site_field(json, "makes_temporaries", "allocations"), 2000);
    cr_assert_eq(site_field(json, "makes_temporaries", "leaked_bytes"), 0);
    /* Their lifetimes, by site: each freed by the next event. */
    const char *temporaries = strstr(json, "{\"function\": \"makes_temporaries\"");
    cr_assert(strstr(temporaries, "\"lifetimes\": [0, 2000, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]}"), "%s", temporaries);
    cr_assert_eq(site_field(json, "library_allocates", "allocated_bytes"), 30000);
    expect_site_text(json, "library_allocates", "file", "sites_library.c");
    expect_site_text(json, "library_allocates", "module", "libsites_library.so");
    free(json);

    /* The text names each first in its list. */
    char *text;
    cr_assert_eq(runf(&text, NULL, "%s/cmtstat --sites --top 1 %s", CMT_TOOLS, cmt), 0);
    static const char *const firsts[][2] = {{"most live at the peak:\n", "holds_the_peak"},
                                            {"most temporary allocations", "makes_temporaries"},
                                            {"most never freed:\n", "leaks"}};
    for (size_t i = 0; i < 3; i++) {
        const char *list = strstr(text, firsts[i][0]);
        cr_assert_not_null(list, "%s", text);
        const char *line = strchr(list, '\n') + 1;
        cr_assert(strstr(line, firsts[i][1]) && strstr(line, firsts[i][1]) < strchr(line, '\n'), "%s", text);
    }
    free(text);

    /* The forked child's file has its stacks too. */
    char *child;
    cr_assert_eq(runf(&child, NULL, "ls %s.*.cmt", scratch_path("sites")), 0, "no file of the child");
    *strchr(child, '\n') = 0;
    json = sites_json(child);
    cr_assert_eq(site_field(json, "leaks", "leaked_bytes"), 5000, "%s", json);
    free(json);
    free(child);
}

Test(sites, a_stripped_program_gives_addresses_and_its_library_names)
{
    char program[4096];
    snprintf(program, sizeof program, "%s_stripped", RECORD_SITES);
    char *json = sites_json(record_stacks(program, "stripped.cmt"));
    cr_assert_eq(site_field(json, "holds_the_peak", "allocations"), -1, "a name from a stripped program");
    cr_assert(strstr(json, "\"function\": null") && strstr(json, "\"module\": \"record_sites_stripped\""), "%s",
              json);
    cr_assert_eq(site_field(json, "library_allocates", "allocated_bytes"), 30000, "%s", json);
    free(json);
}

/* The weights of the lines of folded stacks FILE that hold PART. */
static long long folded_weight(const char *file, const char *part)
{
    char *text = read_file(file, NULL);
    long long sum = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *space = strrchr(line, ' ');
        cr_assert(space && space > line && atoll(space + 1) > 0, "not a folded stack: %s", line);
        if (strstr(line, part))
            sum += atoll(space + 1);
    }
    free(text);
    return sum;
}

Test(sites, the_folded_stacks_weigh_what_was_asked)
{
    const char *cmt = record_stacks(RECORD_SITES, "folded.cmt");
    const char *folded = scratch_path("folded.txt");
    cr_assert_eq(runf(NULL, NULL, "%s/cmtstat --sites --flamegraph %s --weight peak %s > /dev/null", CMT_TOOLS,
                      folded, cmt), 0);
    cr_assert_eq(folded_weight(folded, ";main;holds_the_peak "), 256 * 4096 + 256 * 8);
    char *stats;
    cr_assert_eq(runf(&stats, NULL, "%s/cmtstat --json %s", CMT_TOOLS, cmt), 0);
    long long allocated = atoll(strstr(stats, "\"allocated_bytes\": ") + strlen("\"allocated_bytes\": "));
    free(stats);
    cr_assert_eq(runf(NULL, NULL, "%s/cmtstat --sites --flamegraph %s %s > /dev/null", CMT_TOOLS, folded, cmt), 0);
    cr_assert_eq(folded_weight(folded, ""), allocated, "every byte allocated, in one stack or another");
}

Test(sites, trace2cmt_keeps_them_and_a_trace_without_is_refused)
{
    const char *cmt = record_stacks(RECORD_SITES, "kept.cmt");
    const char *copy = scratch_path("copy.cmt");
    cr_assert_eq(runf(NULL, NULL, "%s/trace2cmt -q -l 19 -o %s %s", CMT_TOOLS, copy, cmt), 0);
    char *a = sites_json(cmt), *b = sites_json(copy);
    cr_assert_str_eq(strchr(a, ','), strchr(b, ','), "the same sites after the name");
    free(a);
    free(b);

    char *err;
    cr_assert_eq(runf(NULL, &err, "%s/cmtstat --sites %s/every-call.trace", CMT_TOOLS, CMT_SAMPLES), 1);
    cr_assert(strstr(err, "has no call stacks"), "%s", err);
    free(err);
    cr_assert_eq(runf(NULL, &err, "%s/cmtstat --top 3 %s", CMT_TOOLS, cmt), 2);
    cr_assert(strstr(err, "--top goes with --sites"), "%s", err);
    free(err);
}

/* A recording with stacks and times, through text and back: the same
 * text, the same sites. */
Test(sites, text_round_trips_keep_the_stacks)
{
    const char *cmt = record_stacks(RECORD_SITES, "text.cmt");
    const char *a = scratch_path("a.txt"), *back = scratch_path("back.cmt"), *b = scratch_path("b.txt");
    cr_assert_eq(runf(NULL, NULL, "%s/trace2cmt -q -s %s > %s", CMT_TOOLS, cmt, a), 0);
    cr_assert_eq(runf(NULL, NULL, "%s/trace2cmt -q -o %s %s", CMT_TOOLS, back, a), 0);
    cr_assert_eq(runf(NULL, NULL, "%s/trace2cmt -q -s %s > %s", CMT_TOOLS, back, b), 0);
    char *x = read_file(a, NULL), *y = read_file(b, NULL);
    cr_assert(strstr(x, "\nstack 1 0 ") && strstr(x, " t1 s") && x[0] == 'm', "module and stack lines first");
    cr_assert_str_eq(x, y, "text -> .cmt -> text");
    free(x);
    free(y);
    char *p = sites_json(cmt), *q = sites_json(back);
    cr_assert_str_eq(strchr(p, ','), strchr(q, ','));
    free(p);
    free(q);
}

/* The flame graph: cmtstat draws it for FILE.svg, and the page of
 * cmtreplay --compare shows it for a trace with stacks (and not for one
 * without, even in the folder of one with). */
Test(sites, a_flame_graph_on_its_own_and_on_the_compare_page)
{
    const char *cmt = record_stacks(RECORD_SITES, "flame.cmt");
    const char *svg = scratch_path("flame.svg");
    cr_assert_eq(runf(NULL, NULL, "%s/cmtstat --sites --flamegraph %s --weight peak %s > /dev/null", CMT_TOOLS,
                      svg, cmt), 0);
    char *text = read_file(svg, NULL);
    cr_assert(strncmp(text, "<svg ", 5) == 0 && strstr(text, "Bytes live at the peak, by call stack"), "%.200s",
              text);
    cr_assert(strstr(text, "<title>holds_the_peak (1050624 bytes, "), "the peak's holder, all of it");
    free(text);

    if (run("command -v gnuplot >/dev/null", NULL, NULL) != 0)
        cr_skip_test("gnuplot is not installed");
    const char *dir = scratch_path("compare");
    char page[4096];
    snprintf(page, sizeof page, "%s/index.html", dir);
    cr_assert_eq(runf(NULL, NULL, "%s/cmtreplay -a system --compare %s %s 2>/dev/null", CMT_TOOLS, dir, cmt), 0);
    text = read_file(page, NULL);
    cr_assert(strstr(text, "<h2>Call stacks</h2>") && strstr(text, "<title>holds_the_peak ("), "the page draws them");
    free(text);
    cr_assert_eq(runf(NULL, NULL, "%s/cmtreplay -a system --compare %s %s/every-call.trace 2>/dev/null", CMT_TOOLS,
                      dir, CMT_SAMPLES), 0);
    text = read_file(page, NULL);
    cr_assert_null(strstr(text, "Call stacks"), "no stacks in this trace, none left from the last");
    free(text);
}

/* A C++ program's sites are named as its source writes them (libstdc++'s
 * demangler), not as its symbol table does. */
Test(sites, cxx_names_are_demangled)
{
    const char *cmt = record_stacks("cmake -E echo hi", "cxx.cmt");
    char *json = sites_json(cmt);
    cr_assert(strstr(json, "\"function\": \"std::") || strstr(json, "\"function\": \"void std::"), "%.2000s", json);
    cr_assert_null(strstr(json, "\"function\": \"_Z"), "a mangled name left");
    free(json);
}

/* The recorder's own unwinder (record/unwind.c) agrees with libunwind on
 * every stack of real programs: a C program with threads, a fork and a
 * library, the test program of every call, and a C++ one. */
Test(sites, the_recorder_s_unwinder_agrees_with_libunwind)
{
    static const char *const programs[] = {RECORD_SITES, RECORD_TARGET, "cmake -E echo hi"};
    for (size_t i = 0; i < sizeof programs / sizeof programs[0]; i++) {
        char *err;
        cr_assert_eq(runf(NULL, &err, "CMTRECORD_UNWIND_CHECK=1 " RECORD " -q --stacks -o %s %s > /dev/null",
                          scratch_path("check.cmt"), programs[i]), 0, "%s: %s", programs[i], err);
        cr_assert_null(strstr(err, "unwinding differs"), "%s: %s", programs[i], err);
        const char *said = strstr(err, "unwinding checked: ");
        cr_assert_not_null(said, "%s: %s", programs[i], err);
        unsigned long long walked, unwound;
        cr_assert_eq(sscanf(said, "unwinding checked: %llu stacks walked, %llu by libunwind", &walked, &unwound), 2);
        cr_assert_gt(walked, 10 * unwound, "%s: the walker took %llu stacks, libunwind %llu", programs[i], walked,
                     unwound);
        free(err);
    }
}
