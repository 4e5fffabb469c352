/*
 * null.c - an allocator that does no allocating: every block is the same
 * bytes, at the start of address space reserved once, and free does
 * nothing.  A replay against it measures the replayer itself (its
 * bookkeeping and the writing of the bytes, in the clock as for any
 * allocator; its decoding is outside), the floor every other allocator's
 * time per event stands on.  A bump pointer that never frees would measure
 * page faults instead: every block new memory.  Since blocks share their
 * bytes, its pointers are not unique while live, and -v refuses it.  Its
 * footprint is the largest block asked for.
 */
#define _GNU_SOURCE /* MAP_NORESERVE */
#include "allocator.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>

/* Address space reserved, not memory: pages come as bytes are touched. */
#define RESERVED ((uint64_t)1 << 40)

typedef struct null_heap {
    unsigned char *base;
    _Atomic uint64_t largest;
} null_heap;

static void *null_create(const cmt_allocator_options *options, char *err, size_t errlen)
{
    (void)options;
    null_heap *h = calloc(1, sizeof *h);
    void *base = mmap(NULL, RESERVED, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (!h || base == MAP_FAILED) {
        snprintf(err, errlen, "null: can't reserve %llu bytes of address space", (unsigned long long)RESERVED);
        if (base != MAP_FAILED)
            munmap(base, RESERVED);
        free(h);
        return NULL;
    }
    h->base = base;
    return h;
}

static void null_destroy(void *heap)
{
    null_heap *h = heap;
    munmap(h->base, RESERVED);
    free(h);
}

/* The bytes every block is, aligned to ALIGN; NULL past the reservation. */
static void *the_bytes(null_heap *h, size_t align, size_t size)
{
    uintptr_t p = ((uintptr_t)h->base + align - 1) & ~(uintptr_t)(align - 1);
    if (size > RESERVED || p + size > (uintptr_t)h->base + RESERVED)
        return NULL;
    uint64_t largest = atomic_load_explicit(&h->largest, memory_order_relaxed);
    while (size > largest &&
           !atomic_compare_exchange_weak_explicit(&h->largest, &largest, size, memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
    return (void *)p;
}

static void *null_malloc(void *heap, size_t size)
{
    return the_bytes(heap, 16, size);
}

static void *null_calloc(void *heap, size_t count, size_t size)
{
    size_t bytes;
    return __builtin_mul_overflow(count, size, &bytes) ? NULL : the_bytes(heap, 16, bytes);
}

static void *null_realloc(void *heap, void *p, size_t size)
{
    (void)p; /* the same bytes already */
    return size ? the_bytes(heap, 16, size) : NULL;
}

static void null_free(void *heap, void *p)
{
    (void)heap;
    (void)p;
}

static void *null_memalign(void *heap, size_t align, size_t size)
{
    return the_bytes(heap, cmt_round_alignment(align), size);
}

static size_t null_usable_size(void *heap, void *p)
{
    null_heap *h = heap;
    return p ? (size_t)atomic_load_explicit(&h->largest, memory_order_relaxed) : 0;
}

static void null_stats(void *heap, cmt_heap_stats *stats)
{
    null_heap *h = heap;
    stats->bytes = atomic_load_explicit(&h->largest, memory_order_relaxed);
    stats->mapped = stats->bytes;
}

const cmt_allocator cmt_allocator_null =
    CMT_ALLOCATOR_VTABLE(null, "every block the same bytes, free a no-op: the replayer's own cost");
