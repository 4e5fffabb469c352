/*
 * page.c - a sweep's index.html: the matrices of traces x allocators a
 * person takes in at a glance (each cell relative to the best of its
 * trace), then per trace the allocators ranked by time and by memory,
 * median and spread over the repetitions, and a plot of each one's
 * memory against the optimum.  One file, no scripts, pictures in SVG.
 */
#include "sweep.h"
#include "analysis.h"
#include "cmt_internal.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The figures of a cell, reduced over its repetitions. */
typedef struct summary {
    double seconds, seconds_min, seconds_max;
    double footprint, footprint_min, footprint_max;
    double rss, mean_footprint;
} summary;

/* The median sorts a cell's figures: its spread is then their ends. */
static summary summarize(const sweep_cell *c)
{
    summary s = {sweep_median(c->seconds, c->n), NAN, NAN, sweep_median(c->footprint, c->n), NAN, NAN,
                 sweep_median(c->rss, c->n), sweep_median(c->mean_footprint, c->n)};
    if (c->n) {
        s.seconds_min = c->seconds[0];
        s.seconds_max = c->seconds[c->n - 1];
        s.footprint_min = c->footprint[0];
        s.footprint_max = c->footprint[c->n - 1];
    }
    return s;
}

/* The figure at FIELD (an offsetof in summary) of S. */
static double figure(const summary *s, size_t field)
{
    return *(const double *)((const char *)s + field);
}

static void put_bytes(cmt_output *f, double bytes)
{
    if (isnan(bytes)) {
        cmt_output_printf(f, "&ndash;");
        return;
    }
    double scaled;
    const char *unit = cmt_scale_bytes((uint64_t)bytes, &scaled);
    cmt_output_printf(f, "%.*f&nbsp;%s", strcmp(unit, "B") ? 2 : 0, scaled, unit);
}

static void put_seconds(cmt_output *f, double s)
{
    if (s >= 1)
        cmt_output_printf(f, "%.2f&nbsp;s", s);
    else if (s >= 1e-3)
        cmt_output_printf(f, "%.2f&nbsp;ms", s * 1e3);
    else
        cmt_output_printf(f, "%.1f&nbsp;&micro;s", s * 1e6);
}

/* A cell's colour for RATIO to the best: green at 1, through yellow to
 * red at 2x and past. */
static void put_shade(cmt_output *f, double ratio)
{
    double t = log2(ratio);
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    cmt_output_printf(f, " style=\"background:hsl(%d,70%%,80%%)\"", (int)(120 * (1 - t)));
}

/* The matrix of traces x variants of one figure (FIELD of each summary),
 * each cell relative to its row's least. */
static void put_matrix(cmt_output *f, const char *title, char *const *traces, size_t ntraces,
                       char *const *variants, size_t nvariants, sweep_cell *const *cells,
                       summary *const *sums, size_t field)
{
    cmt_output_printf(f, "<h2>%s</h2>\n<table class=\"matrix\"><tr><th>trace</th>", title);
    for (size_t v = 0; v < nvariants; v++) {
        cmt_output_printf(f, "<th>");
        cmt_html_string(f, variants[v], SIZE_MAX);
        cmt_output_printf(f, "</th>");
    }
    cmt_output_printf(f, "</tr>\n");
    for (size_t t = 0; t < ntraces; t++) {
        double best = INFINITY;
        for (size_t v = 0; v < nvariants; v++) {
            double x = figure(&sums[t][v], field);
            if (cells[t][v].n && x < best)
                best = x;
        }
        cmt_output_printf(f, "<tr><td><a href=\"#trace%zu\">", t);
        cmt_html_string(f, cmti_base_name(traces[t]), SIZE_MAX);
        cmt_output_printf(f, "</a></td>");
        for (size_t v = 0; v < nvariants; v++) {
            const sweep_cell *c = &cells[t][v];
            double x = figure(&sums[t][v], field);
            if (c->n) {
                double ratio = best > 0 ? x / best : 1;
                cmt_output_printf(f, "<td");
                put_shade(f, ratio);
                cmt_output_printf(f, ">%.2f</td>", ratio);
            } else if (c->failed) {
                cmt_output_printf(f, "<td class=\"failed\" title=\"");
                cmt_html_string(f, c->error ? c->error : "", SIZE_MAX);
                cmt_output_printf(f, "\">failed</td>");
            } else {
                cmt_output_printf(f, "<td>&ndash;</td>");
            }
        }
        cmt_output_printf(f, "</tr>\n");
    }
    cmt_output_printf(f, "</table>\n");
}

/* The variants of trace T with results, by FIELD, least first, into ORDER;
 * how many. */
static size_t rank(summary *const *sums, sweep_cell *const *cells, size_t t, size_t nvariants, size_t field,
                   size_t *order)
{
    size_t n = 0;
    for (size_t v = 0; v < nvariants; v++) {
        if (!cells[t][v].n)
            continue;
        double x = figure(&sums[t][v], field);
        size_t at = n++;
        for (; at > 0 && figure(&sums[t][order[at - 1]], field) > x; at--)
            order[at] = order[at - 1];
        order[at] = v;
    }
    return n;
}

/* The plot's room for the allocators' names, and its axis's length. */
enum { LABEL_WIDTH = 260, AXIS_WIDTH = 520 };

/* Where BYTES falls on the plot's axis, MOST bytes at its end. */
static double axis_x(double bytes, double most)
{
    return LABEL_WIDTH + AXIS_WIDTH * bytes / most;
}

/* The bars of each variant's peak footprint (its spread a whisker, its
 * mean footprint a mark) against the optimum (the peak of live bytes)
 * and the mean of live bytes. */
static void put_plot(cmt_output *f, char *const *variants, const size_t *order, size_t n, const summary *sums,
                     double peak_live, double mean_live)
{
    const int bar = 18, gap = 8, top = 24;
    double most = peak_live;
    for (size_t i = 0; i < n; i++)
        most = sums[order[i]].footprint_max > most ? sums[order[i]].footprint_max : most;
    if (!(most > 0))
        return;
    int height = top + (int)n * (bar + gap) + 24;
    cmt_output_printf(f,
                      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
                      "font-size=\"12\">\n",
                      LABEL_WIDTH + AXIS_WIDTH + 110, height);
    for (size_t i = 0; i < n; i++) {
        const summary *s = &sums[order[i]];
        int y = top + (int)i * (bar + gap);
        cmt_output_printf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", LABEL_WIDTH - 6, y + bar - 5);
        cmt_html_string(f, variants[order[i]], SIZE_MAX);
        cmt_output_printf(f, "</text>\n<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"#6a9fd8\"/>\n",
                          LABEL_WIDTH, y, axis_x(s->footprint, most) - LABEL_WIDTH, bar);
        cmt_output_printf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#333\"/>\n",
                          axis_x(s->footprint_min, most), axis_x(s->footprint_max, most), y + bar / 2, y + bar / 2);
        if (!isnan(s->mean_footprint))
            cmt_output_printf(f, "<rect x=\"%.1f\" y=\"%d\" width=\"3\" height=\"%d\" fill=\"#1d3f66\"/>\n",
                              axis_x(s->mean_footprint, most) - 1.5, y, bar);
        cmt_output_printf(f, "<text x=\"%.1f\" y=\"%d\">%.2fx</text>\n", axis_x(s->footprint_max, most) + 6, y + bar - 5,
                          peak_live > 0 ? s->footprint / peak_live : NAN);
    }
    static const struct {
        const char *name, *colour;
    } lines[] = {{"peak live (the optimum)", "#c0392b"}, {"mean live", "#e67e22"}};
    double at[] = {peak_live, mean_live};
    for (size_t i = 0; i < 2; i++) {
        if (!(at[i] > 0))
            continue;
        double x = axis_x(at[i], most);
        cmt_output_printf(f,
                          "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-dasharray=\"4,3\"/>\n"
                          "<text x=\"%.1f\" y=\"%d\" fill=\"%s\" text-anchor=\"middle\">%s</text>\n",
                          x, x, top - 4, height - 16, lines[i].colour, x, i ? height - 4 : 14, lines[i].colour,
                          lines[i].name);
    }
    cmt_output_printf(f, "</svg>\n");
}

/* The start of a ranking's row: the rank from I, the allocator, its
 * median and its spread, each written by PUT. */
static void put_ranked(cmt_output *f, size_t i, const char *variant, void (*put)(cmt_output *, double),
                       double median, double lowest, double highest)
{
    cmt_output_printf(f, "<tr><td>%zu</td><td>", i + 1);
    cmt_html_string(f, variant, SIZE_MAX);
    cmt_output_printf(f, "</td><td>");
    put(f, median);
    cmt_output_printf(f, "</td><td>");
    put(f, lowest);
    cmt_output_printf(f, " &ndash; ");
    put(f, highest);
    cmt_output_printf(f, "</td>");
}

static void put_trace(cmt_output *f, size_t t, const char *trace, char *const *variants, size_t nvariants,
                      sweep_cell *const *cells, summary *const *sums, size_t *order)
{
    const sweep_cell *any = NULL;
    for (size_t v = 0; v < nvariants && !any; v++)
        any = cells[t][v].n ? &cells[t][v] : NULL;
    cmt_output_printf(f, "<h2 id=\"trace%zu\">", t);
    cmt_html_string(f, cmti_base_name(trace), SIZE_MAX);
    cmt_output_printf(f, "</h2>\n<p class=\"path\">");
    cmt_html_string(f, trace, SIZE_MAX);
    cmt_output_printf(f, "</p>\n");
    if (any) {
        cmt_output_printf(f, "<p>Peak live bytes (the optimum): ");
        put_bytes(f, any->peak_live);
        cmt_output_printf(f, "; mean live bytes: ");
        put_bytes(f, any->mean_live);
        cmt_output_printf(f, ".</p>\n");
    }
    size_t n = rank(sums, cells, t, nvariants, offsetof(summary, seconds), order);
    if (n) {
        cmt_output_printf(f, "<h3>By time</h3>\n<table><tr><th></th><th>allocator</th><th>median</th>"
                             "<th>spread (min&ndash;max)</th><th>relative</th><th>runs</th></tr>\n");
        for (size_t i = 0; i < n; i++) {
            const summary *s = &sums[t][order[i]];
            put_ranked(f, i, variants[order[i]], put_seconds, s->seconds, s->seconds_min, s->seconds_max);
            cmt_output_printf(f, "<td>%.2f</td><td>%zu</td></tr>\n", s->seconds / sums[t][order[0]].seconds,
                              cells[t][order[i]].n);
        }
        cmt_output_printf(f, "</table>\n");
    }
    n = rank(sums, cells, t, nvariants, offsetof(summary, footprint), order);
    if (n) {
        cmt_output_printf(f, "<h3>By peak memory</h3>\n<table><tr><th></th><th>allocator</th><th>peak footprint</th>"
                             "<th>spread (min&ndash;max)</th><th>overhead</th><th>peak RSS</th></tr>\n");
        for (size_t i = 0; i < n; i++) {
            const summary *s = &sums[t][order[i]];
            put_ranked(f, i, variants[order[i]], put_bytes, s->footprint, s->footprint_min, s->footprint_max);
            cmt_output_printf(f, "<td>%.3f</td><td>", any->peak_live > 0 ? s->footprint / any->peak_live : NAN);
            put_bytes(f, s->rss);
            cmt_output_printf(f, "</td></tr>\n");
        }
        cmt_output_printf(f, "</table>\n");
        put_plot(f, variants, order, n, sums[t], any->peak_live, any->mean_live);
    }
    for (size_t v = 0; v < nvariants; v++) {
        const sweep_cell *c = &cells[t][v];
        if (!c->failed)
            continue;
        cmt_output_printf(f, "<p class=\"failed\">");
        cmt_html_string(f, variants[v], SIZE_MAX);
        cmt_output_printf(f, ": %zu run%s failed: ", c->failed, c->failed == 1 ? "" : "s");
        cmt_html_string(f, c->error ? c->error : "", SIZE_MAX);
        cmt_output_printf(f, "</p>\n");
    }
}

int sweep_write_page(const char *out, char *const *traces, size_t ntraces, char *const *variants,
                     size_t nvariants, sweep_cell *const *cells, const sweep_counts *counts, char *err,
                     size_t errlen)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/index.html", out);
    summary **sums = cmti_calloc(ntraces ? ntraces : 1, sizeof *sums);
    size_t *order = cmti_calloc(nvariants ? nvariants : 1, sizeof *order);
    int rc = sums && order ? 0 : -1;
    for (size_t t = 0; t < ntraces && rc == 0; t++) {
        if (!(sums[t] = cmti_calloc(nvariants ? nvariants : 1, sizeof **sums)))
            rc = -1;
        for (size_t v = 0; rc == 0 && v < nvariants; v++)
            sums[t][v] = summarize(&cells[t][v]);
    }
    cmt_output *f = rc == 0 ? cmt_output_open(path, err, errlen) : NULL;
    if (rc < 0)
        snprintf(err, errlen, CMT_NO_MEMORY);
    if (f) {
        cmt_output_printf(f, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>cmtsweep: %zu traces x %zu "
                             "allocators</title>\n<style>\n"
                             "body{font-family:sans-serif;max-width:72em;margin:1em auto;padding:0 1em}\n"
                             "table{border-collapse:collapse;margin:0.5em 0}\n"
                             "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}\n"
                             "td:first-child,th:first-child{text-align:left}\n"
                             ".failed{color:#a00}\n.path{color:#666;font-size:small}\n"
                             "</style></head><body>\n",
                          ntraces, nvariants);
        cmt_output_printf(f, "<h1>cmtsweep: %zu trace%s &times; %zu allocator%s</h1>\n"
                             "<p>%zu jobs done, %zu failed, %zu without a result yet. Each job is one replay in a "
                             "fresh process; the figures are medians over the repetitions. In the matrices each "
                             "cell is relative to the best allocator of its trace (1.00), green to red at twice "
                             "as much or more. Time is the replay's, decoding left out; memory is the allocator's "
                             "peak footprint, which the overhead divides by the trace's peak of live bytes.</p>\n",
                          ntraces, ntraces == 1 ? "" : "s", nvariants, nvariants == 1 ? "" : "s", counts->done,
                          counts->failed, counts->missing);
        put_matrix(f, "Time (median, relative to the fastest)", traces, ntraces, variants, nvariants, cells, sums,
                   offsetof(summary, seconds));
        put_matrix(f, "Peak footprint (median, relative to the smallest)", traces, ntraces, variants, nvariants,
                   cells, sums, offsetof(summary, footprint));
        for (size_t t = 0; t < ntraces; t++)
            put_trace(f, t, traces[t], variants, nvariants, cells, sums, order);
        cmt_output_printf(f, "</body></html>\n");
        rc = cmt_output_commit(f, err, errlen);
    } else {
        rc = -1;
    }
    for (size_t t = 0; sums && t < ntraces; t++)
        cmti_free(sums[t]);
    cmti_free(sums);
    cmti_free(order);
    return rc;
}
