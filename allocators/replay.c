/*
 * replay.c - replays a decoded trace against an allocator.
 *
 * Events are decoded a batch at a time, outside the clock.  The clock runs
 * over the allocator calls, the replayer's bookkeeping of blocks and, by default,
 * the writing of every allocated byte (the same work for every allocator,
 * and it is what makes pages resident, as glibc's trace_run does).  The
 * footprint is sampled between stretches of a batch, outside the clock:
 * whenever live bytes pass their peak at the last sample by 1/1024, so
 * that the footprint is seen within 0.1% of the peak of live bytes (or a
 * page, SAMPLE_GRAIN, where that is less), and every SAMPLE_EVERY events, for growth that comes without new peaks;
 * where the replay writes its blocks, the allocator is asked only if the
 * process's resident bytes have grown since it was last asked (the
 * statistics can cost more than the replay: cmt_sampler).  -v
 * output and --timeline rows are written after each stretch, also outside
 * the clock.  Accesses in the trace read and write the bytes they name,
 * clipped to the block.  A relocating allocator's blocks are locked for
 * the writing of their bytes and for each access, and unlocked after: the
 * rmalloc project's "lockops".
 */
#include "allocator.h"
#include "replay_internal.h"
#include "cmt_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define BATCH 1024
#define SAMPLE_EVERY (16 * BATCH)
#define TOUCH_BYTE 0xa5
/* Footprints grow by pages: cppcheck's 42,681 events (2.5 MB live at the
 * peak) stopped the clock for 1024 samples at each 0.1% of growth, for 361
 * with this grain, and the peak footprints under glibc, jemalloc, tcmalloc
 * and rmalloc came out the same to the byte. */
#define SAMPLE_GRAIN 4096

typedef struct replay {
    const char *name; /* the trace's, for messages */
    const cmt_allocator *alloc;
    void *heap;
    const cmt_replay_options *options;
    cmt_replay_report *report;
    cmt_replay_block *blocks; /* by slot: a flat array, not a map of tags, which cost a third of the clock */
    size_t nblocks; /* entries allocated: at most the most blocks live at once, doubled */
    uint64_t where[BATCH]; /* -v, a relocating allocator: where each event of the batch found its block's bytes */
    uint64_t bytes_at;     /* ... the event being replayed: 0 for none */
    bool failed;           /* --stop-on-failure, and an allocation failed now but not then */
    bool untouched;        /* --touch=none, and blocks stay where they are: nothing to do for their bytes */
    uint64_t next_row;     /* --timeline: the event count at which the next row is due; UINT64_MAX for none */
    uint64_t live_bytes, live_blocks;
    unsigned __int128 live_area; /* live bytes summed over the events */
    uint64_t next_sample;   /* live bytes that trigger a footprint sample */
    cmt_pace pace;          /* --pace, once an event with a time has come */
    cmt_pace_thread paced;
    cmt_sampler sampler;
    uint64_t last_sample_event;
} replay;

/* What loads read goes here, so that the compiler keeps the reads. */
static volatile uint8_t load_sink;

static double now(void)
{
    return cmti_seconds(CLOCK_MONOTONIC);
}

cmt_pace cmt_pace_start(uint64_t time)
{
    return (cmt_pace){.started = true, .trace_origin = time, .wall_origin = now()};
}

double cmt_pace_wait(const cmt_pace *pace, cmt_pace_thread *self, uint64_t time)
{
    if (!time || time <= pace->trace_origin || time - pace->trace_origin <= self->elapsed)
        return 0;
    double at = now();
    self->elapsed = (uint64_t)((at - pace->wall_origin) * 1e9);
    if (time - pace->trace_origin <= self->elapsed)
        return 0;
    double due = pace->wall_origin + (double)(time - pace->trace_origin) * 1e-9;
    struct timespec until = {.tv_sec = (time_t)due, .tv_nsec = (long)((due - (double)(time_t)due) * 1e9)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR)
        ;
    double woke = now();
    self->slept += woke - at;
    self->elapsed = (uint64_t)((woke - pace->wall_origin) * 1e9);
    return woke - at;
}

uint64_t cmt_first_time(const cmt_event *events, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (events[i].time)
            return events[i].time;
    return 0;
}

uint64_t cmt_resident_bytes_of(pid_t pid)
{
    /* read(), not stdio, which would allocate from the allocator being
     * measured. */
    char path[64], text[128];
    if (pid)
        snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
    else
        snprintf(path, sizeof path, "/proc/self/statm");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, text, sizeof text - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return 0;
    text[n] = '\0';
    char *resident;
    strtoull(text, &resident, 10); /* the size of the address space, then what is resident */
    return strtoull(resident, NULL, 10) * (uint64_t)sysconf(_SC_PAGESIZE);
}

uint64_t cmt_resident_bytes(void)
{
    return cmt_resident_bytes_of(0);
}

static uint64_t peak_rss(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)ru.ru_maxrss * 1024;
}

uint64_t cmt_sample_footprint(const cmt_allocator *a, void *heap, cmt_replay_report *rep, cmt_sampler *s,
                              uint64_t live_bytes, bool forced)
{
    /* The footprint over the events since the last sample: as it was
     * then, but at the event just run, as it is now where it is asked
     * (a sample is taken after the event that grew the live bytes: a
     * trace of a few huge blocks came to a mean footprint under its mean
     * live bytes). */
    uint64_t since = rep->events - s->last_event;
    s->last_event = rep->events;
    uint64_t step = rep->peak_live_bytes / 1024 > SAMPLE_GRAIN ? rep->peak_live_bytes / 1024 : SAMPLE_GRAIN;
    uint64_t next = rep->peak_live_bytes + step;
    if (s->by_rss && s->last_cost > COSTLY_SAMPLE && !forced) {
        uint64_t rss = cmt_resident_bytes();
        if (rss < s->next_rss) {
            rep->footprint_area += (double)s->last_footprint * (double)since;
            return next;
        }
        s->next_rss = rss + (rss / 256 > 65536 ? rss / 256 : 65536);
    }
    double from = now();
    cmt_heap_stats fp = {0};
    a->stats(heap, &fp);
    s->last_cost = now() - from;
    rep->sample_seconds += s->last_cost;
    rep->compactions = fp.compactions;
    rep->bytes_moved = fp.bytes_moved;
    rep->compact_seconds = fp.compact_seconds;
    rep->longest_compact_seconds = fp.longest_compact_seconds;
    if (since)
        rep->footprint_area += (double)s->last_footprint * (double)(since - 1) + (double)fp.bytes;
    rep->end_footprint = s->last_footprint = fp.bytes;
    if (fp.bytes > rep->peak_footprint) {
        rep->peak_footprint = fp.bytes;
        /* The moment the footprint reached its peak is the first it came
         * within 1/1024 of it: a footprint that rose by a few bytes of
         * table at the end of a g++ trace put the moment there, at 9.97 MB
         * live, where it had been as high at the peak of 11.5 MB live
         * (1.251 where the timeline shows 1.082). */
        if (rep->at_peak.bytes < fp.bytes - fp.bytes / 1024) {
            rep->live_at_peak_footprint = live_bytes;
            rep->at_peak = fp;
        }
    }
    if (fp.mapped > rep->peak_mapped)
        rep->peak_mapped = fp.mapped;
    return next;
}

static void sample_footprint(replay *r, bool forced)
{
    r->next_sample = cmt_sample_footprint(r->alloc, r->heap, r->report, &r->sampler, r->live_bytes, forced);
    r->last_sample_event = r->report->events;
}

void cmt_touch_bytes(cmt_touch mode, uint8_t *p, uint64_t from, uint64_t to)
{
    if (!p || to <= from)
        return;
    if (mode == CMT_TOUCH_ALL) {
        memset(p + from, TOUCH_BYTE, to - from);
    } else if (mode == CMT_TOUCH_PAGE) {
        const uint64_t page = 4096;
        for (uint64_t at = from; at < to; at = (at / page + 1) * page)
            p[at] = TOUCH_BYTE;
    }
}

void cmt_access_bytes(const cmt_event *ev, uint8_t *bytes, uint64_t usable)
{
    uint64_t from = ev->offset < usable ? ev->offset : usable;
    uint64_t n = ev->size < usable - from ? ev->size : usable - from;
    uint8_t *at = bytes + from;
    if (ev->op == CMT_OP_STORE) {
        memset(at, TOUCH_BYTE, n);
        return;
    }
    uint8_t loaded = 0;
    for (uint64_t i = 0; i < n; i++)
        loaded += at[i];
    if (ev->op == CMT_OP_MODIFY)
        for (uint64_t i = 0; i < n; i++)
            at[i]++;
    load_sink = loaded;
}

void *cmt_keep_old_size(const cmt_allocator *a, void *heap, void *p, uint64_t old_bytes, uint64_t size,
                        uint64_t *usable)
{
    void *back = a->realloc(heap, p, old_bytes ? old_bytes : 1);
    *usable = back ? old_bytes : (old_bytes < size ? old_bytes : size);
    return back ? back : p;
}

/* Writes bytes [from, to) of block P and returns the address it has now. */
static inline uint64_t touch(const replay *r, void *p, uint64_t from, uint64_t to)
{
    if (!p)
        return 0;
    if (r->untouched)
        return (uint64_t)(uintptr_t)p; /* a third of the null replay's own cost was the way to nothing */
    uint8_t *bytes = cmt_lock_block(r->alloc, r->heap, p);
    cmt_touch_bytes(r->options->touch, bytes, from, to);
    cmt_unlock_block(r->alloc, r->heap, p);
    return (uint64_t)(uintptr_t)bytes;
}

/* Records the block the trace's event EV created: the allocator's pointer
 * to it (P, possibly NULL if the replay ran out where the trace did not),
 * which -v prints for it as long as it lives: a relocating allocator's
 * pointers are handles, unique while live where its blocks' addresses are
 * not (compaction moves one block where another was), so the trace it
 * prints reads back; ADDR is where its bytes were.  A block the replay
 * could not make does not exist: it counts for nothing live (a 2^60-byte
 * block that existed only in the trace made every overhead 0).  Its entry
 * is in the table already (ready_blocks). */
static inline void add_block(replay *r, cmt_event *ev, void *p, uint64_t bytes, uint64_t addr)
{
    cmt_replay_block *b = &r->blocks[ev->slot];
    b->p = p;
    b->traced = p ? bytes : 0;
    b->usable = p ? bytes : CMT_NOT_MADE;
    ev->addr = (uint64_t)(uintptr_t)p;
    r->bytes_at = addr;
    if (!p) {
        r->report->failed_in_replay++;
        r->report->failed_bytes += bytes;
        if (r->options->stop_on_failure) {
            r->failed = true;
            r->next_sample = 0; /* ends the stretch */
        }
        return;
    }
    r->live_bytes += bytes;
    r->live_blocks++;
    cmt_note_live(r->report, r->live_bytes, r->live_blocks, r->report->events + 1);
}

static void drop_block(replay *r, cmt_replay_block *b)
{
    if (b->p) {
        r->live_bytes -= b->traced;
        r->live_blocks--;
    }
    b->p = NULL;
    b->usable = 0;
}

/* A call that returned NULL when traced but not now: the trace has no tag
 * for the block, so it is given back at once. */
static void unexpected_block(replay *r, void *p)
{
    r->report->failure_not_reproduced++;
    r->alloc->free(r->heap, p);
}

static void replay_realloc(replay *r, cmt_event *ev)
{
    const cmt_allocator *A = r->alloc;
    cmt_replay_block *old = ev->arg_tag ? &r->blocks[ev->arg_slot] : NULL;
    void *old_p = old ? old->p : NULL;
    uint64_t old_bytes = old ? old->traced : 0;
    ev->arg_addr = (uint64_t)(uintptr_t)old_p;
    void *p = A->realloc(r->heap, old_p, ev->size);
    if (ev->tag) {
        if (old) {
            /* Out of memory: the trace moved on, so does the replay.  But
             * realloc(p, 0) returning NULL has freed p already. */
            if (!p && old_p && ev->size != 0)
                A->free(r->heap, old_p);
            drop_block(r, old);
        }
        add_block(r, ev, p, ev->size, touch(r, p, old_p ? old_bytes : 0, ev->size));
    } else if (old && cmt_event_releases(ev)) {
        drop_block(r, old); /* realloc(p, 0) freed p */
    } else {
        r->report->failed_in_trace++;
        if (p && old_p) {
            old->p = cmt_keep_old_size(A, r->heap, p, old_bytes, ev->size, &old->usable);
            r->report->failure_not_reproduced++;
        } else if (p) {
            unexpected_block(r, p); /* realloc(NULL, n), or of a block the replay could not make */
        }
    }
}

/* Reads, writes or both the bytes an access names, its block locked. */
static void replay_access(replay *r, cmt_event *ev)
{
    const cmt_replay_block *b = &r->blocks[ev->arg_slot];
    void *p = b->p;
    ev->arg_addr = (uint64_t)(uintptr_t)p;
    if (!p)
        return; /* the replay could not allocate the block */
    uint8_t *bytes = cmt_lock_block(r->alloc, r->heap, p);
    r->bytes_at = (uint64_t)(uintptr_t)bytes;
    cmt_access_bytes(ev, bytes, b->usable);
    cmt_unlock_block(r->alloc, r->heap, p);
}

static void replay_event(replay *r, cmt_event *ev)
{
    const cmt_allocator *A = r->alloc;
    void *p = NULL;
    switch (ev->op) {
    case CMT_OP_FREE: {
        if (!ev->arg_tag) {
            A->free(r->heap, NULL);
            r->report->free_null++;
            return;
        }
        cmt_replay_block *b = &r->blocks[ev->arg_slot];
        p = b->p;
        ev->arg_addr = (uint64_t)(uintptr_t)p;
        if (p)
            A->free(r->heap, p);
        drop_block(r, b);
        return;
    }
    case CMT_OP_REALLOC:
        replay_realloc(r, ev);
        return;
    case CMT_OP_LOAD:
    case CMT_OP_STORE:
    case CMT_OP_MODIFY:
        replay_access(r, ev);
        return;
    case CMT_OP_MALLOC:
        p = A->malloc(r->heap, ev->size);
        break;
    case CMT_OP_CALLOC:
        p = A->calloc(r->heap, ev->count, ev->size);
        break;
    default:
        p = A->memalign(r->heap, ev->align, ev->size);
        break;
    }
    if (ev->tag) {
        uint64_t bytes = cmt_event_bytes(ev);
        add_block(r, ev, p, bytes, touch(r, p, 0, bytes));
    } else {
        r->report->failed_in_trace++;
        if (p)
            unexpected_block(r, p);
    }
}

/* -v: the events with the allocator's pointers; for a relocating one, the
 * address of the block's bytes at that moment follows as a comment. */
static int print_events(replay *r, const cmt_event *events, const uint64_t *where, size_t n, char *err,
                        size_t errlen)
{
    char line[CMT_EVENT_TEXT_MAX + 32];
    for (size_t i = 0; i < n; i++) {
        cmt_event ev = events[i];
        ev.stack = 0; /* a replay's lines are the allocator's, without the stacks' lines */
        size_t len = cmt_format_event(line, &ev);
        if (r->report->relocating && where[i])
            len += (size_t)snprintf(line + len - 1, sizeof line - len + 1, "  # at 0x%llx\n",
                                    (unsigned long long)where[i]) - 1;
        if (cmt_output_write(r->options->trace, line, len) < 0) {
            snprintf(err, errlen, "%s", cmt_output_error(r->options->trace));
            return -1;
        }
    }
    return 0;
}

/* One row of the --timeline table: event, live bytes (the optimal
 * footprint) and the allocator's footprint.  The kernel's resident bytes
 * are the parent's to sample, by time (watch.c). */
static int write_timeline_row(replay *r, char *err, size_t errlen)
{
    char row[96];
    int n = snprintf(row, sizeof row, "%llu %llu %llu\n", (unsigned long long)r->report->events,
                     (unsigned long long)r->live_bytes, (unsigned long long)r->report->end_footprint);
    if (cmt_output_write(r->options->timeline, row, (size_t)n) < 0) {
        snprintf(err, errlen, "%s", cmt_output_error(r->options->timeline));
        return -1;
    }
    return 0;
}

static bool timeline_due(const replay *r)
{
    return r->report->events == r->next_row;
}

/* Readies, off the clock, the entries of the blocks that EVENTS[0..n) make
 * or pass in: the table grows to hold every slot the batch makes, and each
 * entry is read (and one a block will take, written back as it is, so that
 * a page new to the table is mapped here and not in an allocator's time).
 * On the fidelity workload (88K blocks live, freed in random order) the
 * load of a freed block's entry was a third of the replay's own time, a
 * miss each; here the misses of a batch overlap.  Returns 0, or the
 * 1-based index of the event that found no memory to grow the table. */
static size_t ready_blocks(replay *r, const cmt_event *events, size_t n)
{
    uintptr_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        const cmt_event *ev = &events[i];
        if (ev->tag) {
            if (cmti_slot_table_fit((void **)&r->blocks, &r->nblocks, sizeof *r->blocks, ev->slot) < 0)
                return i + 1;
            void *volatile *p = (void *volatile *)&r->blocks[ev->slot].p;
            *p = *p;
        }
        if (ev->arg_tag)
            sum += (uintptr_t)r->blocks[ev->arg_slot].p;
    }
    load_sink = (uint8_t)sum;
    return 0;
}

/* Counts the calls of EVENTS[0..n), off the clock. */
static void count_calls(cmt_replay_report *rep, const cmt_event *events, size_t n)
{
    for (size_t i = 0; i < n; i++)
        rep->calls[events[i].op]++;
}

/* Replays EVENTS[0..n) in stretches that end where a footprint sample or a
 * timeline row is due (the one check left in the loop is of live bytes: a
 * failure that is to stop the replay sets the next sample to 0); what needs no answer before the next call is done
 * before or after each stretch, off the clock.  Returns 0 or -1 (an output
 * error, no memory for the replay's own table, or --stop-on-failure). */
static int replay_batch(replay *r, cmt_event *events, size_t n, char *err, size_t errlen)
{
    cmt_replay_report *rep = r->report;
    size_t short_at = ready_blocks(r, events, n);
    if (short_at) {
        snprintf(err, errlen, "%s: event %llu: out of memory for the replay's own table of blocks", r->name,
                 (unsigned long long)(rep->events + short_at));
        return -1;
    }
    size_t i = 0;
    while (i < n) {
        size_t start = i, end = n;
        if (r->next_row - rep->events < n - i)
            end = i + (r->next_row - rep->events);
        double t0 = now();
        while (i < end) {
            cmt_event *ev = &events[i++];
            if (r->pace.started)
                t0 += cmt_pace_wait(&r->pace, &r->paced, ev->time);
            r->bytes_at = 0;
            replay_event(r, ev);
            r->where[i - 1] = r->bytes_at;
            rep->events++;
            r->live_area += r->live_bytes;
            if (r->live_bytes >= r->next_sample)
                break;
        }
        rep->seconds += now() - t0;
        count_calls(rep, events + start, i - start);
        const cmt_event *last = &events[i - 1];
        if (r->failed) {
            snprintf(err, errlen, "%s: event %llu: %s of %llu bytes failed in the replay, not when traced "
                                  "(--stop-on-failure)",
                     r->name, (unsigned long long)rep->events, cmt_op_name(last->op),
                     (unsigned long long)cmt_event_bytes(last));
            return -1;
        }
        bool row = timeline_due(r);
        if (row)
            r->next_row += r->options->timeline_every;
        if (row || r->live_bytes >= r->next_sample || rep->events - r->last_sample_event >= SAMPLE_EVERY)
            sample_footprint(r, row);
        if (row && write_timeline_row(r, err, errlen) < 0)
            return -1;
        if (r->options->trace && print_events(r, events + start, r->where + start, i - start, err, errlen) < 0)
            return -1;
    }
    return 0;
}

static double seconds_of(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
}

void cmt_report_kernel_figures(cmt_replay_report *rep, const struct rusage *now, const struct rusage *before)
{
    static const struct rusage zero;
    if (!before)
        before = &zero;
    rep->minor_faults = (uint64_t)(now->ru_minflt - before->ru_minflt);
    rep->major_faults = (uint64_t)(now->ru_majflt - before->ru_majflt);
    rep->user_seconds = seconds_of(now->ru_utime) - seconds_of(before->ru_utime);
    rep->system_seconds = seconds_of(now->ru_stime) - seconds_of(before->ru_stime);
}

/* True if any of the N events at EVENTS says which thread made it. */
static bool has_threads(const cmt_event *events, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (events[i].thread)
            return true;
    return false;
}

/* The index of the first of the N events at EVENTS that thread THREAD did
 * not make, or N. */
static size_t another_thread_at(const cmt_event *events, size_t n, uint32_t thread)
{
    for (size_t i = 0; i < n; i++)
        if (events[i].thread != thread)
            return i;
    return n;
}

/* Why a trace with threads replays on one thread, or NULL if it need not. */
static const char *serial_reason(const cmt_allocator *a, const cmt_replay_options *o)
{
    if (o->serial)
        return "--serial";
    if (a->not_thread_safe)
        return a->not_thread_safe;
    if (o->trace)
        return "-v prints one order of events";
    if (o->timeline)
        return "the timeline is drawn from one order of events";
    return NULL;
}

/* The thread that made each live block, by slot: a serial replay of a
 * trace with threads counts its cross-thread frees all the same. */
typedef struct block_owners {
    uint32_t *thread;
    size_t count;
} block_owners;

/* Counts the cross-thread frees of EVENTS[0..n), outside the clock.
 * Returns 0, or -1 when out of memory. */
static int count_cross_thread_frees(block_owners *o, const cmt_event *events, size_t n, cmt_replay_report *rep)
{
    for (size_t i = 0; i < n; i++) {
        const cmt_event *ev = &events[i];
        if (ev->arg_tag && (ev->op == CMT_OP_FREE || ev->op == CMT_OP_REALLOC))
            rep->cross_thread_frees += o->thread[ev->arg_slot] != ev->thread;
        if (ev->tag) {
            if (cmti_slot_table_fit((void **)&o->thread, &o->count, sizeof *o->thread, ev->slot) < 0)
                return -1;
            o->thread[ev->slot] = ev->thread;
        }
    }
    return 0;
}

/* Gives back what the trace never freed, so the heap ends empty. */
static void release_leftovers(replay *r)
{
    for (size_t i = 0; i < r->nblocks; i++)
        if (r->blocks[i].p)
            r->alloc->free(r->heap, r->blocks[i].p);
}

int cmt_replay(cmt_source *source, const cmt_allocator *allocator,
               const cmt_replay_options *options, cmt_replay_report *report, char *err,
               size_t errlen)
{
    memset(report, 0, sizeof *report);
    snprintf(report->allocator, sizeof report->allocator, "%s", allocator->name);
    replay r = {.name = cmt_source_name(source), .alloc = allocator, .options = options, .report = report,
                .next_sample = 1, .next_row = options->timeline ? options->timeline_every : UINT64_MAX};
    report->relocating = allocator->lock != NULL;
    r.untouched = options->touch == CMT_TOUCH_NONE && !report->relocating;
    r.heap = allocator->create(&options->allocator, err, errlen);
    if (!r.heap)
        return -1;
    if (allocator->remarks)
        allocator->remarks(r.heap, report->remarks, sizeof report->remarks);
    if (options->timeline) {
        static const char header[] = "# event live_bytes footprint_bytes\n";
        if (cmt_output_write(options->timeline, header, sizeof header - 1) < 0) {
            snprintf(err, errlen, "%s", cmt_output_error(options->timeline));
            allocator->destroy(r.heap);
            return -1;
        }
    }
    cmt_event *events = cmti_malloc(BATCH * sizeof *events);
    if (!events) {
        snprintf(err, errlen, "%s: out of memory", r.name);
        allocator->destroy(r.heap);
        return -1;
    }
    report->start_rss = cmt_resident_bytes();
    struct rusage before;
    getrusage(RUSAGE_SELF, &before);
    report->threads = 1;
    double start = now();
    r.sampler.by_rss = options->touch != CMT_TOUCH_NONE;
    int rc = 0;
    block_owners owners = {0};
    /* A trace replays on one thread until its second thread comes: most
     * recorded programs have one, and handing each of their events to a
     * replay thread tripled the time per event (a Python run: 149 ns
     * against 46 under glibc). */
    const char *why_serial = serial_reason(allocator, options);
    uint32_t first_thread = 0;
    bool first = true, second_thread = false, threaded = false, count_threads = false;
    for (;;) {
        size_t n = 0;
        while (n < BATCH && (rc = cmt_source_next(source, &events[n])) > 0)
            n++;
        if (rc < 0)
            snprintf(err, errlen, "%s", cmt_source_error(source));
        if (first && n > 0) {
            first_thread = events[0].thread;
            count_threads = why_serial && has_threads(events, n);
        }
        first = false;
        size_t here = n; /* the events this thread replays on its own */
        if (!second_thread && (here = another_thread_at(events, n, first_thread)) < n) {
            second_thread = true;
            if (why_serial) {
                snprintf(report->serial_reason, sizeof report->serial_reason, "%s", why_serial);
                here = n;
            } else {
                threaded = rc >= 0;
            }
        }
        uint64_t first_time = options->pace && !r.pace.started ? cmt_first_time(events, n) : 0;
        if (first_time)
            r.pace = cmt_pace_start(first_time);
        if (count_threads && count_cross_thread_frees(&owners, events, n, report) < 0) {
            snprintf(err, errlen, "%s: out of memory", r.name);
            rc = -1;
            break;
        }
        if (here > 0 && replay_batch(&r, events, here, err, errlen) < 0) {
            rc = -1;
            threaded = false;
        }
        if (threaded) {
            cmt_replay_start from = {.thread = first_thread, .blocks = r.blocks, .nblocks = r.nblocks,
                                     .live_bytes = r.live_bytes, .live_blocks = r.live_blocks,
                                     .live_area = r.live_area, .pace = r.pace, .sampler = r.sampler,
                                     .wall_start = start};
            rc = cmt_replay_threads(source, allocator, r.heap, options, report, &from, events + here, n - here,
                                    err, errlen);
            cmti_table_free(r.blocks, r.nblocks * sizeof *r.blocks); /* its blocks are the threaded replay's */
            r.blocks = NULL;
            r.nblocks = 0;
            break;
        }
        if (options->progress.update)
            options->progress.update(options->progress.context, report->events);
        if (rc <= 0)
            break;
    }
    if (!threaded) {
        sample_footprint(&r, true);
        bool last_row_now = r.next_row - options->timeline_every == report->events;
        if (rc == 0 && options->timeline && !last_row_now && write_timeline_row(&r, err, errlen) < 0)
            rc = -1;
        report->end_live_bytes = r.live_bytes;
        report->end_live_blocks = r.live_blocks;
        report->live_area = (double)r.live_area;
        report->wall_seconds = now() - start;
        report->paced = r.pace.started;
        report->paced_seconds = r.paced.slept;
    }
    report->peak_rss = peak_rss();
    report->harness_peak_bytes = cmti_private_peak_bytes();
    struct rusage after;
    getrusage(RUSAGE_SELF, &after);
    cmt_report_kernel_figures(report, &after, &before);
    release_leftovers(&r);
    cmti_free(events);
    cmti_table_free(r.blocks, r.nblocks * sizeof *r.blocks);
    cmti_table_free(owners.thread, owners.count * sizeof *owners.thread);
    allocator->destroy(r.heap);
    return rc < 0 ? -1 : 0;
}
