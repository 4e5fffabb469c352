/*
 * analysis.h - what the analysis tools compute, in one pass over a trace
 * of either kind with memory that follows the live blocks: the original
 * scripts' annotations (lifetimes.py, overhead.py), the lifetime summary,
 * and the statistics of cmtstat.
 */
#ifndef CMT_ANALYSIS_H
#define CMT_ANALYSIS_H

#include <cmt.h>

#include <stdio.h>

/* The column annotations start after, as the original scripts aligned them
 * ('{:49} # ...'). */
#define CMT_ANNOTATION_COLUMN 49

/* Called every CMT_PROGRESS_EVERY events with the count so far, if set. */
#define CMT_PROGRESS_EVERY 65536
typedef struct cmt_progress {
    void (*update)(void *context, uint64_t events);
    void *context;
} cmt_progress;

/* cmtlifetimes: writes SOURCE to OUT as a text trace in which every free
 * and realloc of a live block ends in "# N bytes, allocated K lines ago"
 * (the block's size and the distance from the line that allocated it).
 * Returns 0, or -1 with a message in ERR. */
int cmt_annotate_lifetimes(cmt_source *source, cmt_output *out, const cmt_progress *progress,
                           char *err, size_t errlen);

/* cmtlifetimes --summary: how many blocks died at each (lifetime, size),
 * most frequent first, as a table or JSON; on every core, as
 * cmt_stats_read reads.  Returns 0 or -1. */
int cmt_lifetimes_summary(cmt_source *source, cmt_output *out, bool json, const cmt_progress *progress,
                          char *err, size_t errlen);

/* cmtoverhead: writes SOURCE, which must carry addresses (a text trace,
 * typically cmtreplay -v output), with each allocation annotated with its
 * neighbours, the gaps to them, its 4 KiB pages and how many pages it
 * added to the working set (pages holding any live byte), and each free
 * with its size and age and the same, pages it took away.  Returns 0 or
 * -1. */
int cmt_annotate_overhead(cmt_source *source, cmt_output *out, const cmt_progress *progress,
                          char *err, size_t errlen);

/* ------------------------------------------------------------ statistics */

/* Counts in power-of-two buckets: bucket 0 holds 0, bucket k > 0 holds
 * [2^(k-1), 2^k). */
#define CMT_LOG_BUCKETS 65
typedef struct cmt_log_histogram {
    uint64_t count[CMT_LOG_BUCKETS];
} cmt_log_histogram;

/* The bucket V falls in. */
unsigned cmt_log_bucket(uint64_t v);

/* Ratios in [0, 1] in fixed buckets: the macro lifetime's (what share of
 * the whole trace a block lived through) and the micro lifetime's (what
 * share of the operations during its life were on it). */
#define CMT_RATIO_BUCKETS 10
typedef struct cmt_ratio_histogram {
    const double *upper; /* CMT_RATIO_BUCKETS upper bounds, the last 1 */
    uint64_t count[CMT_RATIO_BUCKETS];
} cmt_ratio_histogram;

typedef struct cmt_trace_stats {
    uint64_t events;
    uint64_t calls[CMT_OP_COUNT];
    uint64_t free_null, failed;
    uint64_t allocated_bytes, allocated_blocks;
    uint64_t live_bytes, live_blocks;
    uint64_t peak_live_bytes, peak_live_blocks, peak_event;
    /* The live blocks each rounded up to 16 bytes (a block of 0 or 1 to
     * 16 bytes takes 16), as an allocator that aligns every block for
     * max_align_t must hold them: the floor of such an allocator's
     * footprint, at its peak, and the blocks live then. */
    uint64_t aligned_live_bytes, peak_aligned_bytes, peak_aligned_blocks;
    uint64_t temporary;          /* freed before any other allocation came (heaptrack's count) */
    uint64_t accessed_bytes;
    cmt_log_histogram sizes;     /* bytes asked for, each allocation */
    cmt_log_histogram lifetimes; /* events from allocation to free, each freed block */
    cmt_ratio_histogram macro, micro; /* each block, the never freed ones at the end */
    bool finished;
    struct cmt_stats_state *state; /* the live blocks; freed by cmt_stats_finish */
} cmt_trace_stats;

/* Empty statistics.  Returns 0, or -1 when out of memory (finish them
 * all the same). */
int cmt_stats_init(cmt_trace_stats *stats);

/* Counts EV, the next event of the trace, its blocks known by their slots
 * as the readers give them.  Returns 0, or -1 when out of memory or when
 * EV's slot is another live block's (then only finish them). */
int cmt_stats_add(cmt_trace_stats *stats, const cmt_event *ev);

/* Closes the books at the end of the trace: the blocks never freed get
 * their macro and micro lifetimes, and the live-block state is freed. */
void cmt_stats_finish(cmt_trace_stats *stats);

/* Reads all of SOURCE into STATS (initialised here, finished at the end),
 * on every core: a .cmt file's segments at once if it has seek points,
 * else decoding on one thread and counting on another (it calls
 * cmt_source_read_ahead).  Returns 0, or -1 with a message in ERR. */
int cmt_stats_read(cmt_source *source, cmt_trace_stats *stats, const cmt_progress *progress,
                   char *err, size_t errlen);

/* What cmt_stats_read does first: reads SOURCE's segments into STATS, on
 * every core.  Returns 1; 0 if SOURCE cannot be read so (no seek points,
 * one thread, too little memory for more); -1 when it could not (damage,
 * no memory, or a trace whose sums go round 2^64, which only reading in
 * order counts as it does), with a message in ERR.  STATS are set only
 * for 1, and SOURCE is left as it was, to be read in order. */
int cmt_stats_read_segments(cmt_source *source, cmt_trace_stats *stats, const cmt_progress *progress,
                            char *err, size_t errlen);

/* Writes finished STATS for a person (or as one JSON object); NAME is the
 * trace's. */
void cmt_stats_print(cmt_output *f, const char *name, const cmt_trace_stats *stats, bool json);

/* Each bucket's range as text, "[1 KiB, 2 KiB)", for tables and plots. */
void cmt_log_bucket_label(char *buf, size_t len, unsigned bucket);
void cmt_ratio_bucket_label(char *buf, size_t len, const cmt_ratio_histogram *h, unsigned bucket);

/* S as a JSON string, quotes included. */
void cmt_json_string(cmt_output *f, const char *s);

/* The first MOST bytes of S (SIZE_MAX: all of it) as HTML or SVG text,
 * fit for an element or a quoted attribute. */
void cmt_html_string(cmt_output *f, const char *s, size_t most);

/* BYTES in the largest binary unit that leaves at least 1 of it, into
 * *SCALED; the unit's name ("B", "KiB", "MiB"... "EiB"). */
const char *cmt_scale_bytes(uint64_t bytes, double *scaled);

/* ------------------------------------------------------------ call sites */

/* A frame of a trace's stacks, named where its module's file is here and
 * is the one that ran (its build-id), with its debug information where
 * there is any: Debian's separate debug files are looked for. */
typedef struct cmt_symbol {
    const char *function; /* the symbol it is in; NULL where unknown */
    const char *file;     /* the source file of the call; NULL where unknown */
    unsigned line;
    const char *module;   /* the file name of its module; NULL for none */
    uint64_t offset;      /* the return address, in that module (cmt_frame.offset) */
} cmt_symbol;

typedef struct cmt_symbols cmt_symbols;

/* Loads what names the frames of SITES's modules (those it has now);
 * NULL when out of memory. */
cmt_symbols *cmt_symbols_open(const cmt_sites *sites);

/* Names frame F into OUT; its strings are good until the close. */
void cmt_symbols_frame(cmt_symbols *symbols, const cmt_frame *f, cmt_symbol *out);

void cmt_symbols_close(cmt_symbols *symbols);

/* What a sites report ranks by, and a flame graph weighs by. */
typedef enum cmt_site_weight {
    CMT_WEIGHT_PEAK,        /* bytes from the site live at the trace's peak */
    CMT_WEIGHT_ALLOCATED,   /* bytes allocated */
    CMT_WEIGHT_ALLOCATIONS, /* blocks allocated */
    CMT_WEIGHT_TEMPORARY,   /* blocks freed before any other allocation */
    CMT_WEIGHT_LEAKED,      /* bytes never freed */
    CMT_WEIGHT_COUNT
} cmt_site_weight;

/* The name of W as --weight spells it ("peak", "allocated"...); and the
 * weight called NAME: 0, or -1 for none. */
const char *cmt_site_weight_name(cmt_site_weight w);
int cmt_site_weight_from_name(const char *name, cmt_site_weight *w);

typedef struct cmt_sites_options {
    bool json;              /* every site, as JSON, instead of the top of each ranking */
    unsigned top;           /* sites in each ranking of the text */
    const char *flamegraph; /* if not NULL, a file for the stacks, weighed by WEIGHT: folded,
                             * or drawn as a flame graph where its name ends in .svg;
                             * written whole or not at all */
    cmt_site_weight weight;
} cmt_sites_options;

/* cmtstat --sites: reads SOURCE, whose blocks have their stacks
 * (cmtrecord --stacks), and writes to OUT (NULL: only the flame graph) its
 * call sites: for each, the
 * blocks and bytes allocated there, the bytes live at the trace's peak,
 * the temporaries, the bytes never freed.  A block's site is the
 * innermost frame of its stack outside the C and C++ runtimes (strdup's
 * or operator new's caller, not them).  Returns 0, or -1 with a message
 * in ERR (also for a trace without stacks). */
int cmt_sites_report(cmt_source *source, cmt_output *out, const cmt_sites_options *options,
                     const cmt_progress *progress, char *err, size_t errlen);

/* A flame graph: stacks added with their weights, drawn as SVG. */
typedef struct cmt_flame cmt_flame;

/* An empty one; NULL when out of memory. */
cmt_flame *cmt_flame_new(void);

/* Adds a stack of N FRAMES (names, outermost first) of WEIGHT; frames of
 * the same name under the same caller are one.  Stacks deeper than
 * CMT_FLAME_DEPTH keep their innermost frames.  0, or -1 when out of
 * memory. */
#define CMT_FLAME_DEPTH 1024
int cmt_flame_add(cmt_flame *flame, const char *const *frames, size_t n, uint64_t weight);

/* Draws FLAME to OUT as one SVG element, 1000 units wide, under TITLE;
 * each box says its weight in UNIT ("bytes") when pointed at. */
void cmt_flame_svg(const cmt_flame *flame, cmt_output *out, const char *title, const char *unit);

void cmt_flame_free(cmt_flame *flame);

#endif /* CMT_ANALYSIS_H */
