/*
 * default.c - the seed's four calls, on a heap made at first use.
 */
#include "rmalloc.h"

#include <stdlib.h>

#define DEFAULT_CAPACITY ((size_t)1 << 30)

static rm_heap *default_heap(void)
{
    static rm_heap *heap;
    if (!heap) {
        const char *env = getenv("RMALLOC_CAPACITY");
        size_t capacity = env ? (size_t)strtoull(env, NULL, 10) : DEFAULT_CAPACITY;
        heap = rm_heap_create(capacity ? capacity : DEFAULT_CAPACITY, 0);
    }
    return heap;
}

rm_handle_t rmalloc(size_t size)
{
    rm_heap *heap = default_heap();
    return heap ? rm_alloc(heap, size) : RM_INVALID_HANDLE;
}

void rmfree(rm_handle_t *h)
{
    rm_heap *heap = default_heap();
    if (heap)
        rm_free(heap, h);
}

void *rmlock(rm_handle_t *h)
{
    rm_heap *heap = default_heap();
    return heap ? rm_lock(heap, h) : NULL;
}

void rmunlock(rm_handle_t *h)
{
    rm_heap *heap = default_heap();
    if (heap)
        rm_unlock(heap, h);
}

void rmcompact(void)
{
    rm_heap *heap = default_heap();
    if (heap)
        rm_compact(heap);
}
