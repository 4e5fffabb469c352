/*
 * stats.c - the numbers cmtstat prints, counted in one pass.
 *
 * A block's macro lifetime (the rmalloc project's measure: the operations
 * of all blocks during its life over all operations of the trace, near 1
 * for globals) needs the length of the whole trace, known only at the end.
 * Rather than keep every block's life, lives go into a log-linear
 * histogram (64 sub-buckets an octave, so within 1.6% of their value) that
 * is shared out among the macro buckets at the end.  The micro lifetime
 * (its own accesses over all operations during its life) is known when the
 * block dies.
 */
#include "analysis.h"
#include "blocks.h"
#include "cmt_internal.h"
#include "segments.h"

#include <inttypes.h>
#include <stdlib.h>

#define SUB_BITS 6
#define SUB (1u << SUB_BITS)
#define FINE_BUCKETS (SUB + (64 - SUB_BITS) * SUB)

static const double macro_upper[CMT_RATIO_BUCKETS] = {0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0};
static const double micro_upper[CMT_RATIO_BUCKETS] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0};

typedef struct segment_stats segment_stats;

typedef struct cmt_stats_state {
    live_blocks live;
    uint64_t last_tag;    /* the newest block, for counting temporaries */
    uint64_t lives[FINE_BUCKETS];
    segment_stats *segment; /* counting a segment: what it did to the blocks live at its start */
    bool beyond;            /* 2^62 bytes or more allocated (BYTES_IN_ORDER) */
} cmt_stats_state;

/* Bytes allocated past which the live bytes may go round 2^64, and only
 * reading in order gives the figures it gives (merge_segment). */
#define BYTES_IN_ORDER ((uint64_t)1 << 62)

/* A segment's dealings with the blocks live at its seek point, known by
 * their external rank (segments.h): accesses, or a death at EVENT (the
 * count of events then), which is a temporary's if it is the newest block
 * before the segment and came before the segment allocated anything. */
typedef struct external_ref {
    uint64_t event, rank;
    uint64_t accesses; /* that many accesses in a row; 0: the block dies */
    bool before_any_allocation;
    bool piece_before; /* a death after a piece with an allocation: the next in pieces */
} external_ref;

/* The peak of a stretch of a segment between deaths of external blocks:
 * the most its own blocks held after an allocation there (EVENT 0: they
 * never held a byte, so the whole trace's live bytes came to no new
 * peak), and the most rounded to 16 bytes (ALIGNED 0: no allocation
 * came).  The whole trace's live bytes then were what the external
 * blocks held, which only the merge knows, plus these. */
typedef struct piece {
    uint64_t bytes, blocks, event, aligned, aligned_blocks;
} piece;

struct segment_stats {
    cmt_trace_stats stats; /* of the segment's own blocks; its peak, that of its last piece */
    segment_list refs;      /* external_ref */
    segment_list pieces;    /* piece: before each death in refs that has one (most have none: deaths
                             * come in runs, when a program tears a structure down) */
    segment_list survivors; /* live_block: its blocks live at its end, oldest first */
};

unsigned cmt_log_bucket(uint64_t v)
{
    return v ? 64u - (unsigned)__builtin_clzll(v) : 0;
}

static unsigned fine_bucket(uint64_t v)
{
    if (v < SUB)
        return (unsigned)v;
    unsigned octave = 63u - (unsigned)__builtin_clzll(v) - SUB_BITS;
    return SUB + octave * SUB + (unsigned)((v >> octave) & (SUB - 1));
}

/* The middle of the values fine bucket B holds. */
static double fine_value(unsigned b)
{
    if (b < SUB)
        return b;
    unsigned octave = (b - SUB) / SUB;
    double low = (double)(SUB + (b - SUB) % SUB) * (double)((uint64_t)1 << octave);
    return low + (double)((uint64_t)1 << octave) / 2 - 0.5;
}

static void ratio_add(cmt_ratio_histogram *h, double ratio, uint64_t n)
{
    unsigned b = 0;
    while (b < CMT_RATIO_BUCKETS - 1 && ratio >= h->upper[b])
        b++;
    h->count[b] += n;
}

int cmt_stats_init(cmt_trace_stats *s)
{
    *s = (cmt_trace_stats){.macro.upper = macro_upper, .micro.upper = micro_upper};
    s->state = cmti_calloc(1, sizeof *s->state);
    return s->state ? 0 : -1;
}

/* BYTES rounded up to the 16 bytes of max_align_t, at least 16. */
static uint64_t aligned_bytes(uint64_t bytes)
{
    return bytes <= 16 ? 16 : bytes > UINT64_MAX - 15 ? UINT64_MAX : (bytes + 15) & ~(uint64_t)15;
}

/* Block B lived LIFE events: its macro and micro lifetimes. */
static void count_life(cmt_trace_stats *s, const live_block *b, uint64_t life)
{
    s->state->lives[fine_bucket(life)]++;
    if (life)
        ratio_add(&s->micro, (double)b->accesses / (double)life, 1);
}

/* Block B's life ends at the current event. */
static void block_dies(cmt_trace_stats *s, live_block *b)
{
    count_life(s, b, s->events - b->born);
    s->live_bytes -= b->bytes;
    s->aligned_live_bytes -= aligned_bytes(b->bytes);
    s->live_blocks--;
    live_blocks_remove(&s->state->live, b);
}

/* A segment's access to, or free of, the block of external rank
 * ev->arg_addr, kept for the merge.  0 or -1 when out of memory. */
static int count_external(cmt_trace_stats *s, const cmt_event *ev)
{
    segment_stats *seg = s->state->segment;
    if (!seg)
        return 0; /* only segments have them */
    if (cmt_op_accesses(ev->op)) {
        external_ref *last = seg->refs.n ? (external_ref *)seg->refs.items + seg->refs.n - 1 : NULL;
        if (last && last->accesses && last->rank == ev->arg_addr) {
            last->accesses++;
            return 0;
        }
        external_ref ref = {.event = s->events, .rank = ev->arg_addr, .accesses = 1};
        return segment_list_append(&seg->refs, &ref, sizeof ref);
    }
    if (!cmt_event_releases(ev))
        return 0;
    piece before = {s->peak_live_bytes, s->peak_live_blocks, s->peak_event, s->peak_aligned_bytes,
                    s->peak_aligned_blocks};
    s->peak_live_bytes = s->peak_live_blocks = s->peak_event = s->peak_aligned_bytes = s->peak_aligned_blocks = 0;
    external_ref ref = {.event = s->events, .rank = ev->arg_addr, .before_any_allocation = s->state->last_tag == 0,
                        .piece_before = before.aligned != 0};
    return (ref.piece_before && segment_list_append(&seg->pieces, &before, sizeof before) < 0) ||
                   segment_list_append(&seg->refs, &ref, sizeof ref) < 0
               ? -1
               : 0;
}

static int count_access(cmt_trace_stats *s, const cmt_event *ev)
{
    s->accessed_bytes += ev->size;
    if (ev->arg_tag == CMTI_TAG_EXTERNAL)
        return count_external(s, ev);
    live_block *b = live_blocks_find(&s->state->live, ev->arg_tag, ev->arg_slot);
    if (b)
        b->accesses++;
    return 0;
}

int cmt_stats_add(cmt_trace_stats *s, const cmt_event *ev)
{
    cmt_stats_state *st = s->state;
    s->events++;
    s->calls[ev->op]++;
    if (cmt_op_accesses(ev->op))
        return count_access(s, ev);
    if (ev->op == CMT_OP_FREE && !ev->arg_tag)
        s->free_null++;
    if (cmt_event_failed(ev))
        s->failed++;
    live_block *b = live_blocks_find(&st->live, ev->arg_tag, ev->arg_slot);
    if (ev->arg_tag == CMTI_TAG_EXTERNAL && count_external(s, ev) < 0)
        return -1;
    if (b && cmt_event_releases(ev)) {
        s->lifetimes.count[cmt_log_bucket(s->events - b->born)]++;
        if (ev->arg_tag == st->last_tag)
            s->temporary++;
        block_dies(s, b);
    }
    if (!ev->tag)
        return 0;
    uint64_t bytes = cmt_event_bytes(ev);
    if (!live_blocks_add(&st->live, ev, s->events))
        return -1;
    st->last_tag = ev->tag;
    s->sizes.count[cmt_log_bucket(bytes)]++;
    st->beyond |= bytes >= BYTES_IN_ORDER - s->allocated_bytes;
    s->allocated_bytes += bytes;
    s->allocated_blocks++;
    s->live_bytes += bytes;
    s->live_blocks++;
    s->aligned_live_bytes += aligned_bytes(bytes);
    if (s->aligned_live_bytes > s->peak_aligned_bytes) {
        s->peak_aligned_bytes = s->aligned_live_bytes;
        s->peak_aligned_blocks = s->live_blocks;
    }
    if (s->live_bytes > s->peak_live_bytes) {
        s->peak_live_bytes = s->live_bytes;
        s->peak_live_blocks = s->live_blocks;
        s->peak_event = s->events;
    }
    return 0;
}

void cmt_stats_finish(cmt_trace_stats *s)
{
    cmt_stats_state *st = s->state;
    if (!st) {
        s->finished = true;
        return;
    }
    uint64_t never_bytes = s->live_bytes, never_blocks = s->live_blocks;
    for (size_t i = 0; i < st->live.slots; i++)
        if (st->live.by_slot[i].tag)
            block_dies(s, &st->live.by_slot[i]);
    s->live_bytes = never_bytes; /* what is still live at the end: never freed */
    s->live_blocks = never_blocks;
    for (unsigned b = 0; b < FINE_BUCKETS; b++)
        if (st->lives[b])
            ratio_add(&s->macro, s->events ? fine_value(b) / (double)s->events : 0, st->lives[b]);
    live_blocks_destroy(&st->live);
    cmti_free(st);
    s->state = NULL;
    s->finished = true;
}

/* ------------------------------------------------------------ segments */

static int run_segment(void *context, void *worker, cmt_reader *reader, const cmti_seek_point *from, void *result,
                       char *err, size_t errlen)
{
    (void)context;
    (void)worker;
    segment_stats *seg = result;
    cmt_trace_stats *s = &seg->stats;
    cmt_event ev;
    int rc = 0;
    bool no_memory = cmt_stats_init(s) < 0;
    if (!no_memory) {
        s->events = from->events; /* its blocks are born, and die, at the whole trace's counts */
        s->state->segment = seg;
    }
    while (!no_memory && (rc = cmt_reader_next(reader, &ev)) > 0)
        no_memory = cmt_stats_add(s, &ev) < 0;
    if (!no_memory && rc == 0)
        no_memory = segment_survivors(reader, &s->state->live, &seg->survivors) < 0;
    if (s->state)
        live_blocks_destroy(&s->state->live); /* the survivors have what the merge needs */
    if (rc < 0 || no_memory) {
        snprintf(err, errlen, "%s", rc < 0 ? cmt_reader_error(reader) : CMT_NO_MEMORY);
        return -1;
    }
    return 0;
}

static void free_segment(void *result)
{
    segment_stats *seg = result;
    if (seg->stats.state) {
        live_blocks_destroy(&seg->stats.state->live);
        cmti_free(seg->stats.state);
    }
    segment_list_free(&seg->refs);
    segment_list_free(&seg->pieces);
    segment_list_free(&seg->survivors);
}

typedef struct merging {
    cmt_trace_stats *whole;
    ranked_blocks ranked; /* the whole's live blocks, in order */
} merging;

/* The peak of piece P, where the blocks live before the segment that are
 * still live held BYTES, ALIGNED rounded, in BLOCKS. */
static void merge_piece(cmt_trace_stats *w, const piece *p, uint64_t bytes, uint64_t blocks, uint64_t aligned)
{
    if (p->event && bytes + p->bytes > w->peak_live_bytes) {
        w->peak_live_bytes = bytes + p->bytes;
        w->peak_live_blocks = blocks + p->blocks;
        w->peak_event = p->event;
    }
    if (p->aligned && aligned + p->aligned > w->peak_aligned_bytes) {
        w->peak_aligned_bytes = aligned + p->aligned;
        w->peak_aligned_blocks = blocks + p->aligned_blocks;
    }
}

static void add_counts(uint64_t *to, const uint64_t *from, size_t n)
{
    for (size_t i = 0; i < n; i++)
        to[i] += from[i];
}

/* Puts the segment's counts together with the whole's, in order: what it
 * did to the blocks live before it, resolved by rank, then its own. */
static int merge_segment(void *context, void *result, char *err, size_t errlen)
{
    merging *m = context;
    segment_stats *seg = result;
    cmt_trace_stats *w = m->whole, *s = &seg->stats;
    /* A segment's peak is its own blocks' plus what the blocks before
     * held, which holds while the sums stay below 2^64.  Traces that ask
     * for more (synthetic ones: no program has 2^62 bytes live) wrap
     * round, the peak then depends on the order of the sums, and only
     * reading in order gives the figures it gives. */
    if (s->state->beyond || w->allocated_bytes >= BYTES_IN_ORDER - s->allocated_bytes) {
        snprintf(err, errlen, "%s", "more bytes allocated than segments count: read in order");
        return -1;
    }
    uint64_t bytes = w->live_bytes, blocks = w->live_blocks, aligned = w->aligned_live_bytes;
    size_t pieces_before = 0;
    const external_ref *refs = seg->refs.items;
    const piece *pieces = seg->pieces.items;
    for (size_t i = 0; i < seg->refs.n; i++) {
        const external_ref *ref = &refs[i];
        size_t pos;
        live_block *b = ranked_blocks_find(&m->ranked, ref->rank, &pos);
        if (!b) {
            snprintf(err, errlen, "corrupt: event %llu refers to a block live %llu from the newest, but fewer are",
                     (unsigned long long)ref->event, (unsigned long long)ref->rank);
            return -1;
        }
        if (ref->accesses) {
            b->accesses += ref->accesses;
            continue;
        }
        if (ref->piece_before)
            merge_piece(w, &pieces[pieces_before++], bytes, blocks, aligned);
        uint64_t life = ref->event - b->born;
        w->lifetimes.count[cmt_log_bucket(life)]++;
        if (ref->before_any_allocation && b->tag == w->state->last_tag)
            w->temporary++;
        count_life(w, b, life);
        bytes -= b->bytes;
        aligned -= aligned_bytes(b->bytes);
        blocks--;
        ranked_blocks_remove(&m->ranked, pos, b);
    }
    piece last = {s->peak_live_bytes, s->peak_live_blocks, s->peak_event, s->peak_aligned_bytes, s->peak_aligned_blocks};
    merge_piece(w, &last, bytes, blocks, aligned);
    w->events = s->events;
    add_counts(w->calls, s->calls, CMT_OP_COUNT);
    w->free_null += s->free_null;
    w->failed += s->failed;
    w->allocated_bytes += s->allocated_bytes;
    w->allocated_blocks += s->allocated_blocks;
    w->temporary += s->temporary;
    w->accessed_bytes += s->accessed_bytes;
    add_counts(w->sizes.count, s->sizes.count, CMT_LOG_BUCKETS);
    add_counts(w->lifetimes.count, s->lifetimes.count, CMT_LOG_BUCKETS);
    add_counts(w->micro.count, s->micro.count, CMT_RATIO_BUCKETS);
    add_counts(w->state->lives, s->state->lives, FINE_BUCKETS);
    w->live_bytes = bytes + s->live_bytes;
    w->live_blocks = blocks + s->live_blocks;
    w->aligned_live_bytes = aligned + s->aligned_live_bytes;
    if (s->state->last_tag)
        w->state->last_tag = s->state->last_tag;
    if (ranked_blocks_add_all(&m->ranked, &seg->survivors) < 0) {
        snprintf(err, errlen, CMT_NO_MEMORY);
        return -1;
    }
    return 0;
}

int cmt_stats_read_segments(cmt_source *source, cmt_trace_stats *stats, const cmt_progress *progress, char *err,
                         size_t errlen)
{
    merging m = {.whole = stats};
    if (cmt_stats_init(stats) < 0 || ranked_blocks_init(&m.ranked, &stats->state->live) < 0) {
        cmt_stats_finish(stats);
        snprintf(err, errlen, "%s: " CMT_NO_MEMORY, cmt_source_name(source));
        return -1;
    }
    segmented_analysis analysis = {.context = &m, .result_size = sizeof(segment_stats), .run = run_segment,
                                   .merge = merge_segment, .free = free_segment};
    int rc = cmt_segments_run(source, &analysis, progress, err, errlen);
    cmt_stats_finish(stats);
    ranked_blocks_destroy(&m.ranked);
    return rc;
}

int cmt_stats_read(cmt_source *source, cmt_trace_stats *stats, const cmt_progress *progress,
                   char *err, size_t errlen)
{
    /* Segments on every core; else (or when they fail: the whole file's
     * reader says where the damage is) in order, decoding on one core
     * and counting on another. */
    if (cmt_stats_read_segments(source, stats, progress, err, errlen) > 0)
        return 0;
    (void)cmt_source_read_ahead(source);
    bool no_memory = cmt_stats_init(stats) < 0;
    cmt_event ev;
    int rc = 0;
    while (!no_memory && (rc = cmt_source_next(source, &ev)) > 0) {
        no_memory = cmt_stats_add(stats, &ev) < 0;
        if (progress && progress->update && stats->events % CMT_PROGRESS_EVERY == 0)
            progress->update(progress->context, stats->events);
    }
    cmt_stats_finish(stats);
    if (no_memory) {
        snprintf(err, errlen, "%s: " CMT_NO_MEMORY, cmt_source_name(source));
        return -1;
    }
    if (rc < 0) {
        snprintf(err, errlen, "%s", cmt_source_error(source));
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------- printing */

static const char *const units[] = {"", " Ki", " Mi", " Gi", " Ti", " Pi", " Ei"};

/* 2^K as "1 Ki", "512", "8 Ei". */
static void power_label(char *buf, size_t len, unsigned k)
{
    snprintf(buf, len, "%llu%s", 1ULL << (k % 10), units[k / 10]);
}

void cmt_log_bucket_label(char *buf, size_t len, unsigned bucket)
{
    if (bucket == 0) {
        snprintf(buf, len, "0");
        return;
    }
    char low[16], high[16] = "2^64";
    power_label(low, sizeof low, bucket - 1);
    if (bucket < 64)
        power_label(high, sizeof high, bucket);
    snprintf(buf, len, "[%s, %s)", low, high);
}

void cmt_ratio_bucket_label(char *buf, size_t len, const cmt_ratio_histogram *h, unsigned bucket)
{
    double low = bucket ? h->upper[bucket - 1] : 0;
    snprintf(buf, len, bucket == CMT_RATIO_BUCKETS - 1 ? "[%g, %g]" : "[%g, %g)", low, h->upper[bucket]);
}

static double percent(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

/* Rows of a histogram, from its first non-empty bucket to its last, with
 * a bar of up to 40 '#'. */
static void print_rows(cmt_output *f, const char *title, const uint64_t *count, unsigned n,
                       void (*label)(char *, size_t, const void *, unsigned), const void *h)
{
    unsigned first = 0, last = 0;
    uint64_t total = 0, most = 0;
    for (unsigned b = 0; b < n; b++) {
        if (!count[b])
            continue;
        if (!total)
            first = b;
        last = b;
        total += count[b];
        most = count[b] > most ? count[b] : most;
    }
    cmt_output_printf(f, "\n%s\n", title);
    if (!total) {
        cmt_output_printf(f, "  (none)\n");
        return;
    }
    for (unsigned b = first; b <= last; b++) {
        char name[48];
        label(name, sizeof name, h, b);
        int bar = (int)((count[b] * 40 + most - 1) / most);
        cmt_output_printf(f, "  %-22s %12" PRIu64 " %6.2f%%  %.*s\n", name, count[b], percent(count[b], total), bar,
                             "########################################");
    }
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

static void print_json_counts(cmt_output *f, const char *name, const uint64_t *count, unsigned n)
{
    cmt_output_printf(f, ", \"%s\": [", name);
    for (unsigned b = 0; b < n; b++)
        cmt_output_printf(f, "%s%" PRIu64, b ? ", " : "", count[b]);
    cmt_output_printf(f, "]");
}

static uint64_t accesses(const cmt_trace_stats *s)
{
    return s->calls[CMT_OP_LOAD] + s->calls[CMT_OP_STORE] + s->calls[CMT_OP_MODIFY];
}

const char *cmt_scale_bytes(uint64_t bytes, double *scaled)
{
    static const char *const byte_units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = (double)bytes;
    unsigned u = 0;
    while (v >= 1024 && u + 1 < sizeof byte_units / sizeof byte_units[0]) {
        v /= 1024;
        u++;
    }
    *scaled = v;
    return byte_units[u];
}

void cmt_json_string(cmt_output *f, const char *s)
{
    cmt_output_printf(f, "\"");
    for (const char *p = s; *p; p++)
        cmt_output_printf(f, *p == '"' || *p == '\\' ? "\\%c" : (unsigned char)*p < 0x20 ? "\\u%04x" : "%c", *p);
    cmt_output_printf(f, "\"");
}

void cmt_html_string(cmt_output *f, const char *s, size_t most)
{
    for (size_t i = 0; s[i] && i < most; i++) {
        switch (s[i]) {
        case '<': cmt_output_printf(f, "&lt;"); break;
        case '>': cmt_output_printf(f, "&gt;"); break;
        case '&': cmt_output_printf(f, "&amp;"); break;
        case '"': cmt_output_printf(f, "&quot;"); break;
        default: cmt_output_write(f, &s[i], 1);
        }
    }
}

static void print_json(cmt_output *f, const char *name, const cmt_trace_stats *s)
{
    cmt_output_printf(f, "{\"trace\": ");
    cmt_json_string(f, name);
    cmt_output_printf(f, ", \"events\": %" PRIu64 ", \"calls\": {", s->events);
    for (int op = 0; op < CMT_OP_COUNT; op++)
        cmt_output_printf(f, "%s\"%s\": %" PRIu64, op ? ", " : "", cmt_op_name((cmt_op)op), s->calls[op]);
    cmt_output_printf(f,
                      "}, \"free_null\": %" PRIu64 ", \"failed\": %" PRIu64 ", \"allocated_bytes\": %" PRIu64
                      ", \"allocated_blocks\": %" PRIu64 ", \"peak_live_bytes\": %" PRIu64 ", \"peak_live_blocks\": %" PRIu64
                      ", \"peak_aligned_bytes\": %" PRIu64 ", \"peak_aligned_blocks\": %" PRIu64
                      ", \"peak_event\": %" PRIu64 ", \"never_freed_bytes\": %" PRIu64 ", \"never_freed_blocks\": %" PRIu64
                      ", \"temporary\": %" PRIu64 ", \"accessed_bytes\": %" PRIu64,
                      s->free_null, s->failed, s->allocated_bytes, s->allocated_blocks, s->peak_live_bytes,
                      s->peak_live_blocks, s->peak_aligned_bytes, s->peak_aligned_blocks, s->peak_event, s->live_bytes, s->live_blocks, s->temporary, s->accessed_bytes);
    print_json_counts(f, "size_histogram", s->sizes.count, CMT_LOG_BUCKETS);
    print_json_counts(f, "lifetime_histogram", s->lifetimes.count, CMT_LOG_BUCKETS);
    print_json_counts(f, "macro_lifetime_histogram", s->macro.count, CMT_RATIO_BUCKETS);
    cmt_output_printf(f, ", \"macro_lifetime_upper\": [");
    for (unsigned b = 0; b < CMT_RATIO_BUCKETS; b++)
        cmt_output_printf(f, "%s%g", b ? ", " : "", macro_upper[b]);
    cmt_output_printf(f, "]");
    if (accesses(s))
        print_json_counts(f, "micro_lifetime_histogram", s->micro.count, CMT_RATIO_BUCKETS);
    cmt_output_printf(f, "}\n");
}

void cmt_stats_print(cmt_output *f, const char *name, const cmt_trace_stats *s, bool json)
{
    if (json) {
        print_json(f, name, s);
        return;
    }
    uint64_t aligned = s->calls[CMT_OP_POSIX_MEMALIGN] + s->calls[CMT_OP_ALIGNED_ALLOC] + s->calls[CMT_OP_MEMALIGN];
    cmt_output_printf(f, "trace           %s\n", name);
    cmt_output_printf(f, "events          %" PRIu64 "\n", s->events);
    cmt_output_printf(f, "calls           malloc %" PRIu64 ", calloc %" PRIu64 ", realloc %" PRIu64 ", free %" PRIu64
                         " (of NULL %" PRIu64 "), aligned %" PRIu64 "; %" PRIu64 " returned NULL\n",
                      s->calls[CMT_OP_MALLOC], s->calls[CMT_OP_CALLOC], s->calls[CMT_OP_REALLOC], s->calls[CMT_OP_FREE],
                      s->free_null, aligned, s->failed);
    if (accesses(s))
        cmt_output_printf(f, "accesses        load %" PRIu64 ", store %" PRIu64 ", modify %" PRIu64 "; %" PRIu64 " bytes\n",
                          s->calls[CMT_OP_LOAD], s->calls[CMT_OP_STORE], s->calls[CMT_OP_MODIFY], s->accessed_bytes);
    cmt_output_printf(f, "allocated       %" PRIu64 " bytes in %" PRIu64 " blocks\n", s->allocated_bytes, s->allocated_blocks);
    cmt_output_printf(f, "peak live       %" PRIu64 " bytes in %" PRIu64 " blocks, at event %" PRIu64 " (%.1f%% of the way)\n",
                      s->peak_live_bytes, s->peak_live_blocks, s->peak_event, percent(s->peak_event, s->events));
    cmt_output_printf(f, "aligned peak    %" PRIu64 " bytes in %" PRIu64 " blocks (%.3f of the peak live: each "
                         "block rounded up to 16 bytes, the least an allocator aligning for max_align_t holds)\n",
                      s->peak_aligned_bytes, s->peak_aligned_blocks,
                      s->peak_live_bytes ? (double)s->peak_aligned_bytes / (double)s->peak_live_bytes : 0.0);
    cmt_output_printf(f, "never freed     %" PRIu64 " bytes in %" PRIu64 " blocks\n", s->live_bytes, s->live_blocks);
    cmt_output_printf(f, "temporary       %" PRIu64 " blocks (%.1f%%) freed before any other allocation\n", s->temporary,
                      percent(s->temporary, s->allocated_blocks));
    print_rows(f, "sizes (bytes asked for, each allocation)", s->sizes.count, CMT_LOG_BUCKETS, log_label, NULL);
    print_rows(f, "lifetimes (events from allocation to free, each freed block)", s->lifetimes.count,
               CMT_LOG_BUCKETS, log_label, NULL);
    print_rows(f, "macro lifetime (share of the trace a block lived through; near 1: globals)", s->macro.count,
               CMT_RATIO_BUCKETS, ratio_label, &s->macro);
    if (accesses(s))
        print_rows(f, "micro lifetime (a block's own accesses over all events during its life)", s->micro.count,
                   CMT_RATIO_BUCKETS, ratio_label, &s->micro);
}
