/*
 * watch.c - a replay in a process of its own, seen from its parent: the
 * channel the child reports through, and the kernel's view of the child
 * (its resident bytes every few milliseconds from /proc, its rusage from
 * wait4).
 *
 * The parent watches rather than the child sampling itself so that the
 * curve costs the replay nothing: reading another process's statm takes
 * about 10 us, once a millisecond, on the parent's own time.
 */
#define _GNU_SOURCE /* memfd_create */
#include "allocator.h"
#include "cmt_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The first sampling interval; it doubles each time the samples fill
 * their table, so a run of any length keeps between 2048 and 4096. */
#define FIRST_INTERVAL 0.001
#define MAX_SAMPLES 4096

cmt_replay_channel *cmt_channel_create(int *fd, char *err, size_t errlen)
{
    *fd = memfd_create("cmtreplay", 0); /* inherited across the child's exec */
    if (*fd < 0 || ftruncate(*fd, sizeof(cmt_replay_channel)) < 0) {
        snprintf(err, errlen, "can't make the replay's channel: %s", strerror(errno));
        if (*fd >= 0)
            close(*fd);
        return NULL;
    }
    cmt_replay_channel *ch = cmt_channel_open(*fd);
    if (!ch) {
        snprintf(err, errlen, "can't map the replay's channel: %s", strerror(errno));
        close(*fd);
    }
    return ch;
}

cmt_replay_channel *cmt_channel_open(int fd)
{
    void *p = mmap(NULL, sizeof(cmt_replay_channel), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    return p == MAP_FAILED ? NULL : p;
}

void cmt_channel_close(cmt_replay_channel *ch)
{
    if (ch)
        munmap(ch, sizeof *ch);
}

static double seconds_since(const struct timespec *start)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - start->tv_sec) + (double)(t.tv_nsec - start->tv_nsec) * 1e-9;
}

/* Keeps every other sample, so the table has room for as many again at
 * twice the interval. */
static void thin(cmt_rss_samples *s)
{
    size_t kept = 0;
    for (size_t i = 0; i < s->n; i += 2)
        s->at[kept++] = s->at[i];
    s->n = kept;
    s->interval *= 2;
}

static void add_sample(cmt_rss_samples *s, double seconds, uint64_t events, uint64_t rss)
{
    if (rss > s->peak)
        s->peak = rss;
    if (!s->at) {
        s->at = cmti_malloc(MAX_SAMPLES * sizeof *s->at);
        if (!s->at)
            return; /* the curve is lost, not the replay: the peak above still counts */
    }
    if (s->n == MAX_SAMPLES)
        thin(s);
    s->at[s->n++] = (cmt_rss_sample){seconds, events, rss};
}

int cmt_replay_watch(pid_t pid, const cmt_replay_channel *ch, cmt_rss_samples *samples, int *status,
                     struct rusage *usage)
{
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    samples->interval = FIRST_INTERVAL;
    double next = 0;
    for (;;) {
        pid_t got = wait4(pid, status, WNOHANG, usage);
        if (got == pid)
            return 0;
        if (got < 0 && errno != EINTR)
            return -1;
        double t = seconds_since(&start);
        if (t >= next) {
            uint64_t events = __atomic_load_n(&ch->events, __ATOMIC_RELAXED);
            uint64_t rss = cmt_resident_bytes_of(pid);
            if (rss)
                add_sample(samples, t, events, rss);
            next = t + samples->interval;
        }
        double wait = next - seconds_since(&start);
        if (wait > 0) {
            struct timespec ts = {0, (long)(wait * 1e9)};
            nanosleep(&ts, NULL);
        }
    }
}

void cmt_rss_samples_free(cmt_rss_samples *s)
{
    cmti_free(s->at);
    *s = (cmt_rss_samples){0};
}

int cmt_rss_samples_write(const cmt_rss_samples *s, cmt_output *out)
{
    static const char header[] = "# seconds event rss_bytes\n";
    if (cmt_output_write(out, header, sizeof header - 1) < 0)
        return -1;
    for (size_t i = 0; i < s->n; i++) {
        char row[96];
        int len = snprintf(row, sizeof row, "%.4f %llu %llu\n", s->at[i].seconds,
                           (unsigned long long)s->at[i].events, (unsigned long long)s->at[i].rss);
        if (cmt_output_write(out, row, (size_t)len) < 0)
            return -1;
    }
    return 0;
}
