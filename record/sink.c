/*
 * sink.c - from the threads' rings to a .cmt file.
 *
 * Every call takes a sequence number from one atomic counter, so the
 * numbers are dense: the sink writes number n once it has written n - 1,
 * taking it from whichever ring has it next.  A thread holds no lock to
 * record a call.  The sink's own thread drains the rings as they fill,
 * so that turning addresses into tags and compressing (cache misses in
 * tables of millions of live blocks) happen on another core while the
 * program runs on; a thread whose ring has grown to RING_MOST waits for
 * it (without the sink's thread, it drains every ring itself).  A number
 * handed out whose record is not yet in its ring is a few instructions
 * away (the thread made room before taking the number), so the drain
 * waits for it.
 *
 * Addresses become tags here by the rules the text readers follow (one
 * tagger, cmt/common/tagger.h): a block keeps its tag from the call that
 * returned it to the call that frees it.  The
 * file is written straight to its name, a block at a time, so that even
 * a program killed outright leaves every block written before.
 */
#define _GNU_SOURCE /* program_invocation_short_name */
#include "recorder.h"
#include "cmt_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define MAX_RINGS 4096
/* A drain at the end waits this many turns for a record that may never
 * come (its thread killed between number and record) before skipping it. */
#define FINAL_PATIENCE 100000
/* The block a record this far ahead needs is asked of the cache: a table
 * of millions of live blocks misses it, and the misses overlap. */
#define PREFETCH_AHEAD 16
/* Records the sink's thread lets gather before it takes them, staying
 * half as many behind: taking them in small batches, close behind the
 * program, cost the sink a third more time (cache lines crossing back
 * and forth between the cores); far behind, the rings in use outgrow the
 * cache the cores share.  A short Python run recorded at 1.43 times its
 * bare time with 65,536, 1.35-1.37 with 8,192 and 16,384; a long one at
 * 1.26 and 1.20 (65,536 and 16,384). */
#define SINK_BATCH 16384
/* The most it takes at one hold of the lock (some tens of ms), so that a
 * thread ending the file never waits long. */
#define PASS_MOST (4 * SINK_BATCH)
/* The sink's thread, finding too little to take, naps, each nap twice the
 * last within these bounds (ns); after the longest it takes whatever there
 * is, so that an idle program's records reach the file within a few ms. */
#define NAP_SHORTEST 20000
#define NAP_LONGEST 1000000
/* While it takes records in, the sink's thread looks at the clock every
 * this many (some tens of us), to note each tick soon after it comes. */
#define NOTE_EVERY 256

sink_shared sink_counters;

/* Every thread looks at pid at every call, and the flags after it pass
 * between the ending thread and the sink's; the rest is the drainer's, on
 * cache lines of its own, so that its writes never take the program's
 * lines away. */
/* What --stats keeps beside a block's tag: its bytes, and the second of
 * the recording it was allocated in. */
enum { BLOCK_BYTES = 1, BLOCK_BORN = 2 };

static struct {
    _Alignas(64) pid_t pid; /* the process the sink is for: a vfork child shares it */
    _Atomic bool finishing; /* the sink's thread is to stop: the file is being ended */
    _Atomic bool catching_up; /* the sink's thread is to take everything, at once */
    _Atomic uint64_t taken;   /* sequence numbers written, as of the last drain */
    _Alignas(64) pthread_mutex_t lock;
    pthread_t owner; /* who holds the lock, for a signal handler to tell */
    bool owned;
    sink_options options;
    char path[4096];
    uint64_t written;        /* sequence numbers taken out of the rings */
    ring *rings[MAX_RINGS];
    size_t nrings;
    uint32_t next_thread;
    cmt_output *out;
    cmt_writer *writer;
    bool failed;             /* the file could not be written: stop trying */
    cmti_tagger blocks;       /* address -> its tag (and with --stats BLOCK_BYTES, BLOCK_BORN) */
    time_notes times;         /* the calls' times, while the sink's thread notes them */
    age_stats ages;
    uint64_t stats_due; /* ns: when the live statistics are next printed */
    _Atomic bool has_thread;
} sink = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A line on standard error, written at once (stdio may be the program's). */
static void say(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n > 0)
        (void)!write(STDERR_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static void hold(void)
{
    pthread_mutex_lock(&sink.lock);
    sink.owner = pthread_self();
    sink.owned = true;
}

static void release(void)
{
    sink.owned = false;
    pthread_mutex_unlock(&sink.lock);
}

/* Sleeps NS nanoseconds (less than a second). */
static void sleep_ns(long ns)
{
    struct timespec pause = {0, ns};
    nanosleep(&pause, NULL);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

long sink_image(void)
{
    const char *image = getenv(CMTRECORD_IMAGE);
    char *dot;
    if (!image || strtol(image, &dot, 10) != (long)getpid() || *dot != '.')
        return 0;
    return atol(dot + 1);
}

/* This process's file, by one rule: the one cmtrecord named (-o) for the
 * process it started (CMTRECORD_PID), in its first image; for every other
 * process STEM.PID.cmt beside it, and STEM.PID.N.cmt for the program it
 * runs after its Nth exec. */
static void choose_path(void)
{
    const char *pid_env = getenv(CMTRECORD_PID);
    long image = sink_image();
    bool root = pid_env && atol(pid_env) == (long)getpid() && image == 0;
    const char *output = sink.options.output;
    if (output && root) {
        snprintf(sink.path, sizeof sink.path, "%s", output);
        return;
    }
    char stem[2048];
    if (output) {
        size_t len = strlen(output);
        if (cmti_has_suffix(output, ".cmt"))
            len -= 4;
        snprintf(stem, sizeof stem, "%.*s", (int)len, output);
    } else {
        snprintf(stem, sizeof stem, "%s", program_invocation_short_name);
    }
    if (image > 0)
        snprintf(sink.path, sizeof sink.path, "%s.%ld.%ld.cmt", stem, (long)getpid(), image);
    else
        snprintf(sink.path, sizeof sink.path, "%s.%ld.cmt", stem, (long)getpid());
}

static bool drain_held(uint64_t lag, uint64_t most);

/* True if the live statistics are kept (--stats): only then does the
 * table hold each block's bytes and age, and the rings each call's time. */
static bool counting(void)
{
    return sink.options.stats_seconds > 0;
}

/* --stats: the statistics, once they are due. */
static void print_stats_if_due(void)
{
    if (!counting())
        return;
    uint64_t now = now_ns();
    if (now < sink.stats_due)
        return;
    if (sink.stats_due)
        ages_print(&sink.ages, STDERR_FILENO, program_invocation_short_name, (long)getpid());
    sink.stats_due = now + (uint64_t)(sink.options.stats_seconds * 1e9);
    ages_advance(&sink.ages, now / 1000000000u);
}

/* Notes the clock and the numbers handed out by then, if its tick has
 * moved on since the last note (times.c).  In ms, as the threads' own
 * stamps are. */
static void note_time(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts); /* before the count: the numbers after it came later */
    uint64_t ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec / 1000000u * 1000000u;
    if (ns != time_notes_last(&sink.times))
        time_notes_add(&sink.times, atomic_load(&sink_counters.issued), ns);
}

/* The sink's thread: drains while there is anything to take, naps while
 * there is not, notes the time, and prints the live statistics when they
 * are due.  It takes no signals (a signal handler on it would find the
 * sink held by its own thread, and could not end the file). */
static void *sink_loop(void *arg)
{
    (void)arg;
    hooks_ignore_this_thread();
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    prctl(PR_SET_TIMERSLACK, 1000UL); /* naps as short as asked */
    hold();
    note_time();
    atomic_fetch_and_explicit(&sink_counters.mode, ~(unsigned)SINK_STAMPING, memory_order_release); /* after the note's count */
    release();
    long nap = NAP_SHORTEST;
    while (!atomic_load(&sink.finishing)) {
        hold();
        note_time();
        bool took = false;
        if (!sink_finished()) {
            /* While the program records flat out, the sink stays a batch
             * behind it, off the cache lines it is writing; once it naps
             * long, it takes everything. */
            bool idle = nap == NAP_LONGEST || atomic_load(&sink.catching_up);
            if (idle || atomic_load(&sink_counters.issued) - sink.written >= SINK_BATCH)
                took = drain_held(idle ? 0 : SINK_BATCH / 2, PASS_MOST);
            print_stats_if_due();
        }
        release();
        if (took) {
            nap = NAP_SHORTEST;
            continue;
        }
        sleep_ns(nap);
        nap = nap * 2 < NAP_LONGEST ? nap * 2 : NAP_LONGEST;
    }
    return NULL;
}

bool sink_has_thread(void)
{
    return atomic_load_explicit(&sink.has_thread, memory_order_relaxed);
}

void sink_start_thread(void)
{
    hold();
    if (sink.options.own_thread && !sink.has_thread && !sink_finished()) {
        pthread_t t;
        sink.has_thread = pthread_create(&t, NULL, sink_loop, NULL) == 0;
        if (sink.has_thread) /* else the program's threads drain, as with CMTRECORD_THREAD=0 */
            pthread_detach(t);
    }
    release();
}

/* cmtrecord's list of the files a run wrote (CMTRECORD_MANIFEST), a line
 * for each when it is made and one when it is ended, with the tagger's
 * counts: "PATH" and "PATH\tunknown frees\tunknown reallocs\treused live".
 * Lines of a few hundred bytes, appended in one write: whole, whatever
 * other processes append at the same time. */
static void tell_cmtrecord(bool ended)
{
    const char *manifest = getenv(CMTRECORD_MANIFEST);
    if (!manifest)
        return;
    char line[sizeof sink.path + 80];
    int n = ended ? snprintf(line, sizeof line, "%s\t%llu\t%llu\t%llu\n", sink.path,
                             (unsigned long long)sink.blocks.counts.unknown_frees,
                             (unsigned long long)sink.blocks.counts.unknown_reallocs,
                             (unsigned long long)sink.blocks.counts.reused_live)
                  : snprintf(line, sizeof line, "%s\n", sink.path);
    int fd = open(manifest, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0)
        return;
    if (n > 0 && (size_t)n < sizeof line)
        (void)!write(fd, line, (size_t)n);
    close(fd);
}

/* By hand, without cmtrecord to tell: what the tagger counted, if
 * anything, on standard error. */
static void say_counts(void)
{
    const cmti_tag_counts *c = &sink.blocks.counts;
    if (getenv(CMTRECORD_MANIFEST) || !(c->unknown_frees || c->unknown_reallocs || c->reused_live))
        return;
    say("cmtrecord: %s: %llu frees and %llu reallocs of blocks never seen allocated (from before the recording "
        "or the fork began), %llu blocks returned while still live\n",
        sink.path, (unsigned long long)c->unknown_frees, (unsigned long long)c->unknown_reallocs,
        (unsigned long long)c->reused_live);
}

/* Out of memory for the recorder's own tables: the file ends where it is
 * (its blocks so far whole), the program goes on. */
static void out_of_memory(void)
{
    if (!sink.failed)
        say("cmtrecord: %s: out of memory; recording stops here\n", sink.path[0] ? sink.path : "the recording");
    sink.failed = true;
}

/* The file, made with the first event (put() asks).  Apart and cold:
 * when it was asked at every event whether the file was open, its 2 KiB
 * of messages on the stack were set up each time, 3% of the sink's
 * thread on a short Python run. */
static __attribute__((noinline, cold)) bool open_file(void)
{
    choose_path();
    char err[512];
    int fd = open(sink.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        say("cmtrecord: %s: can't create: %s; not recording\n", sink.path, strerror(errno));
        sink.failed = true;
        return false;
    }
    sink.out = cmt_output_open_fd(fd, sink.path);
    if (!sink.out) {
        close(fd);
        out_of_memory();
        return false;
    }
    sink.writer = cmt_writer_open(sink.out, sink.options.level, err, sizeof err);
    if (sink.writer && sink.options.addresses && cmt_writer_keep_addresses(sink.writer) < 0) {
        snprintf(err, sizeof err, "%s", cmt_writer_error(sink.writer));
        cmt_writer_close(sink.writer);
        sink.writer = NULL;
    }
    if (!sink.writer) {
        say("cmtrecord: %s: %s; not recording\n", sink.path, err);
        cmt_output_abort(sink.out);
        sink.failed = true;
        return false;
    }
    tell_cmtrecord(false);
    return true;
}

/* The writer failed: what it said, and the recording stops. */
static __attribute__((noinline, cold)) void writing_failed(void)
{
    say("cmtrecord: %s: %s; recording stops here\n", sink.path, cmt_writer_error(sink.writer));
    sink.failed = true;
}

static inline __attribute__((always_inline)) void put(const cmt_event *ev)
{
    if (sink.failed || (!sink.writer && !open_file()))
        return;
    if ((ev->stack && stacks_name_upto(sink.writer, ev->stack) < 0) || cmt_writer_write(sink.writer, ev) < 0)
        writing_failed();
}

/* The tagger's word that block E is gone: its statistics. */
static void forget(void *context, const cmti_map_entry *e)
{
    (void)context;
    if (counting())
        ages_remove(&sink.ages, e->value[BLOCK_BORN], e->value[BLOCK_BYTES]);
}

/* An empty address table: tags only, unless the statistics want each
 * block's bytes and age too. */
static void new_table(void)
{
    if (cmti_tagger_init(&sink.blocks, counting() ? 3 : 1, false, forget, NULL) < 0)
        out_of_memory();
}

/* Record R of thread THREAD, made at TIME (ns, the coarse monotonic
 * clock) from STACK (0 without --stacks). */
static void convert(const record *r, uint32_t thread, uint64_t time, uint32_t stack)
{
    hooked_call c = record_call(r);
    cmt_event ev = {.op = c.op, .count = 1, .size = c.size, .thread = thread, .time = time};
    switch (ev.op) {
    case CMT_OP_CALLOC: ev.count = c.arg; break;
    case CMT_OP_POSIX_MEMALIGN:
    case CMT_OP_ALIGNED_ALLOC:
    case CMT_OP_MEMALIGN: ev.align = c.arg; break;
    default: break;
    }
    cmt_event implied;
    cmti_map_entry *e;
    cmti_tag_result rc = cmti_tagger_tag(&sink.blocks, &ev, c.arg, c.addr, &implied, &e);
    if (rc == CMT_TAG_DROP)
        return; /* a block from before the recording began */
    if (rc == CMT_TAG_NO_MEMORY) {
        out_of_memory();
        return;
    }
    if (rc == CMT_TAG_IMPLIED)
        put(&implied); /* the free of the block that was there was lost in a race between threads */
    if (ev.tag) {
        ev.addr = c.addr; /* kept with --addresses */
        ev.stack = stack;
    }
    if (e && counting()) {
        uint64_t bytes = cmt_event_bytes(&ev);
        if (rc == CMT_TAG_IN_PLACE) {
            ages_resize(&sink.ages, e->value[BLOCK_BYTES], bytes); /* not a free and an allocation: its age goes on */
        } else {
            e->value[BLOCK_BORN] = time / 1000000000u;
            ages_add(&sink.ages, e->value[BLOCK_BORN], bytes);
        }
        e->value[BLOCK_BYTES] = bytes;
    }
    put(&ev);
}

/* convert() for the records most are, where there are no statistics,
 * addresses or stacks to keep: a free of a live block, and a malloc (of
 * one slot) of a block not live, straight from the tagger's table to the
 * writer, with no event built (a sixth of the sink's instructions).  False
 * for any other record (nothing done: convert() is for it). */
static inline __attribute__((always_inline)) bool convert_plainly(const record *r, uint32_t thread, uint64_t time)
{
    if (!sink.writer)
        return false; /* put() opens the file */
    int rc;
    if (record_op(r) == CMT_OP_FREE) {
        uint64_t tag = cmti_tagger_free_live(&sink.blocks, r->word);
        if (!tag)
            return false;
        rc = cmti_writer_free(sink.writer, tag, thread, time);
    } else if (record_op(r) == CMT_OP_MALLOC && record_slots(r) == 1) {
        hooked_call c = record_call(r);
        uint64_t tag = cmti_tagger_returned_new(&sink.blocks, c.addr);
        if (!tag)
            return false;
        rc = cmti_writer_malloc(sink.writer, tag, c.size, thread, time);
    } else {
        return false;
    }
    if (rc < 0)
        writing_failed();
    return true;
}

/* Takes every record up to sequence number END (not included) out of the
 * rings, in order.  With FINAL, a record that does not come is given up. */
static void drain_to(uint64_t end, bool final)
{
    size_t at = 0;
    unsigned waited = 0;
    struct timespec ts; /* the records' times are before it (record_time_ns) */
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    uint64_t now = (uint64_t)ts.tv_sec;
    bool stacks = stacks_wanted(); /* asked once, not at every record */
    bool plainly = !stacks && !counting() && !sink.options.addresses;
    /* The clock moves a tick every few ms: runs of stamped records share
     * a stamp, and its time is worked out once a run.  (No stamp is
     * UINT32_MAX: 2^22 seconds in ms stay below it.) */
    uint32_t last_stamp = UINT32_MAX;
    uint64_t last_time = 0;
    /* The others' time, from the sink's notes, is the same up to the next
     * note's count. */
    uint64_t noted_time = 0, noted_until = 0;
    while (sink.written < end) {
        ring *r = NULL;
        for (size_t i = 0; i < sink.nrings && !r; i++) {
            ring *q = sink.rings[(at + i) % sink.nrings];
            uint64_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
            const record *first = ring_next(q, &tail, atomic_load_explicit(&q->head, memory_order_acquire), NULL);
            if (first && record_seq(first) == sink.written) {
                r = q;
                at = (at + i) % sink.nrings;
            }
        }
        if (!r) {
            if (final && ++waited > FINAL_PATIENCE) {
                sink.written++; /* its thread died between number and record */
                waited = 0;
            } else {
                sched_yield();
            }
            continue;
        }
        waited = 0;
        /* A thread's records come in runs: take its run at once. */
        uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
        uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
        while (sink.written < end) {
            uint32_t stack = 0;
            const record *rec = ring_next(r, &tail, head, stacks ? &stack : NULL);
            if (!rec || record_seq(rec) != sink.written)
                break;
            const record *ahead = tail + PREFETCH_AHEAD < head ? ring_peek(r, tail + PREFETCH_AHEAD) : NULL;
            if (ahead)
                cmti_map_prefetch(&sink.blocks.live, record_key(ahead));
            uint64_t time;
            if (record_stamped(rec)) {
                uint32_t stamp = ring_stamp_at(r, tail);
                if (stamp != last_stamp) {
                    last_stamp = stamp;
                    last_time = record_time_ns(stamp, now);
                }
                time = last_time;
            } else {
                if (sink.written % NOTE_EVERY == 0) {
                    note_time(); /* the program runs on meanwhile */
                    noted_until = 0;
                }
                if (sink.written >= noted_until)
                    noted_time = time_notes_of(&sink.times, sink.written, &noted_until);
                time = noted_time;
            }
            if (!sink.failed && !(plainly && convert_plainly(rec, r->thread, time)))
                convert(rec, r->thread, time, stack);
            tail += record_slots(rec);
            sink.written++;
        }
        atomic_store_explicit(&r->tail, tail, memory_order_release);
    }
    /* Rings of threads that have exited, once empty, are given back. */
    for (size_t i = 0; i < sink.nrings;) {
        ring *q = sink.rings[i];
        if (atomic_load(&q->closed) && atomic_load(&q->tail) == atomic_load(&q->head)) {
            sink.rings[i] = sink.rings[--sink.nrings];
            ring_destroy(q);
        } else {
            i++;
        }
    }
}

/* A drain, the sink held: every record handed out so far but the last
 * LAG, at most MOST of them, and the whole blocks to the file now, not
 * when the output's buffer fills, so that a program killed outright loses
 * only the block in hand.  True if there was anything to take. */
static bool drain_held(uint64_t lag, uint64_t most)
{
    uint64_t before = sink.written, issued = atomic_load(&sink_counters.issued);
    uint64_t end = issued > before + lag ? issued - lag : before;
    drain_to(end - before > most ? before + most : end, false);
    atomic_store(&sink.taken, sink.written);
    if (sink.out && !sink.failed && cmt_output_flush(sink.out) < 0) {
        say("cmtrecord: %s; recording stops here\n", cmt_output_error(sink.out));
        sink.failed = true;
    }
    return sink.written != before;
}

void sink_wait_for(ring *r, uint64_t tail)
{
    while (atomic_load_explicit(&r->tail, memory_order_acquire) < tail) {
        if (!atomic_load(&sink.has_thread) || atomic_load(&sink.finishing)) {
            sink_drain();
            return;
        }
        sleep_ns(NAP_SHORTEST);
    }
}

void sink_drain(void)
{
    hold();
    drain_held(0, UINT64_MAX);
    print_stats_if_due(); /* without the sink's thread, the only place */
    release();
}

void sink_start(const sink_options *options)
{
    sink.options = *options;
    sink.pid = getpid();
    atomic_fetch_or(&sink_counters.mode, SINK_STAMPING | (stacks_wanted() ? SINK_STACKS : 0)); /* stamping until the sink's thread notes the times */
    new_table();
    sink.next_thread = 1;
}

ring *sink_add_ring(void)
{
    ring *r = ring_create();
    if (!r)
        return NULL;
    hold();
    if (sink.nrings == MAX_RINGS) {
        release();
        ring_destroy(r);
        return NULL;
    }
    r->thread = sink.next_thread++;
    sink.rings[sink.nrings++] = r;
    release();
    return r;
}

bool sink_is_ours(void)
{
    return getpid() == sink.pid;
}

/* At the end the sink's thread is usually behind (programs free all they
 * have as they exit): it takes what is left, its tables warm in its
 * core's caches, while the ending thread waits; it gives up waiting if
 * the sink's thread stops making progress. */
static void let_the_thread_catch_up(void)
{
    if (!atomic_load(&sink.has_thread))
        return;
    uint64_t end = atomic_load(&sink_counters.issued), seen = atomic_load(&sink.taken);
    atomic_store(&sink.catching_up, true);
    for (int still = 0; seen < end && still < 2000; still++) {
        sleep_ns(100000);
        uint64_t now = atomic_load(&sink.taken);
        if (now != seen)
            still = 0;
        seen = now;
    }
}

void sink_finish(bool in_handler)
{
    if (sink_finished())
        return;
    /* From a signal handler the lock may be held: by this very thread (it
     * crashed draining: nothing can be trusted) or by another (wait a
     * little for it). */
    if (sink.owned && pthread_equal(sink.owner, pthread_self()))
        return;
    if (!in_handler)
        let_the_thread_catch_up();
    atomic_store(&sink.finishing, true);
    bool held = !in_handler && pthread_mutex_lock(&sink.lock) == 0;
    for (int i = 0; in_handler && i < 2000 && !(held = pthread_mutex_trylock(&sink.lock) == 0); i++) {
        sleep_ns(1000000);
    }
    if (!held)
        return;
    sink.owner = pthread_self();
    sink.owned = true;
    atomic_fetch_or(&sink_counters.mode, SINK_ENDED);
    note_time(); /* the calls since the sink's thread last did were before now */
    drain_to(atomic_load(&sink_counters.issued), true);
    if (sink.writer) {
        char err[512];
        if (!sink.failed && cmt_writer_finish(sink.writer) < 0)
            say("cmtrecord: %s: %s\n", sink.path, cmt_writer_error(sink.writer));
        cmt_writer_close(sink.writer);
        if (cmt_output_commit(sink.out, err, sizeof err) < 0)
            say("cmtrecord: %s\n", err);
        sink.writer = NULL;
        tell_cmtrecord(true);
        say_counts();
    }
    if (counting())
        ages_print(&sink.ages, STDERR_FILENO, program_invocation_short_name, (long)getpid());
    stacks_report();
    release();
}

void sink_before_fork(void)
{
    hold();
    ring_before_fork();
}

void sink_after_fork_parent(void)
{
    ring_after_fork();
    release();
}

void sink_after_fork_child(ring *keep)
{
    /* The parent's file is the parent's: the child lets go of its copy
     * (closing the descriptor, writing nothing) and starts its own with
     * its first event.  Only the forking thread lives on, with its ring
     * emptied. */
    ring_after_fork();
    if (sink.writer) {
        cmt_writer_close(sink.writer);
        cmt_output_abort(sink.out);
        sink.writer = NULL;
    }
    cmti_tagger_destroy(&sink.blocks);
    new_table();
    sink.times.first = sink.times.count = 0;
    atomic_fetch_or(&sink_counters.mode, SINK_STAMPING); /* until the child's sink thread notes the times */
    stacks_new_file();
    sink.ages = (age_stats){0};
    sink.stats_due = 0;
    sink.has_thread = false;
    atomic_store(&sink.finishing, false);
    atomic_store(&sink.catching_up, false);
    atomic_store(&sink.taken, 0);
    sink.failed = false;
    atomic_store(&sink_counters.issued, 0);
    sink.written = 0;
    sink.pid = getpid();
    for (size_t i = 0; i < sink.nrings; i++)
        if (sink.rings[i] != keep)
            ring_destroy(sink.rings[i]);
    sink.nrings = 0;
    sink.next_thread = 1;
    if (keep) {
        ring_clear(keep);
        keep->thread = sink.next_thread++;
        sink.rings[sink.nrings++] = keep;
    }
    release();
}
