/*
 * plugin_allocator.c - an allocator of a user's own as cmtreplay takes it
 * with -a plugin:LIBRARY.so: the vtable of cmt_allocator.h, exported.  It
 * hands out blocks from glibc's own functions (found in libc.so.6 itself,
 * whatever malloc the process has: cmtreplay links jemalloc, and a
 * sanitizer intercepts some of glibc's other names), each behind a
 * 16-byte header that keeps its size, and counts the bytes it holds as its
 * footprint.
 */
#include "cmt_allocator.h"

#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static void *(*glibc_memalign)(size_t, size_t);
static void (*glibc_free)(void *);

#define HEADER 16

typedef struct counting_heap {
    _Atomic uint64_t bytes, most;
} counting_heap;

static void *counting_create(const cmt_allocator_options *options, char *err, size_t errlen)
{
    (void)options;
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    if (libc) {
        *(void **)&glibc_memalign = dlsym(libc, "memalign");
        *(void **)&glibc_free = dlsym(libc, "free");
    }
    if (!glibc_memalign || !glibc_free) {
        snprintf(err, errlen, "counting: can't find glibc's memalign and free");
        return NULL;
    }
    counting_heap *h = glibc_memalign(16, sizeof *h);
    if (!h) {
        snprintf(err, errlen, "counting: out of memory");
        return NULL;
    }
    memset(h, 0, sizeof *h);
    return h;
}

static void counting_destroy(void *heap)
{
    glibc_free(heap);
}

static size_t size_of(const void *p)
{
    size_t size;
    memcpy(&size, (const unsigned char *)p - HEADER, sizeof size);
    return size;
}

/* SIZE bytes aligned to ALIGN (16 or more), behind their header. */
static void *take(counting_heap *h, size_t align, size_t size)
{
    if (size > SIZE_MAX / 2)
        return NULL;
    unsigned char *base = glibc_memalign(align, align + size);
    if (!base)
        return NULL;
    unsigned char *p = base + align;
    memcpy(p - HEADER, &size, sizeof size);
    memcpy(p - HEADER + sizeof size, &base, sizeof base);
    uint64_t now = atomic_fetch_add(&h->bytes, size) + size, most = atomic_load(&h->most);
    while (now > most && !atomic_compare_exchange_weak(&h->most, &most, now))
        ;
    return p;
}

static void counting_free(void *heap, void *p)
{
    if (!p)
        return;
    counting_heap *h = heap;
    atomic_fetch_sub(&h->bytes, size_of(p));
    unsigned char *base;
    memcpy(&base, (unsigned char *)p - HEADER + sizeof(size_t), sizeof base);
    glibc_free(base);
}

static void *counting_malloc(void *heap, size_t size)
{
    return take(heap, HEADER, size);
}

static void *counting_calloc(void *heap, size_t count, size_t size)
{
    size_t bytes;
    if (__builtin_mul_overflow(count, size, &bytes))
        return NULL;
    void *p = take(heap, HEADER, bytes);
    if (p)
        memset(p, 0, bytes);
    return p;
}

static void *counting_realloc(void *heap, void *p, size_t size)
{
    if (size == 0) {
        counting_free(heap, p);
        return NULL;
    }
    void *q = take(heap, HEADER, size);
    if (q && p) {
        size_t old = size_of(p);
        memcpy(q, p, old < size ? old : size);
        counting_free(heap, p);
    }
    return q;
}

static void *counting_memalign(void *heap, size_t align, size_t size)
{
    size_t a = HEADER;
    while (a < align)
        a <<= 1;
    return take(heap, a, size);
}

static size_t counting_usable_size(void *heap, void *p)
{
    (void)heap;
    return p ? size_of(p) : 0;
}

static void counting_stats(void *heap, cmt_heap_stats *stats)
{
    counting_heap *h = heap;
    stats->bytes = atomic_load(&h->bytes);
    stats->mapped = atomic_load(&h->most);
}

__attribute__((visibility("default"))) extern const cmt_allocator cmt_allocator_plugin;
__attribute__((visibility("default"))) extern const int cmt_allocator_abi;

const cmt_allocator cmt_allocator_plugin =
    CMT_ALLOCATOR_VTABLE(counting, "the tests' plugin: glibc's blocks, counted");
const int cmt_allocator_abi = CMT_ALLOCATOR_ABI;
