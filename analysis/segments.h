/*
 * segments.h - an analysis of a .cmt file on every core: its segments
 * (from one seek point to the next, format/seek.h) are read on threads
 * of their own, each into a result of its own, and the results are put
 * together in order on the calling thread.
 *
 * A segment's reader knows the blocks live at its seek point only by
 * their rank among them (CMTI_TAG_EXTERNAL), so a segment's result keeps
 * what it did to them by rank, and the blocks it made that are still
 * live at its end; putting results together in order resolves the ranks
 * against the blocks live so far (ranked_blocks), which is cheap: it
 * touches only the blocks that outlive a segment.
 */
#ifndef CMT_ANALYSIS_SEGMENTS_H
#define CMT_ANALYSIS_SEGMENTS_H

#include "analysis.h"
#include "blocks.h"

/* An analysis of segments: RUN reads one segment's events from READER
 * into RESULT (RESULT_SIZE bytes, zeroed; FROM is the segment's seek
 * point), on a worker thread, with WORKER, that thread's own state
 * (WORKER_SIZE bytes, zeroed at first: for counts that need no order,
 * kept once a thread rather than once a segment); MERGE puts RESULT
 * together with the results before it, in order, on the calling thread;
 * at the end MERGE_WORKER takes each worker's state, and FREE_WORKER and
 * FREE free what a worker's state and a result hold.  RUN, MERGE and
 * MERGE_WORKER return 0, or -1 with a message in ERR. */
typedef struct segmented_analysis {
    void *context;
    size_t result_size, worker_size;
    int (*run)(void *context, void *worker, cmt_reader *reader, const cmti_seek_point *from, void *result,
               char *err, size_t errlen);
    int (*merge)(void *context, void *result, char *err, size_t errlen);
    int (*merge_worker)(void *context, void *worker, char *err, size_t errlen);
    void (*free)(void *result);
    void (*free_worker)(void *worker);
} segmented_analysis;

/* Threads an analysis runs on: CMT_THREADS if set, else the processors
 * online. */
unsigned cmt_analysis_threads(void);

/* Runs ANALYSIS over SOURCE's segments, if it is a .cmt file with seek
 * points and more than one thread may run.  Returns 1 when it did, 0
 * when it cannot (the caller reads SOURCE in order), -1 on an error
 * (message in ERR; reading SOURCE in order then finds the same damage,
 * and says where it is as the whole file's reader does). */
int cmt_segments_run(cmt_source *source, const segmented_analysis *analysis, const cmt_progress *progress,
                     char *err, size_t errlen);

/* The blocks live where a segment starts, in allocation order, with what
 * an analysis keeps of each in BLOCKS (by slots of its own). */
typedef struct ranked_blocks {
    cmti_live order;
    cmti_slots slots;
    live_blocks *blocks;
} ranked_blocks;

int ranked_blocks_init(ranked_blocks *r, live_blocks *blocks);
void ranked_blocks_destroy(ranked_blocks *r);

/* The block of external RANK (0 the newest), and *POS its position for
 * ranked_blocks_remove; NULL if fewer are live. */
live_block *ranked_blocks_find(ranked_blocks *r, uint64_t rank, size_t *pos);

/* The block at POS (from find), B, is gone. */
void ranked_blocks_remove(ranked_blocks *r, size_t pos, live_block *b);

/* A growable array of what a segment keeps for its merge. */
typedef struct segment_list {
    void *items;
    size_t n, cap;
} segment_list;

/* Appends ITEM, SIZE bytes (the same for every item of L).  0, or -1 when
 * out of memory. */
int segment_list_append(segment_list *l, const void *item, size_t size);

static inline void segment_list_free(segment_list *l)
{
    cmti_free(l->items);
    *l = (segment_list){0};
}

/* Appends to SURVIVORS every block of SEGMENT (a segment's reader at its
 * end) still live, oldest first, as the segment's analysis keeps it in
 * SEGMENT_BLOCKS (by the reader's slots).  0, or -1 when out of memory. */
int segment_survivors(const cmt_reader *segment, live_blocks *segment_blocks, segment_list *survivors);

/* Adds the blocks in SURVIVORS to R, as the blocks live before the next
 * segment.  0, or -1 when out of memory. */
int ranked_blocks_add_all(ranked_blocks *r, const segment_list *survivors);

#endif /* CMT_ANALYSIS_SEGMENTS_H */
