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
 * point), on a worker thread; MERGE puts RESULT together with the
 * results before it, in order, on the calling thread; FREE frees what a
 * result holds, merged or not.  RUN and MERGE return 0, or -1 with a
 * message in ERR. */
typedef struct segmented_analysis {
    void *context;
    size_t result_size;
    int (*run)(void *context, cmt_reader *reader, const cmti_seek_point *from, void *result, char *err,
               size_t errlen);
    int (*merge)(void *context, void *result, char *err, size_t errlen);
    void (*free)(void *result);
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

/* Adds B, newer than every block there.  Returns 0, or -1 when out of
 * memory. */
int ranked_blocks_add(ranked_blocks *r, const live_block *b);

/* Calls EACH with every block of SEGMENT (a segment's reader at its end)
 * still live, oldest first, found in SEGMENT_BLOCKS (the segment's
 * analysis's, by the reader's slots).  Stops at the first that returns
 * -1 and returns -1. */
int segment_survivors(const cmt_reader *segment, live_blocks *segment_blocks,
                      int (*each)(void *context, const live_block *b), void *context);

#endif /* CMT_ANALYSIS_SEGMENTS_H */
