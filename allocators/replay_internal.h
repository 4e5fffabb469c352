/*
 * replay_internal.h - what replay.c and threads.c share, the replay
 * engine's inside.
 */
#ifndef CMT_REPLAY_INTERNAL_H
#define CMT_REPLAY_INTERNAL_H

#include "allocator.h"

/* --pace: the recorded gaps kept.  The replay starts the clock at its
 * first event with a time; each thread then runs an event with a time
 * no sooner than that time after it, and sleeps until then when it is
 * early.  The wall clock is read only when a thread may be early, so a
 * replay slower than the program reads it seldom. */
typedef struct cmt_pace {
    bool started;          /* an event with a time has come: the origins are set */
    uint64_t trace_origin; /* the first event's recorded time, ns */
    double wall_origin;    /* CLOCK_MONOTONIC seconds then */
} cmt_pace;

/* A thread's own view of the pace. */
typedef struct cmt_pace_thread {
    uint64_t elapsed; /* ns since the origin, when last read */
    double slept;     /* seconds asleep waiting for recorded times, in all */
} cmt_pace_thread;

/* The pace of a replay whose first event with a time is at TIME (ns). */
cmt_pace cmt_pace_start(uint64_t time);

/* Waits until the event recorded at TIME (0: no time) is due.  Returns
 * the seconds slept, which the caller's clock of the work must not count. */
double cmt_pace_wait(const cmt_pace *pace, cmt_pace_thread *self, uint64_t time);

/* When a replay's footprint is worth asking the allocator for.  Its
 * statistics can cost more than the replay: glibc's mallinfo2 walks every
 * free chunk, and on a four-thread Python trace (3.7 million blocks live)
 * its 14,000 samples took 59% of the replay's time (76 s of a replay the
 * program ran in 7.5) and held the arenas' locks while the replay threads
 * waited.  But an allocator's footprint grows only by memory it gets from
 * the kernel, which the replay then writes (--touch all or page): the
 * process's resident bytes grow too.  So where the replay writes and the
 * allocator's last answer took more than COSTLY_SAMPLE, it is asked only
 * once they have grown by 1/256 (at least 64 KiB) since it was last
 * asked, a read of /proc/self/statm (3 us) in between.  A spike that
 * comes and goes between two such reads is missed: the fidelity
 * workload's serial replay under glibc peaks 0.8% under what asking at
 * every sample finds (329.9 MB for 332.5; the Python trace's peak is the
 * same to the byte).  Cheap statistics
 * are asked every time: an allocator of a user's own may count as its
 * footprint what it holds, not what it got from the kernel. */
#define COSTLY_SAMPLE 20e-6
typedef struct cmt_sampler {
    bool by_rss;        /* the replay writes its blocks: resident bytes follow the footprint */
    uint64_t next_rss;  /* resident bytes from which a costly allocator is asked again */
    double last_cost;   /* seconds its last answer took (all of them: the report's sample_seconds) */
    uint64_t last_footprint, last_event; /* the last answer, and the event count then */
} cmt_sampler;

/* Takes A's footprint of HEAP into REP (now, its peaks, with LIVE_BYTES
 * live, and over time) when S says it may have grown, or FORCED (the end,
 * a --timeline row).  Returns the
 * live bytes at which to sample next: 1/1024 past their peak, or a page
 * where that is more, so that the footprint is seen within 0.1% (or a
 * page) of the peak of live bytes. */
uint64_t cmt_sample_footprint(const cmt_allocator *a, void *heap, cmt_replay_report *rep, cmt_sampler *s,
                              uint64_t live_bytes, bool forced);

/* A block of the replay on one thread, at its slot (cmt_event.slot). */
typedef struct cmt_replay_block {
    void *p;         /* the allocator's pointer to it; NULL if none, or the replay could not make it */
    uint64_t traced; /* bytes live in the trace */
    uint64_t usable; /* bytes the replay's block has (what accesses may touch); CMT_NOT_MADE where the
                      * trace made the block and the replay could not */
} cmt_replay_block;
#define CMT_NOT_MADE UINT64_MAX

/* Where the replay on one thread stood when the trace's second thread
 * came: every event so far was THREAD's, and the calling thread, which
 * ran them, goes on as that thread's replay thread (the program's first
 * thread is its main thread, and glibc gives the main thread an arena of
 * its own, grown by brk, which no other thread gets). */
typedef struct cmt_replay_start {
    uint32_t thread;
    const cmt_replay_block *blocks; /* by slot: the blocks live so far */
    size_t nblocks;
    uint64_t live_bytes, live_blocks;
    unsigned __int128 live_area; /* live bytes summed over the events so far */
    cmt_pace pace;
    cmt_sampler sampler;
    double wall_start; /* CLOCK_MONOTONIC seconds when the replay began */
} cmt_replay_start;

/* Replays the rest of SOURCE on one thread per recorded thread
 * (threads.c), against ALLOCATOR's HEAP (made, and destroyed, by the
 * caller), from where FROM says the replay stands, the NFIRST events at
 * FIRST (already read, FIRST[0] the first of another thread than FROM's)
 * first.  The calling thread runs FROM->thread's
 * events; the trace is decoded on a thread of its own.  Adds to REPORT's
 * counts, times and footprint; 0, or -1 with a message in ERR.  The blocks
 * FROM holds are the threaded replay's from then on: it frees what the
 * trace leaves live. */
int cmt_replay_threads(cmt_source *source, const cmt_allocator *allocator, void *heap,
                       const cmt_replay_options *options, cmt_replay_report *report, const cmt_replay_start *from,
                       const cmt_event *first, size_t nfirst, char *err, size_t errlen);

/* The recorded time of the first of the N events at EVENTS with one, or 0. */
uint64_t cmt_first_time(const cmt_event *events, size_t n);

/* LIVE_BYTES in LIVE_BLOCKS at EVENT: a new peak of live bytes in REP if
 * they pass it. */
static inline void cmt_note_live(cmt_replay_report *rep, uint64_t live_bytes, uint64_t live_blocks, uint64_t event)
{
    if (live_bytes > rep->peak_live_bytes) {
        rep->peak_live_bytes = live_bytes;
        rep->peak_live_blocks = live_blocks;
        rep->peak_live_event = event;
    }
}

/* The bytes of block P of A's HEAP, pinned in place for a relocating
 * allocator (whose blocks are handles) until cmt_unlock_block. */
static inline uint8_t *cmt_lock_block(const cmt_allocator *a, void *heap, void *p)
{
    return a->lock ? a->lock(heap, p) : p;
}

static inline void cmt_unlock_block(const cmt_allocator *a, void *heap, void *p)
{
    if (a->unlock)
        a->unlock(heap, p);
}

/* Writes bytes [FROM, TO) of the block at P as MODE says. */
void cmt_touch_bytes(cmt_touch mode, uint8_t *p, uint64_t from, uint64_t to);

/* The access EV (a load, store or modify) on the BYTES of a block the
 * replay made USABLE bytes long, clipped to them: a trace may say that a
 * load ran past the end (strlen reading 16 bytes at a time does), the
 * replay must not. */
void cmt_access_bytes(const cmt_event *ev, uint8_t *bytes, uint64_t usable);

/* A realloc that failed when traced succeeded in the replay, moving the
 * block of OLD_BYTES to P: the trace kept its block as it was, so the
 * replay takes P back to the old size (else an access the trace makes to
 * its old bytes would run past the new; not to 0 bytes, which would free
 * it).  Returns where the block is now, with the bytes it has in
 * *USABLE. */
void *cmt_keep_old_size(const cmt_allocator *a, void *heap, void *p, uint64_t old_bytes, uint64_t size,
                        uint64_t *usable);

#endif /* CMT_REPLAY_INTERNAL_H */
