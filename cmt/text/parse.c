/*
 * parse.c - the text trace reader.
 *
 * Reads a trace a line at a time, in the cmt text format (below) or in
 * one of the formats of kdump.c, valgrind.c, dtrace.c, mtrace.c and
 * memtrace.c, and turns addresses into tags.  The text format is the lines
 * the original tools wrote and more:
 *
 *     malloc(8) = 81d220b48<1>
 *     calloc(4, 16) = 0x81d220c00
 *     realloc(81d220b48<1>, 16) = 81d3b83a0<2>
 *     posix_memalign(64, 100) = 0x81d300040      (also aligned_alloc, memalign)
 *     store(81d3b83a0<2>+8, 4)                    (also load, modify: block+offset, bytes)
 *     free(81d3b83a0<2>)                          # annotations are ignored
 *     @0.000012345 t2 malloc(8) = 0<3>             (the time in seconds and the thread, where known)
 *
 * The tagger (common/tagger.h) turns addresses into tags, by the rules the
 * recorder follows too.  Tags in the input
 * are optional; where present they must agree with the ones the
 * reader assigns (counted from the first tag seen, so an excerpt that
 * starts at <6655> is fine).  The memtrace format's accesses name any
 * address inside a block, so for it the live blocks are also kept ordered
 * by address, to find the one that holds it.
 */
#include "scan.h"
#include "../common/ordered.h"
#include "../common/tagger.h"

#include <stdlib.h>
#include <sys/stat.h>

/* Lines scanned ahead of the one being tagged (fill_ahead). */
#define AHEAD_LINES 32

typedef struct scanned_line {
    parsed_line l;
    line_kind kind;
    const char *text; /* in the input's buffer, which stays put while lines are ahead */
    size_t len;
    uint64_t number;
} scanned_line;

/* The reader's values in its tagger's entries. */
enum { BLOCK_BYTES = 1, BLOCK_START = 2 };

struct cmt_text_reader {
    cmti_input in;
    cmt_text_options options;
    cmt_text_stats stats;
    cmti_tagger tagger;     /* block key (address; ops: handle + 1) -> its tag, BLOCK_BYTES, BLOCK_START */
    cmti_ordered by_address; /* memtrace: address -> bytes of each live block */
    bool ordered;          /* by_address is kept */
    uint64_t last_hit;     /* memtrace: address of the block the last access hit, 0: none */
    bool tag_offset_known; /* input tags = our tags + stats.tag_offset */
    line_kind (*scan_line)(scanner *s, parsed_line *l, line_context *ctx); /* the format's */
    line_context context;
    cmt_event pending;     /* the allocation that follows an implied free */
    bool has_pending;
    const char *line;      /* the line being read, for messages */
    size_t line_len;
    scanned_line ahead[AHEAD_LINES]; /* lines scanned, to be tagged: ahead_at to ahead_n */
    unsigned ahead_at, ahead_n;
    uint64_t lines_scanned;
    char err[CMT_ERRLEN];
};

/* The format LINE (of LEN bytes, from its first byte that is not space)
 * is written in; FULL is the line with its leading space. */
static cmt_format format_of_line(const char *full, const char *line, size_t len)
{
    size_t full_len = len + (size_t)(line - full);
    if (cmti_looks_like_valgrind(line, len))
        return CMT_FORMAT_VALGRIND;
    if (cmti_looks_like_dtrace(full, full_len))
        return CMT_FORMAT_DTRACE;
    if (cmti_looks_like_mtrace(line, len))
        return CMT_FORMAT_MTRACE;
    if (cmti_looks_like_memtrace(line, len))
        return CMT_FORMAT_MEMTRACE;
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
        len--;
    if (cmti_looks_like_ops(line, len))
        return CMT_FORMAT_OPS;
    return cmti_looks_like_kdump(full, full_len) ? CMT_FORMAT_KDUMP : CMT_FORMAT_TEXT;
}

/* -f auto: the format of the first line that is not blank or a comment,
 * among the first 64 KiB.  A valgrind log with memtrace records in it
 * (the rmalloc project's valgrind writes them among its own lines) is a
 * memtrace. */
static cmt_format detect_format(cmt_text_reader *t, char *err, size_t errlen)
{
    ptrdiff_t avail = cmti_input_fill(&t->in, 65536, err, errlen);
    const char *p = (const char *)t->in.buf + t->in.start, *end = p + (avail > 0 ? avail : 0);
    cmt_format found = CMT_FORMAT_AUTO;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        const char *q = p;
        while (q < line_end && (*q == ' ' || *q == '\t' || *q == '\r'))
            q++;
        if (q < line_end && *q != '#') {
            cmt_format format = format_of_line(p, q, (size_t)(line_end - q));
            if (format == CMT_FORMAT_MEMTRACE)
                return format;
            if (found == CMT_FORMAT_AUTO)
                found = format;
            if (found != CMT_FORMAT_VALGRIND)
                return found;
        }
        p = line_end + 1;
    }
    return found == CMT_FORMAT_AUTO ? CMT_FORMAT_TEXT : found;
}

/* valgrind, --pid not given: the process of PATH with most calls, and how
 * many processes there are.  A pass over the file before the real one, so
 * only for regular files: a pipe would be drained. */
static int busiest_process(const char *path, uint64_t *pid, uint64_t *processes, char *err,
                           size_t errlen)
{
    cmti_input in;
    if (cmti_input_open(&in, path, err, errlen) < 0)
        return -1;
    cmti_map counts; /* pid -> its lines */
    enum { LINES };
    int rc = cmti_map_init(&counts, 1) < 0 ? -3 : 1;
    const char *line;
    size_t len;
    uint64_t best = 0;
    /* A line too long stops the count: the real pass reports it. */
    while (rc > 0 && (rc = cmti_input_line(&in, &line, &len, err, errlen)) > 0) {
        uint64_t line_pid;
        if (cmti_valgrind_line_pid(line, len, &line_pid)) {
            cmti_map_entry *e = cmti_map_insert(&counts, line_pid);
            if (!e) {
                rc = -3;
                break;
            }
            if (!e->value[LINES]++)
                ++*processes;
            if (e->value[LINES] > best) {
                best = e->value[LINES];
                *pid = line_pid;
            }
        }
    }
    if (rc == -3)
        cmti_set_error(err, errlen, "%s: " CMT_NO_MEMORY, in.name);
    cmti_map_destroy(&counts);
    cmti_input_close(&in);
    return rc == -1 || rc == -3 ? -1 : 0;
}

static cmti_tag_forget forget_block;

cmt_text_reader *cmt_text_open(const char *path, const cmt_text_options *options, char *err,
                               size_t errlen)
{
    cmti_input in;
    if (cmti_input_open(&in, path, err, errlen) < 0)
        return NULL;
    return cmti_text_open_input(&in, path, options, err, errlen);
}

cmt_text_reader *cmti_text_open_input(cmti_input *in, const char *path, const cmt_text_options *options,
                                     char *err, size_t errlen)
{
    cmt_text_reader *t = cmti_calloc(1, sizeof *t);
    if (!t) {
        cmti_set_error(err, errlen, "%s: " CMT_NO_MEMORY, in->name);
        cmti_input_close(in);
        return NULL;
    }
    t->in = *in;
    if (options)
        t->options = *options;
    t->stats.format = t->options.format;
    if (t->stats.format == CMT_FORMAT_CMT0) {
        cmti_set_error(err, errlen, "%s: cmt0 is a binary format, read by cmt_source_open, not as text", t->in.name);
        cmt_text_close(t);
        return NULL;
    }
    if (t->stats.format == CMT_FORMAT_AUTO)
        t->stats.format = detect_format(t, err, errlen);
    switch (t->stats.format) {
    case CMT_FORMAT_KDUMP: t->scan_line = cmti_scan_kdump_line; break;
    case CMT_FORMAT_VALGRIND: t->scan_line = cmti_scan_valgrind_line; break;
    case CMT_FORMAT_DTRACE: t->scan_line = cmti_scan_dtrace_line; break;
    case CMT_FORMAT_MTRACE: t->scan_line = cmti_scan_mtrace_line; break;
    case CMT_FORMAT_MEMTRACE: t->scan_line = cmti_scan_memtrace_line; break;
    case CMT_FORMAT_OPS: t->scan_line = cmti_scan_ops_line; break;
    default: t->scan_line = cmti_scan_text_line; break;
    }
    t->context.stats = &t->stats;
    t->stats.pid = t->options.pid;
    if (t->options.pid && t->stats.format != CMT_FORMAT_VALGRIND) {
        cmti_set_error(err, errlen, "%s: --pid reads one process of a valgrind log, and this is %s", t->in.name,
                      cmt_format_name(t->stats.format));
        cmt_text_close(t);
        return NULL;
    }
    struct stat st;
    bool rereadable = path && strcmp(path, "-") != 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode);
    if (t->stats.format == CMT_FORMAT_VALGRIND && !t->options.pid && rereadable &&
        busiest_process(path, &t->stats.pid, &t->stats.processes, err, errlen) < 0) {
        cmt_text_close(t);
        return NULL;
    }
    t->ordered = t->stats.format == CMT_FORMAT_MEMTRACE;
    if (cmti_tagger_init(&t->tagger, 3, true, forget_block, t) < 0 || cmti_ordered_init(&t->by_address) < 0) {
        cmti_set_error(err, errlen, "%s: " CMT_NO_MEMORY, t->in.name);
        cmt_text_close(t);
        return NULL;
    }
    t->tagger.strict = t->options.strict;
    return t;
}

void cmt_text_close(cmt_text_reader *t)
{
    if (!t)
        return;
    cmti_input_close(&t->in);
    cmti_tagger_destroy(&t->tagger);
    cmti_ordered_destroy(&t->by_address);
    cmti_map_destroy(&t->context.threads);
    cmti_map_destroy(&t->context.callers);
    cmti_sites_destroy(&t->context.sites);
    cmti_free(t);
}

bool cmti_text_thread(line_context *ctx, uint64_t id, uint32_t *thread)
{
    if (!ctx->threads.slots && cmti_map_init(&ctx->threads, 1) < 0)
        return false;
    cmti_map_entry *e = cmti_map_insert(&ctx->threads, id + 1); /* keys are not 0 */
    if (!e)
        return false;
    enum { THREAD_NUMBER }; /* the map's one value: threads numbered as they come, from 1 */
    if (!e->value[THREAD_NUMBER])
        e->value[THREAD_NUMBER] = ctx->threads.count;
    *thread = (uint32_t)e->value[THREAD_NUMBER];
    return true;
}

/* The stack FRAME ends (FRAME on its caller's), in *STACK: named in CTX's
 * sites the first time.  The table is keyed by a hash of the frame, the
 * next key tried while another frame holds one.  False when out of
 * memory. */
static bool intern_frame(line_context *ctx, const cmt_frame *frame, uint32_t *stack)
{
    if (!ctx->callers.slots && cmti_map_init(&ctx->callers, 1) < 0)
        return false;
    const uint64_t odd = 0x9E3779B97F4A7C15ULL;
    uint64_t key = (frame->offset ^ (uint64_t)frame->module << 48 ^ (uint64_t)frame->caller * odd) | 1;
    for (;; key = key * odd + 2) { /* odd keys, none 0 */
        cmti_map_entry *e = cmti_map_insert(&ctx->callers, key);
        if (!e)
            return false;
        if (!e->value[0]) {
            char why[CMT_ERRLEN];
            if (cmti_sites_add_stack(&ctx->sites, frame, why, sizeof why) < 0)
                return false;
            e->value[0] = cmt_sites_stacks(&ctx->sites);
        }
        const cmt_frame *f = cmt_sites_frame(&ctx->sites, (uint32_t)e->value[0]);
        if (f->caller == frame->caller && f->module == frame->module && f->offset == frame->offset) {
            *stack = (uint32_t)e->value[0];
            return true;
        }
    }
}

bool cmti_text_caller(line_context *ctx, const char *file, size_t len, uint64_t address, uint32_t *stack)
{
    char why[CMT_ERRLEN];
    uint32_t n = cmt_sites_modules(&ctx->sites), module = 0;
    for (uint32_t m = 1; len && m <= n && !module; m++) { /* the files are few: looked for in order */
        const char *path = cmt_sites_module(&ctx->sites, m)->path;
        if (strlen(path) == len && memcmp(path, file, len) == 0)
            module = m;
    }
    if (len && !module) {
        cmti_module_record m = {n + 1, 0, NULL, 0, file, len};
        if (n + 1 >= (1u << 16) || cmti_sites_add_module(&ctx->sites, &m, why, sizeof why) < 0)
            return false;
        module = n + 1;
    }
    return intern_frame(ctx, &(cmt_frame){0, module, address}, stack);
}

bool cmti_text_stack(line_context *ctx, const uint64_t *addresses, size_t n, uint32_t *stack)
{
    *stack = 0;
    for (size_t i = n; i > 0; i--) /* from the outermost */
        if (!intern_frame(ctx, &(cmt_frame){*stack, 0, addresses[i - 1]}, stack))
            return false;
    return true;
}

const cmt_sites *cmt_text_sites(const cmt_text_reader *t)
{
    return &t->context.sites;
}

const cmti_input *cmti_text_input(const cmt_text_reader *t)
{
    return &t->in;
}

const char *cmt_text_error(const cmt_text_reader *t)
{
    return t->err;
}

const cmt_text_stats *cmt_text_stats_of(const cmt_text_reader *t)
{
    return &t->stats;
}

/* Copies the line into BUF for a message: control bytes escaped, cut
 * after 60 bytes (enough to recognise a line; the message stays one line
 * of a terminal or two). */
static void quote_line(const char *line, size_t len, char *buf, size_t cap)
{
    const size_t shown = 60;
    size_t o = 0;
    for (size_t i = 0; i < len && i < shown && o + 5 < cap; i++) {
        unsigned char c = (unsigned char)line[i];
        if (c >= 0x20 && c < 0x7f)
            buf[o++] = (char)c;
        else
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
    }
    if (len > shown && o + 4 < cap)
        o += (size_t)snprintf(buf + o, cap - o, "...");
    buf[o] = '\0';
}

/* "FILE: WHAT", where no line is to blame. */
static int reader_error(cmt_text_reader *t, const char *what)
{
    cmti_set_error(t->err, sizeof t->err, "%s: %s", t->in.name, what);
    return -1;
}

/* "FILE:LINE: WHAT: <line>" */
static int line_error(cmt_text_reader *t, const char *what)
{
    char quoted[1024];
    quote_line(t->line, t->line_len, quoted, sizeof quoted);
    cmti_set_error(t->err, sizeof t->err, "%s:%llu: %s: %s", t->in.name,
                  (unsigned long long)t->stats.lines, what, quoted);
    return -1;
}

/* ------------------------------------------------------------- scanning */

/* A number after LETTER, "t2 " or "s14 ", where the line has one, into
 * *V; false if it is there but malformed. */
static bool scan_numbered(scanner *s, char letter, uint32_t *v)
{
    if (s->end - s->p < 2 || s->p[0] != letter || s->p[1] < '0' || s->p[1] > '9')
        return true;
    uint64_t n;
    s->p++;
    if (!scan_number(s, &n) || n > UINT32_MAX)
        return false;
    *v = (uint32_t)n;
    skip_space(s);
    return true;
}

/* The time, thread and stack a line may start with, "@12.000000345 t2 s4 ",
 * into EV (0 for any, as when absent, is unknown); false if one is
 * there but malformed. */
static bool scan_when_and_who(scanner *s, cmt_event *ev)
{
    if (s->p < s->end && *s->p == '@') {
        s->p++;
        if (!scan_seconds(s, &ev->time))
            return false;
        skip_space(s);
    }
    return scan_numbered(s, 't', &ev->thread) && scan_numbered(s, 's', &ev->stack);
}

/* A line of cmt_format_sites: "module N BASE BUILD-ID PATH" or "stack N
 * CALLER MODULE OFFSET", added to CTX's sites; LINE_EVENT if it is
 * neither. */
static line_kind scan_site_line(scanner *s, line_context *ctx)
{
    char why[CMT_ERRLEN];
    uint64_t number, a, b, c;
    if (accept_word(s, "stack ")) {
        if (!scan_number(s, &number) || !scan_number(s, &a) || !scan_number(s, &b) || !scan_number(s, &c) ||
            a > UINT32_MAX || b > UINT32_MAX || number != (uint64_t)cmt_sites_stacks(&ctx->sites) + 1)
            return LINE_BAD;
        skip_space(s);
        cmt_frame frame = {(uint32_t)a, (uint32_t)b, c};
        return s->p == s->end && cmti_sites_add_stack(&ctx->sites, &frame, why, sizeof why) == 0 ? LINE_SKIPPED
                                                                                                  : LINE_BAD;
    }
    if (!accept_word(s, "module "))
        return LINE_EVENT;
    uint8_t id[64];
    size_t id_len = 0;
    if (!scan_number(s, &number) || !scan_number(s, &a))
        return LINE_BAD;
    skip_space(s);
    if (accept(s, '-')) {
        ;
    } else {
        int hi, lo;
        while (s->end - s->p >= 2 && id_len < sizeof id && (hi = hex_value(s->p[0])) >= 0 &&
               (lo = hex_value(s->p[1])) >= 0) {
            id[id_len++] = (uint8_t)(hi << 4 | lo);
            s->p += 2;
        }
    }
    if (s->p == s->end || *s->p != ' ' || s->p + 1 == s->end)
        return LINE_BAD;
    cmti_module_record m = {number, a, id, id_len, s->p + 1, (size_t)(s->end - s->p - 1)};
    return cmti_sites_add_module(&ctx->sites, &m, why, sizeof why) == 0 ? LINE_SKIPPED : LINE_BAD;
}

line_kind cmti_scan_text_line(scanner *s, parsed_line *l, line_context *ctx)
{
    line_kind site = scan_site_line(s, ctx);
    if (site != LINE_EVENT)
        return site;
    cmt_event *ev = &l->ev;
    if (!scan_when_and_who(s, ev) || ev->stack > cmt_sites_stacks(&ctx->sites) || !scan_op(s, &ev->op) ||
        !scan_args(s, l))
        return LINE_BAD;
    if (cmt_op_allocates(ev->op) &&
        !(accept(s, '=') && scan_pointer(s, &ev->addr, &l->result_input_tag)))
        return LINE_BAD;
    skip_space(s);
    return s->p == s->end ? LINE_EVENT : LINE_BAD;
}

/* ----------------------------------------------------------- semantics */

static bool input_tag_agrees(cmt_text_reader *t, uint64_t ours, uint64_t input_tag)
{
    if (!input_tag)
        return true;
    if (!t->tag_offset_known)
        return true;
    return input_tag == ours + t->stats.tag_offset;
}

/* Blocks a text trace names by tag alone, `0<tag>` (a .cmt file keeps no
 * addresses, so its canonical text prints them so), are keyed above every
 * user-space address. */
#define TAG_KEY (1ULL << 63)

/* True if a pointer is NULL: address 0 and no tag (0<tag> is a block). */
static bool is_null(uint64_t addr, uint64_t input_tag)
{
    return addr == 0 && !input_tag;
}

/* The key of the block a line names in the live map: its handle, its
 * address, or for address 0 with a tag, the tag. */
static uint64_t block_key(const parsed_line *l, uint64_t addr, uint64_t input_tag)
{
    if (l->by_handle)
        return l->handle + 1;
    return addr == 0 && input_tag ? TAG_KEY | input_tag : addr;
}

/* Sets what the live map says of block E, and keeps by_address in step.
 * Returns 0, or -1 when out of memory. */
static int live_set(cmt_text_reader *t, cmti_map_entry *e, uint64_t bytes, uint64_t addr)
{
    e->value[BLOCK_BYTES] = bytes;
    e->value[BLOCK_START] = addr;
    return t->ordered ? cmti_ordered_put(&t->by_address, addr, bytes) : 0;
}

/* The tagger's word that block E is gone. */
static void forget_block(void *context, const cmti_map_entry *e)
{
    cmt_text_reader *t = context;
    if (t->ordered) {
        cmti_ordered_remove(&t->by_address, e->value[BLOCK_START]);
        if (t->last_hit == e->value[BLOCK_START])
            t->last_hit = 0;
    }
}

/* The live block that holds ADDR in a memtrace, or NULL. */
static cmti_map_entry *block_holding(cmt_text_reader *t, uint64_t addr)
{
    uint64_t start = t->last_hit, bytes;
    cmti_map_entry *e = start ? cmti_tagger_find(&t->tagger, start) : NULL;
    if (!e || addr < start || addr - start >= e->value[BLOCK_BYTES]) {
        if (!cmti_ordered_floor(&t->by_address, addr, &start, &bytes) || addr - start >= bytes)
            return NULL;
        e = cmti_tagger_find(&t->tagger, start);
        t->last_hit = start;
    }
    return e;
}

/* Names the block an access is to and where in it.  Returns 1, 0 if the
 * access hit no live block (counted and skipped), -1 on an error. */
static int resolve_access(cmt_text_reader *t, parsed_line *l)
{
    cmt_event *ev = &l->ev;
    cmti_map_entry *e;
    if (t->ordered)
        e = block_holding(t, ev->arg_addr);
    else if (!l->by_handle && is_null(ev->arg_addr, l->arg_input_tag))
        e = NULL; /* NULL is no block (and key 0 marks the map's empty slots) */
    else
        e = cmti_tagger_find(&t->tagger, block_key(l, ev->arg_addr, l->arg_input_tag));
    if (e && t->stats.format != CMT_FORMAT_TEXT) {
        /* An address in the block, not the block with an offset. */
        ev->offset = ev->arg_addr - e->value[BLOCK_START];
        if (ev->arg_addr < e->value[BLOCK_START] || ev->offset >= e->value[BLOCK_BYTES])
            e = NULL;
    }
    if (!e) {
        t->stats.unmapped_accesses++;
        return 0;
    }
    if (!input_tag_agrees(t, e->value[CMTI_TAGGED_TAG], l->arg_input_tag))
        return line_error(t, "the tag does not match the block at that address");
    ev->arg_tag = e->value[CMTI_TAGGED_TAG];
    ev->arg_addr = e->value[BLOCK_START];
    if (ev->offset > e->value[BLOCK_BYTES] || ev->size > e->value[BLOCK_BYTES] - ev->offset)
        t->stats.overrunning_accesses++;
    return 1;
}

/* The key of the block a call passed, 0 for none (the tagger looks at it
 * only for the calls that pass one). */
static uint64_t passed_key(const parsed_line *l)
{
    const cmt_event *ev = &l->ev;
    if (!l->by_handle && is_null(ev->arg_addr, l->arg_input_tag))
        return 0;
    return block_key(l, ev->arg_addr, l->arg_input_tag);
}

/* The key of the block a call returned, 0 for none. */
static uint64_t returned_key(const parsed_line *l)
{
    const cmt_event *ev = &l->ev;
    if (!cmt_op_allocates(ev->op) || is_null(ev->addr, l->result_input_tag))
        return 0;
    return block_key(l, ev->addr, l->result_input_tag);
}

/* Tags a call (not an access).  Returns 1, 0 if the line is dropped (a
 * free of a block not live), 2 when an implied free of a block still live
 * where the call returned its block was stored in *IMPLIED, -1 on an
 * error. */
static int tag_call(cmt_text_reader *t, parsed_line *l, cmt_event *implied)
{
    cmt_event *ev = &l->ev;
    cmti_map_entry *e;
    cmti_tag_result rc = cmti_tagger_tag(&t->tagger, ev, passed_key(l), returned_key(l), implied, &e);
    t->stats.unknown_frees = t->tagger.counts.unknown_frees;
    t->stats.unknown_reallocs = t->tagger.counts.unknown_reallocs;
    t->stats.reused_live = t->tagger.counts.reused_live;
    switch (rc) {
    case CMT_TAG_DROP: return 0;
    case CMT_TAG_NO_MEMORY: return reader_error(t, CMT_NO_MEMORY);
    case CMT_TAG_NOT_LIVE: return line_error(t, "address is not live (--strict)");
    case CMT_TAG_STILL_LIVE:
        return line_error(t, l->by_handle ? "handle allocated while still live (--strict)"
                                          : "address returned while still live (--strict)");
    default: break;
    }
    if (!ev->tag)
        ev->stack = 0; /* a stack is a block's: a free's caller, or a failed call's, is not kept */
    if (ev->arg_tag && !input_tag_agrees(t, ev->arg_tag, l->arg_input_tag))
        return line_error(t, "the tag does not match the block at that address");
    if (!e)
        return 1;
    if (l->result_input_tag && !t->tag_offset_known) {
        t->tag_offset_known = true;
        t->stats.tag_offset = l->result_input_tag - ev->tag;
    }
    if (!input_tag_agrees(t, ev->tag, l->result_input_tag))
        return line_error(t, "tags must count up by one");
    if (rc == CMT_TAG_IMPLIED)
        implied->arg_addr = e->value[BLOCK_START];
    if (live_set(t, e, cmt_event_bytes(ev), ev->addr) < 0)
        return reader_error(t, CMT_NO_MEMORY);
    return rc == CMT_TAG_IMPLIED ? 2 : 1;
}

/* Finds the next line; returns its length (without the newline), or -1 at
 * the end of the input, -2 on an error. */
static ptrdiff_t next_line(cmt_text_reader *t, const char **line)
{
    size_t len;
    int rc = cmti_input_line(&t->in, line, &len, t->err, sizeof t->err);
    if (rc == -2) {
        t->stats.lines = t->lines_scanned + 1;
        t->line = *line;
        t->line_len = len;
        line_error(t, "line longer than 65536 bytes");
    }
    return rc > 0 ? (ptrdiff_t)len : rc == 0 ? -1 : -2;
}

/* At the end of a valgrind log that has no call of the process --pid
 * asked for: -1, naming the processes it has. */
static int no_such_process(cmt_text_reader *t)
{
    const line_context *c = &t->context;
    char pids[SEEN_PIDS * 24 + 8] = "";
    size_t o = 0;
    for (size_t i = 0; i < c->nother_pids; i++)
        o += (size_t)snprintf(pids + o, sizeof pids - o, "%s%llu", i ? ", " : "", (unsigned long long)c->other_pids[i]);
    if (c->nother_pids == SEEN_PIDS)
        snprintf(pids + o, sizeof pids - o, "...");
    if (c->nother_pids)
        cmti_set_error(t->err, sizeof t->err, "%s: no call of process %llu in the log; its processes: %s", t->in.name,
                      (unsigned long long)t->options.pid, pids);
    else
        cmti_set_error(t->err, sizeof t->err, "%s: no call of process %llu in the log, nor of any other", t->in.name,
                      (unsigned long long)t->options.pid);
    return -1;
}

/* Scans LINE, of LEN bytes, into S; false for a blank or comment line.
 * The blocks an event names are asked of the cache now, to be there when
 * it is tagged, lines later: the tagger's table was 36% of trace2cmt's
 * time on a Python trace with 281,000 blocks live, most of it waiting for
 * memory. */
static bool scan_ahead(cmt_text_reader *t, const char *line, size_t len, scanned_line *s)
{
    const char *hash = memchr(line, '#', len);
    scanner sc = {line, hash ? hash : line + len};
    while (sc.end > sc.p && (sc.end[-1] == '\r' || sc.end[-1] == ' ' || sc.end[-1] == '\t'))
        sc.end--;
    skip_space(&sc);
    if (sc.p == sc.end)
        return false;
    cmti_zero(&s->l, sizeof s->l); /* (parsed_line){.ev = {.count = 1}}, without a `rep stos` */
    s->l.ev.count = 1;
    s->kind = t->scan_line(&sc, &s->l, &t->context);
    s->text = line;
    s->len = len;
    s->number = t->lines_scanned;
    if (s->kind == LINE_EVENT && !cmt_op_accesses(s->l.ev.op)) {
        uint64_t passed = passed_key(&s->l), returned = returned_key(&s->l);
        if (passed)
            cmti_map_prefetch(&t->tagger.live, passed);
        if (returned)
            cmti_map_prefetch(&t->tagger.live, returned);
    }
    return true;
}

/* Scans the lines ahead: the next one that is not blank, read as
 * cmti_input_line reads (which may move the buffer), then as many after
 * it as the buffer holds whole, which stay put until they are tagged.
 * Returns 1, 0 at the end of the input, -1 on an error. */
static int fill_ahead(cmt_text_reader *t)
{
    t->ahead_at = t->ahead_n = 0;
    const char *line;
    for (;;) {
        ptrdiff_t len = next_line(t, &line);
        if (len < 0)
            return len == -1 ? 0 : -1;
        t->lines_scanned++;
        if (scan_ahead(t, line, (size_t)len, &t->ahead[t->ahead_n])) {
            t->ahead_n++;
            break;
        }
    }
    size_t len;
    while (t->ahead_n < AHEAD_LINES && cmti_input_peek_line(&t->in, &line, &len)) {
        t->lines_scanned++;
        if (scan_ahead(t, line, len, &t->ahead[t->ahead_n]))
            t->ahead_n++;
    }
    return 1;
}

int cmt_text_next(cmt_text_reader *t, cmt_event *ev)
{
    if (t->has_pending) {
        t->has_pending = false;
        *ev = t->pending;
        t->stats.events++;
        return 1;
    }
    for (;;) {
        if (t->ahead_at == t->ahead_n) {
            int filled = fill_ahead(t);
            if (filled <= 0) {
                if (filled < 0)
                    return -1;
                t->stats.lines = t->lines_scanned;
                return t->options.pid && !t->context.pid_read ? no_such_process(t) : 0;
            }
        }
        scanned_line *s = &t->ahead[t->ahead_at++];
        t->stats.lines = s->number;
        t->line = s->text;
        t->line_len = s->len;
        line_kind kind = s->kind;
        parsed_line *l = &s->l;
        if (kind == LINE_BAD)
            return line_error(t, "can't parse");
        if (kind == LINE_NO_MEMORY)
            return reader_error(t, CMT_NO_MEMORY);
        if (kind == LINE_OTHER)
            t->stats.other_records++;
        if (kind != LINE_EVENT)
            continue;
        cmt_event implied;
        int rc = cmt_op_accesses(l->ev.op) ? resolve_access(t, l) : tag_call(t, l, &implied);
        if (rc < 0)
            return -1;
        if (rc == 0)
            continue;
        t->stats.events++;
        if (rc == 2) {
            t->pending = l->ev;
            t->has_pending = true;
            *ev = implied;
        } else {
            *ev = l->ev;
        }
        return 1;
    }
}
