/*
 * ring.c - a thread's records on their way to the sink: see recorder.h.
 *
 * Chunks come from mmap (malloc is the program's) with their pages
 * populated at once: while the sink was behind, a fault for each page of
 * each new chunk was a sixth of the program's thread's time under a
 * hypervisor.  Once the sink is done with them, they are kept for the
 * next chunk any ring needs, up to a full ring's worth: every munmap
 * interrupts the program's core to flush its TLB.  They are reused
 * oldest first, once POOL_LEAST others wait behind: not the chunk the sink
 * has just read, whose lines are still in its core's caches, but not long
 * after either, while the chunks are still in the cache the cores share.
 * Waiting for 64 (10 MB of rings in use, with the sink's lag) recorded a
 * short Python run at 1.57 times its bare time, 16 at 1.44, 4 at 1.42,
 * none at 1.46; a long one at 1.22 and 1.15 (64 and 16).
 */
#include "recorder.h"

#include <errno.h>
#include <stddef.h>
#include <pthread.h>
#include <sys/mman.h>

#define POOL_MOST (RING_MOST / CHUNK_SLOTS)
#define POOL_LEAST 16

/* Without --stacks a chunk's stacks are never touched, and their pages
 * are not mapped. */
static size_t chunk_bytes = sizeof(chunk);

void ring_keep(bool stacks)
{
    chunk_bytes = stacks ? sizeof(chunk) : offsetof(chunk, stacks);
}

static struct {
    pthread_mutex_t lock;
    chunk *oldest, *newest; /* linked through next, oldest first */
    size_t count;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER};

static chunk *chunk_take(void)
{
    pthread_mutex_lock(&pool.lock);
    chunk *c = pool.count > POOL_LEAST ? pool.oldest : NULL;
    if (c) {
        pool.oldest = atomic_load_explicit(&c->next, memory_order_relaxed);
        if (!pool.oldest)
            pool.newest = NULL;
        pool.count--;
    }
    pthread_mutex_unlock(&pool.lock);
    if (!c) {
        c = mmap(NULL, chunk_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (c == MAP_FAILED)
            return NULL;
    }
    atomic_store_explicit(&c->next, NULL, memory_order_relaxed);
    return c;
}

static void chunk_give(chunk *c)
{
    pthread_mutex_lock(&pool.lock);
    if (pool.count < POOL_MOST) {
        atomic_store_explicit(&c->next, NULL, memory_order_relaxed);
        if (pool.newest)
            atomic_store_explicit(&pool.newest->next, c, memory_order_relaxed);
        else
            pool.oldest = c;
        pool.newest = c;
        pool.count++;
        c = NULL;
    }
    pthread_mutex_unlock(&pool.lock);
    if (c)
        munmap(c, chunk_bytes);
}

ring *ring_create(void)
{
    ring *r = mmap(NULL, sizeof *r, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (r == MAP_FAILED)
        return NULL;
    chunk *c = chunk_take();
    if (!c) {
        munmap(r, sizeof *r);
        return NULL;
    }
    r->writing = r->reading = c;
    r->write_end = r->read_end = CHUNK_SLOTS;
    return r;
}

void ring_destroy(ring *r)
{
    for (chunk *c = r->reading; c;) {
        chunk *next = atomic_load_explicit(&c->next, memory_order_acquire);
        chunk_give(c);
        c = next;
    }
    munmap(r, sizeof *r);
}

/* A new chunk when the one being written has no room for SLOTS more,
 * its last slot padded if one is left; with the sink too far behind, the
 * thread waits for it first. */
static bool make_room(ring *r, uint64_t head, unsigned slots)
{
    uint64_t most = sink_has_thread() ? RING_MOST : CHUNK_SLOTS;
    if (head + slots - atomic_load_explicit(&r->tail, memory_order_acquire) > most)
        sink_wait_for(r, head + slots - most / 2);
    if (head + slots > r->write_end) {
        chunk *c = chunk_take();
        if (!c)
            return false;
        if (head < r->write_end) {
            r->writing->slots[head % CHUNK_SLOTS].order = RECORD_PAD;
            atomic_store_explicit(&r->head, ++head, memory_order_release);
        }
        atomic_store_explicit(&r->writing->next, c, memory_order_release);
        r->writing = c;
        r->write_end += CHUNK_SLOTS;
    }
    uint64_t until = atomic_load_explicit(&r->tail, memory_order_acquire) + most;
    r->room_until = until < r->write_end ? until : r->write_end;
    return true;
}

bool ring_make_room(ring *r, uint64_t head, unsigned slots)
{
    int saved = errno; /* the program's, whatever draining or mmap does */
    bool made = make_room(r, head, slots);
    errno = saved;
    return made;
}

const record *ring_slot_at(ring *r, uint64_t tail)
{
    if (tail == r->read_end) {
        chunk *done = r->reading;
        r->reading = atomic_load_explicit(&done->next, memory_order_acquire);
        r->read_end += CHUNK_SLOTS;
        chunk_give(done);
    }
    return &r->reading->slots[tail % CHUNK_SLOTS];
}


const record *ring_peek(const ring *r, uint64_t tail)
{
    return tail < r->read_end ? &r->reading->slots[tail % CHUNK_SLOTS] : NULL;
}

void ring_clear(ring *r)
{
    chunk *keep = r->writing;
    for (chunk *c = r->reading; c != keep;) {
        chunk *next = atomic_load_explicit(&c->next, memory_order_relaxed);
        chunk_give(c);
        c = next;
    }
    r->reading = keep;
    atomic_store(&r->head, 0);
    atomic_store(&r->tail, 0);
    r->room_until = 0;
    r->write_end = r->read_end = CHUNK_SLOTS;
}

void ring_before_fork(void)
{
    pthread_mutex_lock(&pool.lock);
}

void ring_after_fork(void)
{
    pthread_mutex_unlock(&pool.lock);
}
