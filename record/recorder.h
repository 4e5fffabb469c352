/*
 * recorder.h - the parts of libcmtrecord.so, the allocation recorder that
 * cmtrecord preloads into a program.
 *
 * hooks.c    the program's malloc, free... : each call goes to the real
 *            function and leaves a record in its thread's ring
 * sink.c     records, from every thread's ring in the order the calls
 *            happened, turned into events and written as a .cmt file
 * ages.c     the live statistics (--stats): allocations by age
 */
#ifndef CMT_RECORDER_H
#define CMT_RECORDER_H

#include <cmt.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* One call, as the hook saw it: addresses, not yet tags. */
typedef struct record {
    uint64_t seq;  /* its place among all threads' calls, from 0 with no gaps */
    uint64_t addr; /* the block returned */
    uint64_t arg;  /* free, realloc: the block passed */
    uint64_t size; /* bytes asked for; calloc: bytes an element */
    uint64_t aux;  /* calloc: elements; the aligned calls: the alignment */
    uint64_t time; /* CLOCK_MONOTONIC ns, with --stats; else 0 */
    uint32_t thread;
    uint8_t op;    /* cmt_op */
} record;

/* A thread's records on their way to the sink: written only by the
 * thread (head), read only by whoever holds the sink (tail). */
#define RING_RECORDS 4096u
typedef struct ring {
    _Atomic uint64_t head, tail;
    _Atomic bool closed; /* its thread has exited: reclaim when empty */
    uint32_t thread;
    record slots[RING_RECORDS];
} ring;

/* ------------------------------------------------------------------ sink */

/* Where the trace goes and how: from the environment cmtrecord sets. */
typedef struct sink_options {
    const char *output;     /* CMTRECORD_OUTPUT: this process's file; NULL: PROGRAM.PID.cmt */
    double stats_seconds;   /* CMTRECORD_STATS: live statistics every so often; 0: none */
    int level;              /* CMTRECORD_LEVEL: zstd level */
} sink_options;

/* Reads the options and starts the sink; the file is created with the
 * first event.  Called once, before any hook records. */
void sink_start(const sink_options *options);

/* A new thread's ring, registered with the sink; NULL if out of memory. */
ring *sink_add_ring(void);

/* The next sequence number, for a call about to be recorded. */
uint64_t sink_next_seq(void);

/* Takes records from every ring, in sequence order, into the file, up to
 * the last sequence number handed out when it started (so a thread whose
 * ring is full has room after).  Takes the sink's lock. */
void sink_drain(void);

/* Drains everything, ends the file and closes it; later calls are not
 * recorded.  Safe to call twice; from a signal handler it does its best. */
void sink_finish(void);

/* fork(): before (the sink is held so that no drain is half done), after
 * in the parent, and after in the child, which starts a file of its own
 * and keeps only KEEP, the forking thread's ring (NULL if it had none). */
void sink_before_fork(void);
void sink_after_fork_parent(void);
void sink_after_fork_child(ring *keep);

/* True once sink_finish has run. */
bool sink_finished(void);

/* False in the child of a vfork (or a bare clone), which shares the
 * parent's memory, sink included, without fork's handlers having run. */
bool sink_is_ours(void);

/* ----------------------------------------------------------------- hooks */

/* The calling thread's allocations are the recorder's own from now on:
 * never recorded (the statistics thread). */
void hooks_ignore_this_thread(void);

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

/* Moves the slices on to SECOND. */
void ages_advance(age_stats *a, uint64_t second);

/* Prints the statistics to standard error as one block of lines. */
void ages_print(const age_stats *a, int fd, const char *program, long pid);

#endif /* CMT_RECORDER_H */
