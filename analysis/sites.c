/*
 * sites.c - cmtstat --sites and --flamegraph: what each call site
 * allocated, held at the peak, freed at once and never freed.
 *
 * One pass, in order, counts by stack: a stack's live bytes are kept, and
 * the bytes it held at the trace's peak are kept lazily (each stack notes
 * its live bytes the first time it changes after a new peak, so that a
 * new peak costs nothing however many stacks there are; heaptrack_print
 * goes through them all).  At the end the stacks are put together by
 * site, the innermost frame outside the C and C++ runtimes, named.
 */
#include "analysis.h"
#include "blocks.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

typedef struct stack_stats {
    uint64_t allocations, allocated_bytes, temporary;
    uint64_t live_bytes;
    uint64_t at_peak;      /* live_bytes at the last peak, once changed after it */
    uint64_t peak_version; /* the peak at_peak is for; another: live_bytes is */
    uint32_t lives;        /* its lifetimes' histogram in counter.lives, + 1; 0: none freed yet */
} stack_stats;

/* The lifetimes of a stack's freed blocks, in events, by powers of 4: a
 * histogram only for stacks that free (a g++ trace has 550,000 stacks,
 * 61,000 of them allocating). */
#define LIFE_BUCKETS 12
typedef uint32_t life_histogram[LIFE_BUCKETS];

/* Bucket 0 holds lifetimes of 0 events, k > 0 [4^(k-1), 4^k), the last
 * 4^10 and more. */
static unsigned life_bucket(uint64_t life)
{
    unsigned k = life ? 1 + (63 - (unsigned)__builtin_clzll(life)) / 2 : 0;
    return k < LIFE_BUCKETS ? k : LIFE_BUCKETS - 1;
}

typedef struct counter {
    live_blocks live;
    stack_stats *stacks; /* by stack number (cmti_slot_table_fit's); 0 for blocks without one */
    size_t nstacks;
    life_histogram *lives; /* stack_stats.lives - 1 indexes it */
    size_t nlives, lives_cap;
    uint64_t events, live_bytes, peak_bytes, peak_event, peak_version, last_tag;
} counter;

static const char *const weight_names[CMT_WEIGHT_COUNT] = {"peak", "allocated", "allocations", "temporary",
                                                           "leaked"};

const char *cmt_site_weight_name(cmt_site_weight w)
{
    return weight_names[w];
}

int cmt_site_weight_from_name(const char *name, cmt_site_weight *w)
{
    for (int i = 0; i < CMT_WEIGHT_COUNT; i++)
        if (strcmp(name, weight_names[i]) == 0) {
            *w = (cmt_site_weight)i;
            return 0;
        }
    return -1;
}

/* Stack STACK's counts, about to change: they note what they held at the
 * last peak first.  NULL when out of memory. */
static stack_stats *touch(counter *c, uint64_t stack)
{
    if (cmti_slot_table_fit((void **)&c->stacks, &c->nstacks, sizeof *c->stacks, (uint32_t)stack) < 0)
        return NULL;
    stack_stats *s = &c->stacks[stack];
    if (s->peak_version != c->peak_version) {
        s->at_peak = s->live_bytes;
        s->peak_version = c->peak_version;
    }
    return s;
}

/* The bytes STACK's blocks held at the trace's peak. */
static uint64_t held_at_peak(const counter *c, const stack_stats *s)
{
    return s->peak_version == c->peak_version ? s->at_peak : s->live_bytes;
}

/* S's lifetimes' histogram, made on its first free; NULL when out of
 * memory. */
static uint32_t *lives_of(counter *c, stack_stats *s)
{
    if (!s->lives) {
        if (cmti_grow((void **)&c->lives, &c->lives_cap, c->nlives, sizeof *c->lives, 1024) < 0)
            return NULL;
        memset(c->lives[c->nlives], 0, sizeof c->lives[c->nlives]);
        s->lives = (uint32_t)++c->nlives;
    }
    return c->lives[s->lives - 1];
}

static int count(counter *c, const cmt_event *ev)
{
    c->events++;
    live_block *b = live_blocks_passed(&c->live, ev);
    if (b && cmt_event_releases(ev)) {
        stack_stats *s = touch(c, b->stack);
        uint32_t *lives = s ? lives_of(c, s) : NULL;
        if (!lives)
            return -1;
        lives[life_bucket(c->events - b->born)]++;
        s->live_bytes -= b->bytes;
        s->temporary += ev->arg_tag == c->last_tag;
        c->live_bytes -= b->bytes;
        live_blocks_remove(&c->live, b);
    }
    if (!ev->tag)
        return 0;
    stack_stats *s = touch(c, ev->stack);
    if (!s || !(b = live_blocks_add(&c->live, ev, c->events)))
        return -1;
    b->stack = ev->stack;
    s->allocations++;
    s->allocated_bytes += b->bytes;
    s->live_bytes += b->bytes;
    c->live_bytes += b->bytes;
    c->last_tag = ev->tag;
    if (c->live_bytes > c->peak_bytes) {
        c->peak_bytes = c->live_bytes;
        c->peak_event = c->events;
        c->peak_version++;
    }
    return 0;
}

/* --------------------------------------------------------------- sites */

typedef struct site {
    cmt_symbol where;
    uint32_t heaviest;   /* the stack of the most bytes allocated there, for its caller */
    uint64_t heaviest_bytes;
    uint64_t allocations, allocated_bytes, peak_bytes, temporary, leaked_bytes;
    uint64_t lives[LIFE_BUCKETS]; /* its freed blocks' lifetimes, in events (life_bucket) */
} site;

typedef struct report {
    counter *c;
    const cmt_sites *sites;
    cmt_symbols *symbols;
    site *list;
    size_t n, cap;
    uint32_t *site_of_frame; /* by the stack number of a site's frame: its index + 1 */
    uint32_t *by_place;      /* named sites by hash of their place: index + 1; 0 is empty */
    size_t place_mask;       /* by_place's size - 1, kept at least twice the sites */
    site **order;            /* the sites, for ranking */
    uint32_t *path;          /* a stack's frames, for folding it */
    char **names;            /* by stack: its top frame's name, once asked for (frame_name) */
} report;

/* True for the C and C++ runtimes, whose allocations are made for their
 * callers (strdup, fopen, operator new, std::string). */
static bool runtime_module(const cmt_module *m)
{
    static const char *const runtimes[] = {"libc.so", "libc-", "libstdc++.so", "libc++.so", "libc++abi.so",
                                           "ld-linux"};
    if (!m)
        return false;
    const char *name = cmti_base_name(m->path);
    for (size_t i = 0; i < sizeof runtimes / sizeof runtimes[0]; i++)
        if (strncmp(name, runtimes[i], strlen(runtimes[i])) == 0)
            return true;
    return false;
}

/* The frame (a stack number) that is STACK's site. */
static uint32_t site_frame(const cmt_sites *sites, uint32_t stack)
{
    for (uint32_t s = stack; s; s = cmt_sites_frame(sites, s)->caller)
        if (!runtime_module(cmt_sites_module(sites, cmt_sites_frame(sites, s)->module)))
            return s;
    return stack;
}

static bool named(const cmt_symbol *w)
{
    return w->function && w->file;
}

static bool same_place(const cmt_symbol *a, const cmt_symbol *b)
{
    return a->line == b->line && strcmp(a->function, b->function) == 0 && strcmp(a->file, b->file) == 0;
}

static size_t place_hash(const cmt_symbol *w)
{
    uint64_t h = cmti_hash_string(cmti_hash_string(CMTI_HASH_START ^ w->line, w->function), w->file);
    return (size_t)(h ^ h >> 29);
}

/* The slot of by_place that holds W's site, or where it would go. */
static size_t place_slot(const report *r, const cmt_symbol *w)
{
    size_t i = place_hash(w) & r->place_mask;
    while (r->by_place[i] && !same_place(&r->list[r->by_place[i] - 1].where, w))
        i = (i + 1) & r->place_mask;
    return i;
}

/* Room for one more site, in the list and the places.  0 or -1. */
static int make_room(report *r)
{
    if (cmti_grow((void **)&r->list, &r->cap, r->n, sizeof *r->list, 256) < 0)
        return -1;
    if (2 * (r->n + 1) <= r->place_mask)
        return 0;
    size_t mask = r->place_mask ? 2 * r->place_mask + 1 : 1023;
    uint32_t *places = cmti_calloc(mask + 1, sizeof *places);
    if (!places)
        return -1;
    cmti_free(r->by_place);
    r->by_place = places;
    r->place_mask = mask;
    for (size_t i = 0; i < r->n; i++)
        if (named(&r->list[i].where))
            places[place_slot(r, &r->list[i].where)] = (uint32_t)i + 1;
    return 0;
}

/* The site of stack STACK (0: the blocks without a stack); NULL when out
 * of memory.  Frames of the same function, file and line are one site. */
static site *site_of(report *r, uint32_t stack)
{
    uint32_t frame = stack ? site_frame(r->sites, stack) : 0;
    if (r->site_of_frame[frame])
        return &r->list[r->site_of_frame[frame] - 1];
    cmt_symbol where = {0};
    if (frame)
        cmt_symbols_frame(r->symbols, cmt_sites_frame(r->sites, frame), &where);
    if (make_room(r) < 0)
        return NULL;
    size_t slot = named(&where) ? place_slot(r, &where) : 0;
    size_t i = named(&where) && r->by_place[slot] ? r->by_place[slot] - 1 : r->n;
    if (i == r->n) { /* a new site; frames without a name are each their own */
        r->list[r->n++] = (site){.where = where};
        if (named(&where))
            r->by_place[slot] = (uint32_t)r->n;
    }
    r->site_of_frame[frame] = (uint32_t)i + 1;
    return &r->list[i];
}

/* Puts the stacks' counts together by site. */
static int gather(report *r)
{
    const counter *c = r->c;
    uint32_t nstacks = cmt_sites_stacks(r->sites);
    if (!(r->site_of_frame = cmti_calloc((size_t)nstacks + 1, sizeof *r->site_of_frame)))
        return -1;
    for (uint32_t k = 0; k < c->nstacks && k <= nstacks; k++) {
        const stack_stats *s = &c->stacks[k];
        if (!s->allocations)
            continue;
        site *t = site_of(r, k);
        if (!t)
            return -1;
        t->allocations += s->allocations;
        t->allocated_bytes += s->allocated_bytes;
        t->peak_bytes += held_at_peak(c, s);
        t->temporary += s->temporary;
        t->leaked_bytes += s->live_bytes;
        for (unsigned b = 0; s->lives && b < LIFE_BUCKETS; b++)
            t->lives[b] += c->lives[s->lives - 1][b];
        if (s->allocated_bytes >= t->heaviest_bytes) {
            t->heaviest_bytes = s->allocated_bytes;
            t->heaviest = k;
        }
    }
    r->order = cmti_malloc((r->n ? r->n : 1) * sizeof *r->order);
    r->path = cmti_malloc(((size_t)nstacks + 1) * sizeof *r->path);
    r->names = cmti_calloc((size_t)nstacks + 1, sizeof *r->names);
    return r->order && r->path && r->names ? 0 : -1;
}

static uint64_t weight_of(const site *t, cmt_site_weight w)
{
    switch (w) {
    case CMT_WEIGHT_PEAK: return t->peak_bytes;
    case CMT_WEIGHT_ALLOCATED: return t->allocated_bytes;
    case CMT_WEIGHT_ALLOCATIONS: return t->allocations;
    case CMT_WEIGHT_TEMPORARY: return t->temporary;
    case CMT_WEIGHT_LEAKED: return t->leaked_bytes;
    case CMT_WEIGHT_COUNT: break;
    }
    return 0;
}

static cmt_site_weight ranking;

static int by_weight(const void *a, const void *b)
{
    uint64_t x = weight_of(*(site *const *)a, ranking), y = weight_of(*(site *const *)b, ranking);
    return x < y ? 1 : x > y ? -1 : 0;
}

/* A frame as text: "function (file:line) in module", or what of it is
 * known ("module+0x1d2c"). */
static void print_place(cmt_output *out, const cmt_symbol *w)
{
    if (!w->module && !w->function) {
        cmt_output_printf(out, w->offset ? "0x%" PRIx64 : "(no stack)", w->offset);
        return;
    }
    if (w->function)
        cmt_output_printf(out, "%s", w->function);
    else
        cmt_output_printf(out, "%s+0x%" PRIx64, w->module ? w->module : "", w->offset);
    if (w->file)
        cmt_output_printf(out, " (%s:%u)", w->file, w->line);
    if (w->function && w->module)
        cmt_output_printf(out, " in %s", w->module);
}

static void print_bytes(cmt_output *out, uint64_t bytes)
{
    double v;
    const char *unit = cmt_scale_bytes(bytes, &v);
    cmt_output_printf(out, bytes >= 1024 ? "%9.1f %-3s" : "%9.0f %-3s", v, unit);
}

static const char *const titles[CMT_WEIGHT_COUNT] = {
    "live at the peak", "allocated", "allocations", "temporary allocations (freed before any other allocation)",
    "never freed"};

/* The buckets of life_bucket, as text: lifetimes in events. */
static const char *const life_labels[LIFE_BUCKETS] = {"0", "1-3", "4-15", "16-63", "64-255", "256-1023",
                                                      "1Ki-4Ki", "4Ki-16Ki", "16Ki-64Ki", "64Ki-256Ki",
                                                      "256Ki-1Mi", "1Mi+"};

/* The bucket of T's median lifetime (in events); -1 if it freed none. */
static int median_life(const site *t)
{
    uint64_t freed = 0, seen = 0;
    for (unsigned b = 0; b < LIFE_BUCKETS; b++)
        freed += t->lives[b];
    for (unsigned b = 0; b < LIFE_BUCKETS; b++)
        if (freed && (seen += t->lives[b]) * 2 >= freed)
            return (int)b;
    return -1;
}

static void print_text(report *r, cmt_output *out, const char *name, unsigned top)
{
    const counter *c = r->c;
    cmt_output_printf(out, "%s: %" PRIu32 " stacks, %zu call sites; peak of %" PRIu64 " bytes live at event %" PRIu64
                           "\n(each site: its blocks, the median lifetime of those freed, in events)\n",
                      name, cmt_sites_stacks(r->sites), r->n, c->peak_bytes, c->peak_event);
    site **order = r->order;
    for (int w = 0; w < CMT_WEIGHT_COUNT; w++) {
        size_t n = 0;
        for (size_t i = 0; i < r->n; i++)
            if (weight_of(&r->list[i], (cmt_site_weight)w))
                order[n++] = &r->list[i];
        ranking = (cmt_site_weight)w;
        qsort(order, n, sizeof *order, by_weight);
        cmt_output_printf(out, "\nmost %s:\n", titles[w]);
        if (n == 0)
            cmt_output_printf(out, "  (none)\n");
        for (size_t i = 0; i < n && i < top; i++) {
            const site *t = order[i];
            if (w == CMT_WEIGHT_ALLOCATIONS || w == CMT_WEIGHT_TEMPORARY)
                cmt_output_printf(out, "%13" PRIu64 " ", weight_of(t, (cmt_site_weight)w));
            else
                print_bytes(out, weight_of(t, (cmt_site_weight)w));
            int life = median_life(t);
            cmt_output_printf(out, " %10" PRIu64 " blocks  %-10s  ", t->allocations,
                              life < 0 ? "not freed" : life_labels[life]);
            print_place(out, &t->where);
            cmt_output_printf(out, "\n");
            const cmt_frame *f = t->heaviest ? cmt_sites_frame(r->sites, site_frame(r->sites, t->heaviest)) : NULL;
            if (f && f->caller) {
                cmt_symbol caller;
                cmt_symbols_frame(r->symbols, cmt_sites_frame(r->sites, f->caller), &caller);
                cmt_output_printf(out, "%50s", "from ");
                print_place(out, &caller);
                cmt_output_printf(out, "\n");
            }
        }
    }
}

static void json_or_null(cmt_output *out, const char *s)
{
    if (s)
        cmt_json_string(out, s);
    else
        cmt_output_printf(out, "null");
}

static void print_json(report *r, cmt_output *out, const char *name)
{
    const counter *c = r->c;
    cmt_output_printf(out, "{\"trace\": ");
    cmt_json_string(out, name);
    cmt_output_printf(out, ", \"events\": %" PRIu64 ", \"stacks\": %" PRIu32 ", \"peak_live_bytes\": %" PRIu64
                           ", \"peak_event\": %" PRIu64 ", \"lifetime_buckets\": [",
                      c->events, cmt_sites_stacks(r->sites), c->peak_bytes, c->peak_event);
    for (unsigned b = 0; b < LIFE_BUCKETS; b++)
        cmt_output_printf(out, "%s\"%s\"", b ? ", " : "", life_labels[b]);
    cmt_output_printf(out, "], \"sites\": [");
    for (size_t i = 0; i < r->n; i++) {
        const site *t = &r->list[i];
        cmt_output_printf(out, "%s\n  {\"function\": ", i ? "," : "");
        json_or_null(out, t->where.function);
        cmt_output_printf(out, ", \"file\": ");
        json_or_null(out, t->where.file);
        cmt_output_printf(out, t->where.file ? ", \"line\": %u" : ", \"line\": null", t->where.line);
        cmt_output_printf(out, ", \"module\": ");
        json_or_null(out, t->where.module);
        cmt_output_printf(out, ", \"offset\": %" PRIu64 ", \"allocations\": %" PRIu64 ", \"allocated_bytes\": %" PRIu64
                               ", \"peak_live_bytes\": %" PRIu64 ", \"leaked_bytes\": %" PRIu64
                               ", \"temporary\": %" PRIu64 ", \"lifetimes\": [",
                          t->where.offset, t->allocations, t->allocated_bytes, t->peak_bytes, t->leaked_bytes,
                          t->temporary);
        for (unsigned b = 0; b < LIFE_BUCKETS; b++)
            cmt_output_printf(out, "%s%" PRIu64, b ? ", " : "", t->lives[b]);
        cmt_output_printf(out, "]}");
    }
    cmt_output_printf(out, "\n]}\n");
}

/* The name of stack STACK's top frame, for folding and drawing: its
 * function, or where it is; no ';' (the frames' separator in folded
 * stacks) nor spaces (the weight's), which C++ names have.  Kept in
 * r->names, made on its first call; NULL when out of memory. */
static const char *frame_name(report *r, uint32_t stack)
{
    if (r->names[stack])
        return r->names[stack];
    cmt_symbol w;
    cmt_symbols_frame(r->symbols, cmt_sites_frame(r->sites, stack), &w);
    char buf[512];
    if (w.function)
        snprintf(buf, sizeof buf, "%s", w.function);
    else
        snprintf(buf, sizeof buf, "%s+0x%" PRIx64, w.module ? w.module : "?", w.offset);
    for (char *p = buf; *p; p++)
        if (*p == ';' || *p == ' ')
            *p = *p == ';' ? ':' : '_';
    char *name = cmti_malloc(strlen(buf) + 1);
    if (name)
        strcpy(name, buf);
    return r->names[stack] = name;
}

static const char *const weight_units[CMT_WEIGHT_COUNT] = {"bytes", "bytes", "blocks", "blocks", "bytes"};
static const char *const flame_titles[CMT_WEIGHT_COUNT] = {
    "Bytes live at the peak, by call stack", "Bytes allocated, by call stack", "Allocations, by call stack",
    "Temporary allocations, by call stack", "Bytes never freed, by call stack"};

/* The stacks, each with its weight: folded (flamegraph.pl's input;
 * speedscope's and inferno's too: outermost frame first, the weight
 * last), or drawn as a flame graph in SVG.  0, or -1 when out of
 * memory. */
static int print_stacks(report *r, cmt_output *out, cmt_site_weight weight, bool svg)
{
    const counter *c = r->c;
    uint32_t nstacks = cmt_sites_stacks(r->sites);
    uint32_t *path = r->path;
    const char **frames = cmti_malloc(((size_t)nstacks + 1) * sizeof *frames);
    cmt_flame *flame = svg ? cmt_flame_new() : NULL;
    int rc = frames && (flame || !svg) ? 0 : -1;
    for (uint32_t k = 1; rc == 0 && k < c->nstacks && k <= nstacks; k++) {
        const stack_stats *s = &c->stacks[k];
        site one = {.allocations = s->allocations, .allocated_bytes = s->allocated_bytes,
                    .peak_bytes = held_at_peak(c, s), .temporary = s->temporary, .leaked_bytes = s->live_bytes};
        uint64_t v = weight_of(&one, weight);
        if (!v)
            continue;
        size_t n = 0;
        for (uint32_t f = k; f; f = cmt_sites_frame(r->sites, f)->caller)
            path[n++] = f;
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = (frames[i] = frame_name(r, path[n - 1 - i])) ? 0 : -1;
        if (rc < 0 || (svg && (rc = cmt_flame_add(flame, frames, n, v)) < 0))
            break;
        for (size_t i = 0; !svg && i < n; i++)
            cmt_output_printf(out, i + 1 < n ? "%s;" : "%s %" PRIu64 "\n", frames[i], v);
    }
    if (rc == 0 && svg)
        cmt_flame_svg(flame, out, flame_titles[weight], weight_units[weight]);
    cmt_flame_free(flame);
    cmti_free(frames);
    return rc;
}

/* cmt_sites_report, the flame graph's file GRAPH (NULL: none) open. */
static int report_sites(cmt_source *source, cmt_output *out, cmt_output *graph, const cmt_sites_options *o,
                        const cmt_progress *progress, char *err, size_t errlen)
{
    (void)cmt_source_read_ahead(source);
    counter c = {0};
    cmt_event ev;
    int rc;
    bool no_memory = false;
    while (!no_memory && (rc = cmt_source_next(source, &ev)) > 0) {
        no_memory = count(&c, &ev) < 0;
        if (progress && progress->update && c.events % CMT_PROGRESS_EVERY == 0)
            progress->update(progress->context, c.events);
    }
    report r = {.c = &c, .sites = cmt_source_sites(source)};
    int result = -1;
    if (no_memory) {
        snprintf(err, errlen, "%s: " CMT_NO_MEMORY, cmt_source_name(source));
    } else if (rc < 0) {
        snprintf(err, errlen, "%s", cmt_source_error(source));
    } else if (!cmt_sites_stacks(r.sites)) {
        snprintf(err, errlen, "%s: the trace has no call stacks (record it with cmtrecord --stacks)",
                 cmt_source_name(source));
    } else if (!(r.symbols = cmt_symbols_open(r.sites)) || gather(&r) < 0) {
        snprintf(err, errlen, "%s: " CMT_NO_MEMORY, cmt_source_name(source));
    } else if (graph && print_stacks(&r, graph, o->weight, cmti_has_suffix(o->flamegraph, ".svg")) < 0) {
        snprintf(err, errlen, "%s: " CMT_NO_MEMORY, cmt_source_name(source));
    } else {
        if (out && o->json)
            print_json(&r, out, cmt_source_name(source));
        else if (out)
            print_text(&r, out, cmt_source_name(source), o->top);
        result = 0;
    }
    cmt_symbols_close(r.symbols);
    cmti_free(r.list);
    cmti_free(r.site_of_frame);
    cmti_free(r.by_place);
    cmti_free(r.order);
    cmti_free(r.path);
    for (uint32_t k = 0; r.names && k <= cmt_sites_stacks(r.sites); k++)
        cmti_free(r.names[k]);
    cmti_free(r.names);
    cmti_table_free(c.stacks, c.nstacks * sizeof *c.stacks);
    cmti_free(c.lives);
    live_blocks_destroy(&c.live);
    return result;
}

int cmt_sites_report(cmt_source *source, cmt_output *out, const cmt_sites_options *o, const cmt_progress *progress,
                     char *err, size_t errlen)
{
    cmt_output *graph = NULL;
    if (o->flamegraph && !(graph = cmt_output_open(o->flamegraph, err, errlen)))
        return -1;
    int rc = report_sites(source, out, graph, o, progress, err, errlen);
    if (graph && rc < 0)
        cmt_output_abort(graph);
    else if (graph)
        rc = cmt_output_commit(graph, err, errlen);
    return rc;
}
