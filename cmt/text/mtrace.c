/*
 * mtrace.c - glibc mtrace() logs (MALLOC_TRACE=file), every line glibc's
 * malloc/mtrace-impl.c writes:
 *
 *     = Start
 *     @ ./prog:[0x4005d4] + 0x1b4a460 0x10        malloc, calloc, memalign...
 *     @ ./prog:[0x4005d4] + (nil) 0x1000000000    ... that failed
 *     @ ./prog:(main+0x1c)[0x4005e2] - 0x1b4a460  free (free(NULL) is not logged)
 *     @ [0x7f0e2b1c4e6a] < 0x1b4a460              realloc: the old block,
 *     @ [0x7f0e2b1c4e6a] > 0x1b4a4a0 0x20         then the new one
 *     @ ./prog:[0x400600] ! 0x1b4a4a0 0x1000      a realloc that failed
 *     = End
 *
 * The caller after "@" (FILE:[ADDR], FILE:(SYMBOL+OFF)[ADDR] or [ADDR],
 * where FILE may hold spaces) is skipped up to its "] "; without a caller
 * glibc writes the record alone.  "+" lines are allocations (mtrace does
 * not say which call; realloc(NULL, n) is one too); a "<" waits for its
 * ">" to make one realloc; realloc(p, 0) is logged as "- p".  "=" lines
 * are counted and skipped.
 */
#include "scan.h"

bool cmti_looks_like_mtrace(const char *line, size_t len)
{
    return (len >= 7 && memcmp(line, "= Start", 7) == 0) || (len > 2 && memcmp(line, "@ ", 2) == 0);
}

/* The caller "@ FILE:[ADDR] ", "@ FILE:(SYMBOL+OFF)[ADDR] " or
 * "@ [ADDR] " (FILE may hold spaces, colons and brackets: the record's
 * last "] " ends it), its stack into EV; S then at the record.  Without a
 * caller glibc writes the record alone. */
static line_kind take_caller(scanner *s, cmt_event *ev, line_context *ctx)
{
    if (!accept(s, '@'))
        return LINE_EVENT;
    skip_space(s);
    const char *start = s->p, *close = NULL;
    for (const char *p = s->p; p + 1 < s->end; p++)
        if (p[0] == ']' && p[1] == ' ')
            close = p;
    if (!close)
        return LINE_BAD;
    const char *open = close;
    while (open > start && *open != '[')
        open--;
    scanner address = {open + 1, close};
    uint64_t at;
    if (*open != '[' || !scan_number(&address, &at) || address.p != close)
        return LINE_BAD;
    const char *file_end = open;
    if (file_end > start && file_end[-1] == ')') /* (SYMBOL+OFF): the file's name is before it */
        while (file_end > start && *file_end != '(')
            file_end--;
    size_t len = file_end > start && file_end[-1] == ':' ? (size_t)(file_end - 1 - start) : 0;
    if (!cmti_text_caller(ctx, start, len, at, &ev->stack))
        return LINE_NO_MEMORY;
    s->p = close + 2;
    skip_space(s);
    return s->p < s->end ? LINE_EVENT : LINE_BAD;
}

line_kind cmti_scan_mtrace_line(scanner *s, parsed_line *l, line_context *ctx)
{
    if (*s->p == '=')
        return LINE_OTHER;
    line_kind caller = take_caller(s, &l->ev, ctx);
    if (caller != LINE_EVENT)
        return caller;
    char kind = *s->p++;
    cmt_event *ev = &l->ev;
    uint64_t tag;
    bool ok;
    switch (kind) {
    case '+':
        ev->op = CMT_OP_MALLOC;
        ok = scan_pointer(s, &ev->addr, &tag) && scan_number(s, &ev->size); /* (nil): failed */
        break;
    case '-':
        ev->op = CMT_OP_FREE;
        ok = scan_pointer(s, &ev->arg_addr, &tag);
        break;
    case '<':
        if (!scan_pointer(s, &ctx->realloc_from, &tag))
            return LINE_BAD;
        skip_space(s);
        if (s->p != s->end)
            return LINE_BAD;
        ctx->realloc_pending = true;
        return LINE_PENDING;
    case '>':
        if (!ctx->realloc_pending)
            return LINE_BAD;
        ctx->realloc_pending = false;
        ev->op = CMT_OP_REALLOC;
        ev->arg_addr = ctx->realloc_from;
        ok = scan_pointer(s, &ev->addr, &tag) && scan_number(s, &ev->size);
        break;
    case '!':
        ev->op = CMT_OP_REALLOC;
        ok = scan_pointer(s, &ev->arg_addr, &tag) && scan_number(s, &ev->size);
        ev->size += ev->size == 0; /* a failure, not realloc(p, 0) */
        break;
    default:
        return LINE_BAD;
    }
    skip_space(s);
    return ok && s->p == s->end ? LINE_EVENT : LINE_BAD;
}
