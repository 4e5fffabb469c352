/*
 * scan.h - the text scanner every trace reader shares: space, numbers,
 * pointers with their optional <tag>, call names and their arguments.
 */
#ifndef CMT_SCAN_H
#define CMT_SCAN_H

#include "../common/internal.h"
#include "../common/map.h"
#include "../format/sites.h"

typedef struct scanner {
    const char *p, *end;
} scanner;

static inline void skip_space(scanner *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t'))
        s->p++;
}

static inline bool accept(scanner *s, char c)
{
    skip_space(s);
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return true;
    }
    return false;
}

/* Hex digit values, -1 for other bytes: the parser's innermost loop. */
static const int8_t hex_values[256] = {
    ['0'] = 0,  ['1'] = 1,  ['2'] = 2,  ['3'] = 3,  ['4'] = 4,  ['5'] = 5,  ['6'] = 6,
    ['7'] = 7,  ['8'] = 8,  ['9'] = 9,  ['a'] = 10, ['b'] = 11, ['c'] = 12, ['d'] = 13,
    ['e'] = 14, ['f'] = 15, ['A'] = 10, ['B'] = 11, ['C'] = 12, ['D'] = 13, ['E'] = 14,
    ['F'] = 15,
};

static inline int hex_value(char c)
{
    int v = hex_values[(unsigned char)c];
    return v || c == '0' ? v : -1;
}

/* Hex digits into *V; false if there are none or they overflow 64 bits. */
static inline bool scan_hex_digits(scanner *s, uint64_t *v)
{
    const char *start = s->p;
    uint64_t x = 0;
    int d;
    while (s->p < s->end && (d = hex_value(*s->p)) >= 0) {
        if (x >> 60)
            return false;
        x = (x << 4) | (uint64_t)d;
        s->p++;
    }
    *v = x;
    return s->p > start;
}

/* A decimal number, or hex with 0x. */
static inline bool scan_number(scanner *s, uint64_t *v)
{
    skip_space(s);
    if (s->end - s->p > 2 && s->p[0] == '0' && (s->p[1] | 0x20) == 'x') {
        s->p += 2;
        return scan_hex_digits(s, v);
    }
    const char *start = s->p;
    uint64_t x = 0;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
        unsigned digit = (unsigned)(*s->p - '0');
        if (x > (UINT64_MAX - digit) / 10)
            return false;
        x = x * 10 + digit;
        s->p++;
    }
    *v = x;
    return s->p > start;
}

/* Seconds, "1536334807.907404", as nanoseconds into *NS: digits, and
 * after a dot up to 9 more that count (further ones are below a
 * nanosecond).  False if there are no digits or it overflows 64 bits. */
static inline bool scan_seconds(scanner *s, uint64_t *ns)
{
    const char *start = s->p;
    uint64_t seconds = 0;
    for (; s->p < s->end && *s->p >= '0' && *s->p <= '9'; s->p++) {
        if (seconds > UINT64_MAX / 1000000000 / 10)
            return false;
        seconds = seconds * 10 + (uint64_t)(*s->p - '0');
    }
    if (s->p == start)
        return false;
    uint64_t part = 0, scale = 100000000;
    if (s->p < s->end && *s->p == '.') {
        for (s->p++; s->p < s->end && *s->p >= '0' && *s->p <= '9'; s->p++, scale /= 10)
            part += (uint64_t)(*s->p - '0') * scale;
    }
    if (seconds * 1000000000 > UINT64_MAX - part)
        return false;
    *ns = seconds * 1000000000 + part;
    return true;
}

static inline bool accept_word(scanner *s, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) >= n && memcmp(s->p, word, n) == 0) {
        s->p += n;
        return true;
    }
    return false;
}

/* A pointer (hex, 0x optional; "(nil)" and "NULL" for 0) and its optional
 * "<tag>"; *TAG is 0 when there is none. */
static inline bool scan_pointer(scanner *s, uint64_t *addr, uint64_t *tag)
{
    skip_space(s);
    *tag = 0;
    if (accept_word(s, "(nil)") || accept_word(s, "NULL")) {
        *addr = 0;
    } else {
        if (s->end - s->p > 2 && s->p[0] == '0' && (s->p[1] | 0x20) == 'x')
            s->p += 2;
        if (!scan_hex_digits(s, addr))
            return false;
    }
    if (s->p < s->end && *s->p == '<') {
        s->p++;
        if (!scan_number(s, tag) || *tag == 0 || !accept(s, '>'))
            return false;
    }
    return true;
}

/* The name before "(": which call the line records. */
static inline bool scan_op(scanner *s, cmt_op *op)
{
    const char *start = s->p;
    while (s->p < s->end && (*s->p == '_' || (*s->p >= 'a' && *s->p <= 'z')))
        s->p++;
    size_t n = (size_t)(s->p - start);
    if (n == 0)
        return false;
    /* The one name of that length and first letter, before any string
     * compare: this runs on every line. */
    cmt_op guess;
    switch (n) {
    case 4: guess = start[0] == 'l' ? CMT_OP_LOAD : CMT_OP_FREE; break;
    case 5: guess = CMT_OP_STORE; break;
    case 6: guess = start[0] == 'c' ? CMT_OP_CALLOC : start[1] == 'o' ? CMT_OP_MODIFY : CMT_OP_MALLOC; break;
    case 7: guess = CMT_OP_REALLOC; break;
    case 8: guess = CMT_OP_MEMALIGN; break;
    case 13: guess = CMT_OP_ALIGNED_ALLOC; break;
    case 14: guess = CMT_OP_POSIX_MEMALIGN; break;
    default: return false;
    }
    if (memcmp(start, cmt_op_name(guess), n) != 0)
        return false;
    *op = guess;
    return true;
}

/* What one line says, before addresses become tags.  An access's
 * arg_addr is the address accessed, except in the text format, which
 * names the block and the offset. */
typedef struct parsed_line {
    cmt_event ev;
    uint64_t arg_input_tag, result_input_tag;
    bool by_handle;  /* ops: blocks are named by HANDLE, not by address */
    uint64_t handle;
} parsed_line;

/* The arguments of call L->ev.op, "(...)", into L. */
static inline bool scan_args(scanner *s, parsed_line *l)
{
    cmt_event *ev = &l->ev;
    if (!accept(s, '('))
        return false;
    bool args_ok;
    switch (ev->op) {
    case CMT_OP_MALLOC:
        args_ok = scan_number(s, &ev->size);
        break;
    case CMT_OP_CALLOC:
        args_ok = scan_number(s, &ev->count) && accept(s, ',') && scan_number(s, &ev->size);
        break;
    case CMT_OP_REALLOC:
        args_ok = scan_pointer(s, &ev->arg_addr, &l->arg_input_tag) && accept(s, ',') &&
                  scan_number(s, &ev->size);
        break;
    case CMT_OP_FREE:
        args_ok = scan_pointer(s, &ev->arg_addr, &l->arg_input_tag);
        break;
    case CMT_OP_LOAD:
    case CMT_OP_STORE:
    case CMT_OP_MODIFY: /* load(81d220b48<1>+16, 4): block, offset, bytes */
        args_ok = scan_pointer(s, &ev->arg_addr, &l->arg_input_tag) &&
                  (!accept(s, '+') || scan_number(s, &ev->offset)) && accept(s, ',') &&
                  scan_number(s, &ev->size);
        break;
    default:
        args_ok = scan_number(s, &ev->align) && accept(s, ',') && scan_number(s, &ev->size);
        break;
    }
    return args_ok && accept(s, ')');
}

/* What a format's line scanner found on a line. */
typedef enum line_kind {
    LINE_EVENT,  /* an allocator call, in the parsed_line */
    LINE_OTHER,  /* a record of another kind: counted and skipped */
    LINE_SKIPPED, /* skipped, and counted by the scanner where it belongs */
    LINE_PENDING, /* the first line of a record that goes on */
    LINE_BAD,    /* can't parse */
    LINE_NO_MEMORY, /* the scanner's own table could not grow */
} line_kind;

/* What a line scanner keeps from line to line. */
#define SEEN_PIDS 8
typedef struct line_context {
    cmt_text_stats *stats;  /* the reader's: valgrind keeps pid and other_process there */
    uint64_t realloc_from;  /* mtrace: the block of a "<" awaiting its ">" */
    bool realloc_pending;
    bool pid_read;          /* valgrind: a call of the process read was seen */
    uint64_t other_pids[SEEN_PIDS]; /* valgrind: the first other processes met, for a message */
    size_t nother_pids;
    cmti_map threads;        /* kdump -H, dtrace: thread id + 1 -> 1, 2... in order of appearance (slots NULL: none yet) */
    cmt_sites sites;         /* mtrace: the callers, each a stack of one frame, and their files; dtrace: the stacks */
    cmti_map callers;        /* a hash of a stack's frame -> the stack (slots NULL: none yet) */
} line_context;

/* The stack of the N frames at ADDRESSES (return addresses in no module
 * known, the innermost first) into *STACK, named in CTX's sites the first
 * time each of its frames is seen.  False when out of memory. */
bool cmti_text_stack(line_context *ctx, const uint64_t *addresses, size_t n, uint32_t *stack);

/* Thread ID's number in *THREAD: 1, 2... in the order the threads first
 * appear.  False when out of memory. */
bool cmti_text_thread(line_context *ctx, uint64_t id, uint32_t *thread);

/* The stack of one frame for a caller at ADDRESS in the module whose file
 * is the LEN bytes at FILE (none for 0), into *STACK: named in CTX's sites
 * the first time.  False when out of memory. */
bool cmti_text_caller(line_context *ctx, const char *file, size_t len, uint64_t address, uint32_t *stack);

/* The line scanners, one a format: S holds the line without its newline,
 * comment or surrounding space. */
line_kind cmti_scan_text_line(scanner *s, parsed_line *l, line_context *ctx);
line_kind cmti_scan_kdump_line(scanner *s, parsed_line *l, line_context *ctx);
line_kind cmti_scan_valgrind_line(scanner *s, parsed_line *l, line_context *ctx);
line_kind cmti_scan_dtrace_line(scanner *s, parsed_line *l, line_context *ctx);
line_kind cmti_scan_mtrace_line(scanner *s, parsed_line *l, line_context *ctx);
line_kind cmti_scan_memtrace_line(scanner *s, parsed_line *l, line_context *ctx);
line_kind cmti_scan_ops_line(scanner *s, parsed_line *l, line_context *ctx);

/* True if LINE is a memtrace record (">>> N 69586984 352"), for -f auto. */
bool cmti_looks_like_memtrace(const char *line, size_t len);

/* True if LINE is an ops record ("12 N 69586984 352"), for -f auto. */
bool cmti_looks_like_ops(const char *line, size_t len);

/* True if LINE is a CHERI dtrace call-trace line, for -f auto. */
bool cmti_looks_like_dtrace(const char *line, size_t len);

/* True if LINE starts an mtrace log ("= Start", "@ ..."), for -f auto. */
bool cmti_looks_like_mtrace(const char *line, size_t len);

/* True if LINE is a valgrind call line; its pid in *PID. */
bool cmti_valgrind_line_pid(const char *line, size_t len, uint64_t *pid);

/* True if LINE looks like valgrind output (==PID== or --PID--), for -f auto. */
bool cmti_looks_like_valgrind(const char *line, size_t len);

/* True if LINE looks like kdump output, for -f auto. */
bool cmti_looks_like_kdump(const char *line, size_t len);

#endif /* CMT_SCAN_H */
