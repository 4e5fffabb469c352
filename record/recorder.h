/*
 * recorder.h - the parts of libcmtrecord.so, the allocation recorder that
 * cmtrecord preloads into a program.
 *
 * hooks.c    the program's malloc, free... : each call goes to the real
 *            function and leaves a record in its thread's ring
 * ring.c     a thread's records, in chunks, on their way to the sink
 * sink.c     records, from every thread's ring in the order the calls
 *            happened, turned into events and written as a .cmt file by
 *            a thread of the recorder's own
 * times.c    when each call was made, as the sink's thread saw the
 *            calls numbered
 * ages.c     the live statistics (--stats): allocations by age
 * stacks.c   the call stacks of the allocations (--stacks), interned
 * unwind.c   a thread's stack walked from the binaries' .eh_frame
 */
#ifndef CMT_RECORDER_H
#define CMT_RECORDER_H

#include "protocol.h"

#include <cmt.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* One call, as the hook saw it: addresses, not yet tags.  A free, and a
 * malloc of less than 64 KiB, take one slot of 16 bytes, four to a cache
 * line (the lines cross from the program's core to the sink's: records of
 * 64 bytes cost a short Python run a tenth of its bare time more than
 * records of 32, and 16 took a long one from 1.22x to 1.11x); the other
 * calls take two (RECORD_LONG), the second holding what the first has no
 * room for. */
typedef struct record {
    /* Its place among all threads' calls (from 0 with no gaps) << 8 | its
     * cmt_op, with RECORD_STAMPED if its time is in the chunk's times and
     * RECORD_LONG if it takes two slots: one plain word, where bit-fields
     * would have the thread load the line before it writes it.  In a
     * second slot, the block passed (realloc) or aux. */
    uint64_t order;
    /* The block returned (free: passed), and in one slot a malloc's size
     * above RECORD_ADDRESS_BITS; in a second slot, the bytes asked for. */
    uint64_t word;
} record;

#define RECORD_STAMPED 0x80u
#define RECORD_LONG 0x40u
#define RECORD_OP_MASK 0x3fu
/* The last slot of a chunk, left empty by a record of two slots: no call's. */
#define RECORD_PAD RECORD_OP_MASK
/* x86-64's user addresses (and AArch64's) fit 48 bits; a malloc that
 * returns one above, or asks for 64 KiB or more, takes two slots. */
#define RECORD_ADDRESS_BITS 48
#define RECORD_ADDRESS_MASK ((1ULL << RECORD_ADDRESS_BITS) - 1)
#define RECORD_SHORT_SIZE_MOST 0xffffu

/* What a record says, whether in one slot or two. */
typedef struct hooked_call {
    cmt_op op;
    uint64_t addr;    /* the block returned */
    uint64_t arg;     /* free, realloc: the block passed; calloc: elements; the aligned calls: the alignment */
    uint64_t size;    /* bytes asked for; calloc: bytes an element */
} hooked_call;

/* The slots a call takes. */
static inline unsigned record_slots_for(cmt_op op, uint64_t addr, uint64_t size)
{
    return op == CMT_OP_FREE ||
                   (op == CMT_OP_MALLOC && size <= RECORD_SHORT_SIZE_MOST && addr >> RECORD_ADDRESS_BITS == 0)
               ? 1
               : 2;
}

/* Writes call C, numbered SEQ, into SLOTS slots at R. */
static inline void record_put(record *r, unsigned slots, uint64_t seq, const hooked_call *c, bool stamped)
{
    uint64_t order = seq << 8 | (uint64_t)c->op | (stamped ? RECORD_STAMPED : 0) | (slots == 2 ? RECORD_LONG : 0);
    if (c->op == CMT_OP_FREE) {
        r[0] = (record){order, c->arg};
    } else if (slots == 1) {
        r[0] = (record){order, c->addr | c->size << RECORD_ADDRESS_BITS};
    } else {
        r[0] = (record){order, c->addr};
        r[1] = (record){c->arg, c->size};
    }
}

static inline uint64_t record_seq(const record *r)
{
    return r->order >> 8;
}

static inline cmt_op record_op(const record *r)
{
    return (cmt_op)(r->order & RECORD_OP_MASK);
}

static inline bool record_is_pad(const record *r)
{
    return (unsigned)record_op(r) == RECORD_PAD;
}

static inline unsigned record_slots(const record *r)
{
    return r->order & RECORD_LONG ? 2 : 1;
}

/* True if the thread read the clock for the call itself (no sink's thread
 * was noting the times: times.c). */
static inline bool record_stamped(const record *r)
{
    return r->order & RECORD_STAMPED;
}

/* The call record R (its slots) says. */
static inline hooked_call record_call(const record *r)
{
    hooked_call c = {.op = record_op(r)};
    if (c.op == CMT_OP_FREE) {
        c.arg = r->word;
    } else if (r->order & RECORD_LONG) {
        c.addr = r->word;
        c.arg = r[1].order;
        c.size = r[1].word;
    } else {
        c.addr = r->word & RECORD_ADDRESS_MASK;
        c.size = r->word >> RECORD_ADDRESS_BITS;
    }
    return c;
}

/* The block whose table entry R's call looks at first, for a prefetch: the
 * one it frees, or the one it returns. */
static inline uint64_t record_key(const record *r)
{
    return r->word & RECORD_ADDRESS_MASK;
}

/* ------------------------------------------------------------------ ring */

/* A thread's records on their way to the sink: written only by the thread
 * (head), read only by whoever holds the sink (tail), both counted in
 * slots.  The records are kept in a chain of chunks that grows while the
 * sink's thread is behind (programs allocate in bursts) up to RING_MOST
 * slots (without the thread, a chunk's worth), and gives its chunks back
 * as the sink takes them in.  The two ends live on cache lines of their
 * own, and the thread looks at the sink's end only when the room it last
 * saw is used up, so that a sink on another core costs the thread no
 * cache misses of its own. */
#define CHUNK_SLOTS 8192u
#define RING_MOST (1u << 23)

typedef struct chunk {
    _Atomic(struct chunk *) next; /* set by the thread before its first record there */
    _Alignas(64) record slots[CHUNK_SLOTS];
    uint32_t times[CHUNK_SLOTS];  /* by a record's first slot, stamped records': record_clock()'s */
    uint32_t stacks[CHUNK_SLOTS]; /* by a record's first slot, allocations' stacks, with --stacks only (else not mapped) */
} chunk;

typedef struct ring {
    _Alignas(64) _Atomic uint64_t head;
    uint64_t room_until; /* head may go this far before the thread looks further */
    uint64_t write_end;  /* where the chunk being written ends */
    chunk *writing;
    _Alignas(64) _Atomic uint64_t tail;
    uint64_t read_end;   /* where the chunk being read ends */
    chunk *reading;
    uint32_t thread;     /* the sink's number for it */
    _Atomic bool closed; /* its thread has exited: reclaim when empty */
} ring;

/* Whether chunks have room for each record's stack (--stacks); called
 * once, before the first ring is made. */
void ring_keep(bool stacks);

/* A new, empty ring; NULL if out of memory. */
ring *ring_create(void);

/* Gives back the ring and its chunks. */
void ring_destroy(ring *r);

/* SLOTS slots more from HEAD would pass room_until: moves on to a new
 * chunk if the one being written has no room for them (its last slot
 * padded when a record of two slots does not fit), and with RING_MOST
 * slots waiting the thread waits for the sink first.  False if out of
 * memory. */
bool ring_make_room(ring *r, uint64_t head, unsigned slots);

/* The thread asks for the cache line it will write this many slots on:
 * a line not in its cache would otherwise stall the thread's next locked
 * instruction (its own sequence number, malloc's arena lock) until the
 * store was done.  A page ahead or so; much further, and the lines are
 * gone again before use.  (Built for any x86-64 the hint is a plain
 * prefetch; PREFETCHW, asking for the line to write, measured no
 * different on the Python bench.) */
#define WRITE_AHEAD 512u

/* The slots at AT in the chunk being written, the line WRITE_AHEAD slots
 * on asked for (past the chunk's slots, a line of its times: harmless). */
static inline record *ring_writing_at(ring *r, unsigned at)
{
    record *slots = &r->writing->slots[at];
    __builtin_prefetch((const char *)slots + WRITE_AHEAD * sizeof(record), 1);
    return slots;
}

/* SLOTS slots (1 or 2, in one chunk) for the thread's next record, and in
 * *TIME and *STACK the places for its time and stack, made room for; NULL
 * if out of memory.  ring_publish hands them over.  Inline: every call the
 * program makes comes through here. */
static inline record *ring_claim(ring *r, unsigned slots, uint32_t **time, uint32_t **stack)
{
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    if (__builtin_expect(head + slots > r->room_until, 0)) {
        if (!ring_make_room(r, head, slots))
            return NULL;
        head = atomic_load_explicit(&r->head, memory_order_relaxed); /* past a pad */
    }
    unsigned at = (unsigned)(head % CHUNK_SLOTS);
    *time = &r->writing->times[at];
    *stack = &r->writing->stacks[at];
    return ring_writing_at(r, at);
}

/* ring_claim where the ring has room as it is, for the hooks' plain way;
 * NULL where it has not (ring_claim makes room). */
static inline record *ring_claim_in_room(ring *r, unsigned slots)
{
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    if (__builtin_expect(head + slots > r->room_until, 0))
        return NULL;
    return ring_writing_at(r, (unsigned)(head % CHUNK_SLOTS));
}

static inline void ring_publish(ring *r, unsigned slots)
{
    atomic_store_explicit(&r->head, atomic_load_explicit(&r->head, memory_order_relaxed) + slots,
                          memory_order_release);
}

/* The sink's side: the slot at TAIL, which must be below head; once TAIL
 * leaves a chunk, the chunk is given back. */
const record *ring_slot_at(ring *r, uint64_t tail);

/* The record at *TAIL, which starts from the ring's tail, its slots in
 * one chunk (and its stack in *STACK, where not NULL); NULL if none has
 * come before HEAD.  A pad there is taken for good: *TAIL and the ring's
 * tail move past it.  Inline: the sink asks it at every record. */
static inline const record *ring_next(ring *r, uint64_t *tail, uint64_t head, uint32_t *stack)
{
    if (*tail == head)
        return NULL;
    const record *rec = ring_slot_at(r, *tail);
    /* A pad is the last slot of its chunk: the record after it, if one
     * has come, is the next chunk's first.  Stepping there gives the
     * pad's chunk back, so the ring's tail must not stay on the pad: a
     * look at the ring that did not take its record (the sink looking for
     * the next number) would leave the tail pointing into the wrong
     * chunk, and the sink waiting forever for a record it had passed. */
    if (__builtin_expect(record_is_pad(rec), 0)) {
        atomic_store_explicit(&r->tail, ++*tail, memory_order_release);
        if (*tail == head)
            return NULL;
        rec = ring_slot_at(r, *tail);
    }
    if (stack)
        *stack = r->reading->stacks[*tail % CHUNK_SLOTS];
    return rec;
}

/* The time stamped with the record at TAIL (record_stamped), asked right
 * after ring_next found it there. */
static inline uint32_t ring_stamp_at(const ring *r, uint64_t tail)
{
    return r->reading->times[tail % CHUNK_SLOTS];
}

/* A call's time, as the program's thread notes it when no sink's thread
 * is there to (times.c): the clock the kernel keeps a tick at a time
 * (CLOCK_MONOTONIC_COARSE, every 4 ms here; read from the vDSO's page, 5
 * ns), in ms, its seconds taken modulo 2^22 (48 days) to fit 32 bits: 8
 * bytes a record more were a quarter more pages to clear for the rings,
 * and more than the clock cost. */
#define CLOCK_SECONDS_MASK ((1u << 22) - 1)

static inline uint32_t record_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return ((uint32_t)ts.tv_sec & CLOCK_SECONDS_MASK) * 1000u + (uint32_t)(ts.tv_nsec / 1000000);
}

/* The time in ns of a record_clock() STAMP taken less than 48 days
 * before NOW (seconds of the same clock; a stamp a second or two after
 * it, from a call that took its number before NOW, reads right too). */
static inline uint64_t record_time_ns(uint32_t stamp, uint64_t now)
{
    uint64_t reference = now + 2, seconds = stamp / 1000u;
    uint64_t whole = reference - ((reference - seconds) & CLOCK_SECONDS_MASK);
    return (whole * 1000u + stamp % 1000u) * 1000000u;
}

/* The slot at TAIL if it is in the chunk being read, for a prefetch (it
 * may be a record's second slot, or a pad); else NULL. */
const record *ring_peek(const ring *r, uint64_t tail);

/* Empties the ring, its records dropped (a fork's child). */
void ring_clear(ring *r);

/* fork(): the chunks kept for reuse are held across it. */
void ring_before_fork(void);
void ring_after_fork(void);

/* ------------------------------------------------------------------ sink */

/* Where the trace goes and how: from the environment cmtrecord sets. */
typedef struct sink_options {
    const char *output;     /* CMTRECORD_OUTPUT: this process's file; NULL: PROGRAM.PID.cmt */
    double stats_seconds;   /* CMTRECORD_STATS: live statistics every so often; 0: none */
    int level;              /* CMTRECORD_LEVEL: zstd level */
    bool addresses;         /* CMTRECORD_ADDRESSES: keep every block's address */
    int stacks;             /* CMTRECORD_STACKS: the depth of the stacks kept; 0: none */
    bool own_thread;        /* CMTRECORD_THREAD (not 0): the sink has a thread of its own */
} sink_options;

/* Reads the options and starts the sink; the file is created with the
 * first event.  Called once, before any hook records. */
void sink_start(const sink_options *options);

/* A new thread's ring, registered with the sink; NULL if out of memory. */
ring *sink_add_ring(void);

/* Sequence numbers handed out, and the sink's mode: every call looks at
 * both, so each has a cache line of its own, and nothing else is on it
 * (the struct's size is whole lines).  A variable that only starts a line
 * shares the rest with whatever the linker puts after it: the stacks'
 * depth, which the sink reads at every record, slowed a Python run by a
 * third from there. */
typedef struct sink_shared {
    _Alignas(64) _Atomic uint64_t issued;
    _Alignas(64) _Atomic unsigned mode; /* SINK_ENDED, SINK_STAMPING, SINK_STACKS */
} sink_shared;
extern sink_shared sink_counters;

/* What a call must do beyond a plain record, in one word that a hook reads
 * once (0: nothing). */
enum {
    SINK_ENDED = 1,    /* the file is ended: calls go unrecorded */
    SINK_STAMPING = 2, /* the threads read the clock for each call: no sink's thread notes the times */
    SINK_STACKS = 4,   /* each allocation's stack is kept (--stacks) */
};

/* The mode, read before the call's number is taken: once the sink's
 * thread notes the times, every number taken after is in its notes. */
static inline unsigned sink_mode(void)
{
    return atomic_load_explicit(&sink_counters.mode, memory_order_acquire);
}

/* The next sequence number, for a call about to be recorded. */
static inline uint64_t sink_next_seq(void)
{
    return atomic_fetch_add_explicit(&sink_counters.issued, 1, memory_order_relaxed);
}

/* Starts the sink's thread, which takes the records in as they come, on
 * another core if there is one; without it (not wanted, or it could not
 * be started), threads drain the rings themselves whenever a chunk fills.
 * The calling thread's allocations meanwhile must not be recorded. */
void sink_start_thread(void);

/* True if the sink's thread is taking the records in. */
bool sink_has_thread(void);

/* Returns once R's records up to TAIL have been taken: waits while the
 * sink's thread runs (it is taking records as fast as it can, its tables
 * warm in its core's caches; draining here would only stop it), else
 * drains. */
void sink_wait_for(ring *r, uint64_t tail);

/* Takes records from every ring, in sequence order, into the file, up to
 * the last sequence number handed out when it started (so a thread whose
 * ring is full has room after).  Takes the sink's lock. */
void sink_drain(void);

/* Drains everything, ends the file and closes it; later calls are not
 * recorded.  Safe to call twice.  From a signal handler (IN_HANDLER) it
 * does its best: it waits two seconds at most for the sink's lock. */
void sink_finish(bool in_handler);

/* fork(): before (the sink is held so that no drain is half done), after
 * in the parent, and after in the child, which starts a file of its own
 * and keeps only KEEP, the forking thread's ring (NULL if it had none);
 * the child has no sink thread until sink_start_thread. */
void sink_before_fork(void);
void sink_after_fork_parent(void);
void sink_after_fork_child(ring *keep);

/* Which image of this process is running: 0 for its first, N after its
 * Nth exec.  CMTRECORD_IMAGE says "PID.N", so that a child (forked, or
 * spawned, which execs inside the C library) inherits no count of its
 * parent's. */
long sink_image(void);

/* True once sink_finish has run. */
static inline bool sink_finished(void)
{
    return atomic_load_explicit(&sink_counters.mode, memory_order_relaxed) & SINK_ENDED;
}

/* False in the child of a vfork (or a bare clone), which shares the
 * parent's memory, sink included, without fork's handlers having run. */
bool sink_is_ours(void);

/* ----------------------------------------------------------------- hooks */

/* The calling thread's allocations are the recorder's own from now on:
 * never recorded (the sink's thread). */
void hooks_ignore_this_thread(void);

/* ---------------------------------------------------------------- stacks */

/* Starts keeping the stacks of the allocations, DEPTH frames deep (0:
 * none); called once, before any hook records. */
void stacks_start(int depth);

/* True once stacks_start has been asked for them, and could. */
bool stacks_wanted(void);

/* The calling thread's stack, from its call into the recorder's hook:
 * its number, 0 if it could not be had (no frames, no memory). */
uint32_t stacks_capture(void);

/* unwind.c: the calling thread's return addresses, innermost first, up
 * to MOST, into IPS; their count, or -1 where a frame's rule is not one
 * it follows (libunwind's then). */
int unwind_stack(void **ips, int most);

/* With CMTRECORD_UNWIND_CHECK, how many stacks each way took, on
 * standard error. */
void stacks_report(void);

/* The calling thread is exiting: its caches are given back (a program
 * that makes a thread for each task would otherwise run out of
 * mappings). */
void stacks_thread_gone(void);
void unwind_thread_gone(void);

/* fork(): no thread is adding stacks across it. */
void stacks_before_fork(void);
void stacks_after_fork(void);

/* The sink's: names in W every stack up to STACK not yet named there
 * (and the modules they run in), in order.  0, or -1 (W's error). */
int stacks_name_upto(cmt_writer *w, uint32_t stack);

/* A new file (a fork's child): nothing named in it yet. */
void stacks_new_file(void);

/* ----------------------------------------------------------------- times */

/* The sink's notes of the clock: sequence numbers from ISSUED[i] on were
 * handed out at NS[i] or later.  A ring of them, the oldest still needed
 * first; when it is full, every other note goes (the sink's thread is
 * then more than TIME_NOTES ticks behind the program). */
#define TIME_NOTES 4096
typedef struct time_notes {
    uint64_t issued[TIME_NOTES];
    uint64_t ns[TIME_NOTES];
    size_t first, count;
} time_notes;

/* Adds a note: ISSUED numbers handed out when the clock read NS (read
 * before the count). */
void time_notes_add(time_notes *t, uint64_t issued, uint64_t ns);

/* The time of the call numbered SEQ: the last note's at or before it (the
 * first's if none is), good for the calls before *UNTIL (UINT64_MAX: until
 * another note is added).  Notes before that one are dropped, so SEQ must
 * not go back.  0 with no notes. */
uint64_t time_notes_of(time_notes *t, uint64_t seq, uint64_t *until);

/* The last note's time, 0 with none. */
static inline uint64_t time_notes_last(const time_notes *t)
{
    return t->count ? t->ns[(t->first + t->count - 1) % TIME_NOTES] : 0;
}

/* ------------------------------------------------------------------ ages */

/* The live statistics of the seed's dmalloc: counts per one-second slice
 * of age, shifted as time passes, the allocation time kept with each
 * block, so that no list of live blocks is needed. */
#define AGE_SLICES 1000
typedef struct age_stats {
    uint64_t slice[AGE_SLICES + 1]; /* the last: older than AGE_SLICES seconds */
    uint64_t now;                   /* seconds: the time slice 0 stands for */
    uint64_t current_blocks, current_bytes;
    uint64_t total_allocations, total_frees, total_bytes, in_place_reallocs;
} age_stats;

/* A block allocated at SECOND. */
void ages_add(age_stats *a, uint64_t second, uint64_t bytes);

/* The block allocated at SECOND, of BYTES, is freed. */
void ages_remove(age_stats *a, uint64_t second, uint64_t bytes);

/* A block grew or shrank where it was (realloc): for the statistics the
 * same block, not a free and an allocation. */
void ages_resize(age_stats *a, uint64_t old_bytes, uint64_t new_bytes);

/* Moves the slices on to SECOND. */
void ages_advance(age_stats *a, uint64_t second);

/* Prints the statistics to standard error as one block of lines. */
void ages_print(const age_stats *a, int fd, const char *program, long pid);

#endif /* CMT_RECORDER_H */
