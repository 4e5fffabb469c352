/*
 * dtrace.c - the CHERI memory-alloc-tracing dtrace logs, tab-separated:
 *
 *     call-trace  TIMESTAMP  CALLSTACK-or-empty  NAME  ARGS  RESULT
 *
 * or, as the project's later normalise-trace.pl writes them after a
 * "@record-type:" line naming the columns,
 *
 *     call-trace  TIMESTAMP  CALLSTACK  TID  NAME  ARGS  RESULT  ALLOC-STACK  CPU-TIME
 *
 * NAME is malloc, calloc, aligned_alloc, posix_memalign, realloc or free;
 * ARGS are the call's arguments separated by spaces (sizes decimal,
 * pointers hex without 0x), RESULT the pointer returned, empty for free.
 * TID, a number, is kept as the event's thread (numbered 1, 2... as they
 * appear); the columns after RESULT (the allocators the call went
 * through, and the CPU time) are not kept.  Lines of other probes are
 * counted and skipped.  The timestamp, in nanoseconds, is kept in the
 * event.
 */
#include "scan.h"

/* The next tab-separated field of S, as a scanner of its own. */
static bool next_field(scanner *s, scanner *field)
{
    if (s->p > s->end)
        return false;
    const char *tab = memchr(s->p, '\t', (size_t)(s->end - s->p));
    field->p = s->p;
    field->end = tab ? tab : s->end;
    s->p = field->end + 1;
    return true;
}

/* The line naming the later layout's columns. */
static bool is_header(const char *line, size_t len)
{
    return len >= 13 && memcmp(line, "@record-type:", 13) == 0;
}

bool cmti_looks_like_dtrace(const char *line, size_t len)
{
    return (len > 11 && memcmp(line, "call-trace\t", 11) == 0) ||
           (is_header(line, len) && len > 23 && memcmp(line + 13, "call-trace", 10) == 0);
}

/* The frames a stack keeps at most, the innermost. */
#define STACK_FRAMES 128

/* The stack in field STACK into *ID: the frames of DTrace's ustack() joined
 * by spaces, the innermost first, each as CHERI's libdtrace prints a return
 * address it does not symbolise ("0x50a0805").  A stack in another form (a
 * frame symbolised, or a number without 0x, as in the original tools'
 * example) is not read: no stack, rather than one made up.  False when out
 * of memory. */
static bool take_stack(scanner stack, line_context *ctx, uint32_t *id)
{
    uint64_t frames[STACK_FRAMES];
    size_t n = 0;
    *id = 0;
    while (stack.p < stack.end) {
        if (stack.end - stack.p < 3 || stack.p[0] != '0' || stack.p[1] != 'x')
            return true;
        stack.p += 2;
        uint64_t address;
        if (!scan_hex_digits(&stack, &address))
            return true;
        if (stack.p < stack.end && *stack.p++ != ' ')
            return true;
        if (n < STACK_FRAMES)
            frames[n++] = address;
    }
    return cmti_text_stack(ctx, frames, n, id);
}

/* True if FIELD is a number (a thread id), which NAME never is. */
static bool all_digits(const scanner *field)
{
    if (field->p == field->end)
        return false;
    for (const char *p = field->p; p < field->end; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

line_kind cmti_scan_dtrace_line(scanner *s, parsed_line *l, line_context *ctx)
{
    size_t len = (size_t)(s->end - s->p);
    if (is_header(s->p, len) || !cmti_looks_like_dtrace(s->p, len))
        return LINE_OTHER;
    scanner probe, when, stack, name, args, result = {NULL, NULL}; /* set only with has_result; GCC -O3 cannot tell */
    uint64_t timestamp;
    if (!next_field(s, &probe) || !next_field(s, &when) || !next_field(s, &stack) || !next_field(s, &name) ||
        !scan_number(&when, &timestamp))
        return LINE_BAD;
    cmt_event *ev = &l->ev;
    if (all_digits(&name)) { /* the later layout: the thread, then the name */
        uint64_t tid;
        if (!scan_number(&name, &tid) || tid == UINT64_MAX)
            return LINE_BAD;
        if (!cmti_text_thread(ctx, tid, &ev->thread))
            return LINE_NO_MEMORY;
        if (!next_field(s, &name))
            return LINE_BAD;
    }
    if (!next_field(s, &args))
        return LINE_BAD;
    bool has_result = next_field(s, &result);
    if (!scan_op(&name, &ev->op) || name.p != name.end || ev->op == CMT_OP_MEMALIGN ||
        cmt_op_accesses(ev->op))
        return LINE_BAD;
    ev->time = timestamp;
    bool ok;
    switch (ev->op) {
    case CMT_OP_MALLOC:
        ok = scan_number(&args, &ev->size);
        break;
    case CMT_OP_CALLOC:
        ok = scan_number(&args, &ev->count) && scan_number(&args, &ev->size);
        break;
    case CMT_OP_REALLOC:
        ok = scan_pointer(&args, &ev->arg_addr, &l->arg_input_tag) && scan_number(&args, &ev->size);
        break;
    case CMT_OP_FREE:
        ok = scan_pointer(&args, &ev->arg_addr, &l->arg_input_tag);
        break;
    default:
        ok = scan_number(&args, &ev->align) && scan_number(&args, &ev->size);
        break;
    }
    skip_space(&args);
    if (!ok || args.p != args.end)
        return LINE_BAD;
    if (cmt_op_allocates(ev->op)) {
        if (!has_result || !scan_pointer(&result, &ev->addr, &l->result_input_tag))
            return LINE_BAD;
        if (!take_stack(stack, ctx, &ev->stack))
            return LINE_NO_MEMORY;
        skip_space(&result);
        if (result.p != result.end)
            return LINE_BAD;
    } else if (has_result && result.p != result.end) {
        return LINE_BAD;
    }
    return LINE_EVENT;
}
