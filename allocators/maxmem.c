/*
 * maxmem.c - the max-memory experiment (the original's run_maxmem.sh): the
 * smallest rmalloc heap in which a whole trace replays.
 */
#include "allocator.h"

#include <stdio.h>

/* Replays PATH under rmalloc with KNOBS; 1 if every allocation that
 * succeeded when traced succeeded, 0 if one did not, -1 on an error. */
static int replays_in(const char *path, const cmt_rmalloc_settings *knobs, cmt_replay_report *report, char *err,
                      size_t errlen)
{
    cmt_source *source = cmt_source_open(path, NULL, err, errlen);
    if (!source)
        return -1;
    char settings[128];
    cmt_rmalloc_format_settings(settings, sizeof settings, knobs);
    cmt_replay_options ro = {.touch = CMT_TOUCH_NONE, .allocator = {.settings = settings}};
    int rc = cmt_replay(source, &cmt_allocator_rmalloc, &ro, report, err, errlen);
    cmt_source_close(source);
    if (rc < 0)
        return -1;
    return report->failed_in_replay == 0;
}

int cmt_rmalloc_min_capacity(const char *path, const cmt_rmalloc_settings *options, uint64_t step,
                             uint64_t *capacity, uint64_t *peak_live, char *err, size_t errlen)
{
    cmt_rmalloc_settings probe = *options;
    cmt_replay_report report;
    probe.capacity = CMT_RMALLOC_CAPACITY;
    int fits = replays_in(path, &probe, &report, err, errlen);
    if (fits < 0)
        return -1;
    if (!fits) {
        snprintf(err, errlen, "%s: does not replay even in a heap of %llu bytes", path,
                 (unsigned long long)CMT_RMALLOC_CAPACITY);
        return -1;
    }
    *peak_live = report.peak_live_bytes;
    /* A heap as large as the highest top of an unbounded run replays the
     * same way, so it fits; one smaller than what is live cannot.  (The
     * highest top, not the peak footprint: that is sampled, and the heap
     * gives pages back between samples.) */
    uint64_t hi = (report.peak_mapped + step - 1) / step * step;
    uint64_t lo = report.peak_live_bytes / step * step;
    while (hi - lo > step) {
        probe.capacity = lo + (hi - lo) / step / 2 * step;
        fits = replays_in(path, &probe, &report, err, errlen);
        if (fits < 0)
            return -1;
        if (fits)
            hi = probe.capacity;
        else
            lo = probe.capacity;
    }
    *capacity = hi;
    return 0;
}
