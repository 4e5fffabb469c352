/*
 * memtrace.c - the two formats of the rmalloc project, which record
 * accesses as well as allocations (seed 000):
 *
 *     >>> N 69586984 352        memtrace, from its patched valgrind: a new
 *     >>> F 69589088 0          block, a free, and loads, stores and
 *     >>> L 69587700 4          modifies of some bytes at an address
 *
 *     12 N 69586984 352         ops, what its translator made of a
 *     12 L 69587700 4           memtrace: the same records with the block
 *                               each one is about, by handle
 *
 * Addresses and sizes are decimal.  The memtrace's accesses name an
 * address anywhere in a block; parse.c finds the block.  Lines of the
 * valgrind log around the ">>>" records are counted and skipped.
 */
#include "scan.h"

/* The record letter and its two numbers into L. */
static line_kind scan_record(scanner *s, parsed_line *l)
{
    skip_space(s);
    if (s->p == s->end)
        return LINE_BAD;
    cmt_event *ev = &l->ev;
    uint64_t addr, size;
    switch (*s->p++) {
    case 'N': ev->op = CMT_OP_MALLOC; break;
    case 'F': ev->op = CMT_OP_FREE; break;
    case 'L': ev->op = CMT_OP_LOAD; break;
    case 'S': ev->op = CMT_OP_STORE; break;
    case 'M': ev->op = CMT_OP_MODIFY; break;
    default: return LINE_BAD;
    }
    if (s->p == s->end || (*s->p != ' ' && *s->p != '\t') || !scan_number(s, &addr) ||
        !scan_number(s, &size))
        return LINE_BAD;
    skip_space(s);
    if (s->p != s->end)
        return LINE_BAD;
    if (ev->op == CMT_OP_MALLOC) {
        ev->addr = addr;
        ev->size = size;
        return addr ? LINE_EVENT : LINE_BAD;
    }
    ev->arg_addr = addr;
    if (ev->op != CMT_OP_FREE)
        ev->size = size;
    return LINE_EVENT;
}

line_kind cmti_scan_memtrace_line(scanner *s, parsed_line *l, line_context *ctx)
{
    (void)ctx;
    if (!accept_word(s, ">>>"))
        return LINE_OTHER;
    return scan_record(s, l);
}

line_kind cmti_scan_ops_line(scanner *s, parsed_line *l, line_context *ctx)
{
    (void)ctx;
    if (!scan_number(s, &l->handle) || l->handle == UINT64_MAX)
        return LINE_BAD;
    l->by_handle = true;
    return scan_record(s, l);
}

bool cmti_looks_like_memtrace(const char *line, size_t len)
{
    return len > 4 && memcmp(line, ">>> ", 4) == 0;
}

bool cmti_looks_like_ops(const char *line, size_t len)
{
    scanner s = {line, line + len};
    parsed_line l = {.ev = {.count = 1}};
    return cmti_scan_ops_line(&s, &l, NULL) == LINE_EVENT;
}
