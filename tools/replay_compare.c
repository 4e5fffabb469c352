/*
 * replay_compare.c - cmtreplay --compare: the report a person judging allocators
 * looks at.  The replays have left a timeline per allocator in the
 * folder; this writes the histograms beside them, has gnuplot draw memory
 * over time against the optimum and the histograms, as PNG and SVG, and
 * writes index.html, one page with the SVGs inline and the numbers.
 */
#define _GNU_SOURCE /* memmem, posix_spawn_file_actions_addchdir_np */
#include "replay_report.h"
#include "cmt_internal.h"

#include <errno.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

extern char **environ;

#define GNUPLOT_MISSING 127

/* Runs gnuplot with ARGS in folder DIR (NULL: this one) and its output to
 * /dev/null; its exit status, GNUPLOT_MISSING if it is not installed, -1 if
 * it died. */
static int run_gnuplot(char *const args[], const char *dir)
{
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    if (dir)
        posix_spawn_file_actions_addchdir_np(&actions, dir);
    pid_t pid;
    int rc = posix_spawnp(&pid, "gnuplot", &actions, NULL, args, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
        return rc == ENOENT ? GNUPLOT_MISSING : -1;
    int status;
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

int cmt_compare_check_gnuplot(char *err, size_t errlen)
{
    char *args[] = {"gnuplot", "--version", NULL};
    if (run_gnuplot(args, NULL) == 0)
        return 0;
    snprintf(err, errlen, "the report's pictures need gnuplot, which is not installed "
                          "(apt-get install gnuplot-nox; tools/setup.sh installs it)");
    return -1;
}

/* DIR/NAME, to be written whole or not at all; NULL with a message in
 * ERR. */
static cmt_output *open_in(const char *dir, const char *name, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return cmt_output_open(path, err, errlen);
}

/* OUT committed where RC is 0 (a write that failed fails it), else
 * discarded.  Returns 0, or -1 with a message in ERR (already there where
 * RC was -1). */
static int finish(cmt_output *out, int rc, char *err, size_t errlen)
{
    if (rc < 0) {
        cmt_output_abort(out);
        return -1;
    }
    return cmt_output_commit(out, err, errlen);
}

static void put_char(cmt_output *f, char c)
{
    cmt_output_write(f, &c, 1);
}

/* NAME.dat: one row a bucket, "index label count", from the first
 * non-empty bucket to the last. */
static int write_histogram(const char *dir, const char *name, const uint64_t *count, unsigned n,
                           void (*label)(char *, size_t, const void *, unsigned), const void *h,
                           char *err, size_t errlen)
{
    char file[64];
    snprintf(file, sizeof file, "%s.dat", name);
    cmt_output *f = open_in(dir, file, err, errlen);
    if (!f)
        return -1;
    unsigned first = 0, last = 0;
    bool any = false;
    for (unsigned b = 0; b < n; b++) {
        if (count[b]) {
            first = any ? first : b;
            last = b;
            any = true;
        }
    }
    cmt_output_printf(f, "# bucket label count\n");
    for (unsigned b = first; any && b <= last; b++) {
        char name_of[48];
        label(name_of, sizeof name_of, h, b);
        cmt_output_printf(f, "%u \"%s\" %llu\n", b - first, name_of, (unsigned long long)count[b]);
    }
    return finish(f, 0, err, errlen);
}

static void log_label(char *buf, size_t len, const void *h, unsigned b)
{
    (void)h;
    cmt_log_bucket_label(buf, len, b);
}

static void ratio_label(char *buf, size_t len, const void *h, unsigned b)
{
    cmt_ratio_bucket_label(buf, len, h, b);
}

typedef struct histogram_plot {
    const char *name, *title, *xlabel;
} histogram_plot;

static const histogram_plot histograms[] = {
    {"sizes", "Allocation sizes", "bytes asked for"},
    {"lifetimes", "Lifetimes of freed blocks", "events from allocation to free"},
    {"macro", "Macro lifetime", "share of the trace a block lived through (near 1: globals)"},
    {"micro", "Micro lifetime", "a block's own accesses over all events in its life"},
};

static bool has_accesses(const cmt_trace_stats *s)
{
    return s->calls[CMT_OP_LOAD] + s->calls[CMT_OP_STORE] + s->calls[CMT_OP_MODIFY] > 0;
}

static size_t plotted_histograms(const cmt_trace_stats *s)
{
    return has_accesses(s) ? 4 : 3;
}

/* S as a gnuplot string: double quotes, backslashes and quotes escaped. */
static void put_string(cmt_output *f, const char *s)
{
    put_char(f, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            put_char(f, '\\');
        put_char(f, *s);
    }
    put_char(f, '"');
}

/* plots.gp: every picture twice, as PNG and as SVG. */
static void write_script(cmt_output *f, const char *trace, const cmt_replay_report *reports, size_t n,
                         const cmt_trace_stats *stats)
{
    static const char *const terminals[][2] = {
        {"png", "pngcairo size 1000,560 font 'sans,10'"},
        {"svg", "svg size 1000,560 dynamic font 'sans,11'"},
    };
    cmt_output_printf(f, "# Drawn by cmtreplay --compare; gnuplot plots.gp redraws the pictures.\n"
                         "set grid ytics\nset key below\n");
    for (size_t t = 0; t < 2; t++) {
        cmt_output_printf(f, "set terminal %s\nset output 'memory.%s'\n", terminals[t][1], terminals[t][0]);
        char title[4200];
        snprintf(title, sizeof title, "Memory over time: %s", trace);
        cmt_output_printf(f, "set title ");
        put_string(f, title);
        cmt_output_printf(f, " noenhanced\nset xlabel 'event'\nset ylabel 'MiB'\nset style data lines\nset xtics norotate\n");
        cmt_output_printf(f, "plot 'timeline.%s' using 1:($2/1048576) title 'optimal (live bytes)' lw 2 lc rgb 'black'",
                          reports[0].allocator);
        for (size_t i = 0; i < n; i++)
            cmt_output_printf(f, ", \\\n     'timeline.%s' using 1:($3/1048576) title '%s' lw 1.5 lc %zu", reports[i].allocator,
                              reports[i].allocator, i + 1);
        /* The kernel's count beside each allocator's own: dashed. */
        for (size_t i = 0; i < n; i++)
            cmt_output_printf(f, ", \\\n     'timeline.%s.rss' using 2:($3/1048576) title '%s RSS' lw 1 dt 2 lc %zu",
                              reports[i].allocator, reports[i].allocator, i + 1);
        cmt_output_printf(f, "\n");
        for (size_t h = 0; h < plotted_histograms(stats); h++) {
            cmt_output_printf(f, "set output '%s.%s'\nset title ", histograms[h].name, terminals[t][0]);
            put_string(f, histograms[h].title);
            cmt_output_printf(f, "\nset xlabel ");
            put_string(f, histograms[h].xlabel);
            cmt_output_printf(f, "\nset ylabel 'blocks'\nset style fill solid 0.6\nset boxwidth 0.8\n"
                                 "set xtics rotate by -35 noenhanced\n"
                                 "plot '%s.dat' using 1:3:xtic(2) with boxes notitle lc rgb '#3a6ea5'\n",
                              histograms[h].name);
        }
    }
}

/* Copies DIR/NAME into F (an SVG, inline in the page). */
static int inline_file(cmt_output *f, const char *dir, const char *name, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *in = fopen(path, "r");
    if (!in) {
        snprintf(err, errlen, "%s: %s (gnuplot did not draw it)", path, strerror(errno));
        return -1;
    }
    char buf[65536];
    size_t got;
    bool in_prologue = true;
    while ((got = fread(buf, 1, sizeof buf, in)) > 0) {
        char *p = buf;
        if (in_prologue) { /* the XML declaration and doctype do not belong inside HTML */
            char *svg = memmem(buf, got, "<svg", 4);
            if (svg) {
                got -= (size_t)(svg - buf);
                p = svg;
                in_prologue = false;
            } else {
                continue;
            }
        }
        cmt_output_write(f, p, got);
    }
    fclose(in);
    return 0;
}

/* What TABLE holds, escaped into F; TABLE is closed.  0, or -1 with a
 * message in ERR where TABLE ran out of memory. */
static int write_escaped_table(cmt_output *f, cmt_output *table, char *err, size_t errlen)
{
    size_t len;
    cmt_html_string(f, cmti_output_text(table, &len), SIZE_MAX);
    return cmt_output_commit(table, err, errlen);
}

static int write_page(const char *dir, const char *trace, const cmt_replay_report *reports, size_t n,
                      const cmt_trace_stats *stats, char *err, size_t errlen)
{
    cmt_output *f = open_in(dir, "index.html", err, errlen);
    if (!f)
        return -1;
    cmt_output_printf(f, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>cmt report: ");
    cmt_html_string(f, trace, SIZE_MAX);
    cmt_output_printf(f, "</title>\n<style>body{font-family:sans-serif;max-width:1040px;margin:2em auto;color:#222}"
                         "pre{background:#f4f4f4;padding:1em;overflow-x:auto}svg{max-width:100%%;height:auto}</style>"
                         "</head><body>\n<h1>");
    cmt_html_string(f, trace, SIZE_MAX);
    cmt_output_printf(f, "</h1>\n<h2>Allocators</h2>\n<pre>");
    cmt_output *table = cmti_output_memory();
    if (!table) {
        snprintf(err, errlen, "out of memory");
        return finish(f, -1, err, errlen);
    }
    cmt_report_print_comparison(table, reports, n, false);
    int rc = write_escaped_table(f, table, err, errlen);
    cmt_output_printf(f, "</pre>\n<p>Overhead is the peak footprint over the peak of live bytes; ns/event "
                         "includes writing every allocated byte (docs/cmtreplay.md).</p>\n<h2>Memory over time</h2>\n");
    if (rc == 0)
        rc = inline_file(f, dir, "memory.svg", err, errlen);
    for (size_t h = 0; rc == 0 && h < plotted_histograms(stats); h++) {
        char name[64];
        snprintf(name, sizeof name, "%s.svg", histograms[h].name);
        cmt_output_printf(f, "<h2>%s</h2>\n", histograms[h].title);
        rc = inline_file(f, dir, name, err, errlen);
    }
    char stacks[4096];
    snprintf(stacks, sizeof stacks, "%s/" CMT_COMPARE_STACKS, dir);
    if (rc == 0 && access(stacks, R_OK) == 0) {
        cmt_output_printf(f, "<h2>Call stacks</h2>\n<p>Where the trace's blocks were allocated (cmtrecord "
                             "--stacks): each box a function, as wide as the bytes allocated from it and "
                             "the functions it called; point at one for its name and bytes.</p>\n");
        rc = inline_file(f, dir, CMT_COMPARE_STACKS, err, errlen);
    }
    cmt_output_printf(f, "<h2>The trace</h2>\n<pre>");
    if (rc == 0 && !(table = cmti_output_memory())) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    if (rc == 0) {
        cmt_stats_print(table, trace, stats, false);
        rc = write_escaped_table(f, table, err, errlen);
    }
    cmt_output_printf(f, "</pre>\n<p>Made by cmtreplay --compare; the data and plots.gp are beside this page.</p>\n"
                         "</body></html>\n");
    return finish(f, rc, err, errlen);
}

int cmt_compare_report(const char *dir, const char *trace, const cmt_replay_report *reports, size_t n,
                       const cmt_trace_stats *stats, char *err, size_t errlen)
{
    const uint64_t *counts[] = {stats->sizes.count, stats->lifetimes.count, stats->macro.count, stats->micro.count};
    const unsigned buckets[] = {CMT_LOG_BUCKETS, CMT_LOG_BUCKETS, CMT_RATIO_BUCKETS, CMT_RATIO_BUCKETS};
    const void *ratio_of[] = {NULL, NULL, &stats->macro, &stats->micro};
    for (size_t h = 0; h < plotted_histograms(stats); h++)
        if (write_histogram(dir, histograms[h].name, counts[h], buckets[h], ratio_of[h] ? ratio_label : log_label,
                            ratio_of[h], err, errlen) < 0)
            return -1;
    cmt_output *script = open_in(dir, "plots.gp", err, errlen);
    if (!script)
        return -1;
    write_script(script, trace, reports, n, stats);
    if (finish(script, 0, err, errlen) < 0)
        return -1;
    char *args[] = {"gnuplot", "plots.gp", NULL};
    int rc = run_gnuplot(args, dir);
    if (rc != 0) {
        if (rc == GNUPLOT_MISSING)
            return cmt_compare_check_gnuplot(err, errlen);
        snprintf(err, errlen, "gnuplot failed on %s/plots.gp (its messages are above)", dir);
        return -1;
    }
    return write_page(dir, trace, reports, n, stats, err, errlen);
}
