/*
 * replay_report.h - cmtreplay's presentation of what the replay engine
 * (allocators/) measured: the text and JSON reports (replay_report.c) and
 * the --compare page (replay_compare.c).
 */
#ifndef CMT_REPLAY_REPORT_H
#define CMT_REPLAY_REPORT_H

#include "allocator.h"

#include <stdio.h>

/* The --maxmem experiment's findings, as text or as one JSON object. */
void cmt_report_print_maxmem(cmt_output *f, const cmt_maxmem *m, bool json);

/* The overhead report of one replay, as text or as one JSON object. */
void cmt_report_print(cmt_output *f, const cmt_replay_report *r, bool json);

/* R's time per event in ns: the allocator's time over the events. */
double cmt_report_ns_per_event(const cmt_replay_report *r);

/* V with its thousands grouped, "1,234,567", in BUF (32 bytes). */
const char *cmt_report_grouped(char *buf, uint64_t v);

/* Several replays of one trace side by side, as a table or a JSON array. */
void cmt_report_print_comparison(cmt_output *f, const cmt_replay_report *reports, size_t n, bool json);

/* --compare: 0 if gnuplot can be run, else -1 and a message saying how to
 * install it. */
int cmt_compare_check_gnuplot(char *err, size_t errlen);

/* The flame graph of the trace's call stacks in a --compare folder, which
 * the page shows where there is one. */
#define CMT_COMPARE_STACKS "stacks.svg"

/* --compare: the report in DIR, where the replays have left a timeline
 * each (DIR/timeline.NAME): the histograms of STATS, plots.gp, memory over
 * time and the histograms as PNG and SVG, and index.html showing them with
 * the numbers.  TRACE names the trace.  Returns 0, or -1 with a message. */
int cmt_compare_report(const char *dir, const char *trace, const cmt_replay_report *reports, size_t n,
                       const cmt_trace_stats *stats, char *err, size_t errlen);

#endif /* CMT_REPLAY_REPORT_H */
