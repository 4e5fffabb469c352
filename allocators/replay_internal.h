/*
 * replay_internal.h - what replay.c and threads.c share, the replay
 * engine's inside.
 */
#ifndef CMT_REPLAY_INTERNAL_H
#define CMT_REPLAY_INTERNAL_H

#include "allocator.h"

/* Replays SOURCE on one thread per recorded thread (threads.c), against
 * ALLOCATOR's HEAP (made, and destroyed, by the caller), the NFIRST events
 * at FIRST (already read) first.  Fills REPORT's counts, times and
 * footprint; 0, or -1 with a message in ERR. */
int cmt_replay_threads(cmt_source *source, const cmt_allocator *allocator, void *heap,
                       const cmt_replay_options *options, cmt_replay_report *report, cmt_event *first,
                       size_t nfirst, char *err, size_t errlen);

/* Writes bytes [FROM, TO) of the block at P as MODE says. */
void cmt_touch_bytes(cmt_touch mode, uint8_t *p, uint64_t from, uint64_t to);

#endif /* CMT_REPLAY_INTERNAL_H */
