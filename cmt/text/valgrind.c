/*
 * valgrind.c - valgrind --trace-malloc=yes output:
 *
 *     --7513-- malloc(16) = 0x4A5B040
 *     --7513-- calloc(1,1040) = 0x4E032B0
 *     --7513-- realloc(0x0,1600)malloc(1600) = 0x4A432F0
 *     --7513-- memalign(al 64, size 100) = 0x4A5C040
 *     --7513-- _Znwm(72) = 0x4E02C80
 *     --7513-- _ZdlPv(0x4E02C80)
 *     --7513-- free(0x4A5B040)
 *
 * The C++ operators are allocations and frees: new and new[] in all their
 * forms (nothrow, aligned) allocate, delete and delete[] free.  A realloc
 * of NULL or to size 0 prints the call it became after its own; that tail
 * is read and dropped.  Lines of valgrind's other output (==PID==, and
 * --PID-- lines that are not calls) and of the program are counted and
 * skipped.  With several processes in one log (--trace-children=yes) one
 * is read: the one asked for, or the one with most calls.
 */
#include "scan.h"

/* The call names valgrind prints, and what each is. */
#define CALL(NAME, OP) {NAME, sizeof NAME - 1, OP}

static const struct {
    const char *name;
    size_t len;
    cmt_op op;
} calls[] = {
    CALL("_Znwm", CMT_OP_MALLOC),
    CALL("_ZdlPv", CMT_OP_FREE),
    CALL("malloc", CMT_OP_MALLOC),
    CALL("calloc", CMT_OP_CALLOC),
    CALL("realloc", CMT_OP_REALLOC),
    CALL("free", CMT_OP_FREE),
    CALL("memalign", CMT_OP_MEMALIGN),
    CALL("posix_memalign", CMT_OP_POSIX_MEMALIGN),
    CALL("aligned_alloc", CMT_OP_ALIGNED_ALLOC),
    CALL("valloc", CMT_OP_MALLOC),
    CALL("pvalloc", CMT_OP_MALLOC),
    CALL("__builtin_new", CMT_OP_MALLOC),
    CALL("__builtin_vec_new", CMT_OP_MALLOC),
    CALL("__builtin_delete", CMT_OP_FREE),
    CALL("__builtin_vec_delete", CMT_OP_FREE),
    CALL("_Znam", CMT_OP_MALLOC),
    CALL("_ZnwmRKSt9nothrow_t", CMT_OP_MALLOC),
    CALL("_ZnamRKSt9nothrow_t", CMT_OP_MALLOC),
    CALL("_ZnwmSt11align_val_t", CMT_OP_MEMALIGN),
    CALL("_ZnamSt11align_val_t", CMT_OP_MEMALIGN),
    CALL("_ZnwmSt11align_val_tRKSt9nothrow_t", CMT_OP_MEMALIGN),
    CALL("_ZnamSt11align_val_tRKSt9nothrow_t", CMT_OP_MEMALIGN),
    CALL("_ZdaPv", CMT_OP_FREE),
    CALL("_ZdlPvm", CMT_OP_FREE),
    CALL("_ZdaPvm", CMT_OP_FREE),
    CALL("_ZdlPvRKSt9nothrow_t", CMT_OP_FREE),
    CALL("_ZdaPvRKSt9nothrow_t", CMT_OP_FREE),
    CALL("_ZdlPvSt11align_val_t", CMT_OP_FREE),
    CALL("_ZdaPvSt11align_val_t", CMT_OP_FREE),
    CALL("_ZdlPvmSt11align_val_t", CMT_OP_FREE),
    CALL("_ZdaPvmSt11align_val_t", CMT_OP_FREE),
    CALL("_ZdlPvSt11align_val_tRKSt9nothrow_t", CMT_OP_FREE),
    CALL("_ZdaPvSt11align_val_tRKSt9nothrow_t", CMT_OP_FREE),
};

/* "--PID-- " at the start: the pid, and S past it. */
static bool scan_prefix(scanner *s, char mark, uint64_t *pid)
{
    if (s->end - s->p < 5 || s->p[0] != mark || s->p[1] != mark)
        return false;
    scanner t = {s->p + 2, s->end};
    if (!scan_number(&t, pid) || t.end - t.p < 2 || t.p[0] != mark || t.p[1] != mark)
        return false;
    s->p = t.p + 2;
    return true;
}

/* The call named at S, or -1 for a name that is not one. */
static int scan_call_name(scanner *s)
{
    skip_space(s);
    const char *start = s->p;
    while (s->p < s->end && (*s->p == '_' || (*s->p >= 'a' && *s->p <= 'z') ||
                             (*s->p >= 'A' && *s->p <= 'Z') || (*s->p >= '0' && *s->p <= '9')))
        s->p++;
    size_t n = (size_t)(s->p - start);
    if (s->p == s->end || *s->p != '(')
        return -1;
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++)
        if (calls[i].len == n && memcmp(calls[i].name, start, n) == 0)
            return (int)i; /* the common names come first in the table */
    return -1;
}

/* A number, after an optional "al " or "size " label. */
static bool scan_labelled(scanner *s, const char *label, uint64_t *v)
{
    skip_space(s);
    accept_word(s, label);
    return scan_number(s, v);
}

bool cmti_looks_like_valgrind(const char *line, size_t len)
{
    scanner s = {line, line + len};
    uint64_t pid;
    return scan_prefix(&s, '-', &pid) || scan_prefix(&s, '=', &pid);
}

bool cmti_valgrind_line_pid(const char *line, size_t len, uint64_t *pid)
{
    scanner s = {line, line + len};
    return scan_prefix(&s, '-', pid) && scan_call_name(&s) >= 0;
}

line_kind cmti_scan_valgrind_line(scanner *s, parsed_line *l, line_context *ctx)
{
    uint64_t pid;
    if (!scan_prefix(s, '-', &pid))
        return LINE_OTHER; /* ==PID== lines and the program's own output */
    int call = scan_call_name(s);
    if (call < 0)
        return LINE_OTHER; /* --PID-- lines that are not calls */
    cmt_text_stats *stats = ctx->stats;
    if (stats->pid == 0)
        stats->pid = pid; /* the first process, when nothing chose one */
    if (pid != stats->pid) {
        stats->other_process++;
        size_t i = 0;
        while (i < ctx->nother_pids && ctx->other_pids[i] != pid)
            i++;
        if (i == ctx->nother_pids && i < SEEN_PIDS)
            ctx->other_pids[ctx->nother_pids++] = pid;
        return LINE_SKIPPED;
    }
    ctx->pid_read = true;
    cmt_event *ev = &l->ev;
    ev->op = calls[call].op;
    const char *name = calls[call].name;
    bool ok;
    accept(s, '(');
    switch (ev->op) {
    case CMT_OP_MALLOC:
        ok = scan_labelled(s, "size ", &ev->size);
        if (strcmp(name, "valloc") == 0 || strcmp(name, "pvalloc") == 0) {
            ev->op = CMT_OP_MEMALIGN;
            ev->align = 4096;
        }
        break;
    case CMT_OP_CALLOC:
        ok = scan_number(s, &ev->count) && accept(s, ',') && scan_number(s, &ev->size);
        break;
    case CMT_OP_REALLOC:
        ok = scan_pointer(s, &ev->arg_addr, &l->arg_input_tag) && accept(s, ',') && scan_number(s, &ev->size);
        break;
    case CMT_OP_FREE:
        ok = scan_pointer(s, &ev->arg_addr, &l->arg_input_tag);
        while (ok && accept(s, ',')) /* sized and aligned deletes: the rest is not needed */
            ok = scan_labelled(s, "al ", &(uint64_t){0});
        break;
    default:
        if (name[0] == '_') /* aligned new: (size, al) */
            ok = scan_labelled(s, "size ", &ev->size) && accept(s, ',') && scan_labelled(s, "al ", &ev->align);
        else
            ok = scan_labelled(s, "al ", &ev->align) && accept(s, ',') && scan_labelled(s, "size ", &ev->size);
        break;
    }
    if (!ok || !accept(s, ')'))
        return LINE_BAD;
    if (ev->op == CMT_OP_REALLOC) {
        /* realloc(0x0,N)malloc(N), realloc(p,0)free(p): what it became. */
        scanner tail = *s;
        if (scan_call_name(&tail) >= 0) {
            while (tail.p < tail.end && *tail.p != ')')
                tail.p++;
            if (tail.p == tail.end)
                return LINE_BAD;
            s->p = tail.p + 1;
        }
    }
    if (cmt_op_allocates(ev->op)) {
        if (accept(s, '=')) {
            if (!scan_pointer(s, &ev->addr, &l->result_input_tag))
                return LINE_BAD;
        } else if (!(ev->op == CMT_OP_REALLOC && ev->size == 0)) {
            return LINE_BAD;
        }
    }
    skip_space(s);
    return s->p == s->end ? LINE_EVENT : LINE_BAD;
}
