/*
 * threads.c - a trace replayed on as many threads as it was recorded on.
 *
 * A thread of its own decodes the trace in its recorded order and hands
 * each event to the replay thread of the thread that made it, through a
 * queue of that thread's own.  The trace's first thread (the program's
 * main thread) is replayed by the thread that called the replay, the
 * process's main thread, which replayed the trace alone until its second
 * thread came (replay.c): glibc gives the main thread an arena no other
 * thread gets, grown by brk where the others map heaps of their own.
 * Each replay thread runs its events in their order, all threads at
 * once.  The only order kept between threads is the one no program can do
 * without: an event on a block that another thread touched last (a free
 * or realloc of a block another thread allocated, an access after
 * another thread's) waits until that thread has run that event.  Each
 * thread publishes the number of the last event it has run, so a wait is
 * for one counter to pass one number, and threads wait only
 * at such hand-offs.  (glibc's trace2wl syncs at each hand-off the same
 * way; AOSP's memory_replay serialises every free instead, which takes
 * away the contention a replay of threads is there to measure.)  No wait
 * can deadlock, whatever the interleaving: a wait is only ever for an
 * event earlier in the recorded order, and the earliest event not yet run
 * waits for nothing, its thread's earlier events and the event it waits
 * for having run; a full queue only holds up the decoding thread, and
 * every event already handed out keeps that property.
 *
 * Blocks are slots of a table the decoding thread hands out: a slot is
 * taken when a block is allocated and comes back once the event that
 * released the block has run, so the table follows the live blocks plus
 * the events in flight (at most QUEUE_EVENTS a thread), never the length
 * of the trace.  The replay threads write a block's pointer into its slot,
 * and the counter that tells another thread the event has run publishes it.
 */
#include "allocator.h"
#include "replay_internal.h"
#include "cmt_internal.h"

#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Events a replay thread may have waiting: enough that the decoding
 * thread seldom waits for a thread, few enough to stay in the cache. */
#define QUEUE_EVENTS 4096u
/* Recorded threads past this many share replay threads (thread k runs on
 * replay thread k % MAX_THREADS): still in the recorded order. */
#define MAX_THREADS 256u
/* Slots a table chunk holds; chunks are added as the live blocks grow. */
#define CHUNK_SLOTS (64u * 1024)
#define MAX_CHUNKS (64u * 1024)
#define STOP CMT_OP_COUNT /* the work item that ends a thread */
#define NO_THREAD UINT32_MAX
#define LIVE (1ULL << 63)
_Static_assert(MAX_THREADS <= 256, "a block's two lanes are 8 bits each in r->blocks");

/* A block: where the allocator put it, and its bytes. */
typedef struct slot {
    void *p;           /* the allocator's pointer; NULL if the replay could not make it */
    uint64_t usable;   /* bytes accesses may touch */
    uint64_t traced;   /* bytes live in the trace (the decoding thread's) */
    uint64_t last_seq; /* the last event on it so far (the decoding thread's) */
} slot;

/* One event for a replay thread. */
typedef struct work {
    uint64_t seq;      /* its place in the recorded order, from 1 */
    uint64_t time;     /* --pace: its recorded time, run no sooner (0: at once) */
    uint64_t wait_seq; /* run after thread wait_thread has run this event */
    uint64_t size, extra, offset; /* extra: calloc's count, the alignment */
    uint32_t wait_thread;         /* NO_THREAD: no wait */
    uint32_t result, arg;         /* slots + 1; 0: none */
    uint8_t op;
    bool releases; /* the event releases the block passed */
} work;

typedef struct replayer replayer;

/* A replay thread and the queue that feeds it. */
typedef struct lane {
    _Alignas(64) _Atomic uint64_t done; /* seq of the last event run */
    _Alignas(64) _Atomic uint32_t head; /* written by the decoding thread */
    uint32_t tail_seen; /* the decoding thread's: tail when it last looked, read again only when its room is used up */
    _Atomic bool asleep; /* the replay thread waits in the kernel for head to move */
    _Alignas(64) _Atomic uint32_t tail; /* written by the replay thread */
    work *queue;
    replayer *r;
    uint32_t index; /* in r->lanes */
    bool own_thread; /* else the thread that called cmt_replay_threads runs it */
    pthread_t thread;
    /* The thread's own counts, added up at the end. */
    double busy_seconds, wait_seconds;
    cmt_pace_thread paced;
    uint64_t failed_in_replay, failed_bytes, failure_not_reproduced, free_null, failed_in_trace;
} lane;

struct replayer {
    const cmt_allocator *alloc;
    void *heap;
    const cmt_replay_options *options;
    cmt_replay_report *report;
    lane *lanes[MAX_THREADS];
    uint32_t lane_of[MAX_THREADS]; /* recorded thread % MAX_THREADS -> lane + 1 */
    uint32_t nlanes;
    slot *chunks[MAX_CHUNKS];
    uint64_t next_slot;
    uint32_t *free_slots; /* slots whose release has run */
    size_t nfree, free_cap;
    struct released {     /* slots released by events that may not have run yet */
        uint32_t slot, thread;
        uint64_t seq;
    } *pending;
    size_t pending_head, pending_tail, pending_cap; /* a ring */
    uint64_t *blocks; /* by the trace's slot (cmt_event.slot): LIVE | table slot | allocating lane << 32 |
                       * last lane << 40.  The table's slot is another number: the trace's is taken
                       * again at once, the table's only once the release has run */
    size_t nblocks;
    uint64_t seq;
    uint64_t earliest_unrun; /* the earliest event not yet run, when last looked at */
    _Alignas(64) _Atomic bool decoder_asleep; /* waiting in the kernel for events to run (the window) */
    _Atomic uint32_t progress; /* bumped, and the decoder woken, by a lane that runs an event while it sleeps */
    cmt_pace pace; /* --pace: started before any work with a time is handed out */
    uint64_t live_bytes, live_blocks, next_sample;
    unsigned __int128 live_area; /* live bytes summed over the events, from those replayed before (FROM) on */
    cmt_sampler sampler;
    bool no_memory;
    /* The decoding thread's: what it reads, and how it ended. */
    cmt_source *source;
    const cmt_event *first; /* events read before the replay of threads began, handed out first */
    size_t nfirst;
    char *err;
    size_t errlen;
    int rc;
};

static double now(void)
{
    return cmti_seconds(CLOCK_MONOTONIC);
}

/* The calling thread's CPU time: its time in the allocator is counted so,
 * since with more threads than cores a thread is often off its core
 * between two of its calls. */
static double cpu_now(void)
{
    return cmti_seconds(CLOCK_THREAD_CPUTIME_ID);
}

/* Spins that are a moment: no clock is read for them. */
#define BRIEF_SPINS 32

/* A moment's wait for another thread: spin a little, then give the core
 * away (two cores and many threads: spinning long would starve the one
 * waited for). */
static void pause_for(unsigned *spins)
{
    if (++*spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    } else if (*spins < 4096) {
        sched_yield();
    } else {
        struct timespec nap = {0, 20000};
        nanosleep(&nap, NULL);
    }
}

/* A thread that has waited this many spins waits in the kernel instead:
 * on two cores, replay threads with nothing to do that nap and look again
 * (a Python trace has one thread busy at a time, the one holding the GIL)
 * took the cores from the one that had work, and its replay ran twelve
 * times as long as the program. */
#define SPINS_BEFORE_SLEEP 256

/* Sleeps while *WORD is SEEN, or until woken, or a millisecond: a wake
 * that comes between the sleeper's last look and its sleep is not lost
 * for longer than that (the wakers look at the sleeper's flag without a
 * fence, which every event would pay for). */
static void sleep_while(_Atomic uint32_t *word, uint32_t seen)
{
    struct timespec most = {0, 1000000};
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, seen, &most, NULL, 0);
}

static void wake(_Atomic uint32_t *word)
{
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* What r->blocks keeps of a live block: its table slot S, the lane that
 * made it and the lane that ran the last event on it. */
static uint64_t live_block(uint32_t s, uint32_t made_by, uint32_t last)
{
    return LIVE | s | (uint64_t)made_by << 32 | (uint64_t)last << 40;
}

static slot *slot_at(replayer *r, uint32_t s)
{
    return &r->chunks[s / CHUNK_SLOTS][s % CHUNK_SLOTS];
}

/* ------------------------------------------------------ replay threads */

/* A block the trace says was made: into slot S, or, if the trace has no
 * slot for it (the call returned NULL when traced), given back. */
static void made(lane *l, uint32_t s, void *p, uint64_t bytes, uint64_t from)
{
    replayer *r = l->r;
    if (!s) {
        l->failed_in_trace++;
        if (p) {
            l->failure_not_reproduced++;
            r->alloc->free(r->heap, p);
        }
        return;
    }
    slot *b = slot_at(r, s - 1);
    b->p = p;
    b->usable = p ? bytes : 0;
    if (!p) {
        l->failed_in_replay++;
        l->failed_bytes += bytes;
        return;
    }
    if (r->options->touch == CMT_TOUCH_NONE || from >= bytes)
        return;
    cmt_touch_bytes(r->options->touch, cmt_lock_block(r->alloc, r->heap, p), from, bytes);
    cmt_unlock_block(r->alloc, r->heap, p);
}

static void run_realloc(lane *l, const work *w)
{
    replayer *r = l->r;
    const cmt_allocator *A = r->alloc;
    slot *old = w->arg ? slot_at(r, w->arg - 1) : NULL;
    void *old_p = old ? old->p : NULL;
    uint64_t old_bytes = old ? old->usable : 0;
    void *p = A->realloc(r->heap, old_p, w->size);
    if (w->result) {
        if (!p && old_p && w->size != 0)
            A->free(r->heap, old_p); /* the trace moved on without the old block */
        if (old)
            old->p = NULL;
        made(l, w->result, p, w->size, old_p ? old_bytes : 0);
    } else if (old && w->releases) {
        old->p = NULL; /* realloc(p, 0) freed p */
    } else {
        l->failed_in_trace++;
        if (p && old_p) {
            old->p = cmt_keep_old_size(A, r->heap, p, old_bytes, w->size, &old->usable);
            l->failure_not_reproduced++;
        } else if (p) {
            l->failure_not_reproduced++;
            A->free(r->heap, p);
        }
    }
}

static void run_access(lane *l, const work *w)
{
    slot *b = slot_at(l->r, w->arg - 1);
    if (!b->p)
        return;
    cmt_access_bytes(&(cmt_event){.op = (cmt_op)w->op, .offset = w->offset, .size = w->size},
                     cmt_lock_block(l->r->alloc, l->r->heap, b->p), b->usable);
    cmt_unlock_block(l->r->alloc, l->r->heap, b->p);
}

static void run(lane *l, const work *w)
{
    replayer *r = l->r;
    const cmt_allocator *A = r->alloc;
    switch (w->op) {
    case CMT_OP_FREE:
        if (!w->arg) {
            A->free(r->heap, NULL);
            l->free_null++;
        } else {
            slot *b = slot_at(r, w->arg - 1);
            if (b->p)
                A->free(r->heap, b->p);
            b->p = NULL;
        }
        return;
    case CMT_OP_REALLOC: run_realloc(l, w); return;
    case CMT_OP_LOAD:
    case CMT_OP_STORE:
    case CMT_OP_MODIFY: run_access(l, w); return;
    case CMT_OP_MALLOC: made(l, w->result, A->malloc(r->heap, w->size), w->size, 0); return;
    case CMT_OP_CALLOC: {
        uint64_t bytes;
        if (__builtin_mul_overflow(w->extra, w->size, &bytes))
            bytes = UINT64_MAX;
        made(l, w->result, A->calloc(r->heap, w->extra, w->size), bytes, 0);
        return;
    }
    default: made(l, w->result, A->memalign(r->heap, w->extra, w->size), w->size, 0); return;
    }
}

/* A replay thread: its queue's events in order, each after the event of
 * another thread it must follow. */
static void *lane_loop(void *arg)
{
    lane *l = arg;
    replayer *r = l->r;
    double busy_from = cpu_now();
    /* The thread's own end of the queue, and the other end as it last saw
     * it: the decoding thread's line is read again only when the events
     * seen are all run. */
    uint32_t tail = 0, head_seen = 0;
    for (;;) {
        unsigned spins = 0;
        /* A queue that is empty for a moment is waited for on the clock
         * of the work (reading the thread's CPU time is a system call);
         * one that stays empty, off it. */
        while (tail == head_seen && spins < BRIEF_SPINS) {
            head_seen = atomic_load_explicit(&l->head, memory_order_acquire);
            if (tail == head_seen)
                pause_for(&spins);
        }
        if (tail == head_seen) {
            l->busy_seconds += cpu_now() - busy_from;
            while (tail == (head_seen = atomic_load_explicit(&l->head, memory_order_acquire))) {
                if (spins < SPINS_BEFORE_SLEEP) {
                    pause_for(&spins);
                    continue;
                }
                atomic_store(&l->asleep, true);
                if (tail == atomic_load(&l->head))
                    sleep_while(&l->head, tail);
                atomic_store_explicit(&l->asleep, false, memory_order_relaxed);
            }
            busy_from = cpu_now();
        }
        const work *w = &l->queue[tail % QUEUE_EVENTS];
        if (w->op == STOP)
            break;
        if (w->wait_thread != NO_THREAD) {
            _Atomic uint64_t *done = &r->lanes[w->wait_thread]->done;
            if (atomic_load_explicit(done, memory_order_acquire) < w->wait_seq) {
                double from = now(), cpu_from = cpu_now();
                spins = 0;
                while (atomic_load_explicit(done, memory_order_acquire) < w->wait_seq)
                    pause_for(&spins);
                l->wait_seconds += now() - from;
                busy_from += cpu_now() - cpu_from;
            }
        }
        if (w->time)
            cmt_pace_wait(&r->pace, &l->paced, w->time); /* off the clock, which is the thread's CPU time */
        run(l, w);
        atomic_store_explicit(&l->done, w->seq, memory_order_release);
        atomic_store_explicit(&l->tail, ++tail, memory_order_release);
        if (atomic_load_explicit(&r->decoder_asleep, memory_order_relaxed)) {
            atomic_fetch_add(&r->progress, 1);
            wake(&r->progress);
        }
    }
    l->busy_seconds += cpu_now() - busy_from;
    return NULL;
}

/* -------------------------------------------------------- the decoder */

/* A new lane for recorded thread THREAD, run by a thread of its own if
 * OWN_THREAD (else by the caller, later); NULL when out of memory or
 * threads. */
static lane *add_lane(replayer *r, uint32_t thread, bool own_thread, char *err, size_t errlen)
{
    lane *l = cmti_calloc(1, sizeof *l);
    work *queue = l ? cmti_calloc(QUEUE_EVENTS, sizeof *queue) : NULL;
    if (!queue) {
        cmti_free(l);
        snprintf(err, errlen, "out of memory for a replay thread");
        return NULL;
    }
    l->queue = queue;
    l->r = r;
    l->index = r->nlanes;
    l->own_thread = own_thread;
    r->lanes[r->nlanes] = l;
    if (own_thread && pthread_create(&l->thread, NULL, lane_loop, l) != 0) {
        snprintf(err, errlen, "can't start a replay thread (%u running)", r->nlanes);
        cmti_free(queue);
        cmti_free(l);
        r->lanes[r->nlanes] = NULL;
        return NULL;
    }
    r->lane_of[thread % MAX_THREADS] = ++r->nlanes;
    return l;
}

/* The lane of recorded thread THREAD, started on its first event; NULL
 * when out of memory or threads. */
static lane *lane_for(replayer *r, uint32_t thread, char *err, size_t errlen)
{
    uint32_t k = thread % MAX_THREADS;
    if (r->lane_of[k])
        return r->lanes[r->lane_of[k] - 1];
    return add_lane(r, thread, true, err, errlen);
}

/* Hands W to lane L.  The lane's end is looked at only when the room last
 * seen there is used up; a full queue is waited on until a quarter of it
 * is free: the two threads then take turns in stretches, not an event at
 * a time. */
static void hand_to(lane *l, const work *w)
{
    uint32_t head = atomic_load_explicit(&l->head, memory_order_relaxed);
    unsigned spins = 0;
    if (head - l->tail_seen >= QUEUE_EVENTS) {
        l->tail_seen = atomic_load_explicit(&l->tail, memory_order_acquire);
        if (head - l->tail_seen >= QUEUE_EVENTS)
            while (head - (l->tail_seen = atomic_load_explicit(&l->tail, memory_order_acquire)) >
                   QUEUE_EVENTS - QUEUE_EVENTS / 4)
                pause_for(&spins);
    }
    l->queue[head % QUEUE_EVENTS] = *w;
    atomic_store_explicit(&l->head, head + 1, memory_order_release);
    if (atomic_load_explicit(&l->asleep, memory_order_relaxed))
        wake(&l->head);
}

/* Slots whose releasing event has run come back, oldest first. */
static void reclaim(replayer *r)
{
    while (r->pending_head != r->pending_tail) {
        struct released *p = &r->pending[r->pending_head % r->pending_cap];
        if (atomic_load_explicit(&r->lanes[p->thread]->done, memory_order_acquire) < p->seq)
            return;
        if (r->nfree == r->free_cap) {
            size_t cap = r->free_cap ? 2 * r->free_cap : 4096;
            uint32_t *grown = cmti_realloc(r->free_slots, cap * sizeof *grown);
            if (!grown) {
                r->no_memory = true;
                return;
            }
            r->free_slots = grown;
            r->free_cap = cap;
        }
        r->free_slots[r->nfree++] = p->slot;
        r->pending_head++;
    }
}

/* A slot for a new block: one given back, else a new one; -1 when out of
 * memory. */
static int64_t take_slot(replayer *r)
{
    reclaim(r);
    if (r->nfree)
        return r->free_slots[--r->nfree];
    uint64_t s = r->next_slot;
    if (s / CHUNK_SLOTS >= MAX_CHUNKS)
        return -1;
    if (!r->chunks[s / CHUNK_SLOTS] && !(r->chunks[s / CHUNK_SLOTS] = cmti_calloc(CHUNK_SLOTS, sizeof(slot))))
        return -1;
    r->next_slot++;
    return (int64_t)s;
}

/* SLOT, released by event SEQ of lane THREAD, comes back once it has run. */
static void release_later(replayer *r, uint32_t s, uint32_t thread, uint64_t seq)
{
    if (r->pending_tail - r->pending_head == r->pending_cap) {
        size_t cap = r->pending_cap ? 2 * r->pending_cap : 4096;
        struct released *grown = cmti_malloc(cap * sizeof *grown);
        if (!grown) {
            r->no_memory = true;
            return;
        }
        for (size_t i = r->pending_head; i != r->pending_tail; i++)
            grown[i - r->pending_head] = r->pending[i % r->pending_cap];
        cmti_free(r->pending);
        r->pending = grown;
        r->pending_tail -= r->pending_head;
        r->pending_head = 0;
        r->pending_cap = cap;
    }
    r->pending[r->pending_tail++ % r->pending_cap] = (struct released){s, thread, seq};
}

/* The recorded place of the earliest event not yet run: every event
 * before it has run.  The decoding thread wrote the queues, so it may read
 * the event at a lane's tail. */
static uint64_t earliest_unrun(replayer *r)
{
    uint64_t earliest = r->seq + 1;
    for (uint32_t i = 0; i < r->nlanes; i++) {
        lane *l = r->lanes[i];
        uint32_t tail = atomic_load_explicit(&l->tail, memory_order_acquire);
        if (tail != atomic_load_explicit(&l->head, memory_order_relaxed) && l->queue[tail % QUEUE_EVENTS].seq < earliest)
            earliest = l->queue[tail % QUEUE_EVENTS].seq;
    }
    return earliest;
}

/* --window: the event about to be handed out, SEQ, waits until the events
 * more than the window before it have run, so that no thread runs further
 * ahead of the others than the window lets it, and the blocks live at
 * once stay the recorded ones.  Unbounded, a thread of a short trace runs
 * all its events before another has started: pbzip2's threads, which took
 * turns holding blocks of a few MiB, held them all at once, and glibc's
 * replayed peak RSS was 122 MiB against 47 within 64 events (38 MiB
 * natively).  A wait lasts until half the window is free, so that the
 * lanes are looked at once every half window, not once an event.  No
 * deadlock: the earliest event not run waits for nothing still to be
 * handed out. */
static void keep_within_window(replayer *r, uint64_t seq)
{
    uint64_t window = r->options->window;
    if (!window || seq <= window || r->earliest_unrun >= seq - window)
        return;
    unsigned spins = 0;
    for (;;) {
        uint32_t progress = atomic_load(&r->progress);
        if ((r->earliest_unrun = earliest_unrun(r)) >= seq - window / 2)
            break;
        if (spins < SPINS_BEFORE_SLEEP) {
            pause_for(&spins);
            continue;
        }
        atomic_store(&r->decoder_asleep, true);
        if ((r->earliest_unrun = earliest_unrun(r)) >= seq - window / 2)
            break;
        sleep_while(&r->progress, progress);
    }
    atomic_store_explicit(&r->decoder_asleep, false, memory_order_relaxed);
}

/* Hands out EV; 0, or -1 with a message. */
static int dispatch(replayer *r, const cmt_event *ev, char *err, size_t errlen)
{
    cmt_replay_report *rep = r->report;
    lane *l = lane_for(r, ev->thread, err, errlen);
    if (!l)
        return -1;
    uint32_t me = l->index;
    work w = {.seq = ++r->seq, .size = ev->size, .offset = ev->offset, .op = (uint8_t)ev->op,
              .wait_thread = NO_THREAD};
    w.extra = ev->op == CMT_OP_CALLOC ? ev->count : ev->align;
    if (r->options->pace && ev->time) {
        if (!r->pace.started)
            r->pace = cmt_pace_start(ev->time);
        w.time = ev->time;
    }
    rep->events++;
    rep->calls[ev->op]++;
    uint64_t *e = ev->arg_tag ? &r->blocks[ev->arg_slot] : NULL;
    uint32_t released = 0;
    if (e) {
        w.arg = (uint32_t)*e + 1;
        uint32_t made_by = (uint32_t)(*e >> 32 & 0xff), last = (uint32_t)(*e >> 40 & 0xff);
        slot *b = slot_at(r, (uint32_t)*e);
        if (last != me) {
            w.wait_thread = last;
            w.wait_seq = b->last_seq;
        }
        w.releases = cmt_event_releases(ev);
        if ((ev->op == CMT_OP_FREE || ev->op == CMT_OP_REALLOC) && made_by != me)
            rep->cross_thread_frees++;
        if (w.releases) {
            r->live_bytes -= b->traced;
            r->live_blocks--;
            released = w.arg;
            *e = 0;
        } else {
            *e = live_block((uint32_t)*e, made_by, me);
            b->last_seq = w.seq;
        }
    }
    if (ev->tag) {
        int64_t s = take_slot(r);
        if (s < 0 || r->no_memory ||
            cmti_slot_table_fit((void **)&r->blocks, &r->nblocks, sizeof *r->blocks, ev->slot) < 0) {
            snprintf(err, errlen, "out of memory for the replay's own table of blocks");
            return -1;
        }
        r->blocks[ev->slot] = live_block((uint32_t)s, me, me);
        w.result = (uint32_t)s + 1;
        slot *b = slot_at(r, (uint32_t)s);
        b->last_seq = w.seq;
        b->traced = cmt_event_bytes(ev);
        r->live_bytes += b->traced;
        r->live_blocks++;
        cmt_note_live(rep, r->live_bytes, r->live_blocks, rep->events);
    }
    r->live_area += r->live_bytes;
    keep_within_window(r, w.seq);
    hand_to(l, &w);
    if (released)
        release_later(r, released - 1, me, w.seq);
    return 0;
}

/* Samples the allocator's footprint (its statistics are thread-safe). */
static void sample(replayer *r, bool forced)
{
    r->next_sample = cmt_sample_footprint(r->alloc, r->heap, r->report, &r->sampler, r->live_bytes, forced);
}

/* Ends every lane, and waits for those on threads of their own. */
static void stop_lanes(replayer *r)
{
    work stop = {.op = STOP};
    for (uint32_t i = 0; i < r->nlanes; i++)
        hand_to(r->lanes[i], &stop);
    for (uint32_t i = 0; i < r->nlanes; i++)
        if (r->lanes[i]->own_thread)
            pthread_join(r->lanes[i]->thread, NULL);
}

/* Adds up what each lane counted, once all have ended (a lane still
 * running may read another's counter). */
static void add_up_lanes(replayer *r)
{
    cmt_replay_report *rep = r->report;
    for (uint32_t i = 0; i < r->nlanes; i++) {
        lane *l = r->lanes[i];
        rep->seconds += l->busy_seconds;
        rep->wait_seconds += l->wait_seconds;
        rep->paced_seconds += l->paced.slept;
        rep->failed_in_replay += l->failed_in_replay;
        rep->failed_bytes += l->failed_bytes;
        rep->failure_not_reproduced += l->failure_not_reproduced;
        rep->free_null += l->free_null;
        rep->failed_in_trace += l->failed_in_trace;
        cmti_free(l->queue);
        cmti_free(l);
    }
}

/* The blocks the replay on one thread made (and those the trace made and
 * it could not, of no bytes here), each in a slot of the table, as made by
 * lane 0 (FROM's thread) before its first event here. */
static int adopt_blocks(replayer *r, const cmt_replay_start *from)
{
    for (size_t k = 0; k < from->nblocks; k++) {
        const cmt_replay_block *b = &from->blocks[k];
        if (!b->p && b->usable != CMT_NOT_MADE)
            continue;
        int64_t s = take_slot(r);
        if (s < 0 || cmti_slot_table_fit((void **)&r->blocks, &r->nblocks, sizeof *r->blocks, k) < 0)
            return -1;
        r->blocks[k] = live_block((uint32_t)s, 0, 0);
        *slot_at(r, (uint32_t)s) = (slot){.p = b->p, .usable = b->p ? b->usable : 0, .traced = b->traced};
        r->live_blocks += !b->p; /* the decoder counts the trace's blocks, made or not, and takes this one off */
    }
    return 0;
}

/* The decoding thread: hands out every event, then ends the lanes. */
static void *decode_all(void *arg)
{
    replayer *r = arg;
    cmt_replay_report *report = r->report;
    const cmt_replay_options *options = r->options;
    int rc = 0;
    cmt_event ev;
    size_t i = 0;
    uint64_t since_sample = 0;
    for (;;) {
        const cmt_event *next = &ev;
        if (i < r->nfirst)
            next = &r->first[i++];
        else if ((rc = cmt_source_next(r->source, &ev)) <= 0)
            break;
        if ((rc = dispatch(r, next, r->err, r->errlen)) < 0)
            break;
        if (r->live_bytes >= r->next_sample || ++since_sample == 16384) {
            sample(r, false);
            since_sample = 0;
        }
        if (options->progress.update && report->events % CMT_PROGRESS_EVERY == 0)
            options->progress.update(options->progress.context, report->events);
    }
    if (rc < 0 && !r->err[0])
        snprintf(r->err, r->errlen, "%s", cmt_source_error(r->source));
    r->rc = rc;
    stop_lanes(r);
    return NULL;
}

int cmt_replay_threads(cmt_source *source, const cmt_allocator *allocator, void *heap,
                       const cmt_replay_options *options, cmt_replay_report *report, const cmt_replay_start *from,
                       const cmt_event *first, size_t nfirst, char *err, size_t errlen)
{
    replayer *r = cmti_calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "%s: out of memory", cmt_source_name(source));
        return -1;
    }
    *r = (replayer){.alloc = allocator, .heap = heap, .options = options, .report = report, .source = source,
                    .first = first, .nfirst = nfirst, .err = err, .errlen = errlen, .next_sample = 1,
                    .live_bytes = from->live_bytes, .live_blocks = from->live_blocks,
                    .live_area = from->live_area, .pace = from->pace, .sampler = from->sampler};
    if (allocator->share)
        allocator->share(heap);
    lane *own = add_lane(r, from->thread, false, err, errlen);
    pthread_t decoder;
    int rc = -1;
    if (!own) {
        /* add_lane said why */
    } else if (adopt_blocks(r, from) < 0) {
        snprintf(err, errlen, "%s: out of memory for the replay's own table of blocks", cmt_source_name(source));
    } else if (pthread_create(&decoder, NULL, decode_all, r) != 0) {
        snprintf(err, errlen, "%s: can't start the thread that decodes", cmt_source_name(source));
    } else {
        lane_loop(own);
        pthread_join(decoder, NULL);
        rc = r->rc;
    }
    add_up_lanes(r);
    report->wall_seconds = now() - from->wall_start;
    sample(r, true);
    report->threads = r->nlanes;
    report->window = options->window;
    report->paced = r->pace.started;
    report->end_live_bytes = r->live_bytes;
    report->end_live_blocks = r->live_blocks;
    report->live_area = (double)r->live_area;
    /* What the trace never freed goes back, so the heap ends empty. */
    for (size_t k = 0; k < r->nblocks; k++) {
        slot *b = r->blocks[k] & LIVE ? slot_at(r, (uint32_t)r->blocks[k]) : NULL;
        if (b && b->p)
            allocator->free(heap, b->p);
    }
    cmti_table_free(r->blocks, r->nblocks * sizeof *r->blocks);
    for (uint32_t c = 0; c < MAX_CHUNKS && r->chunks[c]; c++)
        cmti_free(r->chunks[c]);
    cmti_free(r->free_slots);
    cmti_free(r->pending);
    cmti_free(r);
    return rc < 0 ? -1 : 0;
}
