/*
 * preload.c - allocators that replace malloc itself: the replay runs in a
 * process of its own started with LD_PRELOAD=LIBRARY, whose malloc, free...
 * are then the library's, for the replay's calls and for the C library's
 * own, as in the program.  This is the only way to reach libraries with
 * initial-exec TLS, which cannot be loaded with dlopen (Debian's jemalloc,
 * tcmalloc), and how mimalloc-bench and memory_replay plug allocators in.
 * The replayer's own memory is then pages it maps itself
 * (cmti_allocate_privately), so the library sees only the trace's calls.
 *
 * At the start the replay checks, with dladdr, which library each
 * function comes from: one that is not the preloaded library's is a
 * fallback (gperftools' tcmalloc lacks aligned_alloc), never called, and
 * said in the report; a free of a block from another malloc would crash.
 * The footprint is the library's own count where it keeps one that can be
 * read (jemalloc's stats.resident, tcmalloc's heap less what it has given
 * back) less what was in use at the start, else the kernel's: the
 * process's resident bytes over those at the start (mimalloc, a user's
 * library).
 */
#define _GNU_SOURCE /* dladdr, RTLD_DEFAULT */
#include "allocator.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The preloaded libraries cmtreplay knows by name, where Debian installs
 * them. */
const cmt_preload cmt_preloads[] = {
    {"jemalloc", "jemalloc 5, preloaded, measured with mallctl",
     "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", "libjemalloc2"},
    {"tcmalloc", "gperftools' tcmalloc (minimal), preloaded",
     "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4", "libtcmalloc-minimal4"},
    {"mimalloc", "Microsoft's mimalloc 2, preloaded", "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2", "libmimalloc2.0"},
    {NULL, NULL, NULL, NULL},
};

const cmt_preload *cmt_preload_find(const char *name)
{
    for (const cmt_preload *p = cmt_preloads; p->name; p++)
        if (strcmp(p->name, name) == 0)
            return p;
    return NULL;
}

bool cmt_preload_available(const cmt_preload *p)
{
    return access(p->library, R_OK) == 0;
}

/* What a library holds, and of that what is in use: blocks made and its
 * own metadata (the rest is free, there for blocks to come). */
typedef struct library_count {
    uint64_t held, in_use;
} library_count;

typedef struct process_heap {
    void *(*malloc)(size_t);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void (*free)(void *);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    void *(*memalign)(size_t, size_t);
    size_t (*usable_size)(void *);
    uint64_t start; /* what was in use at the start: its metadata and the blocks the process had made */
    char fallbacks[160];
    /* The library's own count of what it holds, if it keeps one. */
    library_count (*own_count)(struct process_heap *);
    int (*mallctl)(const char *, void *, size_t *, void *, size_t);
    int (*tcmalloc_property)(const char *, size_t *);
} process_heap;

/* The function NAME as the process calls it, if it comes from LIBRARY
 * (its real path); else NULL, and NAME added to FALLBACKS. */
static void *from_library(const char *name, const char *library, char *fallbacks, size_t len)
{
    void *f = dlsym(RTLD_DEFAULT, name);
    Dl_info info;
    char where[PATH_MAX];
    if (f && dladdr(f, &info) && info.dli_fname && realpath(info.dli_fname, where) && strcmp(where, library) == 0)
        return f;
    size_t used = strlen(fallbacks);
    snprintf(fallbacks + used, len - used, "%s%s", used ? ", " : "", name);
    return NULL;
}

/* jemalloc's resident bytes (its pages in use, its metadata and the dirty
 * pages it has not given back), and of them its blocks' and metadata's, a
 * snapshot taken when the epoch advances. */
static library_count jemalloc_count(process_heap *h)
{
    uint64_t epoch = 1;
    size_t resident = 0, allocated = 0, metadata = 0, len = sizeof resident;
    h->mallctl("epoch", NULL, NULL, &epoch, sizeof epoch);
    h->mallctl("stats.resident", &resident, &len, NULL, 0);
    h->mallctl("stats.allocated", &allocated, &len, NULL, 0);
    h->mallctl("stats.metadata", &metadata, &len, NULL, 0);
    return (library_count){resident, allocated + metadata};
}

/* tcmalloc's heap from the system less the pages it has given back, and
 * of it the blocks in use. */
static library_count tcmalloc_count(process_heap *h)
{
    size_t heap = 0, unmapped = 0, allocated = 0;
    h->tcmalloc_property("generic.heap_size", &heap);
    h->tcmalloc_property("tcmalloc.pageheap_unmapped_bytes", &unmapped);
    h->tcmalloc_property("generic.current_allocated_bytes", &allocated);
    return (library_count){heap > unmapped ? heap - unmapped : 0, allocated};
}

/* The library's own count, where it exports one. */
static void find_own_count(process_heap *h, const char *library)
{
    char none[160] = "";
    if ((*(void **)&h->mallctl = from_library("mallctl", library, none, sizeof none)))
        h->own_count = jemalloc_count;
    else if ((*(void **)&h->tcmalloc_property =
                  from_library("MallocExtension_GetNumericProperty", library, none, sizeof none)))
        h->own_count = tcmalloc_count;
}

/* What the library holds now: its own count where it keeps one, else the
 * process's resident bytes (all of them taken as in use). */
static library_count held(process_heap *h)
{
    if (h->own_count)
        return h->own_count(h);
    uint64_t rss = cmt_resident_bytes();
    return (library_count){rss, rss};
}

static void *process_create(const cmt_allocator_options *options, char *err, size_t errlen)
{
    (void)options;
    const char *preloaded = getenv("CMT_REPLAY_PRELOADED");
    char library[PATH_MAX];
    if (!preloaded || !realpath(preloaded, library)) {
        snprintf(err, errlen, "the replay's process has no preloaded allocator library");
        return NULL;
    }
    process_heap *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    size_t n = sizeof h->fallbacks;
    *(void **)&h->malloc = from_library("malloc", library, h->fallbacks, n);
    *(void **)&h->calloc = from_library("calloc", library, h->fallbacks, n);
    *(void **)&h->realloc = from_library("realloc", library, h->fallbacks, n);
    *(void **)&h->free = from_library("free", library, h->fallbacks, n);
    *(void **)&h->posix_memalign = from_library("posix_memalign", library, h->fallbacks, n);
    *(void **)&h->aligned_alloc = from_library("aligned_alloc", library, h->fallbacks, n);
    *(void **)&h->memalign = from_library("memalign", library, h->fallbacks, n);
    *(void **)&h->usable_size = from_library("malloc_usable_size", library, h->fallbacks, n);
    if (!h->malloc || !h->calloc || !h->realloc || !h->free ||
        (!h->posix_memalign && !h->aligned_alloc && !h->memalign)) {
        snprintf(err, errlen, "%s does not replace malloc: %s %s from another library", preloaded, h->fallbacks,
                 strchr(h->fallbacks, ',') ? "come" : "comes");
        free(h);
        return NULL;
    }
    find_own_count(h, library);
    h->start = held(h).in_use;
    return h;
}

static void process_destroy(void *heap)
{
    free(heap);
}

static void *process_malloc(void *heap, size_t size)
{
    return ((process_heap *)heap)->malloc(size);
}

static void *process_calloc(void *heap, size_t count, size_t size)
{
    return ((process_heap *)heap)->calloc(count, size);
}

static void *process_realloc(void *heap, void *p, size_t size)
{
    process_heap *h = heap;
    if (size == 0) { /* realloc(p, 0) frees p, as the vtable says, whatever the library does */
        h->free(p);
        return NULL;
    }
    return h->realloc(p, size);
}

static void process_free(void *heap, void *p)
{
    ((process_heap *)heap)->free(p);
}

/* The first aligned function the library has. */
static void *process_memalign(void *heap, size_t align, size_t size)
{
    process_heap *h = heap;
    size_t a = cmt_round_alignment(align);
    if (h->posix_memalign) {
        void *p;
        return h->posix_memalign(&p, a, size) == 0 ? p : NULL;
    }
    if (h->aligned_alloc)
        return h->aligned_alloc(a, (size + a - 1) / a * a);
    return h->memalign(a, size);
}

static size_t process_usable_size(void *heap, void *p)
{
    process_heap *h = heap;
    return h->usable_size && p ? h->usable_size(p) : 0;
}

static void process_stats(void *heap, cmt_heap_stats *stats)
{
    process_heap *h = heap;
    /* What it holds less what was in use when the replay began: jemalloc
     * starts at 2.8 MB resident (its arenas' metadata), which made
     * 456.hmmer's overhead 16.9 where the replay's own arena of a linked
     * jemalloc had 7.0.  Not less all it held then: memory it held free at
     * the start is there for the replay's blocks, and tcmalloc's, taken
     * off, put the footprint of the bundled Python sample at 0.934 of its
     * live bytes. */
    uint64_t now = held(h).held;
    stats->bytes = now > h->start ? now - h->start : 0;
    stats->mapped = stats->bytes;
}

static void process_remarks(void *heap, char *buf, size_t len)
{
    snprintf(buf, len, "%s", ((process_heap *)heap)->fallbacks);
}

const cmt_allocator cmt_allocator_process =
    CMT_ALLOCATOR_VTABLE(process, "the process's own malloc, whatever library is preloaded",
                         .remarks = process_remarks);

cmt_allocator cmt_allocator_preloaded(const char *name, const char *library)
{
    cmt_allocator a = cmt_allocator_process;
    a.name = name;
    a.description = "a library preloaded to replace malloc";
    a.preload = library;
    return a;
}
