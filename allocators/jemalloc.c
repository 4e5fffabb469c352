/*
 * jemalloc.c - jemalloc, in an arena of its own.
 *
 * Debian's libjemalloc.so.2 can't be dlopen'ed (its initial-exec TLS fails
 * with "cannot allocate memory in static TLS block"), so cmtreplay links it
 * and it becomes the process's malloc.  The replay then runs in an arena
 * and a thread cache created for it (arenas.create, tcache.create), and
 * the footprint is that arena's statistics, so the replayer's own
 * allocations, served by jemalloc's default arena, never count.
 */
#include "allocator.h"

#include <jemalloc/jemalloc.h>
#include <stdlib.h>
#include <string.h>

typedef struct jemalloc_heap {
    unsigned arena;
    unsigned tcache;
    int flags;
    size_t resident_mib[4], mapped_mib[4]; /* stats.arenas.<i>.resident, .mapped */
    size_t miblen;
} jemalloc_heap;

static int arena_stat_mib(jemalloc_heap *h, const char *name, size_t *mib)
{
    size_t len = 4;
    if (mallctlnametomib(name, mib, &len) != 0)
        return -1;
    mib[2] = h->arena;
    h->miblen = len;
    return 0;
}

static void *jemalloc_create(const cmt_allocator_options *options, char *err, size_t errlen)
{
    (void)options; /* no knobs */
    jemalloc_heap *h = calloc(1, sizeof *h);
    size_t len = sizeof h->arena;
    bool stats = false;
    size_t stats_len = sizeof stats;
    if (!h || mallctl("config.stats", &stats, &stats_len, NULL, 0) != 0 || !stats) {
        snprintf(err, errlen, "jemalloc: this jemalloc was built without statistics");
        free(h);
        return NULL;
    }
    if (mallctl("arenas.create", &h->arena, &len, NULL, 0) != 0 ||
        mallctl("tcache.create", &h->tcache, &len, NULL, 0) != 0 ||
        arena_stat_mib(h, "stats.arenas.0.resident", h->resident_mib) != 0 ||
        arena_stat_mib(h, "stats.arenas.0.mapped", h->mapped_mib) != 0) {
        snprintf(err, errlen, "jemalloc: can't create an arena for the replay");
        free(h);
        return NULL;
    }
    h->flags = MALLOCX_ARENA(h->arena) | MALLOCX_TCACHE(h->tcache);
    return h;
}

static void jemalloc_destroy(void *heap)
{
    jemalloc_heap *h = heap;
    char name[64];
    mallctl("tcache.destroy", NULL, NULL, &h->tcache, sizeof h->tcache);
    snprintf(name, sizeof name, "arena.%u.destroy", h->arena);
    mallctl(name, NULL, NULL, NULL, 0);
    free(h);
}

/* mallocx of 0 bytes is undefined; malloc(0) gets the smallest block. */
static size_t at_least_one(size_t size)
{
    return size ? size : 1;
}

static void *jemalloc_malloc(void *heap, size_t size)
{
    return mallocx(at_least_one(size), ((jemalloc_heap *)heap)->flags);
}

static void *jemalloc_calloc(void *heap, size_t count, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(count, size, &total))
        return NULL;
    return mallocx(at_least_one(total), ((jemalloc_heap *)heap)->flags | MALLOCX_ZERO);
}

static void jemalloc_free(void *heap, void *p)
{
    if (p)
        dallocx(p, ((jemalloc_heap *)heap)->flags);
}

static void *jemalloc_realloc(void *heap, void *p, size_t size)
{
    if (!p)
        return jemalloc_malloc(heap, size);
    if (size == 0) {
        jemalloc_free(heap, p);
        return NULL;
    }
    return rallocx(p, size, ((jemalloc_heap *)heap)->flags);
}

static void *jemalloc_memalign(void *heap, size_t align, size_t size)
{
    return mallocx(at_least_one(size),
                   ((jemalloc_heap *)heap)->flags | MALLOCX_ALIGN(cmt_round_alignment(align)));
}

static size_t jemalloc_usable_size(void *heap, void *p)
{
    return sallocx(p, ((jemalloc_heap *)heap)->flags);
}

static void jemalloc_stats(void *heap, cmt_heap_stats *fp)
{
    jemalloc_heap *h = heap;
    uint64_t epoch = 1;
    size_t value = 0, len = sizeof value;
    /* Statistics are a snapshot taken when the epoch advances. */
    mallctl("epoch", NULL, NULL, &epoch, sizeof epoch);
    fp->bytes = mallctlbymib(h->resident_mib, h->miblen, &value, &len, NULL, 0) == 0 ? value : 0;
    len = sizeof value;
    fp->mapped = mallctlbymib(h->mapped_mib, h->miblen, &value, &len, NULL, 0) == 0 ? value : 0;
}

const cmt_allocator cmt_allocator_jemalloc =
    CMT_ALLOCATOR_VTABLE(jemalloc, "jemalloc 5 in an arena and thread cache of its own, measured with mallctl",
                         .not_thread_safe = "jemalloc's replay has one thread cache, which takes one thread's calls");
