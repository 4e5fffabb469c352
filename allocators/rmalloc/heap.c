/*
 * heap.c - the rmalloc heap: blocks, free lists, compaction.
 *
 * The heap is one reserved region, counted in 8-byte units.  Blocks lie
 * end to end from its start up to `top`; above top the region is untouched.
 * Every block starts with an 8-byte header (owner, units): owner is the
 * handle slot + 1, or 0 for a free block.  A free block of two units or
 * more holds the links of a free list in its payload; a one-unit free
 * block is filler that only compaction or a merge reclaims.
 *
 * Handles name slots of a table kept outside the region: the block's
 * offset, its lock count and a generation that tells a stale handle from a
 * live one.  Moving a block rewrites its slot, never the handle.
 *
 * Allocation takes, in order: a free block that fits (first fit in the
 * request's size class, then any block of a larger class), the top, and,
 * when neither has room, the top after a compaction.  A compaction slides
 * every unlocked block down over the holes below it, from the lowest hole
 * up, leaving a hole only before each locked block.  Free blocks merge with
 * the free blocks after them when freed and again when looked at; one that
 * reaches the top dissolves into it.
 *
 * Memory first: before the top grows past its highest mark while the
 * movable holes below it could take the request, the heap compacts
 * instead (past its highest, not past what it holds since it gave pages
 * back: then every growth back towards the old peak compacted, and a
 * 23 M-event Python trace replayed 35% slower for it).  And memory goes
 * back as the live blocks fall: once the movable holes are half of what
 * the heap holds (and at least GIVE_BACK_MIN), a free compacts the heap,
 * and the pages above the top go back to the system (madvise).  A
 * compaction moves at most the live bytes, and comes only after as many
 * bytes again have been freed, so it costs a constant a freed byte; the
 * holes must grow to half the heap again before the next one.
 */
#include "rmalloc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define UNIT 8u
#define ALIGN 16u /* of every payload: max_align_t's */
/* Blocks start here, one unit in, and are an even number of units long:
 * the region is page-aligned, so every payload is 16-byte aligned. */
#define FIRST_BLOCK 1u
#define NONE UINT32_MAX
#define MAX_UNITS (UINT32_MAX - 1u)
#define BINS 32
#define FIT_SCAN 32 /* free blocks looked at in the request's own class */
#define PAGE_UNITS (4096u / UNIT)
#define SLOTS_STEP 64u
/* Compacting before the top grows takes movable holes of 1/COMPACT_SHARE
 * of the heap: any holes that could take the request made a 23.5 M-event
 * Python replay compact 294,000 times (2.39 GB moved); with these, 219
 * times (1.90 GB), the peak footprint 1.2514 of the live bytes for
 * 1.2511 (1/64: 175 times, but 1.262). */
#define COMPACT_SHARE 256
/* Less than this is not worth a compaction and a system call to give back:
 * the Python sample, 1.1 MB live at its peak, would compact at every
 * other free near its end. */
#define GIVE_BACK_MIN (256u * 1024 / UNIT)

typedef struct header {
    uint32_t owner; /* slot + 1; 0: free */
    uint32_t units; /* the whole block, header included */
} header;

typedef struct links {
    uint32_t next, prev;
} links;

typedef struct slot {
    uint32_t offset;     /* of the block; next free slot while the slot is free */
    uint16_t locks;
    uint16_t generation; /* odd while the slot holds a block */
} slot;

struct rm_heap {
    uint8_t *base;
    uint32_t capacity; /* units */
    unsigned flags;
    uint32_t top, peak_top;
    uint32_t held; /* the top at its highest since memory last went back: the pages up to it may be
                    * resident */
    uint32_t first_hole; /* a block start (or top) at or below every hole */
    uint32_t bins[BINS];
    uint32_t nonempty; /* bit b: bins[b] has blocks */
    slot *slots;
    uint32_t nslots, slots_cap, free_slot;
    uint64_t live_blocks, live_units;
    uint64_t holes, hole_units;
    uint64_t stuck_units; /* hole units that the last compaction could not close */
    uint64_t compactions, bytes_moved, compact_ns, failures, given_back;
    bool shared; /* rm_heap_share: every call takes the mutex */
    pthread_mutex_t mutex;
};

static inline header *at(const rm_heap *h, uint32_t off)
{
    return (header *)(h->base + (size_t)off * UNIT);
}

static inline links *links_at(const rm_heap *h, uint32_t off)
{
    return (links *)(h->base + (size_t)off * UNIT + sizeof(header));
}

static inline unsigned bin_of(uint32_t units)
{
    return 31u - (unsigned)__builtin_clz(units);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------ free lists */

static void list_insert(rm_heap *h, uint32_t off)
{
    uint32_t units = at(h, off)->units;
    if (units < 2)
        return; /* filler: no room for links */
    unsigned b = bin_of(units);
    links *l = links_at(h, off);
    l->next = h->bins[b];
    l->prev = NONE;
    if (h->bins[b] != NONE)
        links_at(h, h->bins[b])->prev = off;
    h->bins[b] = off;
    h->nonempty |= 1u << b;
}

static void list_remove(rm_heap *h, uint32_t off)
{
    uint32_t units = at(h, off)->units;
    if (units < 2)
        return;
    unsigned b = bin_of(units);
    links *l = links_at(h, off);
    if (l->prev != NONE)
        links_at(h, l->prev)->next = l->next;
    else
        h->bins[b] = l->next;
    if (l->next != NONE)
        links_at(h, l->next)->prev = l->prev;
    if (h->bins[b] == NONE)
        h->nonempty &= ~(1u << b);
}

/* Makes [off, off + units) a free block below top. */
static void make_hole(rm_heap *h, uint32_t off, uint32_t units)
{
    *at(h, off) = (header){.owner = 0, .units = units};
    list_insert(h, off);
    h->holes++;
    h->hole_units += units;
    if (off < h->first_hole)
        h->first_hole = off;
}

static void take_hole(rm_heap *h, uint32_t off)
{
    list_remove(h, off);
    h->holes--;
    h->hole_units -= at(h, off)->units;
    /* The stuck holes are among the holes: a hole taken may be one. */
    if (h->stuck_units > h->hole_units)
        h->stuck_units = h->hole_units;
}

/* The top comes down to OFF.  first_hole must stay a block start (or the
 * top) at or below every hole: compaction walks the heap from there. */
static void lower_top(rm_heap *h, uint32_t off)
{
    h->top = off;
    if (h->first_hole > off)
        h->first_hole = off;
}

/* The top goes up to OFF, and with it, maybe, its highest marks. */
static void raise_top(rm_heap *h, uint32_t off)
{
    h->top = off;
    if (h->top > h->peak_top)
        h->peak_top = h->top;
    if (h->top > h->held)
        h->held = h->top;
}

static uint64_t page_end(uint32_t units)
{
    return ((uint64_t)units + PAGE_UNITS - 1) / PAGE_UNITS * PAGE_UNITS;
}

/* The pages above the top go back to the system, where they are at least
 * GIVE_BACK_MIN: read again, they are zeros. */
static void give_back(rm_heap *h)
{
    uint64_t keep = page_end(h->top), held = page_end(h->held);
    if (held < keep + GIVE_BACK_MIN)
        return;
    madvise(h->base + keep * UNIT, (size_t)(held - keep) * UNIT, MADV_DONTNEED);
    h->held = h->top;
    h->given_back++;
}

/* Gives [off, off + units) back: merged with the free blocks after it, and
 * into the top if it reaches it. */
static void release_run(rm_heap *h, uint32_t off, uint32_t units)
{
    for (uint32_t next = off + units; next < h->top && at(h, next)->owner == 0; next = off + units) {
        units += at(h, next)->units;
        take_hole(h, next);
    }
    if (off + units == h->top)
        lower_top(h, off);
    else
        make_hole(h, off, units);
}

/* Merges the free blocks after the free block OFF into it.  Returns its
 * units, or 0 if it reached the top and dissolved into it. */
static uint32_t settle(rm_heap *h, uint32_t off)
{
    uint32_t units = at(h, off)->units;
    uint32_t next = off + units;
    if (next < h->top && at(h, next)->owner != 0)
        return units; /* the common case: nothing to merge */
    take_hole(h, off);
    release_run(h, off, units);
    return off < h->top ? at(h, off)->units : 0;
}

/* Cuts a used block of NEED units from the start of free block OFF. */
static void carve(rm_heap *h, uint32_t off, uint32_t need)
{
    uint32_t units = at(h, off)->units;
    take_hole(h, off);
    at(h, off)->units = need;
    if (units > need)
        make_hole(h, off + need, units - need);
}

static uint32_t find_free(rm_heap *h, uint32_t need)
{
    unsigned b = bin_of(need);
    int budget = FIT_SCAN;
    for (uint32_t off = h->bins[b]; off != NONE && budget-- > 0;) {
        uint32_t units = at(h, off)->units;
        uint32_t next = off + units;
        if (next < h->top && at(h, next)->owner == 0) {
            settle(h, off); /* lists changed: start the class again */
            off = h->bins[b];
            continue;
        }
        if (units >= need) {
            carve(h, off, need);
            return off;
        }
        off = links_at(h, off)->next;
    }
    /* Any block of a larger class fits, merged or not. */
    for (;;) {
        uint32_t larger = h->nonempty & ~((2u << b) - 1u);
        if (b == 31 || !larger)
            return NONE;
        uint32_t off = h->bins[__builtin_ctz(larger)];
        if (settle(h, off) == 0)
            continue; /* it dissolved into the top */
        carve(h, off, need);
        return off;
    }
}

static uint32_t bump(rm_heap *h, uint32_t need)
{
    if ((uint64_t)h->top + need > h->capacity)
        return NONE;
    uint32_t off = h->top;
    raise_top(h, off + need);
    return off;
}

/* ----------------------------------------------------------- compaction */

static void compact(rm_heap *h)
{
    if (h->flags & RM_NO_COMPACTION)
        return;
    uint64_t t0 = now_ns();
    uint32_t pos = h->first_hole < h->top ? h->first_hole : h->top;
    uint32_t dst = pos, first_hole = NONE;
    while (pos < h->top) {
        header *hd = at(h, pos);
        uint32_t units = hd->units;
        if (hd->owner == 0) {
            take_hole(h, pos);
        } else if (h->slots[hd->owner - 1].locks) {
            if (pos > dst) {
                make_hole(h, dst, pos - dst);
                if (first_hole == NONE)
                    first_hole = dst;
            }
            dst = pos + units;
        } else {
            if (pos != dst) {
                memmove(at(h, dst), hd, (size_t)units * UNIT);
                h->slots[at(h, dst)->owner - 1].offset = dst;
                h->bytes_moved += (uint64_t)units * UNIT;
            }
            dst += units;
        }
        pos += units;
    }
    h->top = dst;
    h->first_hole = first_hole == NONE ? dst : first_hole;
    h->stuck_units = h->hole_units;
    h->compactions++;
    h->compact_ns += now_ns() - t0;
}

/* The hole units a compaction can close: all but those it left before
 * locked blocks. */
static uint64_t movable_units(const rm_heap *h)
{
    return h->hole_units - h->stuck_units;
}

/* Compacting before the top grows past its highest keeps the footprint
 * near what is live. */
static bool worth_compacting_first(const rm_heap *h, uint32_t need)
{
    uint64_t movable = movable_units(h);
    return !(h->flags & RM_NO_COMPACTION) && (uint64_t)h->top + need > h->peak_top &&
           movable >= need && movable >= h->top / COMPACT_SHARE;
}

/* After a free: half of what the heap holds is holes it can close. */
static bool worth_giving_back(const rm_heap *h)
{
    uint64_t movable = movable_units(h);
    return !(h->flags & RM_NO_COMPACTION) && movable >= GIVE_BACK_MIN && 2 * movable >= h->held;
}

/* A block of NEED units, by every means there is; NONE if the heap is full. */
static uint32_t place(rm_heap *h, uint32_t need)
{
    uint32_t off = find_free(h, need);
    if (off != NONE)
        return off;
    if (worth_compacting_first(h, need)) {
        compact(h);
        if ((off = find_free(h, need)) != NONE)
            return off;
    }
    if ((off = bump(h, need)) != NONE)
        return off;
    if (h->flags & RM_NO_COMPACTION)
        return NONE;
    compact(h);
    off = find_free(h, need);
    return off != NONE ? off : bump(h, need);
}

/* ---------------------------------------------------------------- slots */

static inline rm_handle_t handle_of(const rm_heap *h, uint32_t index)
{
    return ((rm_handle_t)h->slots[index].generation << 32) | (index + 1u);
}

/* The slot H names, or NULL if H is not a live handle of this heap. */
static slot *slot_of(const rm_heap *h, rm_handle_t handle)
{
    uint64_t index = (handle & 0xffffffffu) - 1u;
    if (!h || handle == RM_INVALID_HANDLE || index >= h->nslots)
        return NULL;
    slot *s = &h->slots[index];
    if (s->generation != (uint16_t)(handle >> 32) || !(s->generation & 1u))
        return NULL;
    return s;
}

static uint32_t new_slot(rm_heap *h)
{
    uint32_t index;
    if (h->free_slot != NONE) {
        index = h->free_slot;
        h->free_slot = h->slots[index].offset;
    } else {
        if (h->nslots == h->slots_cap) {
            /* By an eighth (64 slots at least): the table is metadata a
             * block, and doubling it held 8.4 M slots, 64 MiB, for a
             * Python run's 6.0 M blocks; a first page of slots was 15% of
             * soffice's 26 KB live. */
            uint32_t step = h->slots_cap / 8 > SLOTS_STEP ? h->slots_cap / 8 : SLOTS_STEP;
            if (h->slots_cap > NONE - 1 - step)
                return NONE;
            uint32_t cap = h->slots_cap + step;
            slot *grown = realloc(h->slots, (size_t)cap * sizeof *grown);
            if (!grown)
                return NONE;
            h->slots = grown;
            h->slots_cap = cap;
        }
        index = h->nslots++;
        h->slots[index].generation = 0;
    }
    h->slots[index].generation++; /* odd: in use */
    h->slots[index].locks = 0;
    return index;
}

static void drop_slot(rm_heap *h, uint32_t index)
{
    h->slots[index].generation++; /* even: free */
    h->slots[index].offset = h->free_slot;
    h->free_slot = index;
}

static bool units_for(size_t size, uint32_t *units)
{
    if (size > (size_t)MAX_UNITS * UNIT - sizeof(header))
        return false;
    /* An even number of units, at least two (room for free-list links
     * once freed): every block then starts at an odd unit, so that its
     * payload, past the 8-byte header, is aligned for max_align_t. */
    uint64_t n = (size + sizeof(header) + ALIGN - 1) / ALIGN * (ALIGN / UNIT);
    if (n > MAX_UNITS)
        return false;
    *units = (uint32_t)n;
    return true;
}

/* ----------------------------------------------------------------- heap */

rm_heap *rm_heap_create(size_t capacity, unsigned flags)
{
    uint64_t units = capacity / UNIT;
    if (units > MAX_UNITS || units < FIRST_BLOCK + 2)
        return NULL;
    rm_heap *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    void *base = mmap(NULL, (size_t)units * UNIT, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
        free(h);
        return NULL;
    }
    h->base = base;
    h->capacity = (uint32_t)units;
    h->flags = flags;
    h->free_slot = NONE;
    h->top = h->peak_top = h->held = h->first_hole = FIRST_BLOCK;
    for (int b = 0; b < BINS; b++)
        h->bins[b] = NONE;
    return h;
}

void rm_heap_destroy(rm_heap *h)
{
    if (!h)
        return;
    if (h->shared)
        pthread_mutex_destroy(&h->mutex);
    munmap(h->base, (size_t)h->capacity * UNIT);
    free(h->slots);
    free(h);
}

static rm_handle_t heap_alloc(rm_heap *h, size_t size)
{
    uint32_t need, index;
    if (!units_for(size, &need) || (index = new_slot(h)) == NONE) {
        h->failures++;
        return RM_INVALID_HANDLE;
    }
    uint32_t off = place(h, need);
    if (off == NONE) {
        drop_slot(h, index);
        h->failures++;
        return RM_INVALID_HANDLE;
    }
    *at(h, off) = (header){.owner = index + 1, .units = need};
    h->slots[index].offset = off;
    h->live_blocks++;
    h->live_units += need;
    return handle_of(h, index);
}

static void heap_free(rm_heap *h, rm_handle_t *handle)
{
    slot *s = slot_of(h, *handle);
    if (!s)
        return;
    uint32_t off = s->offset, units = at(h, off)->units;
    h->live_blocks--;
    h->live_units -= units;
    drop_slot(h, (uint32_t)(s - h->slots));
    release_run(h, off, units);
    *handle = RM_INVALID_HANDLE;
    if (worth_giving_back(h))
        compact(h);
    give_back(h);
}

static void *heap_lock(rm_heap *h, rm_handle_t *handle)
{
    slot *s = slot_of(h, *handle);
    if (!s || s->locks == UINT16_MAX)
        return NULL;
    s->locks++;
    return (uint8_t *)at(h, s->offset) + sizeof(header);
}

static void heap_unlock(rm_heap *h, rm_handle_t *handle)
{
    slot *s = slot_of(h, *handle);
    if (s && s->locks > 0)
        s->locks--;
}

/* Grows or shrinks the block at OFF to NEED units where it stands, using
 * the free blocks after it and the top.  Returns false if there is no room. */
static bool resize_in_place(rm_heap *h, uint32_t off, uint32_t need)
{
    uint32_t units = at(h, off)->units, avail = units;
    while (off + avail < h->top && at(h, off + avail)->owner == 0)
        avail += at(h, off + avail)->units;
    bool reaches_top = off + avail == h->top;
    if (need > avail && !(reaches_top && (uint64_t)off + need <= h->capacity))
        return false;
    if (h->first_hole > off)
        h->first_hole = off; /* what follows it, holes or top, may become part of it */
    while (off + units < h->top && at(h, off + units)->owner == 0 && units < avail) {
        uint32_t next = off + units;
        units += at(h, next)->units;
        take_hole(h, next);
    }
    if (reaches_top && need >= units)
        raise_top(h, off + need);
    else if (units > need)
        release_run(h, off + need, units - need);
    h->live_units += (uint64_t)need - at(h, off)->units;
    at(h, off)->units = need;
    return true;
}

/* Grows the block at OFF to NEED units by sliding every block after it up
 * by the difference: memory for the growth alone, where moving the block
 * would need its old and new copies at once.  Only when nothing after it is
 * locked or free (as after a compaction with nothing locked above it). */
static bool grow_by_sliding(rm_heap *h, uint32_t off, uint32_t need)
{
    uint32_t units = at(h, off)->units, end = off + units, delta = need - units;
    if ((uint64_t)h->top + delta > h->capacity)
        return false;
    for (uint32_t pos = end; pos < h->top; pos += at(h, pos)->units) {
        const header *hd = at(h, pos);
        if (hd->owner == 0 || h->slots[hd->owner - 1].locks)
            return false;
    }
    uint64_t t0 = now_ns();
    if (h->first_hole > off)
        h->first_hole = off; /* the top it may have named moves */
    memmove(at(h, end + delta), at(h, end), (size_t)(h->top - end) * UNIT);
    h->bytes_moved += (uint64_t)(h->top - end) * UNIT;
    raise_top(h, h->top + delta);
    for (uint32_t pos = end + delta; pos < h->top; pos += at(h, pos)->units)
        h->slots[at(h, pos)->owner - 1].offset = pos;
    at(h, off)->units = need;
    h->live_units += delta;
    h->compact_ns += now_ns() - t0;
    return true;
}

/* Whether the blocks above the block at OFF are few enough to slide up
 * for it to grow to NEED units, rather than move it: at most SLIDE_RATIO
 * times what it grows to.  Sliding whatever lay above made a 23.5 M-event
 * Python trace (402 MB live at its peak, its lists growing by realloc)
 * move 6.3 GB in 327,000 compactions, 0.86 s of a 2.0 s replay. */
#define SLIDE_RATIO 4
static bool cheap_to_slide(const rm_heap *h, uint32_t off, uint32_t need)
{
    uint64_t above = h->top - (off + at(h, off)->units);
    return above <= (uint64_t)SLIDE_RATIO * need;
}

/* Moves the block of slot INDEX to a new block at OFF of NEED units. */
static void move_block(rm_heap *h, uint32_t index, uint32_t off, uint32_t need)
{
    slot *s = &h->slots[index];
    uint32_t old = s->offset, old_units = at(h, old)->units;
    uint32_t keep = (old_units < need ? old_units : need) * UNIT - (uint32_t)sizeof(header);
    memcpy((uint8_t *)at(h, off) + sizeof(header), (uint8_t *)at(h, old) + sizeof(header), keep);
    *at(h, off) = (header){.owner = index + 1, .units = need};
    s->offset = off;
    h->live_units += (uint64_t)need - old_units;
    release_run(h, old, old_units);
}

static int heap_realloc(rm_heap *h, rm_handle_t *handle, size_t size)
{
    slot *s = slot_of(h, *handle);
    uint32_t need;
    if (!s || !units_for(size, &need)) {
        h->failures++;
        return -1;
    }
    uint32_t index = (uint32_t)(s - h->slots);
    if (resize_in_place(h, s->offset, need))
        return 0;
    if (s->locks) {
        h->failures++;
        return -1; /* a locked block does not move */
    }
    uint32_t off = find_free(h, need);
    if (off == NONE && !(h->flags & RM_NO_COMPACTION) && (uint64_t)h->top + need > h->peak_top &&
        cheap_to_slide(h, s->offset, need)) {
        /* Rather than grow the heap by a second copy of the block: close
         * the holes, then make room right after the block. */
        compact(h);
        if (resize_in_place(h, s->offset, need) || grow_by_sliding(h, s->offset, need))
            return 0;
    }
    /* place() may compact and move this block: move_block reads its
     * offset after. */
    if (off == NONE && (off = place(h, need)) == NONE) {
        h->failures++;
        return -1;
    }
    move_block(h, index, off, need);
    return 0;
}

static size_t heap_usable_size(rm_heap *h, rm_handle_t handle)
{
    slot *s = slot_of(h, handle);
    return s ? (size_t)at(h, s->offset)->units * UNIT - sizeof(header) : 0;
}

static unsigned heap_lock_count(rm_heap *h, rm_handle_t handle)
{
    slot *s = slot_of(h, handle);
    return s ? s->locks : 0;
}

static bool heap_valid(rm_heap *h, rm_handle_t handle)
{
    return slot_of(h, handle) != NULL;
}

static void heap_stats(rm_heap *h, rm_stats *st)
{
    *st = (rm_stats){
        .capacity = (uint64_t)h->capacity * UNIT,
        .live_blocks = h->live_blocks,
        .live_bytes = h->live_units * UNIT - h->live_blocks * sizeof(header),
        .block_bytes = h->live_units * UNIT,
        .top = (uint64_t)h->top * UNIT,
        .peak_top = (uint64_t)h->peak_top * UNIT,
        .held = (uint64_t)h->held * UNIT,
        .given_back = h->given_back,
        .metadata = (uint64_t)h->slots_cap * sizeof(slot),
        .holes = h->holes,
        .hole_bytes = h->hole_units * UNIT,
        .stuck_hole_bytes = h->stuck_units * UNIT,
        .compactions = h->compactions,
        .bytes_moved = h->bytes_moved,
        .compact_ns = h->compact_ns,
        .failures = h->failures,
    };
    st->footprint = st->held + st->metadata;
}

static bool heap_check(rm_heap *h, char *why, size_t len)
{
#define FAIL(...)                                                                                  \
    do {                                                                                           \
        snprintf(why, len, __VA_ARGS__);                                                           \
        return false;                                                                              \
    } while (0)
    uint64_t holes = 0, hole_units = 0, live = 0, live_units = 0;
    bool first_hole_seen = h->first_hole == h->top;
    uint32_t pos = FIRST_BLOCK;
    while (pos < h->top) {
        const header *hd = at(h, pos);
        if (pos % 2 != 1 || hd->units % 2 != 0)
            FAIL("block at unit %u of %u units: payloads would not be aligned to 16", pos, hd->units);
        if (hd->units == 0 || (uint64_t)pos + hd->units > h->top)
            FAIL("block at unit %u has %u units, past the top %u", pos, hd->units, h->top);
        if (pos == h->first_hole)
            first_hole_seen = true;
        if (hd->owner == 0) {
            if (pos < h->first_hole)
                FAIL("hole at unit %u below first_hole %u", pos, h->first_hole);
            holes++;
            hole_units += hd->units;
        } else {
            if (hd->owner > h->nslots || h->slots[hd->owner - 1].offset != pos ||
                !(h->slots[hd->owner - 1].generation & 1u))
                FAIL("block at unit %u and its slot %u disagree", pos, hd->owner - 1);
            live++;
            live_units += hd->units;
        }
        pos += hd->units;
    }
    if (!first_hole_seen)
        FAIL("first_hole %u is not a block start", h->first_hole);
    if (h->stuck_units > h->hole_units)
        FAIL("%llu hole units stuck of %llu", (unsigned long long)h->stuck_units,
             (unsigned long long)h->hole_units);
    if (h->held < h->top || h->held > h->peak_top)
        FAIL("the heap holds %u units, its top is %u and its highest %u", h->held, h->top, h->peak_top);
    if (holes != h->holes || hole_units != h->hole_units)
        FAIL("%llu holes of %llu units, counted %llu of %llu", (unsigned long long)holes,
             (unsigned long long)hole_units, (unsigned long long)h->holes,
             (unsigned long long)h->hole_units);
    if (live != h->live_blocks || live_units != h->live_units)
        FAIL("%llu blocks of %llu units, counted %llu of %llu", (unsigned long long)live,
             (unsigned long long)live_units, (unsigned long long)h->live_blocks,
             (unsigned long long)h->live_units);
    uint64_t listed = 0;
    for (unsigned b = 0; b < BINS; b++) {
        if (((h->nonempty >> b) & 1u) != (h->bins[b] != NONE))
            FAIL("bin %u and the nonempty bitmap disagree", b);
        uint32_t prev = NONE;
        for (uint32_t off = h->bins[b]; off != NONE; off = links_at(h, off)->next) {
            if (off >= h->top || at(h, off)->owner != 0 || bin_of(at(h, off)->units) != b ||
                links_at(h, off)->prev != prev)
                FAIL("free list %u is broken at unit %u", b, off);
            prev = off;
            if (++listed > holes)
                FAIL("free list %u loops", b);
        }
    }
    return true;
#undef FAIL
}

/* ------------------------------------------------------ the heap's lock */

/* A heap shared by threads takes its mutex for every call: a pointer from
 * rm_lock stays good while another thread compacts, since compaction
 * leaves locked blocks where they are.  One that is not pays nothing: a
 * replay on one thread called rmalloc four times an event. */
static inline void enter(rm_heap *h)
{
    if (h->shared)
        pthread_mutex_lock(&h->mutex);
}

static inline void leave(rm_heap *h)
{
    if (h->shared)
        pthread_mutex_unlock(&h->mutex);
}

void rm_heap_share(rm_heap *h)
{
    if (!h->shared) {
        pthread_mutex_init(&h->mutex, NULL);
        h->shared = true;
    }
}

/* The public call NAME(h, ...) is IMPL(h, ...) under the heap's lock. */
#define UNDER_LOCK(TYPE, NAME, IMPL, PARAMS, ...)                                                   \
    TYPE NAME PARAMS                                                                                \
    {                                                                                               \
        enter(h);                                                                                   \
        TYPE result = IMPL(h, __VA_ARGS__);                                                         \
        leave(h);                                                                                   \
        return result;                                                                              \
    }
#define UNDER_LOCK_VOID(NAME, IMPL, PARAMS, ...)                                                    \
    void NAME PARAMS                                                                                \
    {                                                                                               \
        enter(h);                                                                                   \
        IMPL(h, __VA_ARGS__);                                                                       \
        leave(h);                                                                                   \
    }

UNDER_LOCK(rm_handle_t, rm_alloc, heap_alloc, (rm_heap * h, size_t size), size)
UNDER_LOCK_VOID(rm_free, heap_free, (rm_heap * h, rm_handle_t *handle), handle)
UNDER_LOCK(void *, rm_lock, heap_lock, (rm_heap * h, rm_handle_t *handle), handle)
UNDER_LOCK_VOID(rm_unlock, heap_unlock, (rm_heap * h, rm_handle_t *handle), handle)
UNDER_LOCK(int, rm_realloc, heap_realloc, (rm_heap * h, rm_handle_t *handle, size_t size), handle, size)
UNDER_LOCK(size_t, rm_usable_size, heap_usable_size, (rm_heap * h, rm_handle_t handle), handle)
UNDER_LOCK(unsigned, rm_lock_count, heap_lock_count, (rm_heap * h, rm_handle_t handle), handle)
UNDER_LOCK(bool, rm_valid, heap_valid, (rm_heap * h, rm_handle_t handle), handle)
UNDER_LOCK_VOID(rm_heap_stats, heap_stats, (rm_heap * h, rm_stats *st), st)
UNDER_LOCK(bool, rm_heap_check, heap_check, (rm_heap * h, char *why, size_t len), why, len)

void rm_compact(rm_heap *h)
{
    enter(h);
    compact(h);
    leave(h);
}
