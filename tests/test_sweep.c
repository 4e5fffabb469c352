/*
 * test_sweep.c - cmtsweep: its pieces (variants, the JSON of a result),
 * and the real tool on the bundled samples and the real traces: through
 * GNU parallel, through a one-node Slurm cluster started for the test,
 * stopped halfway and finished, with a job that fails.
 */
#include "helpers.h"
#include "sweep.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

TestSuite(sweep, .fini = scratch_cleanup);

/* A third allocator beside system and rmalloc: jemalloc is preloaded,
 * which a sanitized cmtreplay refuses. */
#ifdef CMT_SANITIZED
#define THIRD "null"
#else
#define THIRD "jemalloc"
#endif

/* The lines of OUT/results.jsonl, parsed; their count in *N. */
static sweep_object *read_results(const char *out, size_t *n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/results.jsonl", out);
    char *text = read_file(path, NULL);
    sweep_object *rows = NULL;
    *n = 0;
    for (char *line = text, *end; *line; line = end + 1) {
        end = strchr(line, '\n');
        cr_assert(end, "%s: its last line has no newline", path);
        *end = '\0';
        rows = realloc(rows, (*n + 1) * sizeof *rows);
        char err[256];
        cr_assert_eq(sweep_json_parse(line, &rows[*n], err, sizeof err), 0, "%s line %zu: %s", path, *n + 1, err);
        ++*n;
    }
    free(text);
    return rows;
}

static void free_results(sweep_object *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sweep_json_free(&rows[i]);
    free(rows);
}

static const char *str(const sweep_object *o, const char *key)
{
    static char buf[8][4096];
    static unsigned next;
    char *b = buf[next++ % 8];
    cr_assert(sweep_json_string(o, key, b, sizeof buf[0]), "no string \"%s\" in a result", key);
    return b;
}

/* The row of TRACE (its base name) against ALLOCATOR, repetition R. */
static const sweep_object *row(const sweep_object *rows, size_t n, const char *trace_name,
                               const char *allocator_name, unsigned r)
{
    /* Copies: the names may be str()'s, whose buffers the loop reuses. */
    char trace[4096], allocator[4096];
    snprintf(trace, sizeof trace, "%s", trace_name);
    snprintf(allocator, sizeof allocator, "%s", allocator_name);
    const sweep_object *found = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *t = str(&rows[i], "trace"), *slash = strrchr(t, '/');
        if (strcmp(slash ? slash + 1 : t, trace) == 0 && strcmp(str(&rows[i], "allocator"), allocator) == 0 &&
            sweep_json_number(&rows[i], "repetition") == r) {
            cr_assert_null(found, "%s against %s, repetition %u: two results", trace, allocator, r);
            found = &rows[i];
        }
    }
    cr_assert_not_null(found, "%s against %s, repetition %u: no result", trace, allocator, r);
    return found;
}

/* A modification time in ns, to tell a result rewritten from one left. */
static long long mtime_ns(const char *path)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "%s is missing", path);
    return (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
}

static bool have_shared(const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", CMT_SHARED_TRACES, name);
    return access(path, R_OK) == 0;
}

Test(sweep, variants_parse_into_an_allocator_its_environment_and_its_options)
{
    sweep_variant v;
    char err[256];
    cr_assert_eq(sweep_variant_parse("jemalloc:MALLOC_CONF=narenas:1,tcache:false", &v, err, sizeof err), 0, "%s",
                 err);
    cr_assert_str_eq(v.allocator, "jemalloc");
    cr_assert_eq(v.nenv, 1);
    cr_assert_str_eq(v.env[0], "MALLOC_CONF=narenas:1,tcache:false");
    sweep_variant_free(&v);
    cr_assert_eq(sweep_variant_parse("preload:/x/lib.so:A=1 --pinned=0.05 B=2", &v, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(v.allocator, "preload:/x/lib.so");
    cr_assert_eq(v.nenv, 2);
    cr_assert_eq(v.nargs, 1);
    cr_assert_str_eq(v.args[0], "--pinned=0.05");
    sweep_variant_free(&v);
    cr_assert_eq(sweep_variant_parse("system", &v, err, sizeof err), 0);
    cr_assert_eq(v.nenv + v.nargs, 0);
    sweep_variant_free(&v);
    static const char *const bad[] = {"system:foo", "rmalloc:--report=x", "rmalloc:-o", "system:", ":A=1",
                                      "system:1A=2"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_assert_eq(sweep_variant_parse(bad[i], &v, err, sizeof err), -1, "'%s' was taken", bad[i]);
        cr_assert(strstr(err, bad[i]), "'%s': the message does not name it: %s", bad[i], err);
    }
}

Test(sweep, result_lines_parse_and_bad_ones_are_placed)
{
    sweep_object o;
    char err[256];
    cr_assert_eq(sweep_json_parse("{\"a\": \"x\\\"y\", \"n\": -1.5e3, \"o\": {\"k\": [1, {\"z\": null}]}, \"t\": true}",
                                  &o, err, sizeof err),
                 0, "%s", err);
    cr_assert_eq(o.n, 4);
    char s[16];
    cr_assert(sweep_json_string(&o, "a", s, sizeof s));
    cr_assert_str_eq(s, "x\"y");
    cr_assert_eq(sweep_json_number(&o, "n"), -1500);
    cr_assert_str_eq(sweep_json_get(&o, "o"), "{\"k\": [1, {\"z\": null}]}");
    cr_assert(isnan(sweep_json_number(&o, "o")));
    cr_assert(isnan(sweep_json_number(&o, "missing")));
    sweep_json_free(&o);
    static const struct {
        const char *text;
        const char *offset;
    } bad[] = {{"{\"a\": 1,}", "byte 8"}, {"{\"a\" 1}", "byte 5"}, {"{\"a\": [1, 2}", "byte 11"},
               {"{\"a\": \"x", "byte 6"}, {"{\"a\": 1} x", "byte 9"}, {"[1]", "byte 0"}, {"{\"a\": tru}", "byte 6"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_assert_eq(sweep_json_parse(bad[i].text, &o, err, sizeof err), -1, "'%s' was taken", bad[i].text);
        cr_assert(strstr(err, bad[i].offset), "'%s': %s (want %s)", bad[i].text, err, bad[i].offset);
    }
    double v[] = {5, 1, 4, 2};
    cr_assert_eq(sweep_median(v, 4), 3);
    cr_assert_eq(sweep_median(v, 3), 2); /* 1 2 4 after the sort above */
    cr_assert(isnan(sweep_median(v, 0)));
}

Test(sweep, a_local_sweep_gives_every_job_a_line_and_ranks_them_on_the_page)
{
    const char *out = scratch_path("local");
    char shared[8192] = "";
    static const char *const real[] = {"cppcheck.kdump.txt.zst", "soffice.ops.txt.zst"};
    const char *traces[4] = {"every-call.trace", "python-json.trace"}; /* the samples folder's */
    size_t ntraces = 2;
    for (size_t i = 0; i < 2; i++)
        if (have_shared(real[i])) {
            size_t at = strlen(shared);
            snprintf(shared + at, sizeof shared - at, " %s/%s", CMT_SHARED_TRACES, real[i]);
            traces[ntraces++] = real[i];
        }
    char *err;
    int rc = runf(NULL, &err, "%s/cmtsweep -a system,rmalloc," THIRD " -r 2 -j 2 -o %s %s%s", CMT_TOOLS, out,
                  CMT_SAMPLES, shared);
    cr_assert_eq(rc, 0, "cmtsweep failed: %s", err);
    cr_assert(strstr(err, " jobs, 0 done before, "), "%s", err);
    free(err);
    size_t n;
    sweep_object *rows = read_results(out, &n);
    cr_assert_eq(n, ntraces * 3 * 2, "%zu lines for %zu traces x 3 allocators x 2", n, ntraces);
    static const char *const allocators[] = {"system", "rmalloc", THIRD};
    static const char *const figures[] = {"peak_rss", "overhead", "ns_per_event", "seconds", "peak_footprint",
                                          "minor_faults", "peak_live_bytes", "events", "job_seconds"};
    for (size_t t = 0; t < ntraces; t++) {
        const char *trace = traces[t];
        double events = NAN, peak = NAN;
        for (size_t a = 0; a < 3; a++)
            for (unsigned r = 1; r <= 2; r++) {
                const sweep_object *o = row(rows, n, trace, allocators[a], r);
                cr_assert_str_eq(str(o, "status"), "ok");
                cr_assert_str_eq(str(o, "allocator_name"), allocators[a]);
                for (size_t f = 0; f < sizeof figures / sizeof *figures; f++)
                    cr_assert(!isnan(sweep_json_number(o, figures[f])), "%s: no %s", trace, figures[f]);
                /* What the trace is does not hang on the allocator. */
                if (isnan(events)) {
                    events = sweep_json_number(o, "events");
                    peak = sweep_json_number(o, "peak_live_bytes");
                }
                cr_assert_eq(sweep_json_number(o, "events"), events, "%s against %s", trace, allocators[a]);
                cr_assert_eq(sweep_json_number(o, "peak_live_bytes"), peak, "%s against %s", trace, allocators[a]);
            }
    }
    free_results(rows, n);
    char path[4096];
    snprintf(path, sizeof path, "%s/index.html", out);
    char *page = read_file(path, NULL);
    for (size_t a = 0; a < 3; a++)
        cr_assert(strstr(page, allocators[a]), "the page does not name %s", allocators[a]);
    cr_assert(strstr(page, "python-json.trace") && strstr(page, "every-call.trace"));
    cr_assert(strstr(page, "By time") && strstr(page, "By peak memory") && strstr(page, "<svg"));
    cr_assert(strstr(page, "peak live (the optimum)"));
    cr_assert(!strstr(page, ">failed<"));
    free(page);
}

Test(sweep, a_stopped_sweep_is_finished_by_running_it_again)
{
    const char *out = scratch_path("resume");
    char *err;
    const char *cmd = "%s/cmtsweep -a system,rmalloc -r 2 -j 2 -o %s %s";
    cr_assert_eq(runf(NULL, &err, cmd, CMT_TOOLS, out, CMT_SAMPLES), 0, "%s", err);
    free(err);
    char *jobs_text = read_file(scratch_path("resume/jobs.tsv"), NULL);
    /* Two jobs' IDs: one whose result is lost, one killed while it ran. */
    char lost[256], killed[256];
    cr_assert_eq(sscanf(strchr(jobs_text, '\n') + 1, "%255s", lost), 1);
    cr_assert_eq(sscanf(strchr(strchr(jobs_text, '\n') + 1, '\n') + 1, "%255s", killed), 1);
    free(jobs_text);
    char path[4096], kept[4096];
    snprintf(path, sizeof path, "%s/results/%s.json", out, lost);
    cr_assert_eq(unlink(path), 0);
    snprintf(path, sizeof path, "%s/results/%s.json", out, killed);
    cr_assert_eq(unlink(path), 0);
    /* A job killed outright (its replay sleeping, standing for a long
     * one) leaves no result, not half of one. */
    const char *sleeper = scratch_path("sleeper.sh");
    write_text(sleeper, "#!/bin/sh\nsleep 30\n");
    chmod(sleeper, 0755);
    cr_assert_eq(runf(NULL, NULL,
                      "setsid %s/cmtsweep --run %s %s --replay %s & pid=$!; sleep 0.5; kill -9 -$pid; wait $pid",
                      CMT_TOOLS, out, killed, sleeper),
                 128 + 9);
    cr_assert(!file_exists(path), "the killed job left a result");
    char *listing;
    runf(&listing, NULL, "ls -a %s/results", out);
    cr_assert(!strstr(listing, killed), "the killed job left a file: %s", listing);
    free(listing);
    /* The results that stay are not rewritten. */
    char *ids;
    runf(&ids, NULL, "ls %s/results | grep -v -e %s -e %s | head -1", out, lost, killed);
    ids[strcspn(ids, "\n")] = '\0';
    snprintf(kept, sizeof kept, "%s/results/%s", out, ids);
    free(ids);
    long long before = mtime_ns(kept);
    cr_assert_eq(runf(NULL, &err, cmd, CMT_TOOLS, out, CMT_SAMPLES), 0, "%s", err);
    cr_assert(strstr(err, "8 jobs, 6 done before, 2 to run"), "%s", err);
    free(err);
    cr_assert_eq(mtime_ns(kept), before, "a job already done ran again");
    cr_assert(file_exists(path));
    size_t n;
    sweep_object *rows = read_results(out, &n);
    cr_assert_eq(n, 8);
    free_results(rows, n);
}

Test(sweep, a_folder_takes_one_sweep_at_a_time)
{
    const char *out = scratch_path("locked");
    const char *sleeper = scratch_path("sleeper.sh");
    /* GNU parallel gives each job a process group of its own: a kill of
     * the sweep's group leaves them to end by themselves, soon. */
    write_text(sleeper, "#!/bin/sh\nsleep 4\n");
    chmod(sleeper, 0755);
    char *err;
    /* The first sweep's replays hang; the second is refused; the first,
     * killed outright with its engine and jobs, leaves nothing to undo. */
    int rc = runf(NULL, &err,
                  "setsid %s/cmtsweep -a system -r 1 -j 2 --replay %s -o %s %s 2>/dev/null & pid=$!; sleep 1; "
                  "%s/cmtsweep -a system -r 1 -j 2 -o %s %s; status=$?; kill -9 -$pid; wait $pid; exit $status",
                  CMT_TOOLS, sleeper, out, CMT_SAMPLES, CMT_TOOLS, out, CMT_SAMPLES);
    cr_assert_eq(rc, 1, "%s", err);
    cr_assert(strstr(err, "another cmtsweep is sweeping there"), "%s", err);
    free(err);
    cr_assert_eq(runf(NULL, &err, "%s/cmtsweep -a system -r 1 -j 2 -o %s %s", CMT_TOOLS, out, CMT_SAMPLES), 0, "%s",
                 err);
    cr_assert(strstr(err, "2 jobs, 0 done before, 2 to run"), "%s", err);
    free(err);
}

Test(sweep, a_failed_job_is_told_with_its_message_and_the_rest_go_on)
{
    const char *corpus = scratch_path("corpus");
    cr_assert_eq(mkdir(corpus, 0777), 0);
    const char *good = scratch_path("corpus/python-json.cmt");
    cr_assert_eq(runf(NULL, NULL, "%s/trace2cmt -q -o %s %s/python-json.trace", CMT_TOOLS, good, CMT_SAMPLES), 0);
    /* The same trace cut in half: a file a copy lost the end of. */
    size_t len;
    char *bytes = read_file(good, &len);
    const char *cut = scratch_path("corpus/cut.cmt");
    write_file(cut, bytes, len / 2);
    const char *out = scratch_path("failing");
    char *err;
    const char *cmd = "%s/cmtsweep -a system,rmalloc -r 1 -j 2 -o %s %s";
    cr_assert_eq(runf(NULL, &err, cmd, CMT_TOOLS, out, corpus), 1, "%s", err);
    cr_assert(strstr(err, "2 done, 2 failed, 0 without a result"), "%s", err);
    cr_assert(strstr(err, "cut.cmt"), "the failure does not name the file: %s", err);
    free(err);
    size_t n;
    sweep_object *rows = read_results(out, &n);
    cr_assert_eq(n, 4);
    for (size_t a = 0; a < 2; a++) {
        const char *allocator = a ? "rmalloc" : "system";
        const sweep_object *o = row(rows, n, "cut.cmt", allocator, 1);
        cr_assert_str_eq(str(o, "status"), "failed");
        cr_assert(strstr(str(o, "error"), "cut.cmt"), "%s", str(o, "error"));
        cr_assert_str_eq(str(row(rows, n, "python-json.cmt", allocator, 1), "status"), "ok");
    }
    free_results(rows, n);
    char path[4096];
    snprintf(path, sizeof path, "%s/index.html", out);
    char *page = read_file(path, NULL);
    cr_assert(strstr(page, ">failed<"), "the page does not show the failures");
    free(page);
    /* Mended, the failed jobs run again, and only they. */
    write_file(cut, bytes, len);
    free(bytes);
    cr_assert_eq(runf(NULL, &err, cmd, CMT_TOOLS, out, corpus), 0, "%s", err);
    cr_assert(strstr(err, "4 jobs, 2 done before, 2 to run"), "%s", err);
    free(err);
    rows = read_results(out, &n);
    cr_assert_eq(n, 4);
    cr_assert_str_eq(str(row(rows, n, "cut.cmt", "rmalloc", 1), "status"), "ok");
    free_results(rows, n);
    snprintf(path, sizeof path, "%s/results", out);
    char *listing;
    runf(&listing, NULL, "ls %s", path);
    cr_assert(!strstr(listing, ".failed"), "a failure stayed after the job succeeded: %s", listing);
    free(listing);
}

Test(sweep, variants_are_columns_of_their_own_and_reach_the_replay)
{
    const char *out = scratch_path("variants");
    char *err;
    int rc = runf(NULL, &err,
                  "%s/cmtsweep -a rmalloc -a 'rmalloc:--pinned=0.5' -a system "
                  "-a 'system:MALLOC_TOP_PAD_=268435456 MALLOC_MMAP_THRESHOLD_=1048576' -r 1 -j 1 -o %s "
                  "%s/python-json.trace",
                  CMT_TOOLS, out, CMT_SAMPLES);
    cr_assert_eq(rc, 0, "%s", err);
    free(err);
    size_t n;
    sweep_object *rows = read_results(out, &n);
    cr_assert_eq(n, 4);
    const sweep_object *rm = row(rows, n, "python-json.trace", "rmalloc", 1),
                       *pinned = row(rows, n, "python-json.trace", "rmalloc:--pinned=0.5", 1);
    cr_assert_str_eq(str(pinned, "allocator_name"), "rmalloc");
    /* Half the blocks pinned: fewer of them move, so compactions differ. */
    cr_assert_neq(sweep_json_number(rm, "compactions"), sweep_json_number(pinned, "compactions"));
#ifndef CMT_SANITIZED /* the sanitizer's malloc is not glibc's: its tunables do nothing */
    double plain = sweep_json_number(row(rows, n, "python-json.trace", "system", 1), "peak_footprint"),
           padded = sweep_json_number(
               row(rows, n, "python-json.trace", "system:MALLOC_TOP_PAD_=268435456 MALLOC_MMAP_THRESHOLD_=1048576", 1),
               "peak_footprint");
    cr_assert_gt(padded, plain + 200e6, "the environment did not reach glibc: %.0f against %.0f", padded, plain);
#endif
    free_results(rows, n);
    /* A plugin named by a path relative to here runs by its whole path,
     * wherever the job runs. */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", PLUGIN_ALLOCATOR);
    *strrchr(dir, '/') = '\0';
    cr_assert_eq(runf(NULL, &err, "cd %s && %s/cmtsweep -a plugin:./%s -r 1 -j 1 -o %s %s/python-json.trace", dir,
                      CMT_TOOLS, strrchr(PLUGIN_ALLOCATOR, '/') + 1, out, CMT_SAMPLES),
                 0, "%s", err);
    free(err);
    rows = read_results(out, &n);
    cr_assert_eq(n, 5);
    cr_assert_str_eq(str(row(rows, n, "python-json.trace", "plugin:" PLUGIN_ALLOCATOR, 1), "status"), "ok");
    free_results(rows, n);
    char *listing;
    runf(&listing, NULL, "ls %s/results", out);
    cr_assert(strstr(listing, "--plugin_libplugin_allocator.so--r1-"), "%s", listing);
    free(listing);
}

Test(sweep, collect_rebuilds_the_results_from_the_folder)
{
    const char *out = scratch_path("collect");
    /* Through --sshlogin, passed to GNU parallel as given (':' is this
     * host, 2 jobs at once there). */
    char *err;
    cr_assert_eq(runf(NULL, &err, "%s/cmtsweep --sshlogin 2/: -a system -r 2 -o %s %s", CMT_TOOLS, out, CMT_SAMPLES), 0,
                 "%s", err);
    free(err);
    char path[4096];
    snprintf(path, sizeof path, "%s/results.jsonl", out);
    char *first = read_file(path, NULL);
    cr_assert_eq(unlink(path), 0);
    cr_assert_eq(runf(NULL, &err, "%s/cmtsweep --collect %s", CMT_TOOLS, out), 0, "%s", err);
    free(err);
    char *again = read_file(path, NULL);
    cr_assert_str_eq(again, first);
    free(first);
    free(again);
    /* A result gone: collect says so, and exits 1. */
    cr_assert_eq(runf(NULL, NULL, "rm %s/results/every-call*r1*.json", out), 0);
    cr_assert_eq(runf(NULL, &err, "%s/cmtsweep --collect %s", CMT_TOOLS, out), 1);
    cr_assert(strstr(err, "1 of 4 jobs have no result"), "%s", err);
    free(err);
    cr_assert_eq(runf(NULL, &err, "%s/cmtsweep --collect %s", CMT_TOOLS, scratch_dir()), 1);
    cr_assert(strstr(err, "no sweep there"), "%s", err);
    free(err);
}

Test(sweep, usage_and_input_errors)
{
    static const struct {
        const char *args;
        int status;
        const char *says;
    } cases[] = {
        {"-a system " CMT_SAMPLES, 2, "-o OUT is needed"},
        {"-a 'system:foo' -o %s " CMT_SAMPLES, 2, "neither VAR=VALUE"},
        {"-a 'rmalloc:--report=x' -o %s " CMT_SAMPLES, 2, "cmtsweep's to set"},
        {"-a bogus -o %s " CMT_SAMPLES, 2, "no allocator 'bogus'"},
        {"-a system -r 0 -o %s " CMT_SAMPLES, 2, "-r"},
        {"-a system --partition p -o %s " CMT_SAMPLES, 2, "are for --slurm"},
        {"-a system -o %s", 2, "no traces"},
        {"-a system -o %s /nonexistent/trace", 1, "/nonexistent/trace"},
        {"-a system -o %s " CMT_SOURCE_DIR "/docs/images", 1, "no traces in it"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char args[4096], *err;
        snprintf(args, sizeof args, cases[i].args, scratch_path("errors"));
        int rc = runf(NULL, &err, "%s/cmtsweep %s", CMT_TOOLS, args);
        cr_assert_eq(rc, cases[i].status, "cmtsweep %s: exit %d, want %d (%s)", args, rc, cases[i].status, err);
        cr_assert(strstr(err, cases[i].says), "cmtsweep %s: %s", args, err);
        free(err);
    }
}

/* ------------------------------------------------------------------ Slurm */

static char cluster[4096];
static const char *as_root = ""; /* "sudo -n " where the tests are not root */

static void stop_cluster(void)
{
    if (cluster[0]) {
        runf(NULL, NULL, "%s%s/tests/slurm_cluster.sh stop %s", as_root, CMT_SOURCE_DIR, cluster);
        runf(NULL, NULL, "%srm -rf %s", as_root, cluster); /* its files are root's */
    }
    cluster[0] = '\0';
    scratch_cleanup();
}

/* The figures of a replay that hang on the trace and the allocator alone,
 * not on the run: the same through Slurm as here. */
static void expect_same_replays(const sweep_object *a, size_t na, const sweep_object *b, size_t nb)
{
    static const char *const fixed[] = {"events", "peak_live_bytes", "peak_live_blocks", "end_live_bytes",
                                        "failed_in_trace", "failed_in_replay", "free_null"};
    cr_assert_eq(na, nb);
    for (size_t i = 0; i < na; i++) {
        const char *t = str(&a[i], "trace"), *slash = strrchr(t, '/');
        const sweep_object *o = row(b, nb, slash + 1, str(&a[i], "allocator"), (unsigned)sweep_json_number(&a[i], "repetition"));
        cr_assert_str_eq(str(o, "status"), "ok");
        cr_assert_str_eq(str(&a[i], "status"), "ok");
        for (size_t f = 0; f < sizeof fixed / sizeof *fixed; f++)
            cr_assert_eq(sweep_json_number(o, fixed[f]), sweep_json_number(&a[i], fixed[f]), "%s against %s: %s", t,
                         str(o, "allocator"), fixed[f]);
        cr_assert_str_eq(sweep_json_get(o, "calls"), sweep_json_get(&a[i], "calls"));
    }
}

Test(sweep, a_slurm_job_array_gives_what_a_local_sweep_gives, .fini = stop_cluster, .timeout = 300)
{
    if (geteuid() != 0) {
        if (run("sudo -n true", NULL, NULL) != 0)
            cr_skip_test("a one-node Slurm cluster needs root, or sudo without a password (slurmd runs jobs as "
                         "their users)");
        as_root = "sudo -n ";
    }
    if (access("/usr/sbin/slurmctld", X_OK) != 0 || access("/usr/sbin/munged", X_OK) != 0)
        cr_skip_test("slurm-wlm and munge are not installed (tools/setup.sh installs them)");
    snprintf(cluster, sizeof cluster, "%s", scratch_path("cluster"));
    char *conf, *err;
    int rc = runf(&conf, &err, "%s%s/tests/slurm_cluster.sh start %s", as_root, CMT_SOURCE_DIR, cluster);
    cr_assert_eq(rc, 0, "the cluster did not start: %s", err);
    free(err);
    conf[strcspn(conf, "\n")] = '\0';
    setenv("SLURM_CONF", conf, 1);
    free(conf);
    char traces[8192];
    snprintf(traces, sizeof traces, "%s%s", CMT_SAMPLES,
             have_shared("cppcheck.kdump.txt.zst") ? " " CMT_SHARED_TRACES "/cppcheck.kdump.txt.zst" : "");
    const char *local = scratch_path("sweep-local"), *slurm = scratch_path("sweep-slurm");
    cr_assert_eq(runf(NULL, &err, "%s/cmtsweep -a system,rmalloc -r 2 -j 2 -o %s %s", CMT_TOOLS, local, traces), 0,
                 "%s", err);
    free(err);
    rc = runf(NULL, &err, "%s/cmtsweep --slurm --partition test -a system,rmalloc -r 2 -o %s %s", CMT_TOOLS, slurm,
              traces);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert(strstr(err, "Slurm job array"), "%s", err);
    free(err);
    size_t na, nb;
    sweep_object *a = read_results(local, &na), *b = read_results(slurm, &nb);
    expect_same_replays(a, na, b, nb);
    free_results(b, nb);
    /* Submitted without waiting, then collected once the queue is empty. */
    const char *later = scratch_path("sweep-later");
    char *said;
    rc = runf(NULL, &said, "%s/cmtsweep --slurm --no-wait --sbatch-args '--time=10' -a system,rmalloc -r 2 -o %s %s",
              CMT_TOOLS, later, traces);
    cr_assert_eq(rc, 0, "%s", said);
    char id[64] = "";
    const char *at = strstr(said, "job array ");
    cr_assert(at && sscanf(at + 10, "%63[0-9]", id) == 1, "%s", said);
    free(said);
    char *queued = NULL;
    for (int i = 0; i < 240; i++) {
        free(queued);
        runf(&queued, NULL, "squeue -h -j %s -o %%i", id);
        if (!queued[0])
            break;
        usleep(250000);
    }
    cr_assert_str_empty(queued, "the array is still queued: %s", queued);
    free(queued);
    cr_assert_eq(runf(NULL, &err, "%s/cmtsweep --collect %s", CMT_TOOLS, later), 0, "%s", err);
    free(err);
    b = read_results(later, &nb);
    expect_same_replays(a, na, b, nb);
    free_results(a, na);
    free_results(b, nb);
}
