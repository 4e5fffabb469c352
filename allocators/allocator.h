/*
 * allocator.h - the vtable cmtreplay replays a trace against, one file per
 * allocator in this folder, and the replay engine that drives it.
 */
#ifndef CMT_ALLOCATOR_H
#define CMT_ALLOCATOR_H

#include <cmt.h>

#include <stdio.h>

/* Memory an allocator holds from the system, as the allocator itself
 * counts it (glibc: mallinfo2's arena + hblkhd; jemalloc: the replay
 * arena's resident bytes). */
typedef struct cmt_footprint {
    uint64_t bytes;
    uint64_t mapped; /* address space reserved, resident or not */
} cmt_footprint;

/* One allocator behind the replay.  Every call takes the heap that create
 * returned, so that an allocator can replay in a heap of its own and count
 * only what the replay asked of it. */
typedef struct cmt_allocator {
    const char *name;
    const char *description;
    /* Makes a heap; NULL with a message in ERR when the allocator can't. */
    void *(*create)(char *err, size_t errlen);
    void (*destroy)(void *heap);
    void *(*malloc)(void *heap, size_t size);
    void *(*calloc)(void *heap, size_t count, size_t size);
    /* realloc(p, 0) frees p and returns NULL, as glibc's does. */
    void *(*realloc)(void *heap, void *p, size_t size);
    void (*free)(void *heap, void *p);
    /* Any alignment: one that is not a power of two is rounded up to one. */
    void *(*memalign)(void *heap, size_t align, size_t size);
    size_t (*usable_size)(void *heap, void *p);
    void (*footprint)(void *heap, cmt_footprint *fp);
} cmt_allocator;

/* The vtable of the allocator NAME whose functions are NAME_create,
 * NAME_destroy, NAME_malloc... NAME_footprint. */
#define CMT_ALLOCATOR_VTABLE(NAME, DESCRIPTION)                                                    \
    {                                                                                              \
        .name = #NAME, .description = DESCRIPTION, .create = NAME##_create,                        \
        .destroy = NAME##_destroy, .malloc = NAME##_malloc, .calloc = NAME##_calloc,               \
        .realloc = NAME##_realloc, .free = NAME##_free, .memalign = NAME##_memalign,               \
        .usable_size = NAME##_usable_size, .footprint = NAME##_footprint,                          \
    }

extern const cmt_allocator cmt_allocator_system;
extern const cmt_allocator cmt_allocator_jemalloc;

/* Every allocator, NULL-terminated, in the order -a list shows them. */
extern const cmt_allocator *const cmt_allocators[];

/* The allocator called NAME, or NULL. */
const cmt_allocator *cmt_allocator_find(const char *name);

/* The smallest power of two at least ALIGN (and at least a pointer's size). */
size_t cmt_round_alignment(size_t align);

/* ---------------------------------------------------------------- replay */

typedef struct cmt_replay_options {
    bool touch;         /* write every allocated byte, so pages become resident */
    cmt_output *trace;  /* -v: the events with the replaying allocator's pointers */
    /* Called after every batch of events, outside the clock, if not NULL. */
    void (*progress)(void *context, uint64_t events);
    void *progress_context;
} cmt_replay_options;

/* What a replay measured.  Live bytes follow the trace (requested sizes),
 * so they are the same for every allocator; footprint and time are the
 * allocator's. */
typedef struct cmt_replay_report {
    char allocator[32];
    uint64_t events;
    uint64_t calls[CMT_OP_COUNT];
    uint64_t free_null;         /* free(NULL) calls */
    uint64_t failed_in_trace;   /* allocations that returned NULL when traced */
    uint64_t failed_in_replay;  /* allocations that returned NULL now but not then */
    uint64_t failure_not_reproduced; /* returned NULL then, succeeded now */
    double seconds;             /* in allocator calls, bookkeeping and touching */
    uint64_t peak_live_bytes, peak_live_blocks, peak_live_event;
    uint64_t end_live_bytes, end_live_blocks;
    uint64_t peak_footprint, end_footprint, peak_mapped;
    uint64_t start_rss, peak_rss; /* bytes, whole process */
} cmt_replay_report;

/* Replays every event READER yields against ALLOCATOR.  Returns 0, or -1
 * with a message in ERR (a corrupt trace, an allocator that can't start). */
int cmt_replay(cmt_reader *reader, const cmt_allocator *allocator,
               const cmt_replay_options *options, cmt_replay_report *report, char *err,
               size_t errlen);

/* The overhead report of one replay, as text or as one JSON object. */
void cmt_report_print(FILE *f, const cmt_replay_report *r, bool json);

/* Several replays of one trace side by side, as a table or a JSON array. */
void cmt_report_print_comparison(FILE *f, const cmt_replay_report *reports, size_t n, bool json);

#endif /* CMT_ALLOCATOR_H */
