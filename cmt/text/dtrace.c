/*
 * dtrace.c - the CHERI memory-alloc-tracing dtrace logs, tab-separated:
 *
 *     call-trace  TIMESTAMP  CALLSTACK-or-empty  NAME  ARGS  RESULT
 *
 * NAME is malloc, calloc, aligned_alloc, posix_memalign, realloc or free;
 * ARGS are the call's arguments separated by spaces (sizes decimal,
 * pointers hex without 0x), RESULT the pointer returned, empty for free.
 * Lines of other probes are counted and skipped.  The timestamp, in
 * nanoseconds, is kept in the event.
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

bool cmti_looks_like_dtrace(const char *line, size_t len)
{
    return len > 11 && memcmp(line, "call-trace\t", 11) == 0;
}

line_kind cmti_scan_dtrace_line(scanner *s, parsed_line *l, line_context *ctx)
{
    (void)ctx;
    if (!cmti_looks_like_dtrace(s->p, (size_t)(s->end - s->p)))
        return LINE_OTHER;
    scanner probe, when, stack, name, args, result = {NULL, NULL}; /* set only with has_result; GCC -O3 cannot tell */
    uint64_t timestamp;
    if (!next_field(s, &probe) || !next_field(s, &when) || !next_field(s, &stack) ||
        !next_field(s, &name) || !next_field(s, &args) || !scan_number(&when, &timestamp))
        return LINE_BAD;
    bool has_result = next_field(s, &result);
    cmt_event *ev = &l->ev;
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
        skip_space(&result);
        if (result.p != result.end)
            return LINE_BAD;
    } else if (has_result && result.p != result.end) {
        return LINE_BAD;
    }
    return LINE_EVENT;
}
