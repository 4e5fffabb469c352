/*
 * print.c - events back to text, in the original tools' line format.
 *
 * Hand-rolled number formatting: `cmtreplay -v` prints every event of a
 * trace of 10^8 events, where printf would cost more than the replay.
 */
#include "../common/internal.h"

static char *put_str(char *p, const char *s)
{
    while (*s)
        *p++ = *s++;
    return p;
}

static char *put_dec(char *p, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

static char *put_hex(char *p, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    char tmp[16];
    int n = 0;
    do {
        tmp[n++] = digits[v & 15];
        v >>= 4;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

/* A pointer with its tag, "81d220b48<7>", or "0x0" for NULL. */
static char *put_pointer(char *p, uint64_t addr, uint64_t tag)
{
    if (addr == 0 && tag == 0)
        return put_str(p, "0x0");
    p = put_hex(p, addr);
    if (tag) {
        *p++ = '<';
        p = put_dec(p, tag);
        *p++ = '>';
    }
    return p;
}

/* Nanoseconds as seconds, "12.000000345": 9 decimals, so that the text
 * keeps every nanosecond a .cmt file does. */
static char *put_seconds(char *p, uint64_t ns)
{
    p = put_dec(p, ns / 1000000000);
    *p++ = '.';
    char digits[20];
    char *end = put_dec(digits, ns % 1000000000 + 1000000000); /* "1" and 9 digits */
    for (char *q = digits + 1; q < end; q++)
        *p++ = *q;
    return p;
}

size_t cmt_format_event(char *buf, const cmt_event *ev)
{
    char *p = buf;
    if (ev->time) {
        *p++ = '@';
        p = put_seconds(p, ev->time);
        *p++ = ' ';
    }
    if (ev->thread) {
        *p++ = 't';
        p = put_dec(p, ev->thread);
        *p++ = ' ';
    }
    if (ev->stack) {
        *p++ = 's';
        p = put_dec(p, ev->stack);
        *p++ = ' ';
    }
    p = put_str(p, cmt_op_name(ev->op));
    *p++ = '(';
    switch (ev->op) {
    case CMT_OP_FREE:
        p = put_pointer(p, ev->arg_addr, ev->arg_tag);
        break;
    case CMT_OP_REALLOC:
        p = put_pointer(p, ev->arg_addr, ev->arg_tag);
        p = put_str(p, ", ");
        p = put_dec(p, ev->size);
        break;
    case CMT_OP_CALLOC:
        p = put_dec(p, ev->count);
        p = put_str(p, ", ");
        p = put_dec(p, ev->size);
        break;
    case CMT_OP_MALLOC:
        p = put_dec(p, ev->size);
        break;
    case CMT_OP_LOAD:
    case CMT_OP_STORE:
    case CMT_OP_MODIFY:
        p = put_pointer(p, ev->arg_addr, ev->arg_tag);
        if (ev->offset) {
            *p++ = '+';
            p = put_dec(p, ev->offset);
        }
        p = put_str(p, ", ");
        p = put_dec(p, ev->size);
        break;
    default:
        p = put_dec(p, ev->align);
        p = put_str(p, ", ");
        p = put_dec(p, ev->size);
        break;
    }
    *p++ = ')';
    if (cmt_op_allocates(ev->op)) {
        p = put_str(p, " = ");
        p = put_pointer(p, ev->addr, ev->tag);
    }
    *p++ = '\n';
    *p = '\0';
    return (size_t)(p - buf);
}

int cmt_format_sites(cmt_output *out, const cmt_sites *sites, uint32_t upto, uint32_t *modules, uint32_t *stacks)
{
    /* SITES may be growing (a source reading ahead): the stacks up to UPTO,
     * and their modules, were there before the event that asks. */
    int rc = 0;
    for (; *stacks < upto && rc == 0; ++*stacks) {
        const cmt_frame *f = cmt_sites_frame(sites, *stacks + 1);
        if (!f)
            return -1;
        for (; *modules < f->module && rc == 0; ++*modules) {
            const cmt_module *m = cmt_sites_module(sites, *modules + 1);
            rc = cmt_output_printf(out, "module %lu 0x%llx %s", (unsigned long)*modules + 1,
                                   (unsigned long long)m->base, m->build_id_len ? "" : "-");
            for (size_t i = 0; i < m->build_id_len && rc == 0; i++)
                rc = cmt_output_printf(out, "%02x", m->build_id[i]);
            if (rc == 0)
                rc = cmt_output_printf(out, " %s\n", m->path);
        }
        if (rc == 0)
            rc = cmt_output_printf(out, "stack %lu %lu %lu 0x%llx\n", (unsigned long)*stacks + 1,
                                   (unsigned long)f->caller, (unsigned long)f->module, (unsigned long long)f->offset);
    }
    return rc;
}
