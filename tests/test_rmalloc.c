/*
 * test_rmalloc.c - the relocatable allocator: randomised stress with its
 * invariants checked after every step, and its contract one clause at a time.
 */
#include "helpers.h"
#include "rmalloc.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCKS 400

/* Each block is filled with bytes derived from its handle and a stamp, so
 * a move that loses or mixes bytes shows. */
typedef struct model {
    rm_handle_t h;
    size_t size;
    uint8_t stamp;
    size_t align;    /* asked of rm_alloc_aligned; 0: rm_alloc's 16 */
    void *locked_at; /* where it was when locked; NULL when not locked */
} model;

/* Where a payload must lie: on 16 bytes, or what was asked. */
static void check_aligned(const model *m, const void *p, int step)
{
    size_t align = m->align > 16 ? m->align : 16;
    cr_assert_eq((uintptr_t)p % align, 0, "step %d: a payload at %p, not aligned to %zu", step, p, align);
}

static uint8_t pattern(const model *m, size_t i)
{
    return (uint8_t)(m->h * 131 + i * 7 + m->stamp);
}

static void fill(rm_heap *heap, model *m)
{
    uint8_t *p = rm_lock(heap, &m->h);
    cr_assert_not_null(p);
    check_aligned(m, p, -1);
    for (size_t i = 0; i < m->size; i++)
        p[i] = pattern(m, i);
    rm_unlock(heap, &m->h);
}

static void verify(rm_heap *heap, const model *m, int step)
{
    rm_handle_t h = m->h;
    uint8_t *p = rm_lock(heap, &h);
    cr_assert_not_null(p, "step %d: a live handle was refused", step);
    size_t i = 0;
    while (i < m->size && p[i] == pattern(m, i))
        i++; /* one assertion a block: Criterion counts each */
    cr_assert_eq(i, m->size, "step %d: byte %zu of a %zu-byte block changed", step, i, m->size);
    check_aligned(m, p, step);
    if (m->locked_at)
        cr_assert_eq(p, m->locked_at, "step %d: a locked block moved", step);
    rm_unlock(heap, &h);
}

static void verify_all(rm_heap *heap, const model *blocks, int step)
{
    char why[256];
    cr_assert(rm_heap_check(heap, why, sizeof why), "step %d: %s", step, why);
    for (int k = 0; k < BLOCKS; k++)
        if (blocks[k].h)
            verify(heap, &blocks[k], step);
}

static void stress(unsigned seed, unsigned flags, size_t capacity)
{
    rm_heap *heap = rm_heap_create(capacity, flags);
    cr_assert_not_null(heap);
    model blocks[BLOCKS] = {{0}};
    uint64_t compactions = 0;
    srand(seed);
    for (int step = 0; step < 10000; step++) {
        model *m = &blocks[rand() % BLOCKS];
        int dice = rand() % 100;
        if (!m->h) {
            size_t size = rand() % 16 ? (size_t)(rand() % 400) : (size_t)(rand() % 20000);
            /* One block in eight aligned, to 32 bytes up to a page. */
            size_t align = rand() % 8 ? 0 : (size_t)32 << rand() % 8;
            rm_handle_t h = align ? rm_alloc_aligned(heap, align, size) : rm_alloc(heap, size);
            if (h == RM_INVALID_HANDLE)
                continue; /* full: checked below that nothing was harmed */
            *m = (model){.h = h, .size = size, .stamp = (uint8_t)step, .align = align};
            fill(heap, m);
        } else if (dice < 35) {
            if (m->locked_at)
                rm_unlock(heap, &m->h);
            rm_free(heap, &m->h);
            cr_assert_eq(m->h, RM_INVALID_HANDLE, "rmfree clears the handle");
            m->locked_at = NULL;
        } else if (dice < 65) {
            size_t size = (size_t)(rand() % 6000);
            if (rm_realloc(heap, &m->h, size) == 0) {
                model before = *m;
                m->size = size < before.size ? size : before.size;
                verify(heap, m, step); /* the kept bytes came along */
                m->size = size;
                m->stamp = (uint8_t)(step + 1);
                if (m->locked_at) {
                    rm_handle_t h = m->h;
                    m->locked_at = rm_lock(heap, &h);
                    rm_unlock(heap, &h);
                }
                fill(heap, m);
            } else {
                cr_assert(rm_valid(heap, m->h), "a failed realloc keeps its block");
            }
        } else if (dice < 72 && !m->locked_at) {
            m->locked_at = rm_lock(heap, &m->h); /* held until freed or unlocked */
        } else if (dice < 80 && m->locked_at) {
            rm_unlock(heap, &m->h);
            m->locked_at = NULL;
        } else if (dice < 83) {
            rm_compact(heap);
        }
        /* The structure after every step; every block's bytes after every
         * compaction (whoever started it), when blocks move. */
        char why[256];
        cr_assert(rm_heap_check(heap, why, sizeof why), "step %d: %s", step, why);
        rm_stats st;
        rm_heap_stats(heap, &st);
        if (st.compactions != compactions || step % 997 == 0)
            verify_all(heap, blocks, step);
        compactions = st.compactions;
    }
    /* With nothing locked, a compaction leaves all free space in one run
     * at the top, but for the padding before aligned blocks. */
    uint64_t padding = 0, aligned = 0;
    for (int k = 0; k < BLOCKS; k++) {
        if (blocks[k].locked_at)
            rm_unlock(heap, &blocks[k].h);
        blocks[k].locked_at = NULL;
        if (blocks[k].h && blocks[k].align > 16) {
            aligned++;
            padding += blocks[k].align - 16;
        }
    }
    rm_compact(heap);
    rm_stats st;
    rm_heap_stats(heap, &st);
    if (!(flags & RM_NO_COMPACTION)) {
        cr_assert_leq(st.holes, aligned, "%llu holes after compacting with nothing locked, %llu aligned blocks",
                      (unsigned long long)st.holes, (unsigned long long)aligned);
        cr_assert_leq(st.hole_bytes, padding);
    }
    verify_all(heap, blocks, -1);
    rm_heap_destroy(heap);
}

Test(rmalloc, stress_with_compaction_keeps_every_invariant)
{
    for (unsigned seed = 1; seed <= 4; seed++)
        stress(seed, 0, 4 << 20);
}

Test(rmalloc, stress_in_a_tight_heap_keeps_every_invariant)
{
    /* Small enough that allocations fail and compaction runs often. */
    for (unsigned seed = 5; seed <= 8; seed++)
        stress(seed, 0, 600 << 10);
}

Test(rmalloc, stress_without_compaction_keeps_every_invariant)
{
    stress(9, RM_NO_COMPACTION, 1 << 20);
}

/* ------------------------------------------------- a heap shared by threads */

#define SHARING_THREADS 4
#define THREAD_BLOCKS 64

typedef struct sharer {
    rm_heap *heap;
    unsigned index, seed;
    unsigned long wrong; /* bytes found changed, locked blocks found moved, handles refused */
    unsigned long handed, taken;
} sharer;

/* A block handed from one thread to the next, to check and free there. */
static struct {
    _Atomic int full;
    model block;
} mailbox[SHARING_THREADS];

/* Whether M's bytes are as written (Criterion asserts only on its own
 * thread: the others count). */
static bool intact(rm_heap *heap, const model *m)
{
    rm_handle_t h = m->h;
    uint8_t *p = rm_lock(heap, &h);
    if (!p)
        return false;
    bool same = !m->locked_at || p == m->locked_at;
    for (size_t i = 0; i < m->size && same; i++)
        same = p[i] == pattern(m, i);
    rm_unlock(heap, &h);
    return same;
}

static void write_block(rm_heap *heap, model *m)
{
    uint8_t *p = rm_lock(heap, &m->h);
    for (size_t i = 0; p && i < m->size; i++)
        p[i] = pattern(m, i);
    rm_unlock(heap, &m->h);
}

static void *share_heap(void *arg)
{
    sharer *t = arg;
    model blocks[THREAD_BLOCKS] = {{0}};
    unsigned seed = t->seed;
    for (int step = 0; step < 20000; step++) {
        model *m = &blocks[rand_r(&seed) % THREAD_BLOCKS];
        int dice = (int)(rand_r(&seed) % 100);
        if (!m->h) {
            size_t size = (size_t)(rand_r(&seed) % 700);
            rm_handle_t h = rm_alloc(t->heap, size);
            if (h == RM_INVALID_HANDLE) {
                t->wrong++;
                continue;
            }
            *m = (model){.h = h, .size = size, .stamp = (uint8_t)(step + t->index)};
            write_block(t->heap, m);
        } else if (dice < 30) {
            t->wrong += !intact(t->heap, m);
            if (m->locked_at)
                rm_unlock(t->heap, &m->h);
            rm_free(t->heap, &m->h);
            m->locked_at = NULL;
        } else if (dice < 50 && !m->locked_at) {
            size_t size = (size_t)(rand_r(&seed) % 2000), kept = size < m->size ? size : m->size;
            if (rm_realloc(t->heap, &m->h, size) == 0) {
                m->size = kept;
                t->wrong += !intact(t->heap, m);
                m->size = size;
                write_block(t->heap, m);
            }
        } else if (dice < 56 && !m->locked_at) {
            m->locked_at = rm_lock(t->heap, &m->h); /* held while the others compact */
        } else if (dice < 62 && m->locked_at) {
            t->wrong += !intact(t->heap, m);
            rm_unlock(t->heap, &m->h);
            m->locked_at = NULL;
        } else if (dice < 66 && !m->locked_at) {
            unsigned next = (t->index + 1) % SHARING_THREADS;
            if (!atomic_load_explicit(&mailbox[next].full, memory_order_acquire)) {
                mailbox[next].block = *m;
                atomic_store_explicit(&mailbox[next].full, 1, memory_order_release);
                *m = (model){0};
                t->handed++;
            }
        } else if (dice < 70) {
            rm_compact(t->heap);
        }
        if (atomic_load_explicit(&mailbox[t->index].full, memory_order_acquire)) {
            model got = mailbox[t->index].block;
            atomic_store_explicit(&mailbox[t->index].full, 0, memory_order_release);
            t->wrong += !intact(t->heap, &got);
            rm_free(t->heap, &got.h);
            t->taken++;
        }
    }
    for (int k = 0; k < THREAD_BLOCKS; k++) {
        if (!blocks[k].h)
            continue;
        t->wrong += !intact(t->heap, &blocks[k]);
        if (blocks[k].locked_at)
            rm_unlock(t->heap, &blocks[k].h);
        rm_free(t->heap, &blocks[k].h);
    }
    return NULL;
}

/* A shared heap under four threads at once: each allocates, reallocates,
 * writes, locks for a while, frees and compacts, and hands blocks to the
 * next thread, which checks and frees them; no block loses a byte, no
 * locked block moves while the others compact, and the heap is whole. */
Test(rmalloc, a_shared_heap_under_threads_keeps_every_block, .timeout = 120)
{
    rm_heap *heap = rm_heap_create(64 << 20, 0);
    rm_heap_share(heap);
    sharer threads[SHARING_THREADS];
    pthread_t ids[SHARING_THREADS];
    for (unsigned i = 0; i < SHARING_THREADS; i++) {
        threads[i] = (sharer){.heap = heap, .index = i, .seed = 17 + i};
        cr_assert_eq(pthread_create(&ids[i], NULL, share_heap, &threads[i]), 0);
    }
    unsigned long handed = 0, taken = 0;
    for (unsigned i = 0; i < SHARING_THREADS; i++) {
        pthread_join(ids[i], NULL);
        cr_assert_eq(threads[i].wrong, 0, "thread %u found %lu blocks changed, moved or refused", i, threads[i].wrong);
        handed += threads[i].handed;
        taken += threads[i].taken;
    }
    for (unsigned i = 0; i < SHARING_THREADS; i++)
        if (atomic_load(&mailbox[i].full)) {
            rm_free(heap, &mailbox[i].block.h);
            taken++;
        }
    cr_assert_eq(handed, taken);
    /* Each thread hands at least its first block on, whatever the
     * scheduler does (on a loaded machine the threads may run one after
     * another: a count of 100 failed there). */
    cr_assert_geq(handed, SHARING_THREADS, "blocks went from thread to thread");
    char why[256];
    cr_assert(rm_heap_check(heap, why, sizeof why), "%s", why);
    rm_stats st;
    rm_heap_stats(heap, &st);
    cr_assert_eq(st.live_blocks, 0);
    cr_assert_gt(st.compactions, 100);
    rm_heap_destroy(heap);
}

Test(rmalloc, running_out_returns_an_invalid_handle)
{
    rm_heap *heap = rm_heap_create(64 << 10, 0);
    rm_handle_t a = rm_alloc(heap, 40 << 10);
    cr_assert_neq(a, RM_INVALID_HANDLE);
    cr_assert_eq(rm_alloc(heap, 40 << 10), RM_INVALID_HANDLE);
    cr_assert_eq(rm_alloc(heap, SIZE_MAX), RM_INVALID_HANDLE);
    rm_stats st;
    rm_heap_stats(heap, &st);
    cr_assert_eq(st.failures, 2);
    cr_assert(rm_valid(heap, a));
    rm_heap_destroy(heap);
}

Test(rmalloc, aligned_blocks_keep_their_alignment_and_odd_ones_are_refused)
{
    rm_heap *heap = rm_heap_create(1 << 20, 0);
    cr_assert_eq(rm_alloc_aligned(heap, 48, 10), RM_INVALID_HANDLE, "not a power of two");
    cr_assert_eq(rm_alloc_aligned(heap, 0, 10), RM_INVALID_HANDLE);
    cr_assert_eq(rm_alloc_aligned(heap, (size_t)1 << 31, 10), RM_INVALID_HANDLE, "above 1 GiB");
    rm_handle_t small = rm_alloc_aligned(heap, 8, 10);
    cr_assert_neq(small, RM_INVALID_HANDLE, "below 16 is 16");
    /* A hole below a page-aligned block: compaction slides it down to the
     * next page, never to where it would lose its alignment. */
    rm_handle_t filler = rm_alloc(heap, 5000), paged = rm_alloc_aligned(heap, 4096, 100);
    uint8_t *p = rm_lock(heap, &paged);
    cr_assert_eq((uintptr_t)p % 4096, 0);
    memset(p, 0x5a, 100);
    rm_unlock(heap, &paged);
    rm_free(heap, &filler);
    rm_compact(heap);
    p = rm_lock(heap, &paged);
    cr_assert_eq((uintptr_t)p % 4096, 0);
    cr_assert_eq(p[99], 0x5a);
    rm_unlock(heap, &paged);
    cr_assert_eq(rm_realloc(heap, &paged, 70000), 0);
    p = rm_lock(heap, &paged);
    cr_assert_eq((uintptr_t)p % 4096, 0, "a realloc keeps the alignment");
    cr_assert_eq(p[0], 0x5a);
    rm_unlock(heap, &paged);
    char why[256];
    cr_assert(rm_heap_check(heap, why, sizeof why), "%s", why);
    rm_heap_destroy(heap);
}

static bool all_zero(rm_heap *heap, rm_handle_t h, size_t size)
{
    const uint8_t *p = rm_lock(heap, &h);
    size_t i = 0;
    while (i < size && p[i] == 0)
        i++;
    rm_unlock(heap, &h);
    return i == size;
}

/* rm_calloc skips the memset where the heap never wrote (fresh from the
 * top, given back to the system): its blocks are zeros wherever they come
 * from, a hole reused, the top, memory that went back and came again. */
Test(rmalloc, calloc_gives_zeros_from_a_reused_hole_the_top_and_memory_given_back)
{
    enum { N = 2000, SIZE = 1000 };
    static rm_handle_t blocks[N];
    rm_heap *heap = rm_heap_create(64 << 20, 0);
    for (int i = 0; i < N; i++) {
        blocks[i] = rm_alloc(heap, SIZE);
        memset(rm_lock(heap, &blocks[i]), 0xff, SIZE);
        rm_unlock(heap, &blocks[i]);
    }
    rm_handle_t keep = blocks[N - 1];
    rm_free(heap, &blocks[5]);
    rm_handle_t reused = rm_calloc(heap, 10, SIZE / 10); /* into the hole blocks[5] left */
    cr_assert(all_zero(heap, reused, SIZE));
    rm_handle_t fresh = rm_calloc(heap, SIZE, 1);
    cr_assert(all_zero(heap, fresh, SIZE));
    for (int i = 0; i < N - 1; i++)
        rm_free(heap, &blocks[i]);
    rm_stats st;
    rm_heap_stats(heap, &st);
    cr_assert_geq(st.given_back, 1, "the pages went back");
    for (int i = 0; i < N; i++) {
        blocks[i] = rm_calloc(heap, 1, SIZE);
        cr_assert(all_zero(heap, blocks[i], SIZE), "block %d", i);
    }
    cr_assert_eq(rm_calloc(heap, SIZE_MAX / 2, 3), RM_INVALID_HANDLE, "the product overflows");
    cr_assert(rm_valid(heap, keep));
    char why[256];
    cr_assert(rm_heap_check(heap, why, sizeof why), "%s", why);
    rm_heap_destroy(heap);
}

Test(rmalloc, compaction_makes_room_that_fragmentation_took)
{
    /* Ten 6 KiB blocks fill 64 KiB; freeing every other one leaves 30 KiB
     * free in 6 KiB holes, where a 20 KiB block fits only after compacting. */
    rm_heap *heap = rm_heap_create(64 << 10, 0);
    rm_handle_t h[10];
    for (int i = 0; i < 10; i++)
        cr_assert_neq(h[i] = rm_alloc(heap, 6 << 10), RM_INVALID_HANDLE);
    for (int i = 0; i < 10; i += 2)
        rm_free(heap, &h[i]);
    cr_assert_neq(rm_alloc(heap, 20 << 10), RM_INVALID_HANDLE);
    rm_stats st;
    rm_heap_stats(heap, &st);
    cr_assert_geq(st.compactions, 1);
    cr_assert_gt(st.bytes_moved, 0);
    rm_heap_destroy(heap);

    heap = rm_heap_create(64 << 10, RM_NO_COMPACTION);
    for (int i = 0; i < 10; i++)
        h[i] = rm_alloc(heap, 6 << 10);
    for (int i = 0; i < 10; i += 2)
        rm_free(heap, &h[i]);
    cr_assert_eq(rm_alloc(heap, 20 << 10), RM_INVALID_HANDLE, "without compaction it can't fit");
    rm_heap_destroy(heap);
}

/* The process's resident bytes (statm), for memory given back. */
static uint64_t resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, resident = 0;
    cr_assert(f && fscanf(f, "%llu %llu", &size, &resident) == 2);
    fclose(f);
    return resident * 4096;
}

/* The most a heap that gave memory back may hold, by its policy: what is
 * live, as much again in holes before the next compaction, an eighth of
 * that kept above the top (so that a heap that breathes does not fault
 * its pages in again), what is not worth a system call (256 KiB), and its
 * tables. */
static uint64_t policy_bound(const rm_stats *st)
{
    return st->live_bytes * 9 / 4 + (256 << 10) + st->metadata;
}

/* Memory goes back as the live blocks fall: 4,000 blocks of 1 KiB, all
 * filled, one near the bottom locked throughout; three in four freed, in a
 * shuffled order.  The heap compacts and gives the pages above its top
 * back: its footprint falls to near what is live, and the process's
 * resident bytes with it; every block left keeps its bytes, and a block
 * locked through it all stays where it was.  Without compaction only a
 * falling top gives pages back. */
Test(rmalloc, memory_goes_back_as_the_live_blocks_fall)
{
    enum { N = 4000 };
    static model blocks[N];
    for (int compacting = 1; compacting >= 0; compacting--) {
        rm_heap *heap = rm_heap_create(64 << 20, compacting ? 0 : RM_NO_COMPACTION);
        for (int i = 0; i < N; i++) {
            blocks[i] = (model){.size = 1024, .stamp = (uint8_t)i};
            cr_assert_neq(blocks[i].h = rm_alloc(heap, 1024), RM_INVALID_HANDLE);
            fill(heap, &blocks[i]);
        }
        model *pinned = &blocks[1]; /* near the bottom: what lies above it can come down */
        pinned->locked_at = rm_lock(heap, &pinned->h);
        rm_stats full;
        rm_heap_stats(heap, &full);
        uint64_t rss_full = resident_bytes();
        unsigned order[N];
        for (unsigned i = 0; i < N; i++)
            order[i] = i;
        srand(7);
        for (unsigned i = N - 1; i > 0; i--) {
            unsigned j = (unsigned)rand() % (i + 1), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        for (unsigned k = 0; k < N; k++)
            if (order[k] % 4 != 0 && &blocks[order[k]] != pinned)
                rm_free(heap, &blocks[order[k]].h);
        char why[256];
        cr_assert(rm_heap_check(heap, why, sizeof why), "%s", why);
        rm_stats st;
        rm_heap_stats(heap, &st);
        for (int i = 0; i < N; i++)
            if (blocks[i].h)
                verify(heap, &blocks[i], i);
        if (compacting) {
            cr_assert_leq(st.footprint, policy_bound(&st), "%llu for %llu live", (unsigned long long)st.footprint,
                          (unsigned long long)st.live_bytes);
            cr_assert_lt(st.footprint, full.footprint * 6 / 10, "%llu of %llu", (unsigned long long)st.footprint,
                         (unsigned long long)full.footprint);
            cr_assert_geq(st.given_back, 1);
            cr_assert_lt(resident_bytes(), rss_full - full.peak_top / 3, "the pages went back to the system");
        } else {
            cr_assert_eq(st.compactions, 0, "nothing moved");
            cr_assert_leq(st.footprint, full.footprint);
        }
        cr_assert_eq(st.peak_top, full.peak_top, "the highest it ever was is kept");
        rm_unlock(heap, &pinned->h);
        rm_heap_destroy(heap);
    }
}

/* A free that compacts moves at most 8 MiB (and the block it was at) and
 * leaves the rest for the next free, which goes on where it stopped: 48 MiB
 * of 2 KiB blocks, three in four freed, come down to near what is live in
 * steps, every block left whole. */
Test(rmalloc, a_free_compacts_a_step_at_a_time_and_the_next_goes_on, .timeout = 60)
{
    enum { N = 24576, SIZE = 2040 };
    static model blocks[N];
    rm_heap *heap = rm_heap_create(256 << 20, 0);
    for (int i = 0; i < N; i++) {
        blocks[i] = (model){.size = SIZE, .stamp = (uint8_t)i};
        cr_assert_neq(blocks[i].h = rm_alloc(heap, SIZE), RM_INVALID_HANDLE);
        fill(heap, &blocks[i]);
    }
    rm_stats full, before, after;
    rm_heap_stats(heap, &full);
    srand(11);
    uint64_t steps = 0;
    for (int k = 0; k < 4 * N; k++) {
        model *m = &blocks[rand() % N];
        if (!m->h || (m - blocks) % 4 == 0)
            continue;
        rm_heap_stats(heap, &before);
        rm_free(heap, &m->h);
        rm_heap_stats(heap, &after);
        cr_assert_leq(after.bytes_moved - before.bytes_moved, (8 << 20) + SIZE + 16, "free %d moved %llu bytes", k,
                      (unsigned long long)(after.bytes_moved - before.bytes_moved));
        steps += after.compactions - before.compactions;
        if (k % 2048 == 0) {
            char why[256];
            cr_assert(rm_heap_check(heap, why, sizeof why), "free %d: %s", k, why);
        }
    }
    for (int i = 0; i < N; i++)
        if (blocks[i].h && i % 4)
            rm_free(heap, &blocks[i].h);
    char why[256];
    cr_assert(rm_heap_check(heap, why, sizeof why), "%s", why);
    rm_heap_stats(heap, &after);
    cr_assert_geq(steps, 3, "the heap above the holes is more than a step");
    cr_assert_leq(after.footprint, policy_bound(&after), "%llu for %llu live",
                  (unsigned long long)after.footprint, (unsigned long long)after.live_bytes);
    cr_assert_lt(after.footprint, full.footprint * 6 / 10);
    cr_assert_geq(after.given_back, 1);
    for (int i = 0; i < N; i += 4)
        verify(heap, &blocks[i], i);
    rm_heap_destroy(heap);
}

Test(rmalloc, locks_nest_and_stale_handles_are_refused)
{
    rm_heap *heap = rm_heap_create(1 << 20, 0);
    rm_handle_t h = rm_alloc(heap, 100);
    void *p = rm_lock(heap, &h);
    cr_assert_eq(rm_lock(heap, &h), p);
    cr_assert_eq(rm_lock_count(heap, h), 2);
    rm_unlock(heap, &h);
    cr_assert_eq(rm_lock_count(heap, h), 1);
    rm_unlock(heap, &h);
    cr_assert_eq(rm_lock_count(heap, h), 0);
    rm_handle_t stale = h;
    rm_free(heap, &h);
    cr_assert_null(rm_lock(heap, &stale));
    cr_assert_not(rm_valid(heap, stale));
    rm_handle_t reused = rm_alloc(heap, 100); /* takes the same slot */
    cr_assert_neq(reused, stale, "a new generation tells them apart");
    cr_assert_null(rm_lock(heap, &stale));
    rm_handle_t invalid = RM_INVALID_HANDLE, forged = 12345;
    cr_assert_null(rm_lock(heap, &invalid));
    cr_assert_null(rm_lock(heap, &forged));
    rm_free(heap, &invalid); /* a no-op, not a crash */
    rm_heap_destroy(heap);
}

Test(rmalloc, the_seed_interface_works_on_the_default_heap)
{
    rm_handle_t h = rmalloc(64);
    cr_assert_neq(h, RM_INVALID_HANDLE);
    char *p = rmlock(&h);
    strcpy(p, "relocatable");
    rmunlock(&h);
    rmcompact();
    cr_assert_str_eq(rmlock(&h), "relocatable");
    rmunlock(&h);
    rmfree(&h);
    cr_assert_eq(h, RM_INVALID_HANDLE);
}
