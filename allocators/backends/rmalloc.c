/*
 * rmalloc.c - rmalloc (allocators/rmalloc/) behind the replay vtable.
 *
 * Blocks are handles, passed through the vtable as pointers; the replayer
 * locks a block to write its bytes and unlocks it after, so everything but
 * the pinned blocks may move.  Pinned blocks (the setting pinned=F, a fraction
 * of the allocations, chosen evenly and the same on every run) stay locked
 * from allocation to free, as long-locked blocks would in a real program.
 * Blocks are aligned to 16 bytes (max_align_t), and the memalign family
 * to what it asked (rm_alloc_aligned), wherever they move.
 */
#include "allocator.h"
#include "rmalloc.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct rmalloc_replay {
    rm_heap *heap;
    double pinned;
    _Atomic uint64_t allocations;
} rmalloc_replay;

static inline rm_handle_t handle(void *p)
{
    return (rm_handle_t)(uintptr_t)p;
}

int cmt_rmalloc_parse_settings(const char *text, cmt_rmalloc_settings *out, char *err, size_t errlen)
{
    *out = (cmt_rmalloc_settings){0};
    for (const char *p = text; p && *p;) {
        size_t len = strcspn(p, ","), name = strcspn(p, "=,");
        char value[64] = "", *end;
        if (name < len)
            snprintf(value, sizeof value, "%.*s", (int)(len - name - 1), p + name + 1);
        bool ok = false;
        if (name == len && strncmp(p, "no-compaction", len) == 0 && len == 13) {
            out->no_compaction = ok = true;
        } else if (name == 6 && strncmp(p, "pinned", 6) == 0) {
            out->pinned = strtod(value, &end);
            ok = value[0] && !*end && out->pinned >= 0 && out->pinned <= 1;
        } else if (name == 8 && strncmp(p, "capacity", 8) == 0) {
            out->capacity = strtoull(value, &end, 10);
            ok = value[0] >= '0' && value[0] <= '9' && !*end && out->capacity >= 16;
        }
        if (!ok) {
            snprintf(err, errlen, "rmalloc: can't take the setting '%.*s' (it takes pinned=F from 0 to 1, "
                                  "no-compaction, capacity=BYTES)", (int)len, p);
            return -1;
        }
        p += len + (p[len] == ',');
    }
    return 0;
}

void cmt_rmalloc_format_settings(char *buf, size_t len, const cmt_rmalloc_settings *s)
{
    snprintf(buf, len, "pinned=%.17g,capacity=%llu%s", s->pinned,
             (unsigned long long)(s->capacity ? s->capacity : CMT_RMALLOC_CAPACITY),
             s->no_compaction ? ",no-compaction" : "");
}

static void *rmalloc_create(const cmt_allocator_options *options, char *err, size_t errlen)
{
    cmt_rmalloc_settings knobs;
    if (cmt_rmalloc_parse_settings(options->settings, &knobs, err, errlen) < 0)
        return NULL;
    uint64_t capacity = knobs.capacity ? knobs.capacity : CMT_RMALLOC_CAPACITY;
    rmalloc_replay *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->heap = rm_heap_create(capacity, knobs.no_compaction ? RM_NO_COMPACTION : 0);
    if (!r->heap) {
        snprintf(err, errlen, "rmalloc: can't reserve a heap of %llu bytes (at most 64 GiB)",
                 (unsigned long long)capacity);
        free(r);
        return NULL;
    }
    r->pinned = knobs.pinned;
    return r;
}

static void rmalloc_destroy(void *heap)
{
    rmalloc_replay *r = heap;
    rm_heap_destroy(r->heap);
    free(r);
}

/* Whether the next allocation is pinned: every 1/pinned-th, evenly (in
 * the order the replay's threads come to them). */
static bool next_is_pinned(rmalloc_replay *r)
{
    if (r->pinned == 0)
        return false; /* no atomic add an allocation where none is pinned */
    uint64_t n = atomic_fetch_add_explicit(&r->allocations, 1, memory_order_relaxed);
    return (uint64_t)((double)(n + 1) * r->pinned) > (uint64_t)((double)n * r->pinned);
}

/* A new block, pinned if its turn has come. */
static void *pin_if_due(rmalloc_replay *r, rm_handle_t h)
{
    if (h != RM_INVALID_HANDLE && next_is_pinned(r))
        rm_lock(r->heap, &h);
    return (void *)(uintptr_t)h;
}

static void *rmalloc_malloc(void *heap, size_t size)
{
    rmalloc_replay *r = heap;
    return pin_if_due(r, rm_alloc(r->heap, size));
}

static void *rmalloc_calloc(void *heap, size_t count, size_t size)
{
    rmalloc_replay *r = heap;
    return pin_if_due(r, rm_calloc(r->heap, count, size));
}

static void rmalloc_free(void *heap, void *p)
{
    rm_handle_t h = handle(p);
    rm_free(((rmalloc_replay *)heap)->heap, &h);
}

static void *rmalloc_realloc(void *heap, void *p, size_t size)
{
    rmalloc_replay *r = heap;
    if (!p)
        return rmalloc_malloc(heap, size);
    if (size == 0) {
        rmalloc_free(heap, p);
        return NULL;
    }
    rm_handle_t h = handle(p);
    /* A pinned block may move while it is resized, like any realloc'ed
     * block, and is pinned again where it lands. */
    unsigned locks = rm_lock_count(r->heap, h);
    for (unsigned i = 0; i < locks; i++)
        rm_unlock(r->heap, &h);
    int rc = rm_realloc(r->heap, &h, size);
    for (unsigned i = 0; i < locks; i++)
        rm_lock(r->heap, &h);
    return rc == 0 ? p : NULL;
}

static void *rmalloc_memalign(void *heap, size_t align, size_t size)
{
    rmalloc_replay *r = heap;
    return pin_if_due(r, rm_alloc_aligned(r->heap, align, size));
}

static size_t rmalloc_usable_size(void *heap, void *p)
{
    return rm_usable_size(((rmalloc_replay *)heap)->heap, handle(p));
}

/* A trace's threads are coming: the heap takes its mutex from now on
 * (a replay on one thread pays none). */
static void rmalloc_share(void *heap)
{
    rm_heap_share(((rmalloc_replay *)heap)->heap);
}

static void rmalloc_stats(void *heap, cmt_heap_stats *stats)
{
    rm_stats st;
    rm_heap_stats(((rmalloc_replay *)heap)->heap, &st);
    *stats = (cmt_heap_stats){
        .bytes = st.footprint,
        .mapped = st.peak_top + st.metadata, /* the most it ever touched: the footprint's own peak */
        .compactions = st.compactions,
        .bytes_moved = st.bytes_moved,
        .compact_seconds = (double)st.compact_ns * 1e-9,
        .longest_compact_seconds = (double)st.longest_compact_ns * 1e-9,
        .table_bytes = st.metadata,
        .header_bytes = st.block_bytes - st.live_bytes,
        .usable_bytes = st.live_bytes,
        .free_bytes = st.hole_bytes - st.stuck_hole_bytes,
        .pinned_free_bytes = st.stuck_hole_bytes,
        .unused_bytes = st.held - st.block_bytes - st.hole_bytes, /* above the top */
    };
}

static void *rmalloc_lock(void *heap, void *p)
{
    rm_handle_t h = handle(p);
    return rm_lock(((rmalloc_replay *)heap)->heap, &h);
}

static void rmalloc_unlock(void *heap, void *p)
{
    rm_handle_t h = handle(p);
    rm_unlock(((rmalloc_replay *)heap)->heap, &h);
}

const cmt_allocator cmt_allocator_rmalloc =
    CMT_ALLOCATOR_VTABLE(rmalloc, "rmalloc, relocatable and compacting (handles, lock/unlock)",
                         .lock = rmalloc_lock, .unlock = rmalloc_unlock, .share = rmalloc_share);
