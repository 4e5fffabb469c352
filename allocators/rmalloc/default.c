/*
 * default.c - the seed's four calls, on a heap made at first use, shared
 * by the threads that call them.
 */
#include "rmalloc.h"

#include <pthread.h>
#include <stdlib.h>

#define DEFAULT_CAPACITY ((size_t)1 << 30)

static rm_heap *the_heap;
static pthread_once_t the_heap_made = PTHREAD_ONCE_INIT;

static void make_the_heap(void)
{
    const char *env = getenv("RMALLOC_CAPACITY");
    size_t capacity = env ? (size_t)strtoull(env, NULL, 10) : DEFAULT_CAPACITY;
    the_heap = rm_heap_create(capacity ? capacity : DEFAULT_CAPACITY, 0);
    if (the_heap)
        rm_heap_share(the_heap);
}

static rm_heap *default_heap(void)
{
    pthread_once(&the_heap_made, make_the_heap);
    return the_heap;
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
