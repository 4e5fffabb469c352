/*
 * cmt_allocator.h - the vtable cmtreplay replays a trace against: the one
 * header an allocator needs to be replayed as a plugin.
 *
 * A plugin is a shared library that exports
 *
 *     const cmt_allocator cmt_allocator_plugin = {...};
 *     const int cmt_allocator_abi = CMT_ALLOCATOR_ABI;
 *
 * and is named with cmtreplay -a plugin:PATH.so (tests/plugin_allocator.c
 * is a small one).  The replay calls it as the vtable says, from as many
 * threads at once as the trace has, unless not_thread_safe says why not.
 * Every pointer it returns must stay valid until the replay frees it.
 */
#ifndef CMT_ALLOCATOR_VTABLE_H
#define CMT_ALLOCATOR_VTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The vtable's layout: a plugin built against another is refused. */
#define CMT_ALLOCATOR_ABI 4

/* What an allocator says of its heap.  bytes is the memory it holds from
 * the system, as the allocator itself counts it (glibc: mallinfo2's arena +
 * hblkhd; jemalloc: its resident bytes; rmalloc: what its heap holds and
 * its handle table). */
typedef struct cmt_heap_stats {
    uint64_t bytes;
    uint64_t mapped; /* the most it has had (mapped, or touched): at least the peak of bytes */
    uint64_t compactions, bytes_moved; /* relocating allocators */
    double compact_seconds, longest_compact_seconds;
    /* Where BYTES go, for an allocator that can say (0 where it does not):
     * its own tables (a handle table), the blocks' own metadata (headers),
     * the blocks' usable bytes (what the program asked for and the
     * rounding above it), free blocks, the free blocks that blocks held in
     * place by locks keep from closing, and what it holds above its last
     * block.  They add up to BYTES. */
    uint64_t table_bytes, header_bytes, usable_bytes, free_bytes, pinned_free_bytes, unused_bytes;
} cmt_heap_stats;

/* What create is given.  An allocator's knobs are its own: the replay
 * passes them as the user wrote them, and each allocator reads the ones it
 * knows and refuses the rest (rmalloc's: "pinned=0.05,capacity=1048576"). */
typedef struct cmt_allocator_options {
    const char *settings; /* NAME=VALUE or NAME, comma-separated; NULL or "": every default */
} cmt_allocator_options;

/* One allocator behind the replay.  Every call takes the heap that create
 * returned, so that an allocator can replay in a heap of its own and count
 * only what the replay asked of it.  A relocating allocator hands out
 * handles (as pointers, NULL for none) and gives addresses through lock;
 * the others leave lock and unlock NULL. */
typedef struct cmt_allocator {
    const char *name;
    const char *description;
    /* Makes a heap; NULL with a message in ERR when the allocator can't. */
    void *(*create)(const cmt_allocator_options *options, char *err, size_t errlen);
    void (*destroy)(void *heap);
    void *(*malloc)(void *heap, size_t size);
    void *(*calloc)(void *heap, size_t count, size_t size);
    /* realloc(p, 0) frees p and returns NULL, as glibc's does. */
    void *(*realloc)(void *heap, void *p, size_t size);
    void (*free)(void *heap, void *p);
    /* Any alignment: one that is not a power of two is rounded up to one. */
    void *(*memalign)(void *heap, size_t align, size_t size);
    size_t (*usable_size)(void *heap, void *p);
    void (*stats)(void *heap, cmt_heap_stats *stats);
    void *(*lock)(void *heap, void *block);
    void (*unlock)(void *heap, void *block);
    /* NULL if a heap takes calls from several threads at once; else why
     * not, and a trace's threads then replay on one. */
    const char *not_thread_safe;
    /* Called before a heap's calls come from several threads at once (a
     * replay of a trace's threads, once its second thread comes), for a
     * heap that can spare its locks until then; NULL if nothing is to be
     * done.  Added in vtable 3. */
    void (*share)(void *heap);
    /* A library the replay's process must be started with in LD_PRELOAD
     * (the vtable then calls the process's own malloc); NULL for an
     * allocator that replays in any process. */
    const char *preload;
    /* What the report should say of the heap (a preloaded library's
     * functions that came from elsewhere), or NULL. */
    void (*remarks)(void *heap, char *buf, size_t len);
} cmt_allocator;

/* The vtable of the allocator NAME whose functions are NAME_create,
 * NAME_destroy, NAME_malloc... NAME_stats; more fields may follow. */
#define CMT_ALLOCATOR_VTABLE(NAME, DESCRIPTION, ...)                                               \
    {                                                                                              \
        .name = #NAME, .description = DESCRIPTION, .create = NAME##_create,                        \
        .destroy = NAME##_destroy, .malloc = NAME##_malloc, .calloc = NAME##_calloc,               \
        .realloc = NAME##_realloc, .free = NAME##_free, .memalign = NAME##_memalign,               \
        .usable_size = NAME##_usable_size, .stats = NAME##_stats, __VA_ARGS__                      \
    }

#endif /* CMT_ALLOCATOR_VTABLE_H */
