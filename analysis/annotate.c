/*
 * annotate.c - the original scripts' annotations, as they wrote them:
 *
 *   lifetimes.py:
 *     realloc(81d220b48<6655>, 16) = 81d3b83a0<6656>    # 8 bytes, allocated 1 lines ago
 *   overhead.py:
 *     malloc(20) = 81d2899a0<8>                         # prev 81d289980, gap 0, next 81d28ba20, gap 8300, pages [8508041, 8508041], 0 more pages 
 *     free(81d2899a0<8>)                                    # 20 bytes, allocated 2 lines ago, prev 81d289980, gap 0, next 81d28ba20, gap 8300, pages [8508041-8508041], 0 fewer pages
 *
 * The trailing space of an allocation's line and the two ways of writing
 * the page range are the originals'.  Lines are counted in events, which
 * are lines of a trace in the text format.
 */
#include "analysis.h"
#include "blocks.h"
#include "cmt_internal.h"
#include "segments.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_SHIFT 12

/* The annotation column's width plus the longest annotation. */
#define ANNOTATED_LINE_MAX (CMT_EVENT_TEXT_MAX + CMT_ANNOTATION_COLUMN + 320)

/* Writes EV as a line of SOURCE, tags numbered as the input numbered them,
 * with " # NOTE" at the annotation column if NOTE is not empty. */
static int write_line(cmt_output *out, const cmt_source *source, cmt_event ev, const char *note,
                      char *err, size_t errlen)
{
    const cmt_text_reader *text = cmt_source_text(source);
    uint64_t offset = text ? cmt_text_stats_of(text)->tag_offset : 0;
    ev.tag += ev.tag ? offset : 0;
    ev.arg_tag += ev.arg_tag ? offset : 0;
    ev.stack = 0; /* the original scripts' lines: no stacks (cmtstat --sites has them) */
    char line[ANNOTATED_LINE_MAX];
    size_t n = cmt_format_event(line, &ev) - 1; /* without its newline */
    if (*note) {
        while (n < CMT_ANNOTATION_COLUMN)
            line[n++] = ' ';
        n += (size_t)snprintf(line + n, sizeof line - n, " # %s", note);
    }
    line[n++] = '\n';
    if (cmt_output_write(out, line, n) < 0) {
        snprintf(err, errlen, "%s", cmt_output_error(out));
        return -1;
    }
    return 0;
}

static void report_progress(const cmt_progress *progress, uint64_t events)
{
    if (progress && progress->update && events % CMT_PROGRESS_EVERY == 0)
        progress->update(progress->context, events);
}

/* "N bytes, allocated K lines ago" for block B at LINE. */
static int lifetime_note(char *buf, size_t len, const live_block *b, uint64_t line)
{
    return snprintf(buf, len, "%" PRIu64 " bytes, allocated %" PRIu64 " lines ago", b->bytes, line - b->born);
}

#define WRITE_FAILED (-2)
#define NO_MEMORY (-3)
#define REFUSED (-4) /* the message is in err already */

/* The result of a pass that ended with RC: 0 at the end of the trace, -1
 * for a read error (its message into ERR), a write error (ERR has it) or
 * no memory. */
static int pass_result(cmt_source *source, int rc, char *err, size_t errlen)
{
    if (rc == -1)
        snprintf(err, errlen, "%s", cmt_source_error(source));
    if (rc == NO_MEMORY)
        snprintf(err, errlen, "%s: " CMT_NO_MEMORY, cmt_source_name(source));
    return rc < 0 ? -1 : 0;
}

int cmt_annotate_lifetimes(cmt_source *source, cmt_output *out, const cmt_progress *progress,
                           char *err, size_t errlen)
{
    live_blocks live = {0};
    int rc = 0;
    cmt_event ev;
    uint64_t line = 0;
    while (rc == 0 && (rc = cmt_source_next(source, &ev)) > 0) {
        rc = 0;
        line++;
        char note[128] = "";
        live_block *b = live_blocks_passed(&live, &ev);
        if (b) {
            lifetime_note(note, sizeof note, b, line);
            if (cmt_event_releases(&ev))
                live_blocks_remove(&live, b);
        }
        if (ev.tag && !live_blocks_add(&live, &ev, line))
            rc = NO_MEMORY;
        else if (write_line(out, source, ev, note, err, errlen) < 0)
            rc = WRITE_FAILED;
        report_progress(progress, line);
    }
    live_blocks_destroy(&live);
    return pass_result(source, rc, err, errlen);
}

/* ---------------------------------------------------------------- summary */

/* Counts of (lifetime, size) pairs: open addressing on both keys. */
typedef struct pair_count {
    uint64_t lifetime, size, count; /* count 0: empty */
} pair_count;

typedef struct pair_table {
    pair_count *slots;
    size_t mask, used;
} pair_table;

static size_t pair_hash(uint64_t lifetime, uint64_t size)
{
    uint64_t h = (lifetime * 0x9e3779b97f4a7c15u) ^ (size + 0x632be59bd9b4e019u + (lifetime << 6));
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9u;
    return (size_t)(h ^ (h >> 32));
}

/* Counts N more blocks of that lifetime and size; -1 when out of memory. */
static int pair_add(pair_table *t, uint64_t lifetime, uint64_t size, uint64_t n)
{
    if (2 * (t->used + 1) > t->mask + 1) {
        pair_table bigger = {cmti_calloc(2 * (t->mask + 1), sizeof *bigger.slots), 2 * t->mask + 1, 0};
        if (!bigger.slots)
            return -1;
        for (size_t i = 0; i <= t->mask; i++) {
            pair_count *p = &t->slots[i];
            if (!p->count)
                continue;
            size_t j = pair_hash(p->lifetime, p->size) & bigger.mask;
            while (bigger.slots[j].count)
                j = (j + 1) & bigger.mask;
            bigger.slots[j] = *p;
            bigger.used++;
        }
        cmti_free(t->slots);
        *t = bigger;
    }
    size_t j = pair_hash(lifetime, size) & t->mask;
    while (t->slots[j].count && (t->slots[j].lifetime != lifetime || t->slots[j].size != size))
        j = (j + 1) & t->mask;
    if (!t->slots[j].count) {
        t->slots[j] = (pair_count){lifetime, size, 0};
        t->used++;
    }
    t->slots[j].count += n;
    return 0;
}

static int by_count(const void *a, const void *b)
{
    const pair_count *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    if (x->lifetime != y->lifetime)
        return x->lifetime < y->lifetime ? -1 : 1;
    return (x->size > y->size) - (x->size < y->size);
}

/* A summary being counted: of the whole trace, or of a segment. */
typedef struct summary {
    pair_table pairs;
    uint64_t lines, died;
    live_blocks live;
    segment_list deaths;    /* a segment's external_death */
    segment_list survivors; /* a segment's live_block: its blocks live at its end */
} summary;

/* A segment's block live at its seek point that dies in it, at LINE. */
typedef struct external_death {
    uint64_t line, rank;
} external_death;

/* An empty table of pairs; 0, or -1 when out of memory. */
static int pair_table_init(pair_table *t)
{
    *t = (pair_table){cmti_calloc(1024, sizeof *t->slots), 1023, 0};
    return t->slots ? 0 : -1;
}

static int summary_init(summary *s)
{
    *s = (summary){0};
    return pair_table_init(&s->pairs);
}

static void summary_free(summary *s)
{
    cmti_free(s->pairs.slots);
    live_blocks_destroy(&s->live);
    segment_list_free(&s->deaths);
    segment_list_free(&s->survivors);
}

/* Counts EV, the next event, its block's death into PAIRS.  0, or -1
 * when out of memory. */
static int summary_add(summary *s, pair_table *pairs, const cmt_event *ev)
{
    s->lines++;
    if (ev->arg_tag == CMTI_TAG_EXTERNAL && cmt_event_releases(ev)) {
        external_death death = {s->lines, ev->arg_addr};
        if (segment_list_append(&s->deaths, &death, sizeof death) < 0)
            return -1;
    }
    live_block *b = live_blocks_passed(&s->live, ev);
    if (b && cmt_event_releases(ev)) {
        if (pair_add(pairs, s->lines - b->born, b->bytes, 1) < 0)
            return -1;
        s->died++;
        live_blocks_remove(&s->live, b);
    }
    return ev->tag && !live_blocks_add(&s->live, ev, s->lines) ? -1 : 0;
}

/* A segment's summary: its pairs go to the worker's table (merged at the
 * end, in no order), the rest to RESULT. */
static int summary_run_segment(void *context, void *worker, cmt_reader *reader, const cmti_seek_point *from,
                               void *result, char *err, size_t errlen)
{
    (void)context;
    summary *s = result;
    pair_table *pairs = worker;
    cmt_event ev;
    int rc = 0;
    *s = (summary){.lines = from->events};
    bool no_memory = !pairs->slots && pair_table_init(pairs) < 0;
    while (!no_memory && (rc = cmt_reader_next(reader, &ev)) > 0)
        no_memory = summary_add(s, pairs, &ev) < 0;
    if (!no_memory && rc == 0)
        no_memory = segment_survivors(reader, &s->live, &s->survivors) < 0;
    live_blocks_destroy(&s->live);
    if (rc < 0 || no_memory) {
        snprintf(err, errlen, "%s", rc < 0 ? cmt_reader_error(reader) : CMT_NO_MEMORY);
        return -1;
    }
    return 0;
}

typedef struct summary_merging {
    summary *whole;
    ranked_blocks ranked;
} summary_merging;

static int summary_merge_segment(void *context, void *result, char *err, size_t errlen)
{
    summary_merging *m = context;
    summary *w = m->whole, *s = result;
    const external_death *deaths = s->deaths.items;
    for (size_t i = 0; i < s->deaths.n; i++) {
        size_t pos;
        live_block *b = ranked_blocks_find(&m->ranked, deaths[i].rank, &pos);
        if (!b) {
            snprintf(err, errlen, "corrupt: event %llu frees a block live %llu from the newest, but fewer are",
                     (unsigned long long)deaths[i].line, (unsigned long long)deaths[i].rank);
            return -1;
        }
        if (pair_add(&w->pairs, deaths[i].line - b->born, b->bytes, 1) < 0)
            goto no_memory;
        w->died++;
        ranked_blocks_remove(&m->ranked, pos, b);
    }
    w->died += s->died;
    w->lines = s->lines;
    if (ranked_blocks_add_all(&m->ranked, &s->survivors) < 0)
        goto no_memory;
    return 0;
no_memory:
    snprintf(err, errlen, CMT_NO_MEMORY);
    return -1;
}

/* A worker's pairs, into the whole's. */
static int summary_merge_worker(void *context, void *worker, char *err, size_t errlen)
{
    summary_merging *m = context;
    pair_table *pairs = worker;
    for (size_t i = 0; pairs->slots && i <= pairs->mask; i++) {
        const pair_count *p = &pairs->slots[i];
        if (p->count && pair_add(&m->whole->pairs, p->lifetime, p->size, p->count) < 0) {
            snprintf(err, errlen, CMT_NO_MEMORY);
            return -1;
        }
    }
    return 0;
}

static void summary_free_segment(void *result)
{
    summary_free(result);
}

static void summary_free_worker(void *worker)
{
    pair_table *pairs = worker;
    cmti_free(pairs->slots);
}

/* The summary of SOURCE's segments, on every core: 1, 0 if it cannot be
 * read so, -1 on an error. */
static int summary_of_segments(cmt_source *source, summary *whole, const cmt_progress *progress, char *err,
                               size_t errlen)
{
    summary_merging m = {.whole = whole};
    if (ranked_blocks_init(&m.ranked, &whole->live) < 0)
        return -1;
    segmented_analysis analysis = {.context = &m, .result_size = sizeof(summary), .worker_size = sizeof(pair_table),
                                   .run = summary_run_segment, .merge = summary_merge_segment,
                                   .merge_worker = summary_merge_worker, .free = summary_free_segment,
                                   .free_worker = summary_free_worker};
    int rc = cmt_segments_run(source, &analysis, progress, err, errlen);
    ranked_blocks_destroy(&m.ranked);
    return rc;
}

static void summary_print(cmt_output *out, summary *s, bool json)
{
    /* Compact the table into its first USED slots and sort them. */
    pair_table *pairs = &s->pairs;
    size_t n = 0;
    for (size_t i = 0; i <= pairs->mask; i++)
        if (pairs->slots[i].count)
            pairs->slots[n++] = pairs->slots[i];
    qsort(pairs->slots, n, sizeof *pairs->slots, by_count);
    if (json) {
        cmt_output_printf(out, "{\"lines\": %" PRIu64 ", \"freed\": %" PRIu64 ", \"never_freed\": %zu, \"rows\": [",
                          s->lines, s->died, s->live.live);
        for (size_t i = 0; i < n; i++)
            cmt_output_printf(out, "%s{\"count\": %" PRIu64 ", \"lifetime\": %" PRIu64 ", \"size\": %" PRIu64 "}",
                              i ? ", " : "", pairs->slots[i].count, pairs->slots[i].lifetime, pairs->slots[i].size);
        cmt_output_printf(out, "]}\n");
    } else {
        cmt_output_printf(out, "%10s %12s %12s   (%" PRIu64 " blocks freed, %zu never; lifetime in lines)\n",
                               "count", "lifetime", "size", s->died, s->live.live);
        for (size_t i = 0; i < n; i++)
            cmt_output_printf(out, "%10" PRIu64 " %12" PRIu64 " %12" PRIu64 "\n", pairs->slots[i].count,
                              pairs->slots[i].lifetime, pairs->slots[i].size);
    }
}

int cmt_lifetimes_summary(cmt_source *source, cmt_output *out, bool json, const cmt_progress *progress,
                          char *err, size_t errlen)
{
    summary s;
    int rc = summary_init(&s) < 0 ? NO_MEMORY : 0;
    /* Segments on every core; else (or when they fail: the whole file's
     * reader says where the damage is) in order, decoding on one core
     * and counting on another. */
    if (rc == 0 && summary_of_segments(source, &s, progress, err, errlen) > 0) {
        summary_print(out, &s, json);
        summary_free(&s);
        return 0;
    }
    summary_free(&s);
    rc = summary_init(&s) < 0 ? NO_MEMORY : 0;
    (void)cmt_source_read_ahead(source);
    cmt_event ev;
    while (rc == 0 && (rc = cmt_source_next(source, &ev)) > 0) {
        rc = summary_add(&s, &s.pairs, &ev) < 0 ? NO_MEMORY : 0;
        report_progress(progress, s.lines);
    }
    if (rc == 0)
        summary_print(out, &s, json);
    summary_free(&s);
    return pass_result(source, rc, err, errlen);
}

/* --------------------------------------------------------------- overhead */

/* The live blocks by address (value: bytes) and their neighbourhood. */
typedef struct layout {
    uint64_t prev, prev_gap_end, next; /* prev_gap_end: where prev ends */
    bool has_prev, has_next;
    uint64_t first_page, last_page;
    uint64_t pages; /* pages of the block no other live block holds a byte of */
} layout;

/* The page of the last byte of the nearest live block below ADDR that has
 * bytes (blocks of size 0 hold none), or UINT64_MAX if there is none. */
static uint64_t last_page_below(const cmti_ordered *by_address, uint64_t addr)
{
    uint64_t key, size;
    while (addr > 0 && cmti_ordered_floor(by_address, addr - 1, &key, &size)) {
        if (size)
            return (key + size - 1) >> PAGE_SHIFT;
        addr = key;
    }
    return UINT64_MAX;
}

/* The page of the first byte of the nearest live block above ADDR that
 * has bytes, or UINT64_MAX. */
static uint64_t first_page_above(const cmti_ordered *by_address, uint64_t addr)
{
    uint64_t key, size;
    while (addr < UINT64_MAX && cmti_ordered_ceiling(by_address, addr + 1, &key, &size)) {
        if (size)
            return key >> PAGE_SHIFT;
        addr = key;
    }
    return UINT64_MAX;
}

/* The neighbours of the block [ADDR, ADDR + BYTES) among the live blocks of
 * BY_ADDRESS (which does not hold it), and the pages only it would hold. */
static layout layout_of(const cmti_ordered *by_address, uint64_t addr, uint64_t bytes)
{
    layout l = {0};
    uint64_t key, size;
    if (addr > 0 && cmti_ordered_floor(by_address, addr - 1, &key, &size)) {
        l.has_prev = true;
        l.prev = key;
        l.prev_gap_end = key + size;
    }
    if (addr < UINT64_MAX && cmti_ordered_ceiling(by_address, addr + 1, &key, &size)) {
        l.has_next = true;
        l.next = key;
    }
    uint64_t span = bytes ? bytes : 1;
    l.first_page = addr >> PAGE_SHIFT;
    l.last_page = (addr + span - 1) >> PAGE_SHIFT;
    if (bytes == 0)
        return l; /* holds no byte, so no page */
    /* Live blocks do not overlap, so only the pages at either end can hold
     * bytes of others, and only of the nearest neighbours with bytes. */
    uint64_t prev_last = last_page_below(by_address, addr);
    uint64_t next_first = first_page_above(by_address, addr);
    l.pages = l.last_page - l.first_page + 1;
    if (prev_last == l.first_page || next_first == l.first_page)
        l.pages--;
    if (l.last_page != l.first_page && (prev_last == l.last_page || next_first == l.last_page))
        l.pages--;
    return l;
}

/* "prev P, gap G, next N, gap G2, pages [A, B]" (SEPARATOR between A and
 * B) for block [ADDR, ADDR + BYTES). */
static int layout_note(char *buf, size_t len, const layout *l, uint64_t addr, uint64_t bytes,
                       const char *separator)
{
    char prev[64] = "prev 0, gap -1", next[64] = "next 0, gap -1";
    if (l->has_prev)
        snprintf(prev, sizeof prev, "prev %" PRIx64 ", gap %" PRId64, l->prev, (int64_t)(addr - l->prev_gap_end));
    if (l->has_next)
        snprintf(next, sizeof next, "next %" PRIx64 ", gap %" PRId64, l->next, (int64_t)(l->next - (addr + bytes)));
    return snprintf(buf, len, "%s, %s, pages [%" PRIu64 "%s%" PRIu64 "]", prev, next, l->first_page,
                    separator, l->last_page);
}

int cmt_annotate_overhead(cmt_source *source, cmt_output *out, const cmt_progress *progress,
                          char *err, size_t errlen)
{
    live_blocks live = {0};
    cmti_ordered by_address = {0}; /* address -> bytes */
    int rc = cmti_ordered_init(&by_address) < 0 ? NO_MEMORY : 0;
    cmt_event ev;
    uint64_t line = 0;
    while (rc == 0 && (rc = cmt_source_next(source, &ev)) > 0) {
        rc = 0;
        line++;
        char note[320] = "";
        size_t n = 0;
        int64_t pages = 0;
        live_block *b = live_blocks_passed(&live, &ev);
        if (b) {
            n += (size_t)lifetime_note(note, sizeof note, b, line);
            if (cmt_event_releases(&ev)) {
                uint64_t addr = b->address, bytes = b->bytes;
                cmti_ordered_remove(&by_address, addr);
                live_blocks_remove(&live, b);
                layout l = layout_of(&by_address, addr, bytes);
                pages -= (int64_t)l.pages;
                if (!ev.tag) {
                    n += (size_t)snprintf(note + n, sizeof note - n, ", ");
                    n += (size_t)layout_note(note + n, sizeof note - n, &l, addr, bytes, "-");
                    snprintf(note + n, sizeof note - n, ", %" PRIu64 " fewer pages", l.pages);
                }
            }
        }
        if (ev.tag && !cmt_source_has_addresses(source)) {
            /* A .cmt file says whether it keeps them by its first block. */
            snprintf(err, errlen, "%s: a .cmt file that keeps no addresses: annotate a trace with them, such as "
                                  "the output of cmtreplay -a ALLOCATOR -v, or a .cmt made with "
                                  "--addresses (trace2cmt, cmtrecord)", cmt_source_name(source));
            rc = REFUSED;
            break;
        }
        if (ev.tag) {
            uint64_t bytes = cmt_event_bytes(&ev);
            layout l = layout_of(&by_address, ev.addr, bytes);
            pages += (int64_t)l.pages;
            if (n)
                n += (size_t)snprintf(note + n, sizeof note - n, ", ");
            n += (size_t)layout_note(note + n, sizeof note - n, &l, ev.addr, bytes, ", ");
            if (pages >= 0)
                snprintf(note + n, sizeof note - n, ", %" PRId64 " more pages ", pages);
            else
                snprintf(note + n, sizeof note - n, ", %" PRId64 " fewer pages", -pages);
            live_block *block = live_blocks_add(&live, &ev, line);
            if (!block || cmti_ordered_put(&by_address, ev.addr, bytes) < 0) {
                rc = NO_MEMORY;
                break;
            }
            block->address = ev.addr;
        }
        if (write_line(out, source, ev, note, err, errlen) < 0) {
            rc = WRITE_FAILED;
            break;
        }
        report_progress(progress, line);
    }
    cmti_ordered_destroy(&by_address);
    live_blocks_destroy(&live);
    return pass_result(source, rc, err, errlen);
}
