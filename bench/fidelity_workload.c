/*
 * fidelity_workload.c - the project's own multi-threaded program for
 * bench-fidelity: THREADS threads build a live set of small and middling
 * blocks, pass a share of them to the next thread, which frees them (the
 * cross-thread frees that per-thread caches and arenas handle each their
 * own way), free most of what they hold at random, and grow again with
 * other sizes, so that what an allocator keeps is decided by how it
 * reuses freed memory across threads.
 *
 * Usage: fidelity_workload [THREADS [MIB]]: MIB live at the peak (default
 * 4 threads, 256 MiB).  Deterministic sizes (a seed per thread); the order
 * across threads is the scheduler's.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_THREADS 64
#define HANDOFF 64 /* blocks in each thread's inbox */

typedef struct inbox {
    pthread_mutex_t lock;
    void *blocks[HANDOFF];
    size_t n;
} inbox;

static inbox inboxes[MAX_THREADS];
static int threads = 4;
static size_t live_target; /* bytes each thread holds at its peak */

static uint64_t next_random(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

/* Sizes as programs ask them: mostly small, a tail of middling ones. */
static size_t pick_size(uint64_t *state, int phase)
{
    uint64_t r = next_random(state);
    if (r % 100 < 85)
        return 16 + (r >> 8) % (phase ? 240 : 112);
    if (r % 100 < 98)
        return 256 + (r >> 8) % 3840;
    return 8192 + (r >> 8) % (phase ? 120000 : 56000);
}

/* Frees what the previous thread handed over. */
static void drain(inbox *in)
{
    void *mine[HANDOFF];
    pthread_mutex_lock(&in->lock);
    size_t n = in->n;
    memcpy(mine, in->blocks, n * sizeof *mine);
    in->n = 0;
    pthread_mutex_unlock(&in->lock);
    for (size_t i = 0; i < n; i++)
        free(mine[i]);
}

/* Hands P to the next thread; false if its inbox is full. */
static int hand_over(inbox *next, void *p)
{
    pthread_mutex_lock(&next->lock);
    int ok = next->n < HANDOFF;
    if (ok)
        next->blocks[next->n++] = p;
    pthread_mutex_unlock(&next->lock);
    return ok;
}

typedef struct slot {
    void *p;
    size_t size;
} slot;

typedef struct holding {
    slot *held;
    size_t n, cap;
} holding;

/* Keeps P.  The array grows by doubling, as programs' vectors do: sized for
 * the worst case up front (a slot per 16 bytes of the target), it was a
 * calloc as big as the live set that the program never touched but the
 * replay does, and the replayed peak came out twice the program's. */
static void hold(holding *h, void *p, size_t size)
{
    if (h->n == h->cap) {
        h->cap = h->cap ? 2 * h->cap : 1024;
        h->held = realloc(h->held, h->cap * sizeof *h->held);
        if (!h->held)
            abort();
    }
    h->held[h->n++] = (slot){p, size};
}

/* Grows the thread's live set to the target, handing every 16th block on. */
static size_t grow(holding *h, size_t bytes, uint64_t *state, int phase, int self)
{
    inbox *next = &inboxes[(self + 1) % threads];
    while (bytes < live_target) {
        size_t size = pick_size(state, phase);
        char *p = malloc(size);
        if (!p)
            abort();
        memset(p, phase + 1, size);
        if (next_random(state) % 16 == 0 && hand_over(next, p))
            continue;
        hold(h, p, size);
        bytes += size;
        if (h->n % 256 == 0)
            drain(&inboxes[self]);
    }
    return bytes;
}

static void *worker(void *arg)
{
    int self = (int)(intptr_t)arg;
    uint64_t state = 0x9E3779B97F4A7C15ull * (uint64_t)(self + 1);
    holding h = {0};
    size_t bytes = 0;
    for (int phase = 0; phase < 2; phase++) {
        bytes = grow(&h, bytes, &state, phase, self);
        /* Free three in four at random: the holes are what allocators differ on. */
        size_t kept = 0;
        for (size_t i = 0; i < h.n; i++) {
            if (next_random(&state) % 4) {
                bytes -= h.held[i].size;
                free(h.held[i].p);
            } else {
                h.held[kept++] = h.held[i];
            }
        }
        h.n = kept;
        drain(&inboxes[self]);
    }
    grow(&h, bytes, &state, 1, self);
    for (size_t i = 0; i < h.n; i++)
        free(h.held[i].p);
    free(h.held);
    return NULL;
}

int main(int argc, char **argv)
{
    threads = argc > 1 ? atoi(argv[1]) : 4;
    long mib = argc > 2 ? atol(argv[2]) : 256;
    if (threads < 1 || threads > MAX_THREADS || mib < 1) {
        fprintf(stderr, "usage: fidelity_workload [THREADS (1-%d) [MIB]]\n", MAX_THREADS);
        return 2;
    }
    live_target = (size_t)mib * 1048576 / (size_t)threads;
    pthread_t t[MAX_THREADS];
    for (int i = 0; i < threads; i++)
        pthread_mutex_init(&inboxes[i].lock, NULL);
    for (int i = 0; i < threads; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i) != 0)
            return 1;
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < threads; i++)
        drain(&inboxes[i]);
    return 0;
}
