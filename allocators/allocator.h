/*
 * allocator.h - the vtable cmtreplay replays a trace against, one file per
 * allocator in this folder, and the replay engine that drives it.
 */
#ifndef CMT_ALLOCATOR_H
#define CMT_ALLOCATOR_H

#include "cmt_allocator.h"
#include <analysis.h>
#include <cmt.h>

#include <stdio.h>
#include <sys/resource.h>
#include <sys/types.h>

/* The heap rmalloc reserves for a replay unless told otherwise: address
 * space only, pages are touched as the heap grows. */
#define CMT_RMALLOC_CAPACITY ((uint64_t)16 << 30)


extern const cmt_allocator cmt_allocator_system;
/* The process's own malloc, in a process started with a library in
 * LD_PRELOAD (and CMT_REPLAY_PRELOADED naming it); preload.c. */
extern const cmt_allocator cmt_allocator_process;
extern const cmt_allocator cmt_allocator_rmalloc;
/* A bump pointer that never frees, for the replayer's own cost (not in
 * cmt_allocators: its footprint only grows, and it is no allocator to
 * choose). */
extern const cmt_allocator cmt_allocator_null;

/* Every allocator, NULL-terminated, in the order -a list shows them. */
extern const cmt_allocator *const cmt_allocators[];

/* The allocator called NAME, or NULL. */
const cmt_allocator *cmt_allocator_find(const char *name);

/* A library that replaces malloc, known by name: where Debian installs it
 * and the package that does. */
typedef struct cmt_preload {
    const char *name, *description, *library, *package;
} cmt_preload;

/* Every such library, ended by a NULL name. */
extern const cmt_preload cmt_preloads[];

/* The library called NAME, or NULL. */
const cmt_preload *cmt_preload_find(const char *name);

/* True if P's library is installed. */
bool cmt_preload_available(const cmt_preload *p);

/* The allocator NAME that replays in a process with LIBRARY preloaded. */
cmt_allocator cmt_allocator_preloaded(const char *name, const char *library);

/* The process's resident bytes, as the kernel counts them (/proc). */
uint64_t cmt_resident_bytes(void);

/* Process PID's (0: this one's); 0 once it is gone. */
uint64_t cmt_resident_bytes_of(pid_t pid);

/* The smallest power of two at least ALIGN (and at least a pointer's size). */
size_t cmt_round_alignment(size_t align);

/* ---------------------------------------------------------------- replay */

/* What a replay writes of the bytes it allocates, so that pages become
 * resident as they would in the program. */
typedef enum cmt_touch {
    CMT_TOUCH_NONE, /* nothing: only what the allocator writes itself */
    CMT_TOUCH_ALL,  /* every byte (glibc's trace_run) */
    CMT_TOUCH_PAGE, /* a byte a page (AOSP's memory_replay): resident, without the program's cost of writing */
} cmt_touch;

typedef struct cmt_replay_options {
    cmt_touch touch;
    bool serial;        /* every event on one thread, in the recorded order, even of a trace with threads */
    bool pace;          /* keep the recorded gaps between events, where the trace has times */
    uint64_t window;    /* threads: how far in the recorded order an event may run before the earliest not yet run
                         * (0: as far as the queues allow) */
    bool stop_on_failure; /* an allocation that fails now but did not then ends the replay with an error */
    cmt_allocator_options allocator;
    cmt_output *trace;  /* -v: the events with the replaying allocator's pointers */
    cmt_output *timeline;    /* --timeline: a row every timeline_every events */
    uint64_t timeline_every;
    /* Told the events so far every batch or so, outside the clock, if its update is set. */
    cmt_progress progress;
} cmt_replay_options;

/* What a replay measured.  Live bytes follow the trace (requested sizes)
 * over the blocks that exist in the replay, so they are the same for every
 * allocator that made every block; footprint and time are the
 * allocator's. */
typedef struct cmt_replay_report {
    char allocator[32];
    uint64_t events;
    uint64_t calls[CMT_OP_COUNT];
    uint64_t free_null;         /* free(NULL) calls */
    uint64_t failed_in_trace;   /* allocations that returned NULL when traced */
    uint64_t failed_in_replay;  /* allocations that returned NULL now but not then: not live */
    uint64_t failed_bytes;      /* the bytes they asked for */
    uint64_t failure_not_reproduced; /* returned NULL then, succeeded now */
    double seconds;             /* in allocator calls, bookkeeping and touching */
    uint64_t peak_live_bytes, peak_live_blocks, peak_live_event;
    uint64_t end_live_bytes, end_live_blocks;
    uint64_t peak_footprint, end_footprint, peak_mapped;
    /* Johnstone and Wilson's other measures: the live bytes when the
     * footprint peaked (the first sample within 1/1024 of the peak;
     * at_peak.bytes over them: what the allocator held for what was live
     * then), and both over the whole replay, in
     * byte-events (each event weighs the same; the footprint as last
     * sampled), so that their ratio is the time-averaged overhead. */
    uint64_t live_at_peak_footprint;
    double footprint_area, live_area;
    /* An allocator's own account of its peak footprint, where it gives one
     * (cmt_heap_stats: table_bytes...; all 0 where it does not), with the
     * live bytes asked for then: usable_bytes less those is rounding. */
    cmt_heap_stats at_peak;
    double sample_seconds; /* in the allocator's statistics, sampling the footprint: outside the clock */
    uint64_t compactions, bytes_moved; /* relocating allocators */
    double compact_seconds, longest_compact_seconds;
    bool relocating;
    uint64_t start_rss, peak_rss; /* bytes, whole process */
    uint64_t harness_peak_bytes;  /* the most the replayer's own tables and buffers held mapped (0: not known) */
    uint64_t threads;            /* replay threads: the trace's threads, or 1 */
    uint64_t cross_thread_frees; /* frees and reallocs of a block another thread allocated */
    uint64_t window;             /* threads: the --window they ran within (0: unbounded) */
    double wall_seconds;         /* the replay from start to end; seconds is summed over threads */
    double wait_seconds;         /* threads waiting at hand-offs, not counted in seconds */
    bool paced;                  /* --pace, and the trace had times to keep */
    double paced_seconds;        /* asleep keeping them (summed over threads), not counted in seconds */
    char serial_reason[128];     /* why a trace with threads replayed on one ("" if it did not) */
    char remarks[160];           /* the allocator's: a preloaded library's fallbacks */
    double harness_ns_per_event; /* the null allocator's in the same run: the replayer's own cost (0: not run) */
    /* -r N: the replays this report is the median of (by time per event;
     * 1 for a single one), and the fastest's and slowest's times and the
     * least and most RSS among them. */
    uint64_t repetitions;
    double ns_per_event_min, ns_per_event_max;
    uint64_t peak_rss_min, peak_rss_max;
    /* The kernel's figures for the replay, decoding included (getrusage). */
    uint64_t minor_faults, major_faults;
    double user_seconds, system_seconds;
} cmt_replay_report;

/* Replays every event SOURCE yields (a .cmt file or a text trace) against
 * ALLOCATOR.  Returns 0, or -1 with a message in ERR (a corrupt trace, an
 * allocator that can't start). */
int cmt_replay(cmt_source *source, const cmt_allocator *allocator,
               const cmt_replay_options *options, cmt_replay_report *report, char *err,
               size_t errlen);

/* ------------------------------------------------- the replay's process */

/* What a replay in a process of its own shares with its parent: a page
 * both map (a memfd, so it survives the child's exec). */
typedef struct cmt_replay_channel {
    uint64_t events;          /* events replayed so far, for the parent's samples */
    bool done;                /* report holds the child's report */
    cmt_replay_report report;
} cmt_replay_channel;

/* A new channel, its descriptor in *FD (not close-on-exec); NULL with a
 * message in ERR. */
cmt_replay_channel *cmt_channel_create(int *fd, char *err, size_t errlen);

/* The channel behind FD, in the child; NULL if it can't be mapped. */
cmt_replay_channel *cmt_channel_open(int fd);

void cmt_channel_close(cmt_replay_channel *ch);

/* The kernel's resident bytes of the replay's process at a moment. */
typedef struct cmt_rss_sample {
    double seconds; /* since the process started */
    uint64_t events; /* replayed by then, as the channel said */
    uint64_t rss;
} cmt_rss_sample;

/* The samples of one replay: every millisecond at first, thinned to half
 * and the interval doubled whenever 4096 are kept, so a run of any length
 * holds a few thousand. */
typedef struct cmt_rss_samples {
    cmt_rss_sample *at;
    size_t n;
    double interval;
    uint64_t peak; /* the most resident bytes any sample saw */
} cmt_rss_samples;

/* Waits for the replay process PID, sampling its resident bytes into
 * SAMPLES (and the events CH says it has replayed) until it ends; then
 * *STATUS and *USAGE are wait4's.  Returns 0, or -1 if wait4 fails. */
int cmt_replay_watch(pid_t pid, const cmt_replay_channel *ch, cmt_rss_samples *samples, int *status,
                     struct rusage *usage);

void cmt_rss_samples_free(cmt_rss_samples *s);

/* S as a table, "# seconds event rss_bytes" and a row a sample, to OUT;
 * 0 or -1 (OUT's error). */
int cmt_rss_samples_write(const cmt_rss_samples *s, cmt_output *out);

/* rmalloc's knobs, read from its settings (pinned=F, no-compaction,
 * capacity=BYTES); zero is every default. */
typedef struct cmt_rmalloc_settings {
    double pinned;      /* the fraction of blocks locked for their whole life */
    bool no_compaction; /* never move blocks */
    uint64_t capacity;  /* heap capacity in bytes; 0: CMT_RMALLOC_CAPACITY */
} cmt_rmalloc_settings;

/* Reads TEXT (NULL: none) into *OUT; 0, or -1 with a message naming the
 * setting that is not rmalloc's or not a value it takes. */
int cmt_rmalloc_parse_settings(const char *text, cmt_rmalloc_settings *out, char *err, size_t errlen);

/* S as settings text, what cmt_rmalloc_parse_settings reads back, in BUF. */
void cmt_rmalloc_format_settings(char *buf, size_t len, const cmt_rmalloc_settings *s);

/* The max-memory experiment: the smallest heap capacity, a multiple of
 * STEP bytes, in which the trace at PATH replays under rmalloc with OPTIONS
 * without an allocation failing that did not fail when traced.  Bisects
 * between the peak of live bytes and the highest top of an unbounded
 * replay, so CAPACITY fits and CAPACITY - STEP does not.  *PEAK_LIVE gets
 * the trace's peak of live bytes.  Returns 0, or -1 with a message. */
int cmt_rmalloc_min_capacity(const char *path, const cmt_rmalloc_settings *options, uint64_t step,
                             uint64_t *capacity, uint64_t *peak_live, char *err, size_t errlen);

/* What the max-memory experiment found: rmalloc's smallest heaps beside
 * the optimum (peak live bytes) and the peak footprints of the others. */
typedef struct cmt_maxmem {
    uint64_t step, peak_live, compacting, fixed;
    cmt_replay_report system, jemalloc;
} cmt_maxmem;

/* The kernel's count of what a replay cost, from rusage NOW less BEFORE
 * (NULL: since its process started): page faults and CPU time, every
 * thread's, into REP. */
void cmt_report_kernel_figures(cmt_replay_report *rep, const struct rusage *now, const struct rusage *before);

#endif /* CMT_ALLOCATOR_H */
