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
#include "address.h"
#include "codes.h"
#include "seek.h"
#include "sites.h"
#include "../common/live.h"
#include "../common/slots.h"

#include <stdlib.h>

#define BLOCK_HEADER_MAX (3 * CMT_VARINT_MAX)

/* The stream is decoded where the input holds it (in.buf, from in.start;
 * decompressed there for a compressed file): a block is taken whole into
 * it, checked, summed and consumed, and decoded from there until the next
 * block is asked for. */
struct cmt_reader {
    cmti_input in;
    char name[256];
    bool compressed; /* the stream past the header is zstd data */
    cmti_checksum sum; /* of the stream up to in.start */
    /* The block being decoded: cursors into in.buf, good until the next
     * block is read in. */
    const uint8_t *op, *op_end, *ops_start, *head, *head_end, *tail, *tail_end;
    uint64_t ops_offset; /* stream offset of ops_start */
    cmti_live live;
    cmti_slots slots;      /* of the live blocks */
    uint32_t access_slot; /* the slot of the last access's block */
    cmti_size_model sizes;
    cmti_access_model access;
    cmti_address_model *addresses; /* from the first ADDRESS record on: each live block's */
    const uint8_t *address, *address_end; /* the block's ADDRESS record's payload: what is left of it */
    uint64_t address_offset;       /* its record's, for messages */
    cmt_sites sites;               /* the MODULE and STACK records so far */
    bool stacks;                   /* a STACKS record has come: every block's returned blocks have theirs */
    const uint8_t *stack, *stack_end; /* the block's STACKS record's payload: what is left of it */
    uint64_t stack_offset;         /* its record's, for messages */
    uint32_t last_stack;           /* the block's last: the next is coded from it */
    uint64_t last_time, next_time; /* next_time: from a TIME record, for the next event */
    uint64_t clock;                /* from the last CLOCK record: the time of the events after it */
    uint32_t thread;               /* from the last THREAD record */
    uint64_t next_tag;
    uint64_t events;
    bool done;
    bool failed;
    bool skimming; /* cmt_reader_skim: the end record's counts are taken as given */
    /* A segment (cmti_reader_open_segment): decoding started at a seek
     * point, where the blocks then live are external (CMTI_TAG_EXTERNAL),
     * and stops at the next one (segment_end events; 0 at the end record,
     * whose checksum it cannot check). */
    bool segment;
    bool seek_due;            /* the first block is a seek point's: its SEEK record sets the state */
    uint64_t segment_end, segment_end_tags;
    uint64_t access_external; /* the previous access's block, external: its external rank */
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
                   r->compressed ? "decompressed byte" : "byte", (unsigned long long)offset, what);
    r->failed = true;
    return -1;
}

static int source_error(cmt_reader *r, const char *what)
{
    cmti_set_error(r->err, sizeof r->err, "%s: %s", r->name, what);
    r->failed = true;
    return -1;
}

/* Makes WANT bytes of the stream available at in.buf[in.start] unless it
 * ends first.  Returns the bytes available or -1. */
static ptrdiff_t ensure(cmt_reader *r, size_t want)
{
    ptrdiff_t avail = cmti_input_fill(&r->in, want, r->err, sizeof r->err);
    if (avail < 0)
        r->failed = true;
    return avail;
}

/* The bytes of the stream from in.start on. */
static const uint8_t *here(const cmt_reader *r)
{
    return r->in.buf + r->in.start;
}

/* The stream offset (the header included; decompressed, past it, for a
 * compressed file) of the byte AT bytes past in.start. */
static uint64_t offset_of(const cmt_reader *r, size_t at)
{
    return r->in.consumed + r->in.start + at;
}

/* The AT bytes from in.start are read: into the checksum, and consumed. */
static void consume(cmt_reader *r, size_t at)
{
    cmti_checksum_update(&r->sum, here(r), at);
    r->in.start += at;
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
    if (got < 0 || check_header(r, r->in.buf + r->in.start, (size_t)got) < 0) {
        if (got >= 0)
            cmti_set_error(err, errlen, "%s", r->err);
        cmti_input_close(&r->in);
        cmti_free(r);
        return NULL;
    }
    r->compressed = r->in.buf[r->in.start + 6] & CMT_FLAG_ZSTD;
    r->minor = r->in.buf[r->in.start + 5];
    r->in.start += CMT_HEADER_SIZE;
    if (r->compressed && cmti_input_decompress_rest(&r->in, err, errlen) < 0) {
        cmt_reader_close(r);
        return NULL;
    }
    r->next_tag = 1;
    cmti_checksum_init(&r->sum);
    if (cmti_live_init(&r->live, true) < 0) {
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

/* A segment's block of external rank EXTERNAL (among the blocks live at
 * its seek point that are still live), passed to EV; it DIES or not. */
static void take_external(cmt_reader *r, uint64_t external, bool dies, cmt_event *ev)
{
    ev->arg_tag = CMTI_TAG_EXTERNAL;
    ev->arg_slot = UINT32_MAX;
    ev->arg_addr = external;
    if (dies && r->access.tag == CMTI_TAG_EXTERNAL) {
        if (r->access_external == external)
            r->access.tag = 0;
        else if (r->access_external > external)
            r->access_external--; /* an older block: its rank moves up */
    }
}

/* Sets EV's block passed (arg_tag, arg_slot) to the live block of RANK,
 * which DIES or not. */
static int take_rank(cmt_reader *r, const uint8_t *op, uint64_t rank, bool dies, cmt_event *ev)
{
    size_t pos;
    if (cmti_live_find_rank(&r->live, rank, &pos) < 0) {
        if (r->segment) {
            take_external(r, rank - r->live.live, dies, ev);
            return 0;
        }
        return corrupt_at(r, op_offset(r, op),
                          "corrupt: refers to live block %llu from the newest, but %zu are live",
                          (unsigned long long)rank, r->live.live);
    }
    ev->arg_tag = cmti_live_tag_at(&r->live, pos);
    ev->arg_slot = cmti_live_slot_at(&r->live, pos);
    if (dies) {
        cmti_live_remove_at(&r->live, pos);
        cmti_slots_give(&r->slots, ev->arg_slot);
        access_model_forget(&r->access, ev->arg_tag);
    }
    return 0;
}

/* Reads a varint of the block header or end record, *AT bytes past
 * in.start, of the AVAIL there. */
static int get_header_varint(cmt_reader *r, size_t *at, size_t avail, uint64_t *v)
{
    const uint8_t *p = here(r) + *at;
    if (cmti_varint_get(&p, here(r) + avail, v) < 0) {
        if (r->in.eof && avail - *at < CMT_VARINT_MAX)
            return corrupt_at(r, offset_of(r, 0), "truncated: the stream ends inside a block header");
        return corrupt_at(r, offset_of(r, *at), "corrupt: a number longer than 64 bits");
    }
    *at = (size_t)(p - here(r));
    return 0;
}

/* The end record, whose marker ends AT bytes past in.start, of the AVAIL
 * there. */
static int read_end(cmt_reader *r, size_t at, size_t avail)
{
    uint64_t events, tags;
    if (get_header_varint(r, &at, avail, &events) < 0 || get_header_varint(r, &at, avail, &tags) < 0)
        return -1;
    if (r->skimming) {
        r->events = events;
        r->next_tag = tags + 1;
    }
    if (events != r->events || tags != r->next_tag - 1)
        return corrupt_at(r, offset_of(r, 0),
                          "corrupt: the end record counts %llu events and %llu blocks, the stream "
                          "held %llu and %llu",
                          (unsigned long long)events, (unsigned long long)tags,
                          (unsigned long long)r->events, (unsigned long long)(r->next_tag - 1));
    consume(r, at);
    ptrdiff_t got = ensure(r, 8);
    if (got < 0)
        return -1;
    if (got < 8)
        return corrupt_at(r, offset_of(r, 0), "truncated: the file ends inside the checksum");
    uint64_t stored = 0;
    for (int i = 7; i >= 0; i--)
        stored = (stored << 8) | here(r)[i];
    if (!r->segment && stored != cmti_checksum_final(&r->sum))
        return corrupt_at(r, offset_of(r, 0), "corrupt: checksum mismatch");
    r->in.start += 8;
    ptrdiff_t more = ensure(r, 1);
    if (more < 0)
        return -1;
    if (more > 0)
        return corrupt_at(r, offset_of(r, 0), "corrupt: data after the end of the trace");
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

/* Format 1.1: the block at in.start (a HEADER of that many bytes, then
 * sections of LENS bytes) opens with its checksum record, and the
 * checksum matches.  Checked before any of it is decoded, so that a reader
 * that salvages stops at the first damaged block, never returning events
 * that were not written. */
static int check_block(cmt_reader *r, size_t header, const uint64_t lens[3])
{
    const uint8_t *block = here(r), *ops = block + header, *heads = ops + lens[0], *tails = heads + lens[1];
    if (lens[0] < 1 || ops[0] != CODE_EXTENSION || lens[1] < 2 || heads[0] != CMT_EXTENSION_BLOCK_CHECKSUM ||
        heads[1] != CMT_BLOCK_CHECKSUM_BYTES || lens[2] < CMT_BLOCK_CHECKSUM_BYTES)
        return corrupt_at(r, offset_of(r, 0), "corrupt: a block without its checksum record");
    uint32_t stored = 0;
    for (int i = CMT_BLOCK_CHECKSUM_BYTES - 1; i >= 0; i--)
        stored = stored << 8 | tails[i];
    const uint8_t *pieces[] = {block, tails};
    const size_t sizes[] = {(size_t)(tails - block), lens[2]};
    if (stored != cmti_block_checksum(pieces, sizes, 2))
        return corrupt_at(r, offset_of(r, 0), "corrupt: the block's checksum does not match");
    return 0;
}

/* The block decoded is used up: -1 if it holds numbers or addresses its
 * events did not take. */
static int check_block_used(cmt_reader *r)
{
    if (r->head != r->head_end || r->tail != r->tail_end)
        return corrupt_at(r, op_offset(r, r->op_end),
                          "corrupt: the block holds more numbers than its events use");
    if (r->address != r->address_end)
        return corrupt_at(r, r->address_offset, "corrupt: the block's address record holds more addresses than "
                                                "its events return");
    if (r->stack != r->stack_end)
        return corrupt_at(r, r->stack_offset, "corrupt: the block's stacks record holds more stacks than "
                                              "its events return");
    r->address = r->address_end = NULL;
    r->stack = r->stack_end = NULL;
    r->last_stack = 0;
    return 0;
}

/* The block just loaded has a seek record second, after its checksum's,
 * as the first block of a segment must (its checksum checked already). */
static bool opens_with_seek_record(const cmt_reader *r)
{
    return r->op_end - r->op >= 2 && r->op[1] == CODE_EXTENSION && r->head_end - r->head >= 3 &&
           r->head[2] == CMT_EXTENSION_SEEK;
}

/* Loads the next block, or reads the end record.  Returns 1 for a block,
 * 0 at the verified end, -1 on an error. */
static int next_block(cmt_reader *r)
{
    if (check_block_used(r) < 0)
        return -1;
    ptrdiff_t avail = ensure(r, BLOCK_HEADER_MAX);
    if (avail < 0)
        return -1;
    if (avail == 0)
        return corrupt_at(r, offset_of(r, 0),
                          "truncated: the stream stops%s without its end record", events_so_far(r));
    size_t at = 0;
    uint64_t lens[3];
    if (get_header_varint(r, &at, (size_t)avail, &lens[0]) < 0)
        return -1;
    if (lens[0] == 0)
        return read_end(r, at, (size_t)avail) < 0 ? -1 : 0;
    if (get_header_varint(r, &at, (size_t)avail, &lens[1]) < 0 ||
        get_header_varint(r, &at, (size_t)avail, &lens[2]) < 0)
        return -1;
    for (int i = 0; i < 3; i++)
        if (lens[i] > CMT_SECTION_MAX)
            return corrupt_at(r, offset_of(r, 0), "corrupt: a block section of %llu bytes",
                              (unsigned long long)lens[i]);
    size_t header = at, total = header + lens[0] + lens[1] + lens[2];
    avail = ensure(r, total);
    if (avail < 0)
        return -1;
    if ((size_t)avail < total)
        return corrupt_at(r, offset_of(r, 0), "truncated: the stream ends inside a block%s",
                          events_so_far(r));
    if (r->minor >= 1 && check_block(r, header, lens) < 0)
        return -1;
    r->ops_start = r->op = here(r) + header;
    r->ops_offset = offset_of(r, header);
    r->op_end = r->head = r->op + lens[0];
    r->head_end = r->tail = r->head + lens[1];
    r->tail_end = r->tail + lens[2];
    if (r->seek_due && !opens_with_seek_record(r))
        return corrupt_at(r, offset_of(r, 0), "corrupt: a seek point's block without its seek record");
    consume(r, total);
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
        ev->arg_addr = r->access_external;
    } else if (take_rank(r, op, block - 1, false, ev) < 0) {
        return -1;
    }
    r->access_slot = ev->arg_slot;
    uint64_t base = access_base(&r->access, ev->arg_tag);
    if (ev->arg_tag == CMTI_TAG_EXTERNAL) {
        if (r->access_external != ev->arg_addr)
            base = 0; /* another of the segment's external blocks */
        r->access_external = ev->arg_addr;
    }
    ev->offset = base + zigzag_decode(offset);
    ev->size = width == ACCESS_LITERAL ? 0 : access_width(width);
    if (width == ACCESS_LITERAL && get_number(r, op, &ev->size) < 0)
        return -1;
    access_model_note(&r->access, ev->arg_tag, ev->offset, ev->size);
    return 0;
}

#define SKIPPED 2

/* EV as the compound literal {.count = 1} makes it (cmti_zero). */
static inline void clear_event(cmt_event *ev)
{
    cmti_zero(ev, sizeof *ev);
    ev->count = 1;
}

/* The first ADDRESS record: from here on every event's blocks have their
 * addresses. */
static int start_addresses(cmt_reader *r)
{
    r->addresses = cmti_calloc(1, sizeof *r->addresses);
    if (!r->addresses || cmti_address_model_init(r->addresses) < 0)
        return source_error(r, CMT_NO_MEMORY);
    return 0;
}

/* EV's addresses, in a file that keeps them: the block it was passed,
 * from the model, and the block it returned, from its block's ADDRESS
 * record.  OP is its opcode, for messages. */
static int place(cmt_reader *r, const uint8_t *op, cmt_event *ev)
{
    if (ev->arg_tag)
        ev->arg_addr = cmti_address_of(r->addresses, ev->arg_tag);
    if (ev->tag) {
        uint64_t passed = ev->op == CMT_OP_REALLOC ? ev->arg_addr : 0;
        if (!r->address || r->address == r->address_end)
            return corrupt_at(r, op_offset(r, op), "corrupt: a block returned without its address");
        if (cmti_address_decode(r->addresses, &r->address, r->address_end, cmt_event_bytes(ev), passed, &ev->addr) < 0)
            return corrupt_at(r, r->address_offset, "corrupt: an address runs past its record");
    }
    return cmti_address_follow(r->addresses, ev) < 0 ? source_error(r, CMT_NO_MEMORY) : 0;
}

/* The stack of the block EV returned, from its block's STACKS record.  A
 * segment's reader does not know the stacks named before its seek point,
 * and takes the numbers on trust. */
static int take_stack(cmt_reader *r, const uint8_t *op, cmt_event *ev)
{
    uint64_t delta;
    if (!r->stack || r->stack == r->stack_end)
        return corrupt_at(r, op_offset(r, op), "corrupt: a block returned without its stack");
    if (cmti_varint_get(&r->stack, r->stack_end, &delta) < 0)
        return corrupt_at(r, r->stack_offset, "corrupt: a stack runs past its record");
    uint64_t stack = r->last_stack + zigzag_decode(delta);
    if (stack > UINT32_MAX || (!r->segment && stack > cmt_sites_stacks(&r->sites)))
        return corrupt_at(r, op_offset(r, op), "corrupt: a block from stack %llu, which has not been named",
                          (unsigned long long)stack);
    ev->stack = r->last_stack = (uint32_t)stack;
    return 0;
}

/* A MODULE or STACK record, of LEN bytes at PAYLOAD: added to the
 * reader's sites. */
__attribute__((noinline, cold)) static int site_record(cmt_reader *r, const uint8_t *op, uint64_t kind,
                                                       const uint8_t *payload, size_t len)
{
    cmti_module_record module;
    cmt_frame frame;
    char why[CMT_ERRLEN];
    if (kind == CMT_EXTENSION_MODULE ? cmti_module_decode(payload, len, &module) < 0
                                     : cmti_stack_decode(payload, len, &frame) < 0)
        return corrupt_at(r, op_offset(r, op), "corrupt: a %s record that is not one",
                          kind == CMT_EXTENSION_MODULE ? "module" : "stack");
    if ((kind == CMT_EXTENSION_MODULE ? cmti_sites_add_module(&r->sites, &module, why, sizeof why)
                                      : cmti_sites_add_stack(&r->sites, &frame, why, sizeof why)) < 0) {
        if (strcmp(why, CMT_NO_MEMORY) == 0)
            return source_error(r, CMT_NO_MEMORY);
        if (!r->segment) /* a segment's reader knows none named before it: numbers on trust */
            return corrupt_at(r, op_offset(r, op), "corrupt: %s", why);
    }
    return 0;
}

/* A SEEK record, of LEN bytes at PAYLOAD: where a segment starts, the
 * decoder's state; elsewhere, what the decoder has, or the file is
 * damaged. */
__attribute__((noinline, cold)) static int seek_record(cmt_reader *r, const uint8_t *op, const uint8_t *payload, size_t len)
{
    cmti_seek_state s;
    if (cmti_seek_decode(payload, len, &s) < 0)
        return corrupt_at(r, op_offset(r, op), "corrupt: a seek record that is not one");
    if (r->seek_due) {
        if (s.events != r->events || s.tags != r->next_tag - 1)
            return corrupt_at(r, op_offset(r, op), "corrupt: a seek record that does not match the index");
        r->seek_due = false;
        r->last_time = s.time;
        r->thread = (uint32_t)s.thread;
        r->sizes = s.sizes;
        r->access = (cmti_access_model){s.access_block ? CMTI_TAG_EXTERNAL : 0, s.access_end};
        r->access_external = s.access_block - 1;
        r->access_slot = UINT32_MAX;
        return 0;
    }
    uint64_t access_block = 0;
    if (r->access.tag == CMTI_TAG_EXTERNAL) /* a segment's: older than its own blocks */
        access_block = r->live.live + r->access_external + 1;
    else if (r->access.tag && cmti_live_rank_of(&r->live, r->access.tag, false, &access_block) == 0)
        access_block++;
    if (s.events != r->events || s.tags != r->next_tag - 1 || s.time != r->last_time || s.thread != r->thread ||
        memcmp(&s.sizes, &r->sizes, sizeof s.sizes) != 0 || s.access_block != access_block ||
        (access_block && s.access_end != r->access.end))
        return corrupt_at(r, op_offset(r, op), "corrupt: a seek record that does not match the stream");
    return 0;
}

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
    clear_event(ev);
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
        if (kind == CMT_EXTENSION_TIME || kind == CMT_EXTENSION_THREAD || kind == CMT_EXTENSION_CLOCK) {
            uint64_t value;
            if (cmti_varint_get(&payload, r->tail, &value) < 0 || payload != r->tail ||
                (kind == CMT_EXTENSION_THREAD && value > UINT32_MAX))
                return corrupt_at(r, op_offset(r, op), "corrupt: a %s record that is not one number",
                                  kind == CMT_EXTENSION_THREAD ? "thread" : kind == CMT_EXTENSION_TIME ? "time" : "clock");
            if (kind == CMT_EXTENSION_THREAD) {
                r->thread = (uint32_t)value;
            } else {
                r->last_time += zigzag_decode(value);
                if (kind == CMT_EXTENSION_TIME)
                    r->next_time = r->last_time;
                else
                    r->clock = r->last_time;
            }
        } else if (kind == CMT_EXTENSION_SEEK) {
            if (seek_record(r, op, payload, len) < 0)
                return -1;
        } else if (kind == CMT_EXTENSION_MODULE || kind == CMT_EXTENSION_STACK) {
            if (site_record(r, op, kind, payload, len) < 0)
                return -1;
        } else if (kind == CMT_EXTENSION_STACKS) {
            if (r->stack)
                return corrupt_at(r, op_offset(r, op), "corrupt: two stacks records in a block");
            r->stacks = true;
            r->stack = payload;
            r->stack_end = r->tail;
            r->stack_offset = op_offset(r, op);
        } else if (kind == CMT_EXTENSION_ADDRESS) {
            if (r->address)
                return corrupt_at(r, op_offset(r, op), "corrupt: two address records in a block");
            if (!r->addresses && start_addresses(r) < 0)
                return -1;
            r->address = payload;
            r->address_end = r->tail;
            r->address_offset = op_offset(r, op);
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
    if (r->addresses && place(r, op, ev) < 0)
        return -1;
    if (__builtin_expect(r->stacks, 0) && ev->tag && take_stack(r, op, ev) < 0)
        return -1;
    ev->time = r->next_time ? r->next_time : r->clock;
    r->next_time = 0;
    ev->thread = r->thread;
    r->events++;
    return 1;
}

/* A segment that stops at a seek point has come to it, at the end of a
 * block: 0, or -1 if the stream does not agree with the index, or with
 * the seek record of the next block, which is read to check that what
 * the next segment starts from is where this one ended (as the whole
 * file's reader checks every seek record). */
static int end_segment(cmt_reader *r)
{
    if (check_block_used(r) < 0)
        return -1;
    if (r->events != r->segment_end || r->next_tag - 1 != r->segment_end_tags)
        return corrupt_at(r, offset_of(r, 0), "corrupt: a seek point that is not where the index says");
    int rc = next_block(r);
    if (rc <= 0)
        return rc < 0 ? -1 : corrupt_at(r, offset_of(r, 0), "corrupt: a seek point at the end of the trace");
    if (!opens_with_seek_record(r))
        return corrupt_at(r, op_offset(r, r->op), "corrupt: a seek point's block without its seek record");
    cmt_event ev;
    for (int record = 0; record < 2; record++)
        if (decode_record(r, &ev) != SKIPPED)
            return -1;
    r->done = true;
    return 0;
}

cmt_reader *cmti_reader_open_segment(const char *path, const cmti_seek_point *from, const cmti_seek_point *to,
                                     char *err, size_t errlen)
{
    cmt_reader *r = cmt_reader_open(path, err, errlen);
    if (!r)
        return NULL;
    if (!r->compressed || r->minor < 1 || cmti_input_restart_at(&r->in, from->file, from->stream, err, errlen) < 0) {
        if (!r->compressed || r->minor < 1)
            cmti_set_error(err, errlen, "%s: seek points are in compressed files of format 1.1", r->name);
        cmt_reader_close(r);
        return NULL;
    }
    r->segment = from->events > 0;
    r->seek_due = r->segment;
    r->events = from->events;
    r->next_tag = from->tags + 1;
    if (to) {
        r->segment_end = to->events;
        r->segment_end_tags = to->tags;
    }
    return r;
}

int cmt_reader_next(cmt_reader *r, cmt_event *ev)
{
    for (;;) {
        if (r->failed)
            return -1;
        if (r->done)
            return 0;
        if (r->op == r->op_end) {
            if (r->segment_end && r->events >= r->segment_end)
                return end_segment(r);
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
        r->address = r->address_end;
        r->stack = r->stack_end;
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
    return r->compressed;
}

bool cmt_reader_has_addresses(const cmt_reader *r)
{
    return r->addresses != NULL;
}

const cmti_live *cmti_reader_live_set(const cmt_reader *r)
{
    return &r->live;
}

const cmt_sites *cmt_reader_sites(const cmt_reader *r)
{
    return &r->sites;
}

uint64_t cmt_reader_live_blocks(const cmt_reader *r)
{
    return r->live.live;
}

void cmt_reader_close(cmt_reader *r)
{
    if (!r)
        return;
    cmti_live_destroy(&r->live);
    cmti_slots_destroy(&r->slots);
    if (r->addresses)
        cmti_address_model_destroy(r->addresses);
    cmti_free(r->addresses);
    cmti_sites_destroy(&r->sites);
    cmti_input_close(&r->in);
    cmti_free(r);
}
