/*
 * write.c - the .cmt encoder.
 *
 * Events are coded (see codes.h) into the three sections of a block; a
 * full block is checksummed and passed on, through zstd's streaming API
 * unless the output is raw.  Each section is flushed as a zstd block of its
 * own, so that zstd's entropy tables fit one kind of byte at a time.
 */
#include "address.h"
#include "codes.h"
#include "write.h"
#include "seek.h"
#include "sites.h"
#include "../common/live.h"

#include <stdlib.h>
#include <zstd.h>

typedef struct section {
    uint8_t *bytes;
    size_t len;
} section;

struct cmt_writer {
    cmt_output *out;
    ZSTD_CCtx *cctx; /* NULL for raw output */
    section ops, heads, tails;
    uint8_t *packed; /* compressed bytes on their way to OUT */
    size_t packed_cap;
    cmti_checksum sum;
    cmti_live live;
    cmti_size_model sizes;
    cmti_access_model access;
    cmti_address_model *addresses; /* cmt_writer_keep_addresses: each block's, NULL without */
    section coded;                 /* the addresses of the block being made, coded */
    /* Call sites (sites.h): from the first stack on, the stack of every
     * block the block being made returns, coded in stacks_coded. */
    cmt_sites sites;
    bool stacks;
    section stacks_coded;
    uint32_t last_stack;    /* the block's last coded: the next is coded from it */
    uint32_t block_returns; /* events in the block being made that returned a block */
    uint64_t last_time; /* the last time a CLOCK (or TIME) record gave: the next is coded from it */
    uint64_t clock;     /* the time the events so far have, from the last CLOCK record (0: none) */
    uint32_t thread;
    uint64_t next_tag;
    uint64_t events;
    /* Seek points (seek.h): every seek_every events (0: none), in
     * compressed files without addresses. */
    uint64_t seek_every, seek_bytes;
    uint64_t seek_events;   /* the events the next seek point waits for (UINT64_MAX: none) */
    bool seek_next;         /* the next block opens a frame: it carries a SEEK record */
    uint64_t written;       /* compressed bytes out, past the header */
    uint64_t streamed;      /* stream bytes in, the header included */
    cmti_seek_index index;
    bool finished;
    bool failed;
    char err[CMT_ERRLEN];
};

static int fail(cmt_writer *w, const char *msg)
{
    w->failed = true;
    if (msg != w->err)
        cmti_set_error(w->err, sizeof w->err, "%s", msg);
    return -1;
}

/* LEN bytes at DATA to the output, as they are.  0, or -1 (failed). */
static int output(cmt_writer *w, const void *data, size_t len)
{
    return cmt_output_write(w->out, data, len) < 0 ? fail(w, cmt_output_error(w->out)) : 0;
}

static int compress_and_write(cmt_writer *w, const uint8_t *data, size_t len, ZSTD_EndDirective mode)
{
    ZSTD_inBuffer in = {data, len, 0};
    for (;;) {
        ZSTD_outBuffer out = {w->packed, w->packed_cap, 0};
        size_t left = ZSTD_compressStream2(w->cctx, &out, &in, mode);
        if (ZSTD_isError(left))
            return fail(w, cmti_zstd_out_of_memory(left) ? CMT_NO_MEMORY : ZSTD_getErrorName(left));
        if (out.pos && output(w, w->packed, out.pos) < 0)
            return -1;
        w->written += out.pos;
        if (mode == ZSTD_e_continue ? in.pos == in.size : left == 0)
            return 0;
    }
}

/* Checksums bytes and passes them on; with a zstd directive other than
 * continue, they end a zstd block (flush) or the frame (end). */
static int send(cmt_writer *w, const uint8_t *data, size_t len, ZSTD_EndDirective mode)
{
    cmti_checksum_update(&w->sum, data, len);
    w->streamed += len;
    return w->cctx ? compress_and_write(w, data, len, mode) : output(w, data, len);
}

static inline void put_op(cmt_writer *w, unsigned code)
{
    w->ops.bytes[w->ops.len++] = (uint8_t)code;
}

/* A varint's first byte to heads, the rest (the varint of what is left
 * of V) to tails: most varints are one byte, and copying none was still a
 * call to memcpy. */
static inline void put_varint(cmt_writer *w, uint64_t v)
{
    if (v < 0x80) {
        w->heads.bytes[w->heads.len++] = (uint8_t)v;
        return;
    }
    w->heads.bytes[w->heads.len++] = (uint8_t)(v | 0x80);
    w->tails.len += cmti_varint_put(w->tails.bytes + w->tails.len, v >> 7);
}

/* A block's first record: its checksum, filled in by flush_block. */
static void open_block(cmt_writer *w)
{
    put_op(w, CODE_EXTENSION);
    put_varint(w, CMT_EXTENSION_BLOCK_CHECKSUM);
    put_varint(w, CMT_BLOCK_CHECKSUM_BYTES);
    memset(w->tails.bytes + w->tails.len, 0, CMT_BLOCK_CHECKSUM_BYTES);
    w->tails.len += CMT_BLOCK_CHECKSUM_BYTES;
}

/* An extension record, where reserve made room for it. */
static void put_extension(cmt_writer *w, uint64_t kind, const void *data, size_t len)
{
    put_op(w, CODE_EXTENSION);
    put_varint(w, kind);
    put_varint(w, len);
    if (len > 0) /* data may be NULL then */
        memcpy(w->tails.bytes + w->tails.len, data, len);
    w->tails.len += len;
}

/* Bytes an ADDRESS or STACKS record's kind and length put in tails at
 * most: the length's continuation bytes (the payload is less than a
 * section). */
#define BLOCK_RECORD_TAILS 2u

/* Longest coded stack: the zigzag difference of two 32-bit numbers. */
#define STACK_CODE_MAX 5u

/* Puts a record of KIND holding CODED (emptied) second in the block,
 * after its checksum: the op, its kind and length (first bytes to heads,
 * the rest to tails) and the payload, each section moved up to make
 * room.  The records the block's events need whole (ADDRESS, STACKS) are
 * made as the events come and placed so when the block is full. */
static void insert_block_record(cmt_writer *w, uint64_t kind, section *coded)
{
    uint8_t kind_v[CMT_VARINT_MAX], len[CMT_VARINT_MAX];
    size_t kind_n = cmti_varint_put(kind_v, kind), len_n = cmti_varint_put(len, coded->len);
    size_t heads_at = 2, tails_at = CMT_BLOCK_CHECKSUM_BYTES; /* past the checksum record's */
    size_t tails_n = (kind_n - 1) + (len_n - 1) + coded->len;
    memmove(w->ops.bytes + 2, w->ops.bytes + 1, w->ops.len - 1);
    w->ops.bytes[1] = CODE_EXTENSION;
    w->ops.len++;
    memmove(w->heads.bytes + heads_at + 2, w->heads.bytes + heads_at, w->heads.len - heads_at);
    w->heads.bytes[heads_at] = kind_v[0];
    w->heads.bytes[heads_at + 1] = len[0];
    w->heads.len += 2;
    uint8_t *t = w->tails.bytes + tails_at;
    memmove(t + tails_n, t, w->tails.len - tails_at);
    memcpy(t, kind_v + 1, kind_n - 1);
    memcpy(t + kind_n - 1, len + 1, len_n - 1);
    memcpy(t + kind_n - 1 + len_n - 1, coded->bytes, coded->len);
    w->tails.len += tails_n;
    coded->len = 0;
}

static int flush_block(cmt_writer *w)
{
    if (w->ops.len == 0)
        return 0;
    /* Inserted second, each: the addresses come before the stacks. */
    if (w->stacks_coded.len)
        insert_block_record(w, CMT_EXTENSION_STACKS, &w->stacks_coded);
    if (w->coded.len)
        insert_block_record(w, CMT_EXTENSION_ADDRESS, &w->coded);
    uint8_t header[3 * CMT_VARINT_MAX];
    size_t n = cmti_varint_put(header, w->ops.len);
    n += cmti_varint_put(header + n, w->heads.len);
    n += cmti_varint_put(header + n, w->tails.len);
    /* The block's checksum, of the bytes as they will stand in the body. */
    const uint8_t *pieces[] = {header, w->ops.bytes, w->heads.bytes, w->tails.bytes};
    const size_t lens[] = {n, w->ops.len, w->heads.len, w->tails.len};
    uint32_t sum = cmti_block_checksum(pieces, lens, 4);
    for (unsigned i = 0; i < CMT_BLOCK_CHECKSUM_BYTES; i++)
        w->tails.bytes[i] = (uint8_t)(sum >> (8 * i));
    int rc = send(w, header, n, ZSTD_e_continue) < 0 ||
                     send(w, w->ops.bytes, w->ops.len, ZSTD_e_flush) < 0 ||
                     send(w, w->heads.bytes, w->heads.len, ZSTD_e_flush) < 0 ||
                     send(w, w->tails.bytes, w->tails.len, ZSTD_e_flush) < 0
                 ? -1
                 : 0;
    w->ops.len = w->heads.len = w->tails.len = 0;
    w->last_stack = 0;
    w->block_returns = 0;
    return rc;
}

static inline int rank_of(cmt_writer *w, uint64_t tag, bool take, uint64_t *rank);

/* A block opens a zstd frame: its second record is the SEEK record, the
 * state a decoder that starts there needs (seek.h). */
static int put_seek_record(cmt_writer *w)
{
    cmti_seek_state state = {.events = w->events, .tags = w->next_tag - 1, .time = w->last_time,
                             .thread = w->thread, .sizes = w->sizes, .access_end = w->access.end};
    if (w->access.tag) {
        if (rank_of(w, w->access.tag, false, &state.access_block) < 0)
            return -1;
        state.access_block++;
    }
    uint8_t payload[CMT_SEEK_PAYLOAD_MAX];
    put_extension(w, CMT_EXTENSION_SEEK, payload, cmti_seek_encode(&state, payload));
    w->seek_next = false;
    /* The clock, which the seek record does not carry (a reader of cmt
     * 0.3 checks its fields), again, for a decoder that starts here: the
     * seek record's time (0 difference from it). */
    if (w->clock)
        put_extension(w, CMT_EXTENSION_CLOCK, (const uint8_t[]){0}, 1);
    return 0;
}

/* seek_due's rare half: enough bytes since the last seek point, in a file
 * that takes them. */
static __attribute__((noinline)) bool seek_bytes_due(const cmt_writer *w)
{
    const cmti_seek_point *last = &w->index.points[w->index.n - 1];
    return w->cctx && !w->addresses && !w->stacks && CMT_HEADER_SIZE + w->written - last->file >= w->seek_bytes;
}

/* A seek point is due: enough events and bytes since the last.  Asked
 * at every event, which the count of events answers alone but once in
 * millions (the whole test was 3% of the recorder's coding). */
static inline bool seek_due(const cmt_writer *w)
{
    return w->events >= w->seek_events && seek_bytes_due(w);
}

/* The next seek point waits for seek_every events from the last one. */
static void set_seek_events(cmt_writer *w)
{
    const cmti_seek_point *last = &w->index.points[w->index.n - 1];
    w->seek_events = w->seek_every ? last->events + w->seek_every : UINT64_MAX;
}

/* After a block: when a seek point is due, ends the zstd frame, so that
 * decompression can start at the next block, which will say where the
 * decoder stands (put_seek_record). */
static int end_segment(cmt_writer *w)
{
    if (!seek_due(w))
        return 0;
    if (compress_and_write(w, NULL, 0, ZSTD_e_end) < 0)
        return -1;
    cmti_seek_point point = {CMT_HEADER_SIZE + w->written, w->streamed, w->events, w->next_tag - 1, w->live.live};
    if (cmti_seek_index_add(&w->index, &point) < 0)
        return fail(w, CMT_NO_MEMORY);
    set_seek_events(w);
    w->seek_next = true;
    return 0;
}

/* Opcodes a block holds at most, fewer than the format allows: a file
 * damaged or cut short keeps every block before the damage, so smaller
 * blocks lose less (cmt_source_salvage), and 32 Ki opcodes cost 456.hmmer
 * 2% of its size against 128 Ki. */
#define BLOCK_OPS (32 * 1024)

/* Room for one more event, with RECORDS extension records before it
 * whose payloads put TAIL_BYTES in tails (and the event's address, and
 * the record that will hold the block's, when they are kept).  An event
 * and the records before it share a block, so that a decoder that starts
 * at a block has all an event's records. */
/* True if the block has room for an event with RECORDS extension records
 * before it, TAIL_BYTES of theirs in tails, and BLOCK_RECORDS bytes of
 * ADDRESS and STACKS records to come. */
static inline bool block_has_room(const cmt_writer *w, size_t records, size_t tail_bytes, size_t block_records)
{
    return w->ops.len + 2 + records <= BLOCK_OPS && w->heads.len + CMT_EVENT_VARINTS + 2 * records <= CMT_SECTION_MAX &&
           w->tails.len + CMT_EVENT_TAIL_MAX + 2 * records + tail_bytes + block_records <= CMT_SECTION_MAX;
}

static int reserve_slow(cmt_writer *w, size_t records, size_t tail_bytes)
{
    records += (w->addresses ? 1 : 0) + (w->stacks ? 1 : 0); /* 1 op, 2 heads each */
    size_t block_records = (w->addresses ? w->coded.len + ADDRESS_CODE_MAX + BLOCK_RECORD_TAILS : 0) +
                           (w->stacks ? w->stacks_coded.len + STACK_CODE_MAX + BLOCK_RECORD_TAILS : 0);
    bool full = !block_has_room(w, records, tail_bytes, block_records);
    if ((full || (w->ops.len && seek_due(w))) && (flush_block(w) < 0 || end_segment(w) < 0))
        return -1;
    if (w->ops.len == 0) {
        open_block(w);
        if (w->seek_next && put_seek_record(w) < 0)
            return -1;
    }
    return 0;
}

/* True if a plain event (no records before it, no addresses or stacks
 * kept) needs no room made: a block is open, with room to spare and no
 * seek point due. */
static inline bool plain_fits(const cmt_writer *w)
{
    return !w->addresses && !w->stacks && w->ops.len != 0 && block_has_room(w, 0, 0, 0) && !seek_due(w);
}

/* reserve_slow, but for the common event, a plain one that fits, for which
 * reserve_slow would do nothing.  Inline: as a call it was 38 instructions
 * an event, 6% of the recorder's coding. */
static inline int reserve(cmt_writer *w, size_t records, size_t tail_bytes)
{
    if (!records && !tail_bytes && plain_fits(w))
        return 0;
    return reserve_slow(w, records, tail_bytes);
}

static void put_sized_op(cmt_writer *w, unsigned base, uint64_t size)
{
    unsigned code = size_model_encode(&w->sizes, size);
    put_op(w, base + code);
    if (code == SIZE_LITERAL)
        put_varint(w, size);
}

cmt_writer *cmt_writer_open(cmt_output *out, int level, char *err, size_t errlen)
{
    if (level < 0 || level > ZSTD_maxCLevel()) {
        cmti_set_error(err, errlen, "compression level %d is out of range (0 for raw, 1 to %d)",
                      level, ZSTD_maxCLevel());
        return NULL;
    }
    cmt_writer *w = cmti_calloc(1, sizeof *w);
    if (!w) {
        cmti_set_error(err, errlen, CMT_NO_MEMORY);
        return NULL;
    }
    w->out = out;
    w->next_tag = 1;
    w->seek_every = CMT_SEEK_EVENTS;
    w->seek_bytes = CMT_SEEK_BYTES;
    w->streamed = CMT_HEADER_SIZE;
    w->ops.bytes = cmti_malloc(CMT_SECTION_MAX);
    w->heads.bytes = cmti_malloc(CMT_SECTION_MAX);
    w->tails.bytes = cmti_malloc(CMT_SECTION_MAX);
    cmti_checksum_init(&w->sum);
    cmti_seek_point start = {CMT_HEADER_SIZE, CMT_HEADER_SIZE, 0, 0, 0};
    bool ok = cmti_live_init(&w->live, false) == 0 && w->ops.bytes && w->heads.bytes && w->tails.bytes &&
              cmti_seek_index_add(&w->index, &start) == 0;
    if (ok && level > 0) {
        w->cctx = cmti_zstd_cctx();
        w->packed_cap = ZSTD_CStreamOutSize();
        w->packed = cmti_malloc(w->packed_cap);
        ok = w->cctx && w->packed;
        if (ok) {
            ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, level);
            ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1);
            /* Up to trace2cmt's level, the window of level 3 (2 MiB), which
             * every reader must hold, a replay's decoder among them (level
             * 9's own took g++'s file 0.4% smaller for twice that), and
             * match tables of 1 MiB each, where level 9's took 12 MB and
             * 10 ms to clear, on a trace of 40,000 events half the time,
             * for 2% on g++ and nothing on the others. */
            if (level > 3 && level <= CMT_CONVERT_LEVEL) {
                /* zstd's levels 4 to 9 have these or more; 3 and below
                 * less, and keep theirs. */
                ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_windowLog, CMT_WINDOW_LOG);
                ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_hashLog, CMT_TABLE_LOG);
                ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_chainLog, CMT_TABLE_LOG);
            }
        }
    }
    if (!ok) {
        cmti_set_error(err, errlen, CMT_NO_MEMORY);
        cmt_writer_close(w);
        return NULL;
    }
    set_seek_events(w);
    uint8_t header[CMT_HEADER_SIZE] = {CMT_MAGIC[0], CMT_MAGIC[1], CMT_MAGIC[2], CMT_MAGIC[3],
                                       CMT_FORMAT_MAJOR, CMT_FORMAT_MINOR,
                                       level > 0 ? CMT_FLAG_ZSTD : 0, 0};
    if (cmt_output_write(out, header, sizeof header) < 0) {
        cmti_set_error(err, errlen, "%s", cmt_output_error(out));
        cmt_writer_close(w);
        return NULL;
    }
    return w;
}

/* Finds the rank of live block TAG; with TAKE, the block dies. */
static inline __attribute__((always_inline)) int rank_of(cmt_writer *w, uint64_t tag, bool take, uint64_t *rank)
{
    if (cmti_live_rank_of(&w->live, tag, take, rank) < 0) {
        cmti_set_error(w->err, sizeof w->err, "event %llu refers to block %llu, which is not live",
                      (unsigned long long)w->events + 1, (unsigned long long)tag);
        return fail(w, w->err);
    }
    if (take)
        access_model_forget(&w->access, tag);
    return 0;
}

/* A free of live block TAG, by its rank. */
static inline int put_free(cmt_writer *w, uint64_t tag)
{
    uint64_t rank;
    if (rank_of(w, tag, true, &rank) < 0)
        return -1;
    if (rank < CODE_FREE_RANKS - 1) {
        put_op(w, CODE_FREE + (unsigned)rank);
    } else {
        put_op(w, CODE_FREE + CODE_FREE_RANKS - 1);
        put_varint(w, rank - (CODE_FREE_RANKS - 1));
    }
    return 0;
}

/* The block an event returned, the next tag, is live from now on. */
static inline int add_returned(cmt_writer *w)
{
    if (cmti_live_push(&w->live, w->next_tag, 0) < 0)
        return fail(w, CMT_NO_MEMORY);
    w->next_tag++;
    return 0;
}

static int put_access(cmt_writer *w, const cmt_event *ev)
{
    uint64_t block = 0;
    if (ev->arg_tag == 0 || ev->arg_tag != w->access.tag) {
        if (ev->arg_tag == 0) {
            cmti_set_error(w->err, sizeof w->err, "event %llu is an access to no block",
                          (unsigned long long)w->events + 1);
            return fail(w, w->err);
        }
        if (rank_of(w, ev->arg_tag, false, &block) < 0)
            return -1;
        block++;
    }
    unsigned width = access_width_code(ev->size);
    put_op(w, CODE_ACCESS + (unsigned)(ev->op - CMT_OP_LOAD) * ACCESS_WIDTHS + width);
    put_varint(w, block);
    put_varint(w, zigzag_encode(ev->offset - access_base(&w->access, ev->arg_tag)));
    if (width == ACCESS_LITERAL)
        put_varint(w, ev->size);
    access_model_note(&w->access, ev->arg_tag, ev->offset, ev->size);
    return 0;
}

/* True if W can take more; else false, its error said. */
static bool writable(cmt_writer *w)
{
    if (w->failed || w->finished)
        fail(w, w->finished ? "write after finish" : w->err);
    return !w->failed;
}

static int check_event(cmt_writer *w, const cmt_event *ev)
{
    if (!writable(w))
        return -1;
    if ((unsigned)ev->op >= CMT_OP_COUNT)
        return fail(w, "unknown operation");
    if (ev->stack > cmt_sites_stacks(&w->sites)) {
        cmti_set_error(w->err, sizeof w->err, "event %llu is from stack %lu, which has not been added",
                       (unsigned long long)w->events + 1, (unsigned long)ev->stack);
        return fail(w, w->err);
    }
    if (ev->tag == 0 || (ev->tag == w->next_tag && cmt_op_allocates(ev->op)))
        return 0;
    cmti_set_error(w->err, sizeof w->err, "event %llu returns block %llu where block %llu is next",
                  (unsigned long long)w->events + 1, (unsigned long long)ev->tag,
                  (unsigned long long)w->next_tag);
    return fail(w, w->err);
}

int cmt_writer_write(cmt_writer *w, const cmt_event *ev)
{
    if (check_event(w, ev) < 0)
        return -1;
    /* The thread and clock records go in the event's block. */
    uint8_t thread[CMT_VARINT_MAX], time[CMT_VARINT_MAX];
    size_t thread_n = ev->thread != w->thread ? cmti_varint_put(thread, ev->thread) : 0;
    size_t time_n = ev->time != w->clock ? cmti_varint_put(time, zigzag_encode(ev->time - w->last_time)) : 0;
    if (reserve(w, (thread_n > 0) + (time_n > 0), thread_n + time_n) < 0)
        return -1;
    if (thread_n) {
        w->thread = ev->thread;
        put_extension(w, CMT_EXTENSION_THREAD, thread, thread_n);
    }
    if (time_n) {
        w->last_time = w->clock = ev->time;
        put_extension(w, CMT_EXTENSION_CLOCK, time, time_n);
    }
    if (w->addresses && ev->tag) {
        uint64_t passed = ev->op == CMT_OP_REALLOC && ev->arg_tag ? cmti_address_of(w->addresses, ev->arg_tag) : 0;
        w->coded.len += cmti_address_encode(w->addresses, ev->addr, cmt_event_bytes(ev), passed,
                                            w->coded.bytes + w->coded.len);
    }
    if (ev->tag) {
        w->block_returns++;
        if (w->stacks) {
            w->stacks_coded.len += cmti_varint_put(w->stacks_coded.bytes + w->stacks_coded.len,
                                                   zigzag_encode((uint64_t)ev->stack - w->last_stack));
            w->last_stack = ev->stack;
        }
    }
    if (cmt_op_allocates(ev->op) && ev->tag == 0)
        put_op(w, CODE_NULL_RESULT);

    uint64_t rank;
    switch (ev->op) {
    case CMT_OP_FREE:
        if (ev->arg_tag == 0) {
            put_op(w, CODE_FREE_NULL);
            break;
        }
        if (put_free(w, ev->arg_tag) < 0)
            return -1;
        break;
    case CMT_OP_MALLOC:
        put_sized_op(w, CODE_MALLOC, ev->size);
        break;
    case CMT_OP_CALLOC:
        put_sized_op(w, CODE_CALLOC, ev->size);
        put_varint(w, ev->count);
        break;
    case CMT_OP_REALLOC:
        rank = 0;
        if (ev->arg_tag) {
            if (rank_of(w, ev->arg_tag, cmt_event_releases(ev), &rank) < 0)
                return -1;
            rank++;
        }
        put_sized_op(w, CODE_REALLOC, ev->size);
        put_varint(w, rank);
        break;
    case CMT_OP_POSIX_MEMALIGN:
    case CMT_OP_ALIGNED_ALLOC:
    case CMT_OP_MEMALIGN:
        put_op(w, CODE_POSIX_MEMALIGN + (unsigned)(ev->op - CMT_OP_POSIX_MEMALIGN));
        put_varint(w, ev->align);
        put_varint(w, ev->size);
        break;
    case CMT_OP_LOAD:
    case CMT_OP_STORE:
    case CMT_OP_MODIFY:
        if (put_access(w, ev) < 0)
            return -1;
        break;
    case CMT_OP_COUNT:
        break;
    }
    if (ev->tag && add_returned(w) < 0)
        return -1;
    if (w->addresses && cmti_address_follow(w->addresses, ev) < 0)
        return fail(w, CMT_NO_MEMORY);
    w->events++;
    return 0;
}

/* The recorder's sink writes most of its events through these: a plain
 * event, by the thread and at the time of the one before, needs no event
 * built or checked, and 60 instructions fewer than cmt_writer_write. */
static inline bool plain_event(const cmt_writer *w, uint32_t thread, uint64_t time)
{
    return thread == w->thread && time == w->clock && !w->failed && !w->finished && plain_fits(w);
}

int cmti_writer_malloc(cmt_writer *w, uint64_t tag, uint64_t size, uint32_t thread, uint64_t time)
{
    if (!plain_event(w, thread, time) || tag != w->next_tag)
        return cmt_writer_write(w, &(cmt_event){.op = CMT_OP_MALLOC, .count = 1, .size = size, .tag = tag,
                                                .thread = thread, .time = time});
    put_sized_op(w, CODE_MALLOC, size);
    w->block_returns++;
    if (add_returned(w) < 0)
        return -1;
    w->events++;
    return 0;
}

int cmti_writer_free(cmt_writer *w, uint64_t tag, uint32_t thread, uint64_t time)
{
    if (!plain_event(w, thread, time))
        return cmt_writer_write(
            w, &(cmt_event){.op = CMT_OP_FREE, .count = 1, .arg_tag = tag, .thread = thread, .time = time});
    if (put_free(w, tag) < 0)
        return -1;
    w->events++;
    return 0;
}

int cmt_writer_keep_addresses(cmt_writer *w)
{
    if (w->events || w->failed || w->finished)
        return fail(w, "addresses are kept from the first event or not at all");
    if (w->addresses)
        return 0;
    w->addresses = cmti_calloc(1, sizeof *w->addresses);
    w->coded.bytes = cmti_malloc(CMT_SECTION_MAX);
    if (!w->addresses || cmti_address_model_init(w->addresses) < 0 || !w->coded.bytes)
        return fail(w, CMT_NO_MEMORY);
    return 0;
}

/* Puts an extension record, making room for it. */
static int add_extension(cmt_writer *w, uint64_t kind, const void *payload, size_t len)
{
    if (len > CMT_EXTENSION_MAX)
        return fail(w, "extension record too long");
    if (reserve(w, 1, len) < 0)
        return -1;
    put_extension(w, kind, payload, len);
    return 0;
}

int cmt_writer_module(cmt_writer *w, const cmt_module *module, uint32_t *number)
{
    if (!writable(w))
        return -1;
    cmti_module_record m = {cmt_sites_modules(&w->sites) + 1, module->base, module->build_id,
                            module->build_id_len, module->path, strlen(module->path)};
    uint8_t *payload;
    size_t len = cmti_module_encode(&m, &payload);
    if (!len)
        return fail(w, CMT_NO_MEMORY);
    int rc = cmti_sites_add_module(&w->sites, &m, w->err, sizeof w->err) < 0 ? fail(w, w->err)
             : add_extension(w, CMT_EXTENSION_MODULE, payload, len);
    cmti_free(payload);
    if (rc == 0)
        *number = (uint32_t)m.number;
    return rc;
}

/* The first stack: from here on the blocks' events have theirs, those of
 * the block being made before it 0 (and no more seek points: a decoder
 * starting at one would not know the stacks added before it). */
static int start_stacks(cmt_writer *w)
{
    if (!(w->stacks_coded.bytes = cmti_malloc(CMT_SECTION_MAX)))
        return fail(w, CMT_NO_MEMORY);
    memset(w->stacks_coded.bytes, 0, w->block_returns); /* zigzag(0 - 0) each */
    w->stacks_coded.len = w->block_returns;
    w->stacks = true;
    return 0;
}

int cmt_writer_stack(cmt_writer *w, const cmt_frame *frame, uint32_t *number)
{
    if (!writable(w))
        return -1;
    if (!w->stacks && start_stacks(w) < 0)
        return -1;
    if (cmti_sites_add_stack(&w->sites, frame, w->err, sizeof w->err) < 0)
        return fail(w, w->err);
    uint8_t payload[SITES_STACK_PAYLOAD_MAX];
    if (add_extension(w, CMT_EXTENSION_STACK, payload, cmti_stack_encode(frame, payload)) < 0)
        return -1;
    *number = cmt_sites_stacks(&w->sites);
    return 0;
}

int cmt_writer_copy_sites(cmt_writer *w, const cmt_sites *from, uint32_t upto)
{
    /* FROM may be growing (a source reading ahead): the stacks up to UPTO,
     * and their modules, were there before the event that asks. */
    uint32_t number;
    for (uint32_t st = cmt_sites_stacks(&w->sites) + 1; st <= upto; st++) {
        const cmt_frame *f = cmt_sites_frame(from, st);
        if (!f)
            return fail(w, "a stack to copy that is not there");
        for (uint32_t m = cmt_sites_modules(&w->sites) + 1; m <= f->module; m++)
            if (cmt_writer_module(w, cmt_sites_module(from, m), &number) < 0)
                return -1;
        if (cmt_writer_stack(w, f, &number) < 0)
            return -1;
    }
    return 0;
}

int cmt_writer_write_extension(cmt_writer *w, uint64_t kind, const void *data, size_t len)
{
    return writable(w) ? add_extension(w, kind, data, len) : -1;
}

/* The index of the seek points, after the last frame. */
static int write_index(cmt_writer *w)
{
    uint8_t *frame;
    size_t len;
    if (cmti_seek_index_frame(&w->index, &frame, &len) < 0)
        return fail(w, CMT_NO_MEMORY);
    int rc = output(w, frame, len);
    cmti_free(frame);
    return rc;
}

int cmt_writer_seek_every(cmt_writer *w, uint64_t events)
{
    if (w->events || w->failed || w->finished)
        return fail(w, "seek points are set before the first event");
    w->seek_every = events;
    w->seek_bytes = 0; /* the caller's choice, for tests and measures */
    set_seek_events(w);
    return 0;
}

int cmt_writer_finish(cmt_writer *w)
{
    if (w->failed || w->finished || flush_block(w) < 0)
        return -1;
    uint8_t end[1 + 2 * CMT_VARINT_MAX + 8];
    size_t n = 0;
    end[n++] = 0;
    n += cmti_varint_put(end + n, w->events);
    n += cmti_varint_put(end + n, w->next_tag - 1);
    /* The checksum covers everything before it, end record included. */
    cmti_checksum_update(&w->sum, end, n);
    uint64_t sum = cmti_checksum_final(&w->sum);
    for (int i = 0; i < 8; i++)
        end[n++] = (uint8_t)(sum >> (8 * i));
    w->finished = true;
    if (!w->cctx)
        return output(w, end, n);
    if (compress_and_write(w, end, n, ZSTD_e_end) < 0)
        return -1;
    return w->index.n > 1 ? write_index(w) : 0;
}

const char *cmt_writer_error(const cmt_writer *w)
{
    return w->err;
}

uint64_t cmt_writer_events(const cmt_writer *w)
{
    return w->events;
}

void cmt_writer_close(cmt_writer *w)
{
    if (!w)
        return;
    ZSTD_freeCCtx(w->cctx);
    cmti_live_destroy(&w->live);
    cmti_seek_index_destroy(&w->index);
    if (w->addresses)
        cmti_address_model_destroy(w->addresses);
    cmti_free(w->addresses);
    cmti_free(w->coded.bytes);
    cmti_free(w->stacks_coded.bytes);
    cmti_sites_destroy(&w->sites);
    cmti_free(w->ops.bytes);
    cmti_free(w->heads.bytes);
    cmti_free(w->tails.bytes);
    cmti_free(w->packed);
    cmti_free(w);
}
