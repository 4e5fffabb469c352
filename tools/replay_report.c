/*
 * replay_report.c - the overhead report: what a replay cost in time and memory.
 */
#include "replay_report.h"

#include <string.h>

static double ratio(uint64_t a, uint64_t b)
{
    return b ? (double)a / (double)b : 0.0;
}

/* An area of byte-events over the events: the mean bytes. */
static double mean(double area, uint64_t events)
{
    return events ? area / (double)events : 0.0;
}

/* The overhead over the replay, and at the peak footprint: -1 where
 * nothing was live (a ratio without a meaning). */
static double mean_overhead(const cmt_replay_report *r)
{
    return r->live_area > 0 ? r->footprint_area / r->live_area : -1.0;
}

static double ratio_at_peak(const cmt_replay_report *r)
{
    return r->live_at_peak_footprint ? (double)r->at_peak.bytes / (double)r->live_at_peak_footprint : -1.0;
}

/* Whether the allocator gave its own account of its peak footprint. */
static bool has_breakdown(const cmt_replay_report *r)
{
    const cmt_heap_stats *b = &r->at_peak;
    return b->table_bytes + b->header_bytes + b->usable_bytes + b->free_bytes + b->pinned_free_bytes +
               b->unused_bytes >
           0;
}

/* What the blocks live at the peak footprint could hold over what they
 * were asked for. */
static uint64_t rounding(const cmt_replay_report *r)
{
    uint64_t usable = r->at_peak.usable_bytes;
    return usable > r->live_at_peak_footprint ? usable - r->live_at_peak_footprint : 0;
}

/* X as JSON in BUF (of 32 bytes): null where it has no meaning. */
static const char *json_ratio(char *buf, double x)
{
    if (x < 0)
        return "null";
    snprintf(buf, 32, "%.4f", x);
    return buf;
}

/* X as text in BUF (of 32 bytes): "-" where it has no meaning. */
static const char *text_ratio(char *buf, double x)
{
    if (x < 0)
        return "-";
    snprintf(buf, 32, "%.3f", x);
    return buf;
}

double cmt_report_ns_per_event(const cmt_replay_report *r)
{
    return r->events ? r->seconds * 1e9 / (double)r->events : 0.0;
}

/* 1234567 -> "1,234,567" */
const char *cmt_report_grouped(char *buf, uint64_t v)
{
    char digits[24];
    int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)v), o = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

/* 1234567 -> "1.18 MiB" */
static const char *human(char *buf, uint64_t v)
{
    double x;
    const char *unit = cmt_scale_bytes(v, &x);
    sprintf(buf, v >= 1024 ? "%.2f %s" : "%.0f %s", x, unit);
    return buf;
}

static uint64_t aligned_calls(const cmt_replay_report *r)
{
    return r->calls[CMT_OP_POSIX_MEMALIGN] + r->calls[CMT_OP_ALIGNED_ALLOC] +
           r->calls[CMT_OP_MEMALIGN];
}

static void print_json(cmt_output *f, const cmt_replay_report *r)
{
    char at_peak[32], over_time[32];
    cmt_output_printf(f, "{\"allocator\": \"%s\", \"events\": %llu, \"calls\": {", r->allocator,
                      (unsigned long long)r->events);
    for (int op = 0; op < CMT_OP_COUNT; op++)
        cmt_output_printf(f, "%s\"%s\": %llu", op ? ", " : "", cmt_op_name((cmt_op)op),
                          (unsigned long long)r->calls[op]);
    cmt_output_printf(f,
                      "}, \"free_null\": %llu, \"seconds\": %.9f, \"ns_per_event\": %.2f, "
                      "\"peak_live_bytes\": %llu, \"peak_live_blocks\": %llu, \"peak_live_event\": %llu, "
                      "\"end_live_bytes\": %llu, \"end_live_blocks\": %llu, "
                      "\"peak_footprint\": %llu, \"end_footprint\": %llu, \"peak_mapped\": %llu, \"sample_seconds\": %.6f, "
                      "\"overhead\": %.4f, \"overhead_at_peak_footprint\": %s, \"live_at_peak_footprint\": %llu, "
                      "\"mean_footprint\": %.0f, \"mean_live_bytes\": %.0f, \"mean_overhead\": %s, "
                      "\"start_rss\": %llu, \"peak_rss\": %llu, \"harness_peak_bytes\": %llu, "
                      "\"failed_in_trace\": %llu, \"failed_in_replay\": %llu, \"failed_bytes\": %llu, "
                      "\"failure_not_reproduced\": %llu, \"compactions\": %llu, \"bytes_moved\": %llu, "
                      "\"compact_seconds\": %.9f, \"longest_compaction_seconds\": %.9f, \"threads\": %llu, \"cross_thread_frees\": %llu, \"window\": %llu, "
                      "\"wall_seconds\": %.9f, \"wait_seconds\": %.9f, \"paced\": %s, \"paced_seconds\": %.9f, \"serial_reason\": \"%s\", \"fallbacks\": \"%s\", "
                      "\"harness_ns_per_event\": %.2f, \"minor_faults\": %llu, \"major_faults\": %llu, "
                      "\"user_seconds\": %.6f, \"system_seconds\": %.6f, \"repetitions\": %llu, "
                      "\"ns_per_event_spread\": [%.2f, %.2f], \"peak_rss_spread\": [%llu, %llu], ",
                      (unsigned long long)r->free_null, r->seconds, cmt_report_ns_per_event(r),
                      (unsigned long long)r->peak_live_bytes, (unsigned long long)r->peak_live_blocks,
                      (unsigned long long)r->peak_live_event, (unsigned long long)r->end_live_bytes,
                      (unsigned long long)r->end_live_blocks, (unsigned long long)r->peak_footprint,
                      (unsigned long long)r->end_footprint, (unsigned long long)r->peak_mapped, r->sample_seconds,
                      ratio(r->peak_footprint, r->peak_live_bytes), json_ratio(at_peak, ratio_at_peak(r)),
                      (unsigned long long)r->live_at_peak_footprint, mean(r->footprint_area, r->events),
                      mean(r->live_area, r->events), json_ratio(over_time, mean_overhead(r)),
                      (unsigned long long)r->start_rss,
                      (unsigned long long)r->peak_rss, (unsigned long long)r->harness_peak_bytes,
                      (unsigned long long)r->failed_in_trace,
                      (unsigned long long)r->failed_in_replay, (unsigned long long)r->failed_bytes,
                      (unsigned long long)r->failure_not_reproduced, (unsigned long long)r->compactions,
                      (unsigned long long)r->bytes_moved, r->compact_seconds, r->longest_compact_seconds, (unsigned long long)r->threads,
                      (unsigned long long)r->cross_thread_frees, (unsigned long long)r->window, r->wall_seconds, r->wait_seconds,
                      r->paced ? "true" : "false", r->paced_seconds, r->serial_reason,
                      r->remarks, r->harness_ns_per_event, (unsigned long long)r->minor_faults,
                      (unsigned long long)r->major_faults, r->user_seconds, r->system_seconds,
                      (unsigned long long)(r->repetitions ? r->repetitions : 1), r->ns_per_event_min, r->ns_per_event_max,
                      (unsigned long long)r->peak_rss_min, (unsigned long long)r->peak_rss_max);
    const cmt_heap_stats *b = &r->at_peak;
    if (!has_breakdown(r)) {
        cmt_output_printf(f, "\"peak_breakdown\": null}");
        return;
    }
    cmt_output_printf(f,
                      "\"peak_breakdown\": {\"table\": %llu, \"headers\": %llu, \"rounding\": %llu, \"requested\": %llu, "
                      "\"free\": %llu, \"free_held_by_locks\": %llu, \"above_the_top\": %llu}}",
                      (unsigned long long)b->table_bytes, (unsigned long long)b->header_bytes,
                      (unsigned long long)rounding(r), (unsigned long long)r->live_at_peak_footprint,
                      (unsigned long long)b->free_bytes, (unsigned long long)b->pinned_free_bytes,
                      (unsigned long long)b->unused_bytes);
}

void cmt_report_print(cmt_output *f, const cmt_replay_report *r, bool json)
{
    if (json) {
        print_json(f, r);
        cmt_output_printf(f, "\n");
        return;
    }
    char a[32], b[32], c[32];
    cmt_output_printf(f, "allocator       %s\n", r->allocator);
    cmt_output_printf(f, "events          %s: malloc %llu, calloc %llu, realloc %llu, free %llu, aligned %llu",
                      cmt_report_grouped(a, r->events), (unsigned long long)r->calls[CMT_OP_MALLOC],
                      (unsigned long long)r->calls[CMT_OP_CALLOC], (unsigned long long)r->calls[CMT_OP_REALLOC],
                      (unsigned long long)r->calls[CMT_OP_FREE], (unsigned long long)aligned_calls(r));
    if (r->free_null)
        cmt_output_printf(f, " (free(NULL) %llu)", (unsigned long long)r->free_null);
    if (r->calls[CMT_OP_LOAD] + r->calls[CMT_OP_STORE] + r->calls[CMT_OP_MODIFY])
        cmt_output_printf(f, "\naccesses        load %llu, store %llu, modify %llu%s",
                          (unsigned long long)r->calls[CMT_OP_LOAD], (unsigned long long)r->calls[CMT_OP_STORE],
                          (unsigned long long)r->calls[CMT_OP_MODIFY],
                          r->relocating ? " (each with its block locked)" : "");
    cmt_output_printf(f, "\ntime            %.3f ms, %.1f ns/event", r->seconds * 1e3, cmt_report_ns_per_event(r));
    if (r->threads > 1)
        cmt_output_printf(f, " (summed over threads); %.3f ms from start to end, %.3f ms waiting at hand-offs",
                          r->wall_seconds * 1e3, r->wait_seconds * 1e3);
    if (r->paced)
        cmt_output_printf(f, "\npace            the recorded gaps kept: %.3f ms asleep%s, %.3f ms from start to end",
                          r->paced_seconds * 1e3, r->threads > 1 ? " (summed over threads)" : "", r->wall_seconds * 1e3);
    if (r->repetitions > 1)
        cmt_output_printf(f, "\nrepeated        %llu times in fresh processes: the median by time; %.1f to %.1f ns/event, "
                             "peak RSS %s to %s",
                          (unsigned long long)r->repetitions, r->ns_per_event_min, r->ns_per_event_max,
                          human(a, r->peak_rss_min), human(b, r->peak_rss_max));
    cmt_output_printf(f, "\nthreads         %llu, %llu frees and reallocs of another thread's block",
                      (unsigned long long)r->threads, (unsigned long long)r->cross_thread_frees);
    if (r->serial_reason[0])
        cmt_output_printf(f, " (the trace's threads replayed on one: %s)", r->serial_reason);
    else if (r->threads > 1)
        cmt_output_printf(f, r->window ? " (each within %llu events of the recorded order)" : " (waiting only at hand-offs)",
                          (unsigned long long)r->window);
    cmt_output_printf(f, "\n");
    cmt_output_printf(f, "peak live       %s bytes in %s blocks, at event %llu (%s", cmt_report_grouped(a, r->peak_live_bytes),
                      cmt_report_grouped(b, r->peak_live_blocks), (unsigned long long)r->peak_live_event,
                      r->threads > 1 ? "the trace's blocks, in the recorded order" : "blocks that exist in the replay");
    if (r->failed_in_replay)
        cmt_output_printf(f, "; %s that failed in it left out", cmt_report_grouped(c, r->failed_in_replay));
    cmt_output_printf(f, ")\n");
    cmt_output_printf(f, "end live        %s bytes in %s blocks (never freed)\n", cmt_report_grouped(a, r->end_live_bytes),
                      cmt_report_grouped(b, r->end_live_blocks));
    char d[32];
    cmt_output_printf(f, "footprint       peak %s bytes (%s), at end %s bytes (%s)\n", cmt_report_grouped(a, r->peak_footprint),
                      human(c, r->peak_footprint), cmt_report_grouped(b, r->end_footprint), human(d, r->end_footprint));
    char at_peak[32], over_time[32];
    cmt_output_printf(f, "overhead        %.3f (peak footprint / peak live); %s at the peak footprint (%s bytes "
                         "live then); %s over the replay (mean footprint %s / mean live %s)\n",
                      ratio(r->peak_footprint, r->peak_live_bytes), text_ratio(at_peak, ratio_at_peak(r)),
                      cmt_report_grouped(a, r->live_at_peak_footprint), text_ratio(over_time, mean_overhead(r)),
                      human(c, (uint64_t)mean(r->footprint_area, r->events)),
                      human(d, (uint64_t)mean(r->live_area, r->events)));
    if (has_breakdown(r)) {
        const cmt_heap_stats *bd = &r->at_peak;
        char e[32], g[32], k[32];
        cmt_output_printf(f, "at the peak     asked for %s; block metadata %s, rounding %s, free %s (held by locks %s), "
                             "above the top %s, tables %s\n",
                          human(a, r->live_at_peak_footprint), human(b, bd->header_bytes), human(c, rounding(r)),
                          human(d, bd->free_bytes + bd->pinned_free_bytes), human(e, bd->pinned_free_bytes),
                          human(g, bd->unused_bytes), human(k, bd->table_bytes));
    }
    if (r->relocating)
        cmt_output_printf(f, "compaction      %llu compactions moved %s bytes in %.3f ms, the longest %.3f ms\n",
                          (unsigned long long)r->compactions, cmt_report_grouped(a, r->bytes_moved), r->compact_seconds * 1e3,
                          r->longest_compact_seconds * 1e3);
    cmt_output_printf(f, "RSS             peak %s, %s at start (whole process", human(a, r->peak_rss), human(b, r->start_rss));
    if (r->harness_peak_bytes)
        cmt_output_printf(f, "; the replayer's own tables and buffers at most %s", human(c, r->harness_peak_bytes));
    cmt_output_printf(f, ")\n");
    cmt_output_printf(f, "kernel          %s minor and %llu major page faults, %.3f s user and %.3f s system CPU "
                         "(the replay, decoding included)\n",
                      cmt_report_grouped(a, r->minor_faults), (unsigned long long)r->major_faults, r->user_seconds,
                      r->system_seconds);
    if (r->remarks[0])
        cmt_output_printf(f, "not replaced    %s: from another library than the preloaded one, so never called\n",
                          r->remarks);
    cmt_output_printf(f, "failures        %llu in the trace, %llu in the replay only, %llu in the trace only\n",
                      (unsigned long long)r->failed_in_trace, (unsigned long long)r->failed_in_replay,
                      (unsigned long long)r->failure_not_reproduced);
}

void cmt_report_print_comparison(cmt_output *f, const cmt_replay_report *reports, size_t n, bool json)
{
    if (json) {
        cmt_output_printf(f, "[");
        for (size_t i = 0; i < n; i++) {
            cmt_output_printf(f, "%s", i ? ",\n " : "");
            print_json(f, &reports[i]);
        }
        cmt_output_printf(f, "]\n");
        return;
    }
    char a[32], b[32], c[32];
    if (n > 0)
        cmt_output_printf(f, "%s events, peak live %s bytes in %s blocks\n", cmt_report_grouped(a, reports[0].events),
                          cmt_report_grouped(b, reports[0].peak_live_bytes), cmt_report_grouped(c, reports[0].peak_live_blocks));
    int width = 10; /* the names' column: as wide as the longest (a plugin's) */
    for (size_t i = 0; i < n; i++)
        if ((int)strlen(reports[i].allocator) > width)
            width = (int)strlen(reports[i].allocator);
    cmt_output_printf(f, "%-*s %10s %14s %10s %12s %9s\n", width, "allocator", "ns/event", "peak footprint",
                         "overhead", "peak RSS", "failures");
    for (size_t i = 0; i < n; i++) {
        const cmt_replay_report *r = &reports[i];
        cmt_output_printf(f, "%-*s %10.1f %14s %10.3f %12s %9llu\n", width, r->allocator, cmt_report_ns_per_event(r),
                          human(a, r->peak_footprint), ratio(r->peak_footprint, r->peak_live_bytes),
                          human(b, r->peak_rss), (unsigned long long)r->failed_in_replay);
    }
    if (n > 0 && reports[0].repetitions > 1) {
        cmt_output_printf(f, "(each the median of %llu replays; ns/event from fastest to slowest:",
                          (unsigned long long)reports[0].repetitions);
        for (size_t i = 0; i < n; i++)
            cmt_output_printf(f, " %s %.1f-%.1f", reports[i].allocator, reports[i].ns_per_event_min,
                              reports[i].ns_per_event_max);
        cmt_output_printf(f, ")\n");
    }
    if (n > 0 && reports[0].harness_ns_per_event > 0)
        cmt_output_printf(f, "the replayer's own cost (null): %.1f ns/event of each allocator's\n",
                          reports[0].harness_ns_per_event);
}

void cmt_report_print_maxmem(cmt_output *f, const cmt_maxmem *m, bool json)
{
    bool jemalloc = m->jemalloc.allocator[0] != '\0'; /* replayed where it is installed */
    if (json) {
        cmt_output_printf(f,
                          "{\"step\": %llu, \"peak_live\": %llu, \"rmalloc_compacting\": %llu, "
                          "\"rmalloc_no_compaction\": %llu, \"system_peak_footprint\": %llu, "
                          "\"jemalloc_peak_footprint\": ",
                          (unsigned long long)m->step, (unsigned long long)m->peak_live,
                          (unsigned long long)m->compacting, (unsigned long long)m->fixed,
                          (unsigned long long)m->system.peak_footprint);
        if (jemalloc)
            cmt_output_printf(f, "%llu}\n", (unsigned long long)m->jemalloc.peak_footprint);
        else
            cmt_output_printf(f, "null}\n");
        return;
    }
    const struct {
        const char *what;
        uint64_t bytes;
    } rows[] = {
        {"optimal (peak live bytes)", m->peak_live},
        {"rmalloc, compacting: smallest heap", m->compacting},
        {"rmalloc, no compaction: smallest heap", m->fixed},
        {"system: peak footprint", m->system.peak_footprint},
        {"jemalloc: peak footprint", m->jemalloc.peak_footprint},
    };
    char a[32];
    cmt_output_printf(f, "%-40s %16s %10s\n", "", "bytes", "/ optimal");
    for (size_t i = 0; i < sizeof rows / sizeof rows[0] - !jemalloc; i++)
        cmt_output_printf(f, "%-40s %16s %10.3f\n", rows[i].what, cmt_report_grouped(a, rows[i].bytes),
                          ratio(rows[i].bytes, m->peak_live));
    cmt_output_printf(f, "(heaps found by bisection in steps of %llu bytes; rmalloc's handle table is outside the heap)\n",
                      (unsigned long long)m->step);
}
