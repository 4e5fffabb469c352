/*
 * collect.c - a sweep's results gathered: every job's line in
 * results.jsonl, in the matrix's order, and the figures of each trace
 * against each variant for the page.  It reads only what is in the
 * folder, so it can be run at any time, by any host, as often as wanted.
 */
#define _GNU_SOURCE /* strdup */
#include "sweep.h"
#include "cmt_internal.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Failures named on standard error; the page and results.jsonl have all. */
#define FAILURES_LISTED 10

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double sweep_median(double *v, size_t n)
{
    if (!n)
        return NAN;
    qsort(v, n, sizeof *v, compare_doubles);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The index of S in *LIST, added if missing; -1 when out of memory. */
static long index_of(char ***list, size_t *n, const char *s)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*list)[i], s) == 0)
            return (long)i;
    return sweep_list_push(list, n, s) < 0 ? -1 : (long)*n - 1;
}

static int append(double **v, size_t n, double x)
{
    double *grown = cmti_realloc(*v, (n + 1) * sizeof *grown);
    if (!grown)
        return -1;
    grown[n] = x;
    *v = grown;
    return 0;
}

/* An ok job's figures into its cell. */
static int add_figures(sweep_cell *c, const sweep_object *o)
{
    double seconds = sweep_json_number(o, "seconds"), footprint = sweep_json_number(o, "peak_footprint");
    if (isnan(seconds) || isnan(footprint))
        return 1; /* not a replay report */
    if (append(&c->seconds, c->n, seconds) < 0 || append(&c->footprint, c->n, footprint) < 0 ||
        append(&c->rss, c->n, sweep_json_number(o, "peak_rss")) < 0 ||
        append(&c->mean_footprint, c->n, sweep_json_number(o, "mean_footprint")) < 0)
        return -1;
    c->n++;
    c->peak_live = sweep_json_number(o, "peak_live_bytes");
    c->mean_live = sweep_json_number(o, "mean_live_bytes");
    return 0;
}

static void failed_in(sweep_cell *c, const char *message)
{
    c->failed++;
    if (!c->error)
        c->error = strdup(message);
}

static void free_cell(sweep_cell *c)
{
    cmti_free(c->seconds);
    cmti_free(c->footprint);
    cmti_free(c->rss);
    cmti_free(c->mean_footprint);
    free(c->error);
}

int sweep_collect(const sweep_plan *plan, const char *out, sweep_counts *counts, char *err, size_t errlen)
{
    *counts = (sweep_counts){0};
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/results.jsonl", out);
    cmt_output *jsonl = cmt_output_open(path, err, errlen);
    if (!jsonl)
        return -1;
    char **traces = NULL, **variants = NULL;
    size_t ntraces = 0, nvariants = 0;
    sweep_cell **cells = NULL;
    int rc = 0;
    /* The matrix's rows and columns, in the order the plan has them. */
    for (size_t i = 0; i < plan->njobs && rc == 0; i++)
        if (index_of(&traces, &ntraces, plan->jobs[i].trace) < 0 ||
            index_of(&variants, &nvariants, plan->jobs[i].variant) < 0)
            rc = -1;
    if (rc == 0 && !(cells = cmti_calloc(ntraces ? ntraces : 1, sizeof *cells)))
        rc = -1;
    for (size_t t = 0; t < ntraces && rc == 0; t++)
        if (!(cells[t] = cmti_calloc(nvariants, sizeof **cells)))
            rc = -1;
    const sweep_job *first_missing = NULL;
    for (size_t i = 0; i < plan->njobs && rc == 0; i++) {
        const sweep_job *j = &plan->jobs[i];
        sweep_cell *c = &cells[index_of(&traces, &ntraces, j->trace)][index_of(&variants, &nvariants, j->variant)];
        bool ok = true;
        snprintf(path, sizeof path, "%s/results/%s.json", out, j->id);
        char *line = sweep_read_text(path);
        if (!line) {
            ok = false;
            snprintf(path, sizeof path, "%s/results/%s.failed", out, j->id);
            line = sweep_read_text(path);
        }
        if (!line) {
            counts->missing++;
            if (!first_missing)
                first_missing = j;
            continue;
        }
        sweep_object o;
        char why[256], message[1024] = "";
        if (sweep_json_parse(line, &o, why, sizeof why) < 0) {
            fprintf(stderr, "cmtsweep: %s: %s; left out\n", path, why);
            counts->failed++;
            failed_in(c, why);
            free(line);
            continue;
        }
        cmt_output_printf(jsonl, "%s\n", line);
        free(line);
        if (ok) {
            int added = add_figures(c, &o);
            if (added < 0) {
                rc = -1;
            } else if (added == 1) {
                fprintf(stderr, "cmtsweep: %s: no replay figures in it; counted as failed\n", path);
                ok = false;
                failed_in(c, "no replay figures");
            }
        } else {
            if (!sweep_json_string(&o, "error", message, sizeof message))
                snprintf(message, sizeof message, "(no message)");
            failed_in(c, message);
            if (counts->failed < FAILURES_LISTED)
                fprintf(stderr, "cmtsweep: failed: %s against %s, repetition %u: %.*s\n", j->trace, j->variant,
                        j->repetition, (int)strcspn(message, "\n"), message);
        }
        counts->done += ok;
        counts->failed += !ok;
        sweep_json_free(&o);
    }
    if (counts->failed > FAILURES_LISTED)
        fprintf(stderr, "cmtsweep: and %zu more failed (results.jsonl and index.html have every one)\n",
                counts->failed - FAILURES_LISTED);
    if (first_missing)
        fprintf(stderr, "cmtsweep: %zu of %zu jobs have no result (the first: %s against %s, repetition %u)\n",
                counts->missing, plan->njobs, first_missing->trace, first_missing->variant,
                first_missing->repetition);
    if (rc < 0) {
        snprintf(err, errlen, CMT_NO_MEMORY);
        cmt_output_abort(jsonl);
    } else {
        rc = cmt_output_commit(jsonl, err, errlen);
    }
    if (rc == 0)
        rc = sweep_write_page(out, traces, ntraces, variants, nvariants, cells, counts, err, errlen);
    for (size_t t = 0; cells && t < ntraces; t++) {
        for (size_t v = 0; cells[t] && v < nvariants; v++)
            free_cell(&cells[t][v]);
        cmti_free(cells[t]);
    }
    cmti_free(cells);
    sweep_list_free(traces, ntraces);
    sweep_list_free(variants, nvariants);
    return rc;
}
