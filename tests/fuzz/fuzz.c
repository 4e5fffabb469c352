/*
 * fuzz.c - see fuzz.h.
 */
#define _GNU_SOURCE /* memfd_create */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz: %s: %s\n", what, detail);
    abort();
}

int fuzz_file(const uint8_t *data, size_t size, char *path, size_t len)
{
    int fd = memfd_create("fuzz-input", 0);
    if (fd < 0)
        die("memfd_create", "failed");
    for (size_t done = 0; done < size;) {
        ssize_t n = write(fd, data + done, size - done);
        if (n <= 0)
            die("write", "failed");
        done += (size_t)n;
    }
    snprintf(path, len, "/proc/self/fd/%d", fd);
    return fd;
}

cmt_event *fuzz_next_slot(fuzz_events *e)
{
    if (e->n == FUZZ_EVENTS)
        return NULL;
    if (e->n == e->cap) {
        e->cap = e->cap ? 2 * e->cap : 256;
        e->events = realloc(e->events, e->cap * sizeof *e->events);
    }
    return &e->events[e->n];
}

int fuzz_level(uint8_t b)
{
    return b % 8 == 0 ? 1 + b / 8 % 3 : 0;
}

/* True if B, A's copy, names the same stacks as A, and the same modules
 * as far as they go (a copy names the modules its stacks run in: a
 * module no stack runs in is not copied). */
static bool same_sites(const cmt_sites *a, const cmt_sites *b)
{
    if (cmt_sites_stacks(a) != cmt_sites_stacks(b) || cmt_sites_modules(a) < cmt_sites_modules(b))
        return false;
    for (uint32_t k = 1; k <= cmt_sites_stacks(a); k++)
        if (memcmp(cmt_sites_frame(a, k), cmt_sites_frame(b, k), sizeof(cmt_frame)) != 0)
            return false;
    for (uint32_t m = 1; m <= cmt_sites_modules(b); m++) {
        const cmt_module *x = cmt_sites_module(a, m), *y = cmt_sites_module(b, m);
        if (x->base != y->base || strcmp(x->path, y->path) != 0 || x->build_id_len != y->build_id_len ||
            memcmp(x->build_id, y->build_id, x->build_id_len) != 0)
            return false;
    }
    return true;
}

void fuzz_round_trip(const cmt_event *events, size_t n, const cmt_sites *sites, int level)
{
    int fd = memfd_create("fuzz-output", 0);
    char path[64], err[512];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    cmt_output *out = cmt_output_open_fd(dup(fd), path);
    cmt_writer *w = cmt_writer_open(out, level, err, sizeof err);
    if (!w)
        die("cmt_writer_open", err);
    if (cmt_sites_stacks(sites) && cmt_writer_copy_sites(w, sites, cmt_sites_stacks(sites)) < 0)
        die("the decoded stacks the writer refuses", cmt_writer_error(w));
    for (size_t i = 0; i < n; i++)
        if (cmt_writer_write(w, &events[i]) < 0)
            die("a decoded event the writer refuses", cmt_writer_error(w));
    if (cmt_writer_finish(w) < 0)
        die("cmt_writer_finish", cmt_writer_error(w));
    cmt_writer_close(w);
    if (cmt_output_commit(out, err, sizeof err) < 0)
        die("cmt_output_commit", err);
    cmt_reader *r = cmt_reader_open(path, err, sizeof err);
    if (!r)
        die("cmt_reader_open of what the writer wrote", err);
    cmt_event ev;
    size_t i = 0;
    int rc;
    while ((rc = cmt_reader_next(r, &ev)) > 0) {
        if (i >= n || !cmt_event_same(&ev, &events[i]))
            die("round trip", "an event came back different");
        i++;
    }
    if (rc < 0 || i != n)
        die("round trip", rc < 0 ? cmt_reader_error(r) : "events missing");
    if (cmt_sites_stacks(sites) && !same_sites(sites, cmt_reader_sites(r)))
        die("round trip", "the stacks came back different");
    cmt_reader_close(r);
    close(fd);
}
