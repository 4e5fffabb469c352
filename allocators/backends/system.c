/*
 * system.c - the C library's own allocator, glibc's malloc.
 *
 * The replay runs in a process of its own with nothing preloaded, whose
 * malloc is glibc's, for the replayed calls and the C library's own; the
 * replayer's bookkeeping lives in pages it maps itself, so mallinfo2
 * measures the replay (and libc's few blocks) alone.  The functions are
 * found by name inside libc.so.6, so a sanitized build, whose malloc is the
 * sanitizer's, still replays glibc's.
 */
#include "allocator.h"

#include <dlfcn.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

typedef struct glibc {
    void *(*malloc)(size_t);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void (*free)(void *);
    void *(*memalign)(size_t, size_t);
    size_t (*usable_size)(void *);
    struct mallinfo2 (*mallinfo2)(void);
} glibc;

static glibc libc_functions;

static void *system_create(const cmt_allocator_options *options, char *err, size_t errlen)
{
    (void)options; /* no knobs */
    glibc *g = &libc_functions;
    if (g->malloc)
        return g;
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    if (!libc) {
        snprintf(err, errlen, "system: can't find libc.so.6: %s", dlerror());
        return NULL;
    }
    /* dlsym on libc's own handle finds libc's definitions, not the ones
     * a sanitizer interposes.  Storing through void ** is the conversion to a
     * function pointer that POSIX's dlsym documentation shows. */
    *(void **)&g->malloc = dlsym(libc, "malloc");
    *(void **)&g->calloc = dlsym(libc, "calloc");
    *(void **)&g->realloc = dlsym(libc, "realloc");
    *(void **)&g->free = dlsym(libc, "free");
    *(void **)&g->memalign = dlsym(libc, "memalign");
    *(void **)&g->usable_size = dlsym(libc, "malloc_usable_size");
    *(void **)&g->mallinfo2 = dlsym(libc, "mallinfo2");
    if (!g->malloc || !g->calloc || !g->realloc || !g->free || !g->memalign || !g->usable_size ||
        !g->mallinfo2) {
        snprintf(err, errlen, "system: libc.so.6 lacks a malloc function (glibc 2.33 or later is needed)");
        memset(g, 0, sizeof *g);
        return NULL;
    }
    return g;
}

static void system_destroy(void *heap)
{
    (void)heap; /* glibc's heap is the process's: nothing to tear down */
}

static void *system_malloc(void *heap, size_t size)
{
    return ((glibc *)heap)->malloc(size);
}

static void *system_calloc(void *heap, size_t count, size_t size)
{
    return ((glibc *)heap)->calloc(count, size);
}

static void *system_realloc(void *heap, void *p, size_t size)
{
    return ((glibc *)heap)->realloc(p, size);
}

static void system_free(void *heap, void *p)
{
    ((glibc *)heap)->free(p);
}

static void *system_memalign(void *heap, size_t align, size_t size)
{
    return ((glibc *)heap)->memalign(cmt_round_alignment(align), size);
}

static size_t system_usable_size(void *heap, void *p)
{
    return ((glibc *)heap)->usable_size(p);
}

static void system_stats(void *heap, cmt_heap_stats *fp)
{
    struct mallinfo2 mi = ((glibc *)heap)->mallinfo2();
    fp->bytes = mi.arena + mi.hblkhd;
    fp->mapped = fp->bytes;
}

const cmt_allocator cmt_allocator_system =
    CMT_ALLOCATOR_VTABLE(system, "the C library's malloc (glibc ptmalloc2), measured with mallinfo2");
