/*
 * seek.h - seek points: places in a compressed .cmt file where a decoder
 * can start, so that a trace is analysed on every core.
 *
 * Every CMT_SEEK_EVENTS events or so (at the end of a block) the writer
 * ends the zstd frame, so that decompression can start at the next one,
 * and the block that opens the next frame carries, as its second record
 * (extension kind SEEK), the small part of the decoder's state that the
 * stream cannot rebuild: the events and blocks so far, the recent sizes,
 * the time and thread, the previous access.  The live blocks are not in
 * it (a Python trace holds millions, which would double its file): a
 * decoder that starts at a seek point names the blocks that were live
 * there by their rank among them (CMTI_TAG_EXTERNAL), and the analysis
 * that runs the segments at once resolves those ranks in order, when it
 * puts the segments' results together (analysis/segments.c).
 *
 * A zstd skippable frame after the end record holds the index: where
 * each seek point is in the file and in the stream, and the events and
 * blocks before it, so that a reader finds them without reading the
 * file.  zstd and every reader of the format skip it.
 */
#ifndef CMT_SEEK_H
#define CMT_SEEK_H

#include "codes.h"
#include "../common/live.h"

/* SEEK: the decoder's state at the start of the block whose second record
 * it is, the first block of a zstd frame (docs/FORMAT.md). */
#define CMT_EXTENSION_SEEK 8u

/* Seek points are at least CMT_SEEK_EVENTS events and CMT_SEEK_BYTES of
 * compressed file apart: a new frame loses zstd's history, which cost
 * g++'s cc1plus (long repeats) 1.4% for one point after 2^22 events, a
 * 19 M-event Python run 0.9% for two after 2^23, and 10^8 Python events
 * 0.23% for twelve.  With both bounds the last is what is paid, and the
 * others have none: 10^8 events still make 12 segments for as many
 * cores (docs/performance.md, session 13). */
#define CMT_SEEK_EVENTS ((uint64_t)1 << 23)
#define CMT_SEEK_BYTES ((uint64_t)256 << 10)

typedef struct cmti_seek_state {
    uint64_t events, tags;   /* before the block */
    uint64_t time;           /* of the last event that had one */
    uint64_t thread;         /* from the last THREAD record */
    cmti_size_model sizes;
    uint64_t access_block;   /* the previous access's block: its live rank + 1, or 0 */
    uint64_t access_end;     /* where in it that access ended */
} cmti_seek_state;

/* Longest SEEK payload: 14 varints. */
#define CMT_SEEK_PAYLOAD_MAX (14 * CMT_VARINT_MAX)

/* Codes STATE into BUF (CMT_SEEK_PAYLOAD_MAX bytes); returns the length. */
size_t cmti_seek_encode(const cmti_seek_state *state, uint8_t *buf);

/* Decodes the LEN bytes at P into STATE.  Returns 0, or -1 if they are
 * not exactly a SEEK payload. */
int cmti_seek_decode(const uint8_t *p, size_t len, cmti_seek_state *state);

/* A seek point in the index: the file offset of the zstd frame it
 * starts, the stream offset (the header included, as the reader's
 * messages count) of its block, the events and blocks before it, and the
 * blocks live there (what a reader of segments plans its memory by: a
 * segment's reader and result hold up to that many). */
typedef struct cmti_seek_point {
    uint64_t file, stream, events, tags, live;
} cmti_seek_point;

typedef struct cmti_seek_index {
    cmti_seek_point *points; /* in file order, the start of the body first */
    size_t n;
    size_t cap;
} cmti_seek_index;

/* Adds POINT to INDEX.  Returns 0, or -1 when out of memory. */
int cmti_seek_index_add(cmti_seek_index *index, const cmti_seek_point *point);

/* The skippable frame that holds INDEX (but its first point, the start
 * of the body, which every file has), into *FRAME (allocated; the
 * caller frees it with cmti_free) and *LEN.  Returns 0, or -1 when out
 * of memory. */
int cmti_seek_index_frame(const cmti_seek_index *index, uint8_t **frame, size_t *len);

/* Reads the index at the end of the .cmt file at PATH into INDEX, the
 * start of the body first.  Returns 1, 0 if the file has none (not a
 * regular file, raw, or written without seek points), or -1 with a
 * message in ERR for an index that is damaged. */
int cmti_seek_index_read(const char *path, cmti_seek_index *index, char *err, size_t errlen);

void cmti_seek_index_destroy(cmti_seek_index *index);

/* The arg_tag of an event a segment decodes that passes a block live at
 * its seek point: the segment cannot know its tag, and gives in arg_addr
 * its external rank, its rank among those blocks still live (0 the
 * newest); arg_slot is UINT32_MAX. */
#define CMTI_TAG_EXTERNAL UINT64_MAX

/* Opens the segment of the .cmt file at PATH from seek point FROM to TO
 * (NULL: to the end record), points of its index: a reader that starts
 * at FROM, with the events and tags numbered as in the whole file, and
 * ends at TO.  Returns NULL with a message in ERR. */
cmt_reader *cmti_reader_open_segment(const char *path, const cmti_seek_point *from, const cmti_seek_point *to,
                                     char *err, size_t errlen);

/* The path of SOURCE's .cmt file if its segments can be read apart
 * instead of it: a file (not standard input) that nothing has been read
 * from, not salvaged nor read ahead; NULL otherwise. */
const char *cmti_source_segments_path(const cmt_source *source);

/* The live blocks of READER (a segment's, at its end: those it made that
 * are still live, in allocation order). */
const cmti_live *cmti_reader_live_set(const cmt_reader *reader);

#endif /* CMT_SEEK_H */
