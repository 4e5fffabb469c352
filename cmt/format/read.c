/*
 * read.c - the .cmt decoder.
 *
 * One pass, memory proportional to the live blocks: the stream names
 * blocks by live rank, so the reader keeps only the live tags (live.h).
 * Every way a stream can be cut or damaged ends in an error naming the
 * byte: an unknown code, a rank past the live blocks, a number that runs
 * past its section or past 64 bits, a block whose sections do not add up,
 * a missing end record, a count or checksum that does not match, or bytes
 * after the end.
 */
#include "codes.h"
#include "../common/live.h"
#include "../common/slots.h"

#include <stdlib.h>
#include <zstd.h>

/* The decoded bytes' buffer starts small and grows, up to room for the
 * largest block the format allows (three sections and their header) and
 * the next one read in: small files need little. */
#define PLAIN_START (64 * 1024)
#define PLAIN_MAX (8 * CMT_SECTION_MAX)
#define BLOCK_HEADER_MAX (3 * CMT_VARINT_MAX)

struct cmt_reader {
    cmti_input in;
    char name[256];
    ZSTD_DCtx *dctx; /* NULL for raw files */
    bool frame_done;
    uint8_t *plain;  /* decoded stream bytes */
    size_t plain_cap;
    size_t pos, end;
    uint64_t plain_base; /* stream offset of plain[0], header included */
    size_t summed;       /* plain[0..summed) is in the checksum */
    bool source_done;
    cmti_checksum sum;
    /* The block being decoded: cursors into plain. */
    const uint8_t *op, *op_end, *ops_start, *head, *head_end, *tail, *tail_end;
    uint64_t ops_offset; /* stream offset of ops_start */
    cmti_live live;
    cmti_slots slots;      /* of the live blocks */
    uint32_t access_slot; /* the slot of the last access's block */
    cmti_size_model sizes;
    cmti_access_model access;
    uint64_t last_time, next_time; /* next_time: from a TIME record, for the next event */
    uint32_t thread;               /* from the last THREAD record */
    uint64_t next_tag;
    uint64_t events;
    bool done;
    bool failed;
    bool skimming; /* cmt_reader_skim: the end record's counts are taken as given */
    uint8_t minor;  /* the format's minor version: 1 and up, every block carries its checksum */
    char scratch[48]; /* a message's part */
    char err[CMT_ERRLEN];
};

static int corrupt_at(cmt_reader *r, uint64_t offset, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int corrupt_at(cmt_reader *r, uint64_t offset, const char *fmt, ...)
{
    char what[CMT_ERRLEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    cmti_set_error(r->err, sizeof r->err, "%s: %s %llu: %s", r->name,
                  r->dctx ? "decompressed byte" : "byte", (unsigned long long)offset, what);
    r->failed = true;
    return -1;
}

static int source_error(cmt_reader *r, const char *what)
{
    cmti_set_error(r->err, sizeof r->err, "%s: %s", r->name, what);
    r->failed = true;
    return -1;
}

/* Appends decoded bytes to plain[end..); sets source_done at the end of
 * the input. */
static int produce(cmt_reader *r)
{
    ptrdiff_t avail = cmti_input_fill(&r->in, 1, r->err, sizeof r->err);
    if (avail < 0) {
        r->failed = true;
        return -1;
    }
    if (!r->dctx) {
        size_t n = (size_t)avail < r->plain_cap - r->end ? (size_t)avail : r->plain_cap - r->end;
        memcpy(r->plain + r->end, r->in.buf + r->in.start, n);
        r->in.start += n;
        r->end += n;
        if (avail == 0)
            r->source_done = true;
        return 0;
    }
    if (avail == 0) {
        if (!r->frame_done) {
            char what[128];
            snprintf(what, sizeof what, "byte %llu: truncated: the zstd data ends in the middle of a frame",
                     (unsigned long long)(r->in.consumed + r->in.start));
            return source_error(r, what);
        }
        r->source_done = true;
        return 0;
    }
    if (r->frame_done) {
        /* A second frame after ours: zstd allows concatenation, the
         * format does not end twice, so it is decoded and rejected at the
         * end marker. */
        r->frame_done = false;
    }
    ZSTD_inBuffer zin = {r->in.buf + r->in.start, (size_t)avail, 0};
    ZSTD_outBuffer zout = {r->plain + r->end, r->plain_cap - r->end, 0};
    size_t rc = ZSTD_decompressStream(r->dctx, &zout, &zin);
    if (ZSTD_isError(rc)) {
        char what[200];
        if (cmti_zstd_out_of_memory(rc))
            snprintf(what, sizeof what, "%s", CMT_NO_MEMORY);
        else
            snprintf(what, sizeof what, "byte %llu: corrupt: zstd data: %s",
                     (unsigned long long)(r->in.consumed + r->in.start + zin.pos), ZSTD_getErrorName(rc));
        return source_error(r, what);
    }
    r->in.start += zin.pos;
    r->end += zout.pos;
    if (rc == 0)
        r->frame_done = true;
    return 0;
}

/* Makes WANT bytes available at plain[pos] unless the stream ends first.
 * Returns the bytes available or -1. */
static ptrdiff_t ensure(cmt_reader *r, size_t want)
{
    while (r->end - r->pos < want && !r->source_done) {
        if (r->pos > 0 && (r->plain_cap - r->end < r->plain_cap / 4 || r->plain_cap - r->pos < want)) {
            cmti_checksum_update(&r->sum, r->plain + r->summed, r->pos - r->summed);
            memmove(r->plain, r->plain + r->pos, r->end - r->pos);
            r->plain_base += r->pos;
            r->end -= r->pos;
            r->pos = r->summed = 0;
        }
        if (r->end == r->plain_cap) {
            if (r->plain_cap == PLAIN_MAX)
                break; /* want exceeds the buffer: callers never ask that much */
            uint8_t *plain = cmti_realloc(r->plain, 2 * r->plain_cap);
            if (!plain)
                return source_error(r, CMT_NO_MEMORY);
            r->plain = plain;
            r->plain_cap *= 2;
        }
        if (produce(r) < 0)
            return -1;
    }
    return (ptrdiff_t)(r->end - r->pos);
}

static uint64_t offset_of(const cmt_reader *r, size_t pos)
{
    return CMT_HEADER_SIZE + r->plain_base + pos;
}

static int check_header(cmt_reader *r, const uint8_t *h, size_t len)
{
    if (len == 0)
        return source_error(r, "empty file, not a .cmt trace");
    if (len < CMT_HEADER_SIZE || memcmp(h, CMT_MAGIC, 4) != 0) {
        if (len >= 4 && memcmp(h, CMT_MAGIC, 4) == 0)
            return source_error(r, "truncated: the file ends inside the .cmt header");
        return source_error(r, "not a .cmt trace (bad magic number; a text trace goes "
                               "through trace2cmt first)");
    }
    if (h[4] != CMT_FORMAT_MAJOR) {
        char what[160];
        snprintf(what, sizeof what, "format version %u.%u is not supported (this reader reads %u.x)",
                 h[4], h[5], CMT_FORMAT_MAJOR);
        return source_error(r, what);
    }
    if ((h[6] & ~CMT_FLAG_ZSTD) || h[7] != 0)
        return source_error(r, "corrupt header: unknown flags");
    return 0;
}

cmt_reader *cmt_reader_open(const char *path, char *err, size_t errlen)
{
    cmti_input in;
    if (cmti_input_open(&in, path, err, errlen) < 0)
        return NULL;
    return cmti_reader_open_input(&in, err, errlen);
}

cmt_reader *cmti_reader_open_input(cmti_input *in, char *err, size_t errlen)
{
    cmt_reader *r = cmti_calloc(1, sizeof *r);
    if (!r) {
        cmti_set_error(err, errlen, "%s: " CMT_NO_MEMORY, in->name);
        cmti_input_close(in);
        return NULL;
    }
    r->in = *in;
    snprintf(r->name, sizeof r->name, "%s", r->in.name);
    ptrdiff_t got = cmti_input_fill(&r->in, CMT_HEADER_SIZE, err, errlen);
    if (got < 0 || check_header(r, r->in.buf, (size_t)got) < 0) {
        if (got >= 0)
            cmti_set_error(err, errlen, "%s", r->err);
        cmti_input_close(&r->in);
        cmti_free(r);
        return NULL;
    }
    bool compressed = r->in.buf[6] & CMT_FLAG_ZSTD;
    r->minor = r->in.buf[5];
    r->in.start += CMT_HEADER_SIZE;
    if (compressed) {
        r->dctx = cmti_zstd_dctx();
        if (!r->dctx) {
            cmti_set_error(err, errlen, CMT_NO_MEMORY " for a zstd decoder");
            cmt_reader_close(r);
            return NULL;
        }
    }
    r->plain_cap = PLAIN_START;
    r->plain = cmti_malloc(r->plain_cap);
    r->next_tag = 1;
    cmti_checksum_init(&r->sum);
    if (cmti_live_init(&r->live) < 0 || !r->plain) {
        cmti_set_error(err, errlen, "%s: " CMT_NO_MEMORY, r->name);
        cmt_reader_close(r);
        return NULL;
    }
    return r;
}

/* The stream offset of the opcode at OP in the current block. */
static uint64_t op_offset(const cmt_reader *r, const uint8_t *op)
{
    return r->ops_offset + (uint64_t)(op - r->ops_start);
}

/* Reads a number: its first byte from heads, the rest from tails. */
static int get_number(cmt_reader *r, const uint8_t *op, uint64_t *v)
{
    if (r->head == r->head_end)
        return corrupt_at(r, op_offset(r, op), "corrupt: the block has fewer numbers than its events need");
    uint8_t byte = *r->head++;
    uint64_t x = byte & 0x7f;
    for (unsigned shift = 7; byte & 0x80; shift += 7) {
        if (r->tail == r->tail_end)
            return corrupt_at(r, op_offset(r, op), "corrupt: a number runs past the end of its block");
        byte = *r->tail++;
        if (shift == 63 && byte > 1)
            return corrupt_at(r, op_offset(r, op), "corrupt: a number longer than 64 bits");
        x |= (uint64_t)(byte & 0x7f) << shift;
    }
    *v = x;
    return 0;
}

/* Sets EV's block passed (arg_tag, arg_slot) to the live block of RANK,
 * which DIES or not. */
static int take_rank(cmt_reader *r, const uint8_t *op, uint64_t rank, bool dies, cmt_event *ev)
{
    size_t pos;
    if (cmti_live_find_rank(&r->live, rank, &pos) < 0)
        return corrupt_at(r, op_offset(r, op),
                          "corrupt: refers to live block %llu from the newest, but %zu are live",
                          (unsigned long long)rank, r->live.live);
    ev->arg_tag = cmti_live_tag_at(&r->live, pos);
    ev->arg_slot = cmti_live_slot_at(&r->live, pos);
    if (dies) {
        cmti_live_remove_at(&r->live, pos);
        cmti_slots_give(&r->slots, ev->arg_slot);
        access_model_forget(&r->access, ev->arg_tag);
    }
    return 0;
}

/* Reads a varint of the block header or end record at plain[*at]. */
static int get_header_varint(cmt_reader *r, size_t *at, uint64_t *v)
{
    const uint8_t *p = r->plain + *at;
    if (cmti_varint_get(&p, r->plain + r->end, v) < 0) {
        if (r->source_done && r->end - *at < CMT_VARINT_MAX)
            return corrupt_at(r, offset_of(r, r->pos), "truncated: the stream ends inside a block header");
        return corrupt_at(r, offset_of(r, *at), "corrupt: a number longer than 64 bits");
    }
    *at = (size_t)(p - r->plain);
    return 0;
}

static int read_end(cmt_reader *r, size_t at)
{
    uint64_t events, tags;
    size_t start = r->pos;
    if (get_header_varint(r, &at, &events) < 0 || get_header_varint(r, &at, &tags) < 0)
        return -1;
    if (r->skimming) {
        r->events = events;
        r->next_tag = tags + 1;
    }
    if (events != r->events || tags != r->next_tag - 1)
        return corrupt_at(r, offset_of(r, start),
                          "corrupt: the end record counts %llu events and %llu blocks, the stream "
                          "held %llu and %llu",
                          (unsigned long long)events, (unsigned long long)tags,
                          (unsigned long long)r->events, (unsigned long long)(r->next_tag - 1));
    cmti_checksum_update(&r->sum, r->plain + r->summed, at - r->summed);
    r->pos = r->summed = at;
    if (ensure(r, 8) < 0)
        return -1;
    if (r->end - r->pos < 8)
        return corrupt_at(r, offset_of(r, r->pos), "truncated: the file ends inside the checksum");
    uint64_t stored = 0;
    for (int i = 7; i >= 0; i--)
        stored = (stored << 8) | r->plain[r->pos + i];
    if (stored != cmti_checksum_final(&r->sum))
        return corrupt_at(r, offset_of(r, r->pos), "corrupt: checksum mismatch");
    r->pos += 8;
    r->summed = r->pos;
    ptrdiff_t more = ensure(r, 1);
    if (more < 0)
        return -1;
    if (more > 0)
        return corrupt_at(r, offset_of(r, r->pos), "corrupt: data after the end of the trace");
    r->done = true;
    return 0;
}

/* " after N events" for a message, or nothing when skimming (the events
 * were not counted). */
static const char *events_so_far(cmt_reader *r)
{
    if (r->skimming)
        return "";
    snprintf(r->scratch, sizeof r->scratch, " after %llu events", (unsigned long long)r->events);
    return r->scratch;
}

/* Format 1.1: the block at plain[pos] (a HEADER of that many bytes, then
 * sections of LENS bytes) opens with its checksum record, and the
 * checksum matches.  Checked before any of it is decoded, so that a reader
 * that salvages stops at the first damaged block, never returning events
 * that were not written. */
static int check_block(cmt_reader *r, size_t header, const uint64_t lens[3])
{
    const uint8_t *ops = r->plain + r->pos + header, *heads = ops + lens[0], *tails = heads + lens[1];
    if (lens[0] < 1 || ops[0] != CODE_EXTENSION || lens[1] < 2 || heads[0] != CMT_EXTENSION_BLOCK_CHECKSUM ||
        heads[1] != CMT_BLOCK_CHECKSUM_BYTES || lens[2] < CMT_BLOCK_CHECKSUM_BYTES)
        return corrupt_at(r, offset_of(r, r->pos), "corrupt: a block without its checksum record");
    uint32_t stored = 0;
    for (int i = CMT_BLOCK_CHECKSUM_BYTES - 1; i >= 0; i--)
        stored = stored << 8 | tails[i];
    const uint8_t *pieces[] = {r->plain + r->pos, tails};
    const size_t sizes[] = {(size_t)(tails - (r->plain + r->pos)), lens[2]};
    if (stored != cmti_block_checksum(pieces, sizes, 2))
        return corrupt_at(r, offset_of(r, r->pos), "corrupt: the block's checksum does not match");
    return 0;
}

/* Loads the next block, or reads the end record.  Returns 1 for a block,
 * 0 at the verified end, -1 on an error. */
static int next_block(cmt_reader *r)
{
    if (r->head != r->head_end || r->tail != r->tail_end)
        return corrupt_at(r, op_offset(r, r->op_end),
                          "corrupt: the block holds more numbers than its events use");
    ptrdiff_t avail = ensure(r, BLOCK_HEADER_MAX);
    if (avail < 0)
        return -1;
    if (avail == 0)
        return corrupt_at(r, offset_of(r, r->pos),
                          "truncated: the stream stops%s without its end record", events_so_far(r));
    size_t at = r->pos;
    uint64_t lens[3];
    if (get_header_varint(r, &at, &lens[0]) < 0)
        return -1;
    if (lens[0] == 0)
        return read_end(r, at) < 0 ? -1 : 0;
    if (get_header_varint(r, &at, &lens[1]) < 0 || get_header_varint(r, &at, &lens[2]) < 0)
        return -1;
    for (int i = 0; i < 3; i++)
        if (lens[i] > CMT_SECTION_MAX)
            return corrupt_at(r, offset_of(r, r->pos), "corrupt: a block section of %llu bytes",
                              (unsigned long long)lens[i]);
    size_t header = at - r->pos, total = header + lens[0] + lens[1] + lens[2];
    avail = ensure(r, total);
    if (avail < 0)
        return -1;
    if ((size_t)avail < total)
        return corrupt_at(r, offset_of(r, r->pos), "truncated: the stream ends inside a block%s",
                          events_so_far(r));
    if (r->minor >= 1 && check_block(r, header, lens) < 0)
        return -1;
    r->ops_start = r->op = r->plain + r->pos + header;
    r->ops_offset = offset_of(r, r->pos + header);
    r->op_end = r->head = r->op + lens[0];
    r->head_end = r->tail = r->head + lens[1];
    r->tail_end = r->tail + lens[2];
    r->pos += total;
    return 1;
}

static int decode_size(cmt_reader *r, const uint8_t *op, unsigned code, uint64_t *size)
{
    uint64_t literal = 0;
    if (code > SIZE_LITERAL)
        return corrupt_at(r, op_offset(r, op), "corrupt: unknown size code %u", code);
    if (code == SIZE_LITERAL && get_number(r, op, &literal) < 0)
        return -1;
    *size = size_model_decode(&r->sizes, code, literal);
    return 0;
}

static int decode_access(cmt_reader *r, const uint8_t *op, unsigned code, cmt_event *ev)
{
    unsigned width = (code - CODE_ACCESS) % ACCESS_WIDTHS;
    ev->op = (cmt_op)(CMT_OP_LOAD + (code - CODE_ACCESS) / ACCESS_WIDTHS);
    uint64_t block, offset;
    if (get_number(r, op, &block) < 0 || get_number(r, op, &offset) < 0)
        return -1;
    if (block == 0) {
        if (!r->access.tag)
            return corrupt_at(r, op_offset(r, op),
                              "corrupt: an access to the previous access's block, which is not live");
        ev->arg_tag = r->access.tag;
        ev->arg_slot = r->access_slot;
    } else if (take_rank(r, op, block - 1, false, ev) < 0) {
        return -1;
    }
    r->access_slot = ev->arg_slot;
    ev->offset = access_base(&r->access, ev->arg_tag) + zigzag_decode(offset);
    ev->size = width == ACCESS_LITERAL ? 0 : access_width(width);
    if (width == ACCESS_LITERAL && get_number(r, op, &ev->size) < 0)
        return -1;
    access_model_note(&r->access, ev->arg_tag, ev->offset, ev->size);
    return 0;
}

#define SKIPPED 2

/* Decodes the record at r->op: 1 for an event, SKIPPED for an extension
 * record, -1 on an error. */
static int decode_record(cmt_reader *r, cmt_event *ev)
{
    const uint8_t *op = r->op;
    unsigned code = *r->op++;
    bool null_result = false;
    if (code == CODE_NULL_RESULT) {
        null_result = true;
        if (r->op == r->op_end)
            return corrupt_at(r, op_offset(r, op), "corrupt: a NULL result ends the block");
        code = *r->op++;
        if (code < CODE_MALLOC || code >= CODE_FREE_NULL)
            return corrupt_at(r, op_offset(r, op), "corrupt: a NULL result before code 0x%02x", code);
    }
    *ev = (cmt_event){.count = 1};
    uint64_t rank;
    if (code < CODE_MALLOC) {
        ev->op = CMT_OP_FREE;
        rank = code - CODE_FREE;
        if (rank == CODE_FREE_RANKS - 1) {
            uint64_t more;
            if (get_number(r, op, &more) < 0)
                return -1;
            if (more > UINT64_MAX - rank)
                return corrupt_at(r, op_offset(r, op), "corrupt: rank out of range");
            rank += more;
        }
        if (take_rank(r, op, rank, true, ev) < 0)
            return -1;
    } else if (code < CODE_REALLOC) {
        ev->op = CMT_OP_MALLOC;
        if (decode_size(r, op, code - CODE_MALLOC, &ev->size) < 0)
            return -1;
    } else if (code < CODE_CALLOC) {
        ev->op = CMT_OP_REALLOC;
        if (decode_size(r, op, code - CODE_REALLOC, &ev->size) < 0 ||
            get_number(r, op, &rank) < 0)
            return -1;
        bool dies = cmt_releases_block(ev->op, !null_result, ev->size);
        if (rank > 0 && take_rank(r, op, rank - 1, dies, ev) < 0)
            return -1;
    } else if (code < CODE_POSIX_MEMALIGN) {
        ev->op = CMT_OP_CALLOC;
        if (decode_size(r, op, code - CODE_CALLOC, &ev->size) < 0 ||
            get_number(r, op, &ev->count) < 0)
            return -1;
    } else if (code <= CODE_MEMALIGN) {
        ev->op = (cmt_op)(CMT_OP_POSIX_MEMALIGN + (code - CODE_POSIX_MEMALIGN));
        if (get_number(r, op, &ev->align) < 0 || get_number(r, op, &ev->size) < 0)
            return -1;
    } else if (code == CODE_FREE_NULL) {
        ev->op = CMT_OP_FREE;
    } else if (code >= CODE_ACCESS && code < CODE_ACCESS_END) {
        if (decode_access(r, op, code, ev) < 0)
            return -1;
    } else if (code == CODE_EXTENSION) {
        uint64_t kind, len;
        if (get_number(r, op, &kind) < 0 || get_number(r, op, &len) < 0)
            return -1;
        if (len > (uint64_t)(r->tail_end - r->tail))
            return corrupt_at(r, op_offset(r, op), "corrupt: an extension record runs past its block");
        const uint8_t *payload = r->tail;
        r->tail += len;
        if (kind == CMT_EXTENSION_TIME || kind == CMT_EXTENSION_THREAD) {
            uint64_t value;
            if (cmti_varint_get(&payload, r->tail, &value) < 0 || payload != r->tail ||
                (kind == CMT_EXTENSION_THREAD && value > UINT32_MAX))
                return corrupt_at(r, op_offset(r, op), "corrupt: a %s record that is not one number",
                                  kind == CMT_EXTENSION_TIME ? "time" : "thread");
            if (kind == CMT_EXTENSION_THREAD) {
                r->thread = (uint32_t)value;
            } else {
                r->last_time += zigzag_decode(value);
                r->next_time = r->last_time;
            }
        }
        return SKIPPED; /* kinds this reader does not know are skipped */
    } else {
        return corrupt_at(r, op_offset(r, op), "corrupt: unknown code 0x%02x", code);
    }
    if (cmt_op_allocates(ev->op) && !null_result) {
        if (cmti_slots_take(&r->slots, &ev->slot) < 0 || cmti_live_push(&r->live, r->next_tag, ev->slot) < 0)
            return source_error(r, CMT_NO_MEMORY);
        ev->tag = r->next_tag++;
    }
    ev->time = r->next_time;
    r->next_time = 0;
    ev->thread = r->thread;
    r->events++;
    return 1;
}

int cmt_reader_next(cmt_reader *r, cmt_event *ev)
{
    for (;;) {
        if (r->failed)
            return -1;
        if (r->done)
            return 0;
        if (r->op == r->op_end) {
            int rc = next_block(r);
            if (rc <= 0)
                return rc;
            continue;
        }
        int rc = decode_record(r, ev);
        if (rc != SKIPPED)
            return rc;
    }
}

int cmt_reader_skim(cmt_reader *r, uint64_t *events)
{
    r->skimming = true;
    while (!r->done && !r->failed) {
        /* The rest of the block in hand goes unread. */
        r->op = r->op_end;
        r->head = r->head_end;
        r->tail = r->tail_end;
        if (next_block(r) < 0)
            return -1;
    }
    if (r->failed)
        return -1;
    *events = r->events;
    return 0;
}

const cmti_input *cmti_reader_input(const cmt_reader *r)
{
    return &r->in;
}

const char *cmt_reader_error(const cmt_reader *r)
{
    return r->err;
}

bool cmt_reader_compressed(const cmt_reader *r)
{
    return r->dctx != NULL;
}

uint64_t cmt_reader_live_blocks(const cmt_reader *r)
{
    return r->live.live;
}

void cmt_reader_close(cmt_reader *r)
{
    if (!r)
        return;
    ZSTD_freeDCtx(r->dctx);
    cmti_live_destroy(&r->live);
    cmti_slots_destroy(&r->slots);
    cmti_input_close(&r->in);
    cmti_free(r->plain);
    cmti_free(r);
}
