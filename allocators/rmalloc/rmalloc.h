/*
 * rmalloc.h - a relocatable, compacting allocator.
 *
 * rmalloc hands out handles instead of pointers, so that it may move blocks
 * to close the holes between them.  The contract:
 *
 *   - A handle stays valid until it is freed; a freed or never-issued
 *     handle is refused (locking it returns NULL), never a crash.
 *   - rmlock() pins a block and returns its address, good until the
 *     matching rmunlock().  Locks nest: a block locked twice is unlocked
 *     after the second rmunlock().
 *   - Locked blocks never move.  Unlocked blocks may move at any call that
 *     allocates or frees (rmalloc, rm_realloc, rmfree: a free that leaves
 *     half the heap in holes compacts it, to give memory back, moving at
 *     most 8 MiB a call) and at rm_compact().
 *   - When a request does not fit, the heap compacts (slides unlocked blocks
 *     together, around the locked ones) and tries again; only when even the
 *     compacted heap has no room does the request fail, with
 *     RM_INVALID_HANDLE.
 *
 * Payloads are aligned to 16 bytes (max_align_t), or to what
 * rm_alloc_aligned asked, before and after any move.  The heap is one
 * region reserved at creation with a fixed capacity; pages are touched
 * only as the heap grows into them.  A block costs its request and 4 bytes
 * rounded up to 16, and 5 bytes of handle table.  docs/rmalloc.md
 * describes the algorithm and its costs.
 *
 * Threads: a heap of rm_heap_create belongs to one thread at a time,
 * and pays no lock.  After rm_heap_share (called before a second thread
 * uses it) every call takes the heap's mutex, and any thread may make,
 * free, lock and unlock any block: a block locked by one thread stays
 * where it is, and its pointer good, while others allocate and compact,
 * until the rmunlock, from whichever thread.  The seed's four calls use
 * a default heap that is shared.
 */
#ifndef RMALLOC_H
#define RMALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef uint64_t rm_handle_t;
#define RM_INVALID_HANDLE ((rm_handle_t)0)

/* ------------------------------------------------- the seed's interface */

/* Allocates SIZE bytes on the default heap (created at first use, with the
 * capacity in the environment variable RMALLOC_CAPACITY, bytes, or 1 GiB). */
rm_handle_t rmalloc(size_t size);

/* Frees the block and sets *H to RM_INVALID_HANDLE. */
void rmfree(rm_handle_t *h);

/* Pins the block and returns its address, NULL for an invalid handle. */
void *rmlock(rm_handle_t *h);

/* Releases one rmlock(). */
void rmunlock(rm_handle_t *h);

/* Compacts the default heap (see rm_compact). */
void rmcompact(void);

/* --------------------------------------------------------- heap objects */

typedef struct rm_heap rm_heap;

/* Flags for rm_heap_create. */
#define RM_NO_COMPACTION 0x1u /* never move blocks: a plain first-fit allocator */

/* Makes a heap of CAPACITY bytes (at most 64 GiB); NULL if the address
 * space can't be reserved. */
rm_heap *rm_heap_create(size_t capacity, unsigned flags);

/* From now on HEAP takes calls from several threads at once (see the
 * top of this file).  Call it while one thread alone uses the heap; it
 * cannot be undone. */
void rm_heap_share(rm_heap *heap);

/* Releases the heap and everything in it; its handles become invalid. */
void rm_heap_destroy(rm_heap *heap);

/* rmalloc, rmfree, rmlock, rmunlock on HEAP.  rm_free also frees a locked
 * block. */
rm_handle_t rm_alloc(rm_heap *heap, size_t size);

/* A block of COUNT * SIZE bytes, all zero (RM_INVALID_HANDLE if the
 * product overflows); memory the heap never wrote is not written again. */
rm_handle_t rm_calloc(rm_heap *heap, size_t count, size_t size);

/* A block of SIZE bytes whose address, wherever it moves, is a multiple of
 * ALIGN (a power of two, at most 1 GiB); RM_INVALID_HANDLE otherwise.  The
 * aligned memalign family of a program maps to it. */
rm_handle_t rm_alloc_aligned(rm_heap *heap, size_t align, size_t size);
void rm_free(rm_heap *heap, rm_handle_t *h);
void *rm_lock(rm_heap *heap, rm_handle_t *h);
void rm_unlock(rm_heap *heap, rm_handle_t *h);

/* Resizes the block behind *H, keeping its contents up to the smaller size
 * and its handle.  A locked block is resized only in place.  Returns 0, or
 * -1 (the block unchanged) when there is no room. */
int rm_realloc(rm_heap *heap, rm_handle_t *h, size_t size);

/* Bytes the block can hold: its request and the rounding that keeps the
 * next block's payload aligned to 16 (a 4-byte owner word ends every
 * block: 12, 28, 44...). */
size_t rm_usable_size(rm_heap *heap, rm_handle_t h);

/* How many rmlock()s of the block are still open. */
unsigned rm_lock_count(rm_heap *heap, rm_handle_t h);

/* True if H names a live block of HEAP. */
bool rm_valid(rm_heap *heap, rm_handle_t h);

/* Slides every unlocked block down, so that the free space is one run at
 * the top and one run before each locked block. */
void rm_compact(rm_heap *heap);

typedef struct rm_stats {
    uint64_t capacity;      /* bytes reserved */
    uint64_t live_blocks;
    uint64_t live_bytes;    /* usable bytes of live blocks */
    uint64_t block_bytes;   /* the live blocks whole, their owner words included */
    uint64_t top;           /* bytes from the start of the heap to its free top */
    uint64_t peak_top;      /* the most top has been: pages ever touched */
    uint64_t held;          /* the top at its highest since it last gave the pages above it back */
    uint64_t given_back;    /* times it gave the pages above its top back to the system */
    uint64_t metadata;      /* bytes of the handle table and of the start bits (a bit a 16 bytes held) */
    uint64_t footprint;     /* held + metadata: what the heap costs now */
    uint64_t holes;         /* free blocks below top */
    uint64_t hole_bytes;
    uint64_t stuck_hole_bytes; /* of them, what the last compaction left before locked blocks */
    uint64_t compactions;
    uint64_t bytes_moved;
    uint64_t compact_ns;    /* time spent compacting */
    uint64_t longest_compact_ns; /* the longest a compaction took */
    uint64_t failures;      /* requests that found no room */
} rm_stats;

void rm_heap_stats(rm_heap *heap, rm_stats *stats);

/* Walks the whole heap and checks that its blocks, holes, free lists and
 * handle table agree: for tests and debugging, O(heap).  Returns false with
 * the first disagreement in WHY. */
bool rm_heap_check(rm_heap *heap, char *why, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* RMALLOC_H */
