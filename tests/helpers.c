/*
 * helpers.c - see helpers.h.
 */
#include "helpers.h"

#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char scratch[PATH_MAX - 64]; /* room for the names put in it */

const char *scratch_dir(void)
{
    if (!scratch[0]) {
        snprintf(scratch, sizeof scratch, "%s/cmt-test-XXXXXX",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        cr_assert_not_null(mkdtemp(scratch), "can't make a scratch folder");
    }
    return scratch;
}

void scratch_cleanup(void)
{
    if (scratch[0]) {
        char cmd[PATH_MAX + 16];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
        if (system(cmd) != 0)
            fprintf(stderr, "can't remove %s\n", scratch);
        scratch[0] = '\0';
    }
}

const char *scratch_path(const char *name)
{
    static char paths[8][PATH_MAX];
    static unsigned next;
    char *path = paths[next++ % 8];
    snprintf(path, PATH_MAX, "%s/%s", scratch_dir(), name);
    return path;
}

void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "can't write %s", path);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

void write_text(const char *path, const char *text)
{
    write_file(path, text, strlen(text));
}

char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "can't read %s", path);
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0)
            buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int run(const char *cmd, char **out, char **err)
{
    char out_path[PATH_MAX], err_path[PATH_MAX];
    snprintf(out_path, sizeof out_path, "%s/.stdout", scratch_dir());
    snprintf(err_path, sizeof err_path, "%s/.stderr", scratch_dir());
    size_t len = strlen(cmd) + 2 * PATH_MAX + 32;
    char *full = malloc(len);
    snprintf(full, len, "( %s ) >'%s' 2>'%s' </dev/null", cmd, out_path, err_path);
    int status = system(full);
    free(full);
    char *o = read_file(out_path, NULL), *e = read_file(err_path, NULL);
    if (out)
        *out = o;
    else
        free(o);
    if (err)
        *err = e;
    else
        free(e);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* SEEK_EVERY: UINT64_MAX for the writer's own seek points. */
/* The frame of stack number STACK in the traces give_stacks makes: on a
 * caller's stack of a lower number (or none), in module 0, 1 or 2. */
cmt_frame test_frame(uint32_t stack)
{
    return (cmt_frame){.caller = stack > 1 ? (stack * 7919u) % stack : 0, .module = stack % 3,
                       .offset = (uint64_t)stack * 0x10 + 5};
}

/* Module M (1 or 2) of those traces. */
cmt_module test_module(uint32_t m)
{
    static const uint8_t id[] = {0xde, 0xad, 0xbe, 0xef, 0x01};
    return (cmt_module){.base = 0x555500000000ULL * m, .path = m == 1 ? "/usr/bin/test" : "/lib/libtest.so",
                        .build_id = id, .build_id_len = m == 1 ? sizeof id : 0};
}

static void encode(const char *path, const cmt_event *events, size_t n, int level, bool addresses, uint64_t seek_every)
{
    char err[512];
    cmt_output *out = cmt_output_open(path, err, sizeof err);
    cr_assert_not_null(out, "%s", err);
    cmt_writer *w = cmt_writer_open(out, level, err, sizeof err);
    cr_assert_not_null(w, "%s", err);
    if (addresses)
        cr_assert_eq(cmt_writer_keep_addresses(w), 0, "%s", cmt_writer_error(w));
    if (seek_every != UINT64_MAX)
        cr_assert_eq(cmt_writer_seek_every(w, seek_every), 0, "%s", cmt_writer_error(w));
    uint32_t stacks = 0, number;
    for (size_t i = 0; i < n; i++) {
        /* Stacks are named as a recorder names them: just before the
         * first block made from them, the modules before the first. */
        for (; stacks < events[i].stack; stacks++) {
            for (uint32_t m = 1; stacks == 0 && m <= 2; m++) {
                cmt_module module = test_module(m);
                cr_assert_eq(cmt_writer_module(w, &module, &number), 0, "%s", cmt_writer_error(w));
                cr_assert_eq(number, m);
            }
            cmt_frame frame = test_frame(stacks + 1);
            cr_assert_eq(cmt_writer_stack(w, &frame, &number), 0, "%s", cmt_writer_error(w));
            cr_assert_eq(number, stacks + 1);
        }
        cr_assert_eq(cmt_writer_write(w, &events[i]), 0, "event %zu: %s", i, cmt_writer_error(w));
    }
    cr_assert_eq(cmt_writer_finish(w), 0, "%s", cmt_writer_error(w));
    cmt_writer_close(w);
    cr_assert_eq(cmt_output_commit(out, err, sizeof err), 0, "%s", err);
}

void encode_events(const char *path, const cmt_event *events, size_t n, int level)
{
    encode(path, events, n, level, false, UINT64_MAX);
}

void encode_events_seeking(const char *path, const cmt_event *events, size_t n, uint64_t seek_every)
{
    encode(path, events, n, CMT_DEFAULT_LEVEL, false, seek_every);
}

void encode_events_with_addresses(const char *path, const cmt_event *events, size_t n, int level)
{
    encode(path, events, n, level, true, UINT64_MAX);
}

void give_stacks(cmt_event *events, size_t n, unsigned seed)
{
    srand(seed);
    uint32_t named = 0;
    for (size_t i = 0; i < n; i++) {
        if (!events[i].tag || i < 5) /* the first blocks have none: the stacks start in a block */
            continue;
        uint32_t stack = (uint32_t)rand() % (named + 3);
        events[i].stack = stack;
        named = stack > named ? stack : named;
    }
}

void give_addresses(cmt_event *events, size_t n, unsigned seed)
{
    uint64_t max_tag = 0;
    for (size_t i = 0; i < n; i++)
        max_tag = events[i].tag > max_tag ? events[i].tag : max_tag;
    uint64_t *at = calloc(max_tag + 1, sizeof *at), end = 0x555555550000ULL, freed = 0;
    srand(seed);
    for (size_t i = 0; i < n; i++) {
        cmt_event *ev = &events[i];
        if (ev->arg_tag)
            ev->arg_addr = at[ev->arg_tag];
        if (ev->tag) {
            int dice = rand() % 10;
            if (dice < 3 && freed)
                ev->addr = freed;
            else if (dice < 9)
                ev->addr = end + 16;
            else
                ev->addr = ((uint64_t)rand() << 42) ^ ((uint64_t)rand() << 21) ^ (uint64_t)rand();
            end = ev->addr + (cmt_event_bytes(ev) & 0xffff);
            at[ev->tag] = ev->addr;
        }
        if (ev->arg_tag && cmt_event_releases(ev))
            freed = ev->arg_addr;
    }
    free(at);
}

/* A number of the original format: 7 bits a byte, the last byte's high
 * bit set. */
static size_t put_cmt0_number(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    do {
        p[n] = v & 0x7f;
        v >>= 7;
        p[n++] |= v ? 0 : 0x80;
    } while (v);
    return n;
}

cmt_event *source_events(cmt_source *source, size_t *n, int *rc)
{
    size_t cap = 1024;
    cmt_event *events = malloc(cap * sizeof *events);
    *n = 0;
    while ((*rc = cmt_source_next(source, &events[*n])) > 0)
        if (++*n == cap)
            events = realloc(events, (cap *= 2) * sizeof *events);
    return events;
}

void encode_cmt0(const char *path, const cmt_event *events, size_t n)
{
    uint8_t *buf = malloc(n * 15 + 1), *p = buf;
    uint64_t newest = 0;
    for (size_t i = 0; i < n; i++) {
        const cmt_event *ev = &events[i];
        cr_assert(ev->op == CMT_OP_MALLOC || ev->op == CMT_OP_REALLOC || ev->op == CMT_OP_FREE, "event %zu", i);
        p += put_cmt0_number(p, ev->op == CMT_OP_FREE ? 0 : ev->size);
        p += put_cmt0_number(p, ev->arg_tag ? newest + 1 - ev->arg_tag : 0);
        if (ev->op != CMT_OP_FREE) {
            cr_assert_eq(ev->tag, newest + 1, "event %zu", i);
            p += put_cmt0_number(p, 1);
            newest = ev->tag;
        }
    }
    write_file(path, buf, (size_t)(p - buf));
    free(buf);
}

const char *encode_trace(const char *text, const char *cmt)
{
    char err[512];
    cmt_source *source = cmt_source_open(text, NULL, err, sizeof err);
    cr_assert_not_null(source, "%s", err);
    cmt_output *out = cmt_output_open(cmt, err, sizeof err);
    cr_assert_not_null(out, "%s", err);
    cmt_writer *w = cmt_writer_open(out, CMT_CONVERT_LEVEL, err, sizeof err);
    cr_assert_not_null(w, "%s", err);
    cmt_event ev;
    int rc;
    while ((rc = cmt_source_next(source, &ev)) > 0)
        cr_assert_eq(cmt_writer_write(w, &ev), 0, "%s", cmt_writer_error(w));
    cr_assert_eq(rc, 0, "%s", cmt_source_error(source));
    cr_assert_eq(cmt_writer_finish(w), 0, "%s", cmt_writer_error(w));
    cmt_writer_close(w);
    cr_assert_eq(cmt_output_commit(out, err, sizeof err), 0, "%s", err);
    cmt_source_close(source);
    return cmt;
}

cmt_event *decode_events(const char *path, size_t *n, int *rc, char *err, size_t errlen)
{
    char open_err[512];
    cmt_reader *r = cmt_reader_open(path, open_err, sizeof open_err);
    *n = 0;
    if (!r) {
        *rc = -2;
        if (err)
            snprintf(err, errlen, "%s", open_err);
        return NULL;
    }
    size_t cap = 1024;
    cmt_event *events = malloc(cap * sizeof *events);
    while ((*rc = cmt_reader_next(r, &events[*n])) > 0) {
        if (++*n == cap)
            events = realloc(events, (cap *= 2) * sizeof *events);
    }
    if (err)
        snprintf(err, errlen, "%s", cmt_reader_error(r));
    cmt_reader_close(r);
    return events;
}

cmt_event *random_events(size_t n, unsigned seed)
{
    cmt_event *events = calloc(n, sizeof *events);
    uint64_t *live = malloc(n * sizeof *live);
    size_t nlive = 0;
    uint64_t next_tag = 1, last_size = 16;
    srand(seed);
    for (size_t i = 0; i < n; i++) {
        cmt_event *ev = &events[i];
        ev->count = 1;
        if (seed % 2 && i % 3) /* timed, in order but for a step back now and then */
            ev->time = 1000000 * (uint64_t)i - (uint64_t)(rand() % 8 == 0) * 5000000;
        else if (seed % 4 == 2) /* a coarse clock: runs of events at one time */
            ev->time = 4000000 * (uint64_t)(i / 50 + 1);
        if (seed % 3 == 2) /* threads taking turns */
            ev->thread = 1 + (uint32_t)(i / 7 % 3);
        int dice = rand() % 100;
        /* Sizes: mostly repeats and neighbours, sometimes anything 64-bit. */
        uint64_t size = dice % 4 == 0   ? last_size
                        : dice % 4 == 1 ? last_size + 1
                        : dice % 7 == 0 ? ((uint64_t)rand() << 40) ^ (uint64_t)rand()
                                        : (uint64_t)(rand() % 5000);
        last_size = size;
        if (nlive > 0 && dice < 45) {
            /* Free a block, usually a recent one. */
            size_t k = rand() % 3 ? nlive - 1 - (size_t)(rand() % (nlive < 4 ? nlive : 4))
                                  : (size_t)rand() % nlive;
            ev->op = CMT_OP_FREE;
            ev->arg_tag = live[k];
            live[k] = live[--nlive];
            continue;
        }
        if (dice < 47) {
            ev->op = CMT_OP_FREE; /* free(NULL) */
            continue;
        }
        if (nlive > 0 && dice < 62) {
            /* An access, walking through a recent block or anywhere. */
            static const uint64_t widths[] = {1, 2, 4, 8, 16, 3, 0, 4096};
            ev->op = (cmt_op)(CMT_OP_LOAD + rand() % 3);
            ev->arg_tag = live[rand() % 4 ? nlive - 1 : (size_t)rand() % nlive];
            ev->size = widths[rand() % 8];
            ev->offset = rand() % 5 ? (uint64_t)(rand() % 64) : (uint64_t)rand() << 33;
            continue;
        }
        switch (dice % 6) {
        case 0: ev->op = CMT_OP_CALLOC; ev->count = (uint64_t)(rand() % 9); break;
        case 1: ev->op = CMT_OP_REALLOC; break;
        case 2: ev->op = (cmt_op)(CMT_OP_POSIX_MEMALIGN + rand() % 3); ev->align = 1u << (rand() % 13); break;
        default: ev->op = CMT_OP_MALLOC; break;
        }
        ev->size = size;
        if (ev->op == CMT_OP_REALLOC && nlive > 0 && rand() % 4) {
            size_t k = (size_t)rand() % nlive;
            ev->arg_tag = live[k];
            int kind = rand() % 10;
            if (kind == 0) {
                ev->size += ev->size == 0; /* a failed realloc keeps its block */
                continue;
            }
            live[k] = live[--nlive];
            if (kind == 1) {
                ev->size = 0; /* realloc(p, 0) = NULL frees p */
                continue;
            }
        } else if (rand() % 50 == 0) {
            continue; /* a failed allocation: no tag */
        }
        ev->tag = next_tag++;
        live[nlive++] = ev->tag;
    }
    free(live);
    return events;
}

const char *shared_trace(const char *name)
{
    static char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", CMT_SHARED_TRACES, name);
    return file_exists(path) ? path : NULL;
}

int runf(char **out, char **err, const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return run(cmd, out, err);
}
