/*
 * kdump.c - FreeBSD kdump output of jemalloc's utrace records
 * (MALLOC_CONF=utrace:true ktrace -t u prog; kdump):
 *
 *       61039 make     USER  0x800607420 = malloc(26)
 *       61039 make     USER  0x800608000 = realloc(0x800607420, 52)
 *       61039 make     USER  free(0x800608000)
 *       61039 make     USER  malloc_init()
 *
 * The prefix is the pid, the command name (up to 19 characters, spaces
 * allowed) and the record type; kdump -H adds a thread id after the pid
 * and -T a timestamp before the type, so the reader looks for the type
 * rather than counting columns.  The timestamp (seconds.fraction, absolute
 * or relative) is kept in the event, in nanoseconds, and the thread as
 * cmtrecord numbers them: 1, 2... in order of appearance.  Records of other types,
 * malloc_init() and utrace records of other programs are counted and
 * skipped.
 */
#define _GNU_SOURCE /* memmem */
#include "scan.h"

/* The record types kdump prints, space-delimited as it prints them. */
static const char *const record_types[] = {
    " USER ", " CALL ", " RET ", " NAMI ", " GIO ", " PSIG ", " STRU ", " SCTL ",
    " CSW ",  " EMUL ", " CAP ", " FAULT ", " FAULTEND ", " PROCDTOR ", " SIG ",
};

/* Where TYPE starts in [P, END), or NULL. */
static const char *find_type(const char *p, const char *end, const char *type)
{
    return memmem(p, (size_t)(end - p), type, strlen(type));
}

/* A pid: digits then a space. */
static bool starts_with_pid(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    const char *digits = p;
    while (p < end && *p >= '0' && *p <= '9')
        p++;
    return p > digits && p < end && *p == ' ';
}

bool cmti_looks_like_kdump(const char *line, size_t len)
{
    const char *end = line + len;
    if (!starts_with_pid(line, end))
        return false;
    for (size_t i = 0; i < sizeof record_types / sizeof record_types[0]; i++)
        if (find_type(line, end, record_types[i]))
            return true;
    return false;
}

/* The kdump -T timestamp that ends just before TYPE_AT, if there is one:
 * "1536334807.907404" as nanoseconds.  0 if there is none. */
static uint64_t timestamp_before(const char *start, const char *type_at)
{
    const char *p = type_at;
    while (p > start && ((p[-1] >= '0' && p[-1] <= '9') || p[-1] == '.'))
        p--;
    if (p == start || p[-1] != ' ')
        return 0;
    const char *dot = memchr(p, '.', (size_t)(type_at - p));
    if (!dot || dot == p || memchr(dot + 1, '.', (size_t)(type_at - dot - 1)))
        return 0;
    scanner s = {p, type_at};
    uint64_t ns;
    return scan_seconds(&s, &ns) ? ns : 0;
}

/* kdump -H: the thread id after the pid at P ("  61039 100234 make"), as
 * its number in order of appearance in *THREAD; 0 without one.  False
 * when out of memory. */
static bool thread_after_pid(const char *p, const char *end, line_context *ctx, uint32_t *thread)
{
    *thread = 0;
    while (p < end && *p == ' ')
        p++;
    while (p < end && *p >= '0' && *p <= '9')
        p++;
    while (p < end && *p == ' ')
        p++;
    const char *digits = p;
    uint64_t tid = 0;
    while (p < end && *p >= '0' && *p <= '9' && tid < UINT64_MAX / 10)
        tid = tid * 10 + (uint64_t)(*p++ - '0');
    if (p == digits || p == end || *p != ' ')
        return true; /* a command name, not a thread id */
    return cmti_text_thread(ctx, tid, thread);
}

line_kind cmti_scan_kdump_line(scanner *s, parsed_line *l, line_context *ctx)
{
    if (!starts_with_pid(s->p, s->end))
        return LINE_BAD;
    const char *user = find_type(s->p, s->end, " USER ");
    if (!user)
        return cmti_looks_like_kdump(s->p, (size_t)(s->end - s->p)) ? LINE_OTHER : LINE_BAD;
    cmt_event *ev = &l->ev;
    ev->time = timestamp_before(s->p, user);
    if (!thread_after_pid(s->p, user, ctx, &ev->thread))
        return LINE_NO_MEMORY;
    s->p = user + 6;
    skip_space(s);
    if (accept_word(s, "malloc_init()")) {
        skip_space(s);
        return s->p == s->end ? LINE_OTHER : LINE_BAD;
    }
    if (accept_word(s, "free")) {
        ev->op = CMT_OP_FREE;
        if (!scan_args(s, l))
            return LINE_BAD;
    } else if (s->end - s->p > 2 && s->p[0] == '0' && s->p[1] == 'x') {
        /* "%p = malloc(%zu)", "%p = realloc(%p, %zu)" */
        if (!scan_pointer(s, &ev->addr, &l->result_input_tag) || !accept(s, '='))
            return LINE_BAD;
        skip_space(s);
        if (!scan_op(s, &ev->op) || !cmt_op_allocates(ev->op) || !scan_args(s, l))
            return LINE_BAD;
    } else {
        return LINE_OTHER; /* another program's utrace record */
    }
    skip_space(s);
    return s->p == s->end ? LINE_EVENT : LINE_BAD;
}
