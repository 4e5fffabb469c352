/*
 * test_allocator.c - a user's own allocator library for the tests of
 * cmtreplay -a preload:LIBRARY: it replaces malloc and the rest (by
 * handing them to glibc's own functions under their internal names) and
 * counts the calls it took, writing the count at exit to the file
 * TEST_ALLOCATOR_COUNT names.  Built PARTIAL, it lacks posix_memalign,
 * aligned_alloc and malloc_usable_size, as some libraries do: the replay
 * must say so and never call the ones it finds elsewhere.
 */
#include <dlfcn.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

void *__libc_malloc(size_t size);
void *__libc_calloc(size_t count, size_t size);
void *__libc_realloc(void *p, size_t size);
void __libc_free(void *p);
void *__libc_memalign(size_t align, size_t size);

static _Atomic unsigned long calls;

__attribute__((visibility("default"))) void *malloc(size_t size)
{
    calls++;
    return __libc_malloc(size);
}

__attribute__((visibility("default"))) void *calloc(size_t count, size_t size)
{
    calls++;
    return __libc_calloc(count, size);
}

__attribute__((visibility("default"))) void *realloc(void *p, size_t size)
{
    calls++;
    return __libc_realloc(p, size);
}

__attribute__((visibility("default"))) void free(void *p)
{
    calls++;
    __libc_free(p);
}

__attribute__((visibility("default"))) void *memalign(size_t align, size_t size)
{
    calls++;
    return __libc_memalign(align, size);
}

#ifndef PARTIAL
__attribute__((visibility("default"))) int posix_memalign(void **out, size_t align, size_t size)
{
    calls++;
    void *p = __libc_memalign(align, size);
    if (!p)
        return 12; /* ENOMEM */
    *out = p;
    return 0;
}

__attribute__((visibility("default"))) void *aligned_alloc(size_t align, size_t size)
{
    calls++;
    return __libc_memalign(align, size);
}

/* glibc's own, from its handle: the next library in the search order may
 * be another malloc's (cmtreplay links jemalloc). */
__attribute__((visibility("default"))) size_t malloc_usable_size(void *p)
{
    static size_t (*glibc)(void *);
    if (!glibc) {
        void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
        *(void **)&glibc = libc ? dlsym(libc, "malloc_usable_size") : NULL;
    }
    return glibc ? glibc(p) : 0;
}
#endif

__attribute__((destructor)) static void write_count(void)
{
    const char *path = getenv("TEST_ALLOCATOR_COUNT");
    FILE *f = path ? fopen(path, "w") : NULL;
    if (f) {
        fprintf(f, "%lu\n", (unsigned long)calls);
        fclose(f);
    }
}
