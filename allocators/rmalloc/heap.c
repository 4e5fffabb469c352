/*
 * heap.c - the rmalloc heap: blocks, free lists, compaction.
 *
 * The layout is internal.h's: 16-byte units, a start bit a unit, a 4-byte
 * owner word ending every block (the slot + 1; 0 for a hole), no header.
 * A block is its request and the owner word rounded up to 16 bytes: a
 * request of 12, 28, 44... bytes pays nothing for it.  (The 8-byte header
 * and 8-byte slot before this cost 16 bytes a block: on a Python run,
 * 281,000 blocks of 67 bytes live, 24% of the live bytes.)
 *
 * Allocation takes, in order: a hole of its size (holes up to 512 bytes
 * have a list of each size) or one that fits (first fit in its
 * power-of-two list, then any hole of a later list), the top, and, when
 * neither has room, the top after a compaction.  A compaction slides
 * every unlocked block down over the holes below it, from the lowest hole
 * up, leaving a hole only before each locked block (and where an aligned
 * block needs one).  Free blocks merge with the free blocks after them
 * when freed and again when looked at; one that reaches the top dissolves
 * into it.
 *
 * Memory first: before the top grows past its highest mark while the
 * movable holes below it are worth closing, the heap compacts instead
 * (past its highest, not past what it holds since it gave pages back:
 * then every growth back towards the old peak compacted, and a 23 M-event
 * Python trace replayed 35% slower for it).  And memory goes back as the
 * live blocks fall: once the movable holes are half of what the heap
 * holds (and at least GIVE_BACK_MIN), a free compacts the heap, and the
 * pages above the top go back to the system (madvise).  A compaction moves
 * at most the live bytes, and comes only after as many bytes again have
 * been freed, so it costs a constant a freed byte; the holes must grow to
 * half the heap again before the next one.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define FIT_SCAN 32 /* free blocks looked at in the request's own class */
#define PAGE_UNITS (4096u / UNIT)
/* Compacting before the top grows takes movable holes of 1/COMPACT_SHARE
 * of the heap: any holes that could take the request made a 23.5 M-event
 * Python replay compact 294,000 times (2.39 GB moved); with these, 219
 * times (1.90 GB), the peak footprint 1.2514 of the live bytes for
 * 1.2511 (1/64: 175 times, but 1.262).  The holes need not take a
 * request of BIG_REQUEST or more: closing them lowers the growth by as
 * much (g++'s cc1plus, 52,000 blocks live: its peak 1.091 of the live
 * bytes, not 1.123). */
#define COMPACT_SHARE 256
#define BIG_REQUEST (64u * 1024 / UNIT)
/* And a compaction moves at most MOVE_RATIO bytes a byte of hole it
 * closes: without the bound cc1plus moved 1.39 GB for 11 MB live (16: 116
 * MB, but its peak 1.116 for 1.082; 64: 553 MB, the same peak), and a
 * Python replay compacted 165,000 times for lists grown by realloc, at 50
 * ns an event for 46 and a peak 1.284 for 1.285. */
#define MOVE_RATIO 64
#define SMALL_MOVE (1024u * 1024 / UNIT)
/* Less than this is not worth a compaction and a system call to give back:
 * the Python sample, 1.1 MB live at its peak, would compact at every
 * other free near its end. */
#define GIVE_BACK_MIN (256u * 1024 / UNIT)
/* A compaction to give memory back (in a free) or to let a block grow
 * where it is moves at most this much, some 1-2 ms, and leaves the rest
 * for the next: a free of the 19 M-event Python replay could compact the
 * whole heap above its lowest hole.  One before the heap grows past its
 * peak, one that must find room, and rm_compact go to the top. */
#define COMPACT_STEP (8u * 1024 * 1024 / UNIT)
#define ALL UINT64_MAX
#define MAX_ALIGN_SHIFT 26 /* alignments up to 2^26 units, 1 GiB */
#define MARKS_MIN 1024u     /* units the marks cover at first: 16 KiB of heap, 144 bytes of marks */

static inline uint8_t *at(const rm_heap *h, uint32_t u)
{
    return h->base + (size_t)u * UNIT;
}

static inline hole *hole_at(const rm_heap *h, uint32_t u)
{
    return (hole *)at(h, u);
}

static inline uint32_t *owner_word(const rm_heap *h, uint32_t u, uint32_t units)
{
    return (uint32_t *)(at(h, u + units) - OWNER_BYTES);
}

/* The block at U of UNITS units belongs to slot INDEX. */
static inline void set_owner(const rm_heap *h, uint32_t u, uint32_t units, uint32_t index)
{
    *owner_word(h, u, units) = index + 1;
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

/* ----------------------------------------------------------- start bits */

/* Above the bit a unit, a bit a word of them that is not zero (`words`),
 * and a bit a word of those (`groups`): finding the end of a block of
 * 100 MB takes some 30 word reads, not 100,000.  With one level, a Python
 * replay with a 100 MB string live spent 33% of its time in there, at
 * 127 ns an event for 57. */
static inline void mark(rm_heap *h, uint32_t u)
{
    uint32_t w = u / 64;
    h->starts[w] |= 1ull << (u % 64);
    h->words[w / 64] |= 1ull << (w % 64);
    h->groups[w / 4096] |= 1ull << (w / 64 % 64);
}

static inline void unmark(rm_heap *h, uint32_t u)
{
    uint32_t w = u / 64;
    if ((h->starts[w] &= ~(1ull << (u % 64))) == 0 && (h->words[w / 64] &= ~(1ull << (w % 64))) == 0)
        h->groups[w / 4096] &= ~(1ull << (w / 64 % 64));
}

static inline bool marked(const rm_heap *h, uint32_t u)
{
    return (h->starts[u / 64] >> (u % 64)) & 1u;
}

/* The words of each level for marks over UNITS units. */
static inline size_t starts_words(uint64_t units)
{
    return (size_t)(units / 64);
}

static inline size_t words_words(uint64_t units)
{
    return (size_t)(units / 4096 + 1);
}

static inline size_t group_words(uint64_t units)
{
    return (size_t)(units / 262144 + 1);
}

/* Makes the marks cover UNITS units, in one allocation of the three levels
 * that grows by an eighth and shrinks as the heap gives memory back (where
 * marks reserved for the whole capacity would cost a page on a heap of
 * 26 KB, and what was ever touched on a heap that shrank).  False if
 * there is no memory for them. */
static bool resize_marks(rm_heap *h, uint64_t units)
{
    units = (units + 63) / 64 * 64;
    size_t n = starts_words(units) + words_words(units) + group_words(units);
    uint64_t *marks = calloc(n, sizeof *marks);
    if (!marks)
        return false;
    uint64_t keep = units < h->marks_units ? units : h->marks_units;
    uint64_t *words = marks + starts_words(units), *groups = words + words_words(units);
    if (h->starts) {
        memcpy(marks, h->starts, starts_words(keep) * sizeof *marks);
        memcpy(words, h->words, words_words(keep) * sizeof *marks);
        memcpy(groups, h->groups, group_words(keep) * sizeof *marks);
        free(h->starts);
    }
    h->starts = marks;
    h->words = words;
    h->groups = groups;
    h->marks_units = units;
    return true;
}

static bool marks_cover(rm_heap *h, uint64_t units)
{
    if (units <= h->marks_units)
        return true;
    uint64_t grown = h->marks_units + h->marks_units / 8;
    return resize_marks(h, units > grown ? units : grown);
}

/* The first word of starts at or after FROM that is not zero, or LIMIT
 * (a word index) if there is none before it. */
static uint64_t next_word(const rm_heap *h, uint64_t from, uint64_t limit)
{
    uint64_t i = from / 64, last = (limit - 1) / 64;
    uint64_t bits = h->words[i] & (~0ull << (from % 64));
    if (!bits) {
        if (i >= last)
            return limit;
        uint64_t g = (i + 1) / 64, group_bits = h->groups[g] & (~0ull << ((i + 1) % 64));
        while (!group_bits) {
            if (++g > last / 64)
                return limit;
            group_bits = h->groups[g];
        }
        i = g * 64 + (unsigned)__builtin_ctzll(group_bits);
        if (i > last)
            return limit;
        bits = h->words[i];
    }
    uint64_t w = i * 64 + (unsigned)__builtin_ctzll(bits);
    return w < limit ? w : limit;
}

/* The first block start at or after FROM, or the top. */
static inline uint32_t next_start(const rm_heap *h, uint32_t from)
{
    if (from >= h->top)
        return h->top;
    uint64_t w = from / 64, words = (h->top - 1) / 64 + 1;
    uint64_t bits = h->starts[w] & (~0ull << (from % 64));
    if (!bits) {
        if (w + 1 >= words || (w = next_word(h, w + 1, words)) >= words)
            return h->top;
        bits = h->starts[w];
    }
    uint64_t u = w * 64 + (unsigned)__builtin_ctzll(bits);
    return u < h->top ? (uint32_t)u : h->top;
}

/* The size of the block or hole at U, from the marks. */
static inline uint32_t units_at(const rm_heap *h, uint32_t u)
{
    return next_start(h, u + 1) - u;
}

static inline bool is_hole(const rm_heap *h, uint32_t u)
{
    return *owner_word(h, u, units_at(h, u)) == 0;
}

/* Moves the marks in [lo, hi) up by DELTA units, from the highest down so
 * that none lands on one not yet moved. */
static void shift_marks_up(rm_heap *h, uint32_t lo, uint32_t hi, uint32_t delta)
{
    for (uint64_t w = (hi - 1) / 64 + 1; w-- > lo / 64;) {
        uint64_t bits = h->starts[w];
        if (w == (hi - 1) / 64 && hi % 64)
            bits &= (1ull << (hi % 64)) - 1;
        if (w == lo / 64)
            bits &= ~0ull << (lo % 64);
        while (bits) {
            unsigned b = 63u - (unsigned)__builtin_clzll(bits);
            bits &= ~(1ull << b);
            uint32_t u = (uint32_t)(w * 64 + b);
            unmark(h, u);
            mark(h, u + delta);
        }
    }
}

/* ------------------------------------------------------------ free lists */

/* The list a hole of UNITS units is on: a list of each size up to
 * EXACT_UNITS, then a list a power of two. */
static inline unsigned list_of(uint32_t units)
{
    return units <= EXACT_UNITS ? units : EXACT_UNITS + bin_of(units);
}

static void list_insert(rm_heap *h, uint32_t u)
{
    hole *o = hole_at(h, u);
    unsigned l = list_of(o->units);
    o->next = h->lists[l];
    o->prev = NONE;
    if (h->lists[l] != NONE)
        hole_at(h, h->lists[l])->prev = u;
    h->lists[l] = u;
    h->nonempty |= 1ull << l;
}

static void list_remove(rm_heap *h, uint32_t u)
{
    hole *o = hole_at(h, u);
    unsigned l = list_of(o->units);
    if (o->prev != NONE)
        hole_at(h, o->prev)->next = o->next;
    else
        h->lists[l] = o->next;
    if (o->next != NONE)
        hole_at(h, o->next)->prev = o->prev;
    if (h->lists[l] == NONE)
        h->nonempty &= ~(1ull << l);
}

/* Makes [u, u + units) a hole below top, on its list: not merged with
 * the holes after it (release_run merges). */
static void make_hole(rm_heap *h, uint32_t u, uint32_t units)
{
    hole_at(h, u)->units = units;
    *owner_word(h, u, units) = 0;
    mark(h, u);
    list_insert(h, u);
    h->holes++;
    h->hole_units += units;
    if (u < h->first_hole)
        h->first_hole = u;
}

/* Takes the hole at U off its list; its mark stays for the caller. */
static void take_hole(rm_heap *h, uint32_t u)
{
    list_remove(h, u);
    h->holes--;
    h->hole_units -= hole_at(h, u)->units;
    /* The stuck holes are among the holes: a hole taken may be one. */
    if (h->stuck_units > h->hole_units)
        h->stuck_units = h->hole_units;
}

/* The top comes down to U.  first_hole must stay a block start (or the
 * top) at or below every hole: compaction walks the heap from there. */
static void lower_top(rm_heap *h, uint32_t u)
{
    unmark(h, u);
    h->top = u;
    if (h->first_hole > u)
        h->first_hole = u;
}

/* The top goes up to U, and with it, maybe, its highest marks. */
static void raise_top(rm_heap *h, uint32_t u)
{
    h->top = u;
    if (h->top > h->zero_from)
        h->zero_from = h->top;
    if (h->top > h->peak_top)
        h->peak_top = h->top;
    if (h->top > h->held)
        h->held = h->top;
}

static uint64_t page_end(uint64_t units)
{
    return (units + PAGE_UNITS - 1) / PAGE_UNITS * PAGE_UNITS;
}

/* The pages above the top, past an eighth of the top kept, go back to
 * the system, where they are at least GIVE_BACK_MIN: read again, they are
 * zeros.
 * The eighth is for a heap that breathes: giving back all above the top,
 * the four-thread workload faulted 51,600 pages in again where jemalloc
 * faulted 39,700 (with the eighth, 39,400, and 8% less time), for a mean
 * footprint 1.265 of its live bytes where it is now 1.311. */
static void give_back(rm_heap *h)
{
    uint64_t keep = page_end((uint64_t)h->top + h->top / 8), held = page_end(h->held);
    if (held < keep + GIVE_BACK_MIN)
        return;
    madvise(h->base + keep * UNIT, (size_t)(held - keep) * UNIT, MADV_DONTNEED);
    h->held = (uint32_t)keep;
    if (h->zero_from > keep)
        h->zero_from = (uint32_t)keep;
    h->given_back++;
    if (h->marks_units > 2 * keep)
        resize_marks(h, keep + keep / 8); /* if there is no memory for the smaller, the larger stays */
}

/* Frees [u, u + units), marked at u: merged with the holes after it, and
 * into the top if it reaches it. */
static void release_run(rm_heap *h, uint32_t u, uint32_t units)
{
    for (uint32_t next = u + units; next < h->top && is_hole(h, next); next = u + units) {
        units += hole_at(h, next)->units;
        take_hole(h, next);
        unmark(h, next);
    }
    if (u + units == h->top)
        lower_top(h, u);
    else
        make_hole(h, u, units);
}

/* Merges the holes after the hole U into it.  Returns its units, or 0 if
 * it reached the top and dissolved into it. */
static uint32_t settle(rm_heap *h, uint32_t u)
{
    uint32_t units = hole_at(h, u)->units;
    uint32_t next = u + units;
    if (next < h->top && !is_hole(h, next))
        return units; /* the common case: nothing to merge */
    take_hole(h, u);
    release_run(h, u, units);
    return u < h->top ? hole_at(h, u)->units : 0;
}

/* Cuts a block of NEED units from the start of hole U. */
static void carve(rm_heap *h, uint32_t u, uint32_t need)
{
    uint32_t units = hole_at(h, u)->units;
    take_hole(h, u);
    if (units > need)
        make_hole(h, u + need, units - need);
}

static uint32_t find_free(rm_heap *h, uint32_t need)
{
    unsigned l = list_of(need);
    if (need <= EXACT_UNITS) {
        /* Its size's list: the last hole of the size made, no neighbour
         * looked at. */
        uint32_t u = h->lists[l];
        if (u != NONE) {
            take_hole(h, u);
            return u;
        }
    } else {
        int budget = FIT_SCAN;
        for (uint32_t u = h->lists[l]; u != NONE && budget-- > 0;) {
            uint32_t units = hole_at(h, u)->units;
            uint32_t next = u + units;
            if (next < h->top && is_hole(h, next)) {
                settle(h, u); /* lists changed: start the class again */
                u = h->lists[l];
                continue;
            }
            if (units >= need) {
                carve(h, u, need);
                return u;
            }
            u = hole_at(h, u)->next;
        }
    }
    /* Any hole of a later list fits, merged or not. */
    for (;;) {
        uint64_t later = l == 63 ? 0 : h->nonempty & (~0ull << (l + 1));
        if (!later)
            return NONE;
        uint32_t u = h->lists[__builtin_ctzll(later)];
        if (settle(h, u) == 0)
            continue; /* it dissolved into the top */
        carve(h, u, need);
        return u;
    }
}

static uint32_t bump(rm_heap *h, uint32_t need)
{
    if ((uint64_t)h->top + need > h->capacity || !marks_cover(h, (uint64_t)h->top + need))
        return NONE;
    uint32_t u = h->top;
    mark(h, u);
    raise_top(h, u + need);
    return u;
}

/* ----------------------------------------------------------- compaction */

/* U rounded up to a multiple of ALIGN, a power of two (in 64 bits: near
 * the top of a 64 GiB heap the sum wraps; callers use it only where the
 * result lies in the heap). */
static inline uint32_t align_up(uint32_t u, uint32_t align)
{
    return (uint32_t)(((uint64_t)u + align - 1) & ~(uint64_t)(align - 1));
}

/* Slides the unlocked blocks down over the holes, from the lowest hole or
 * from where the last compaction stopped, until it has moved BUDGET units
 * or more (ALL: to the top); the space it passed over and did not fill
 * becomes one hole, where the next one goes on.  (Started again from the
 * lowest hole each time, a Python replay's frees made each step slide
 * 8 MB a few bytes down, 1.26 M times.) */
static void compact(rm_heap *h, uint64_t budget)
{
    if (h->flags & RM_NO_COMPACTION)
        return;
    uint64_t t0 = now_ns(), moved = 0, stuck = 0;
    uint32_t pos = h->first_hole < h->top ? h->first_hole : h->top;
    /* A step goes on where the last stopped, if that is a block start
     * still; a compaction to the top takes every hole. */
    if (budget != ALL && h->resume > pos && h->resume < h->top && marked(h, h->resume))
        pos = h->resume;
    bool from_lowest = pos <= h->first_hole;
    uint32_t dst = pos, first_hole = NONE;
    while (pos < h->top && moved < budget) {
        /* The marks above pos are the old ones: only those below it change. */
        uint32_t units = units_at(h, pos);
        uint32_t owner = *owner_word(h, pos, units);
        if (owner == 0) {
            take_hole(h, pos);
            unmark(h, pos);
        } else {
            uint32_t to = rmi_locks(h, owner - 1) ? pos : align_up(dst, rmi_align_units(h, owner - 1));
            if (to > dst) {
                /* Before a locked block, or an aligned one's padding. */
                make_hole(h, dst, to - dst);
                stuck += to - dst;
                if (first_hole == NONE)
                    first_hole = dst;
            }
            if (to != pos) {
                unmark(h, pos);
                memmove(at(h, to), at(h, pos), (size_t)units * UNIT);
                mark(h, to);
                h->slots[owner - 1].where = to;
                moved += units;
            }
            dst = to + units;
        }
        pos += units;
    }
    bool whole = pos >= h->top;
    if (whole) {
        h->top = dst;
        h->resume = NONE;
    } else {
        if (pos > dst)
            make_hole(h, dst, pos - dst); /* movable: the next compaction takes it first */
        else
            dst = pos;
        h->resume = dst;
    }
    if (whole && from_lowest)
        h->stuck_units = h->hole_units; /* the holes left are those before locked and aligned blocks */
    else
        h->stuck_units = h->stuck_units + stuck < h->hole_units ? h->stuck_units + stuck : h->hole_units;
    if (from_lowest) /* else holes below where it began are where they were */
        h->first_hole = first_hole == NONE ? dst : first_hole;
    h->bytes_moved += moved * UNIT;
    h->compactions++;
    uint64_t took = now_ns() - t0;
    h->compact_ns += took;
    if (took > h->longest_compact_ns)
        h->longest_compact_ns = took;
}

/* The hole units a compaction can close: all but those it left before
 * locked blocks. */
static uint64_t movable_units(const rm_heap *h)
{
    return h->hole_units - h->stuck_units;
}

/* A compaction moves what lies above the lowest hole: at most MOVE_RATIO
 * bytes for every byte of hole it closes, or a megabyte, which takes
 * some 100 us (bounded by the ratio alone, the Python sample, 1.1 MB
 * live, peaked at 1.028 of it for 1.018). */
static bool worth_its_moves(const rm_heap *h)
{
    uint64_t moved = h->top - h->first_hole;
    return moved <= SMALL_MOVE || movable_units(h) * MOVE_RATIO >= moved;
}

/* Compacting before the top grows past its highest keeps the footprint
 * near what is live. */
static bool worth_compacting_first(const rm_heap *h, uint32_t need)
{
    uint64_t movable = movable_units(h);
    return !(h->flags & RM_NO_COMPACTION) && (uint64_t)h->top + need > h->peak_top &&
           movable >= h->top / COMPACT_SHARE && (movable >= need || need >= BIG_REQUEST) && worth_its_moves(h);
}

/* After a free: half of what the heap holds is holes it can close. */
static bool worth_giving_back(const rm_heap *h)
{
    uint64_t movable = movable_units(h);
    return !(h->flags & RM_NO_COMPACTION) && movable >= GIVE_BACK_MIN && 2 * movable >= h->held;
}

/* A run of NEED units, marked at its start, by every means there is; NONE
 * if the heap is full. */
static uint32_t place_run(rm_heap *h, uint32_t need)
{
    uint32_t u = find_free(h, need);
    if (u != NONE)
        return u;
    if (worth_compacting_first(h, need)) {
        /* To the top: the footprint is what this is for.  Stopping after
         * 8 MB moved let g++'s cc1plus peak at 1.101 of its live bytes
         * for 1.082; stopping once the request fit, the Python sample at
         * 1.029 for 1.018.  Its price: a 400 MB Python heap paused for
         * up to 24 ms. */
        compact(h, ALL);
        if ((u = find_free(h, need)) != NONE)
            return u;
    }
    if ((u = bump(h, need)) != NONE)
        return u;
    if (h->flags & RM_NO_COMPACTION)
        return NONE;
    compact(h, ALL); /* full: all the room there is */
    u = find_free(h, need);
    return u != NONE ? u : bump(h, need);
}

/* A block of NEED units starting on a multiple of ALIGN units: a run with
 * room to spare, its ends given back. */
static uint32_t place(rm_heap *h, uint32_t need, uint32_t align)
{
    if (align == 1)
        return place_run(h, need);
    if ((uint64_t)need + align - 1 > MAX_UNITS)
        return NONE;
    uint32_t run = place_run(h, need + align - 1);
    if (run == NONE)
        return NONE;
    uint32_t u = align_up(run, align), tail = run + need + align - 1 - (u + need);
    if (u > run) {
        mark(h, u);
        make_hole(h, run, u - run);
    }
    if (tail) {
        mark(h, u + need);
        release_run(h, u + need, tail);
    }
    return u;
}

/* ----------------------------------------------------------------- heap */

static bool units_for(size_t size, uint32_t *units)
{
    if (size > (size_t)MAX_UNITS * UNIT - OWNER_BYTES)
        return false;
    *units = (uint32_t)((size + OWNER_BYTES + UNIT - 1) / UNIT);
    return true;
}

rm_heap *rm_heap_create(size_t capacity, unsigned flags)
{
    uint64_t units = capacity / UNIT;
    if (units > MAX_UNITS || units < 1)
        return NULL;
    rm_heap *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    void *base = mmap(NULL, (size_t)units * UNIT, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED || !resize_marks(h, MARKS_MIN)) {
        if (base != MAP_FAILED)
            munmap(base, (size_t)units * UNIT);
        free(h);
        return NULL;
    }
    h->base = base;
    h->capacity = (uint32_t)units;
    h->flags = flags;
    h->free_slot = NONE;
    h->resume = NONE;
    for (unsigned l = 0; l < LISTS; l++)
        h->lists[l] = NONE;
    return h;
}

void rm_heap_destroy(rm_heap *h)
{
    if (!h)
        return;
    if (h->shared)
        pthread_mutex_destroy(&h->mutex);
    munmap(h->base, (size_t)h->capacity * UNIT);
    free(h->starts);
    free(h->slots);
    free(h->sides);
    free(h);
}

static rm_handle_t heap_alloc(rm_heap *h, size_t size, unsigned align_shift)
{
    uint32_t need, index = NONE, u = NONE;
    if (units_for(size, &need) && (index = rmi_new_slot(h)) != NONE) {
        if (!align_shift || rmi_set_align(h, index, align_shift))
            u = place(h, need, 1u << align_shift);
        if (u == NONE)
            rmi_drop_slot(h, index);
    }
    if (u == NONE) {
        h->failures++;
        return RM_INVALID_HANDLE;
    }
    set_owner(h, u, need, index);
    h->slots[index].where = u;
    h->live_blocks++;
    h->live_units += need;
    return rmi_handle_of(h, index);
}

static rm_handle_t heap_alloc_aligned(rm_heap *h, size_t align, size_t size)
{
    if (!align || (align & (align - 1)) || align > ((size_t)UNIT << MAX_ALIGN_SHIFT)) {
        h->failures++;
        return RM_INVALID_HANDLE;
    }
    unsigned shift = align <= UNIT ? 0 : (unsigned)__builtin_ctzll(align / UNIT);
    return heap_alloc(h, size, shift);
}

static rm_handle_t heap_alloc_plain(rm_heap *h, size_t size)
{
    return heap_alloc(h, size, 0);
}

/* Memory the heap never wrote since the system gave it is zeros already:
 * calloc's memset was 5% of a replay of g++'s cc1plus, whose 845,000
 * callocs come mostly from the top. */
static rm_handle_t heap_calloc(rm_heap *h, size_t count, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) {
        h->failures++;
        return RM_INVALID_HANDLE;
    }
    uint32_t zero_from = h->zero_from; /* nothing in the call writes above it but the new block */
    rm_handle_t handle = heap_alloc(h, total, 0);
    if (handle != RM_INVALID_HANDLE) {
        uint32_t u = h->slots[rmi_slot_of(h, handle)].where;
        if (u < zero_from)
            memset(at(h, u), 0, total);
    }
    return handle;
}

static void heap_free(rm_heap *h, rm_handle_t *handle)
{
    uint32_t index = rmi_slot_of(h, *handle);
    if (index == NONE)
        return;
    uint32_t u = h->slots[index].where, units = units_at(h, u);
    h->live_blocks--;
    h->live_units -= units;
    rmi_drop_slot(h, index);
    /* A small block goes on its size's list unmerged, touching no
     * neighbour: merging it with the holes after it made rmalloc twice as
     * slow as jemalloc on a Python replay, and a compaction, which comes
     * before the heap grows past its peak, merges them all.  (Without
     * compaction, holes that never merged would pile up.) */
    if (units <= EXACT_UNITS && u + units < h->top && !(h->flags & RM_NO_COMPACTION))
        make_hole(h, u, units);
    else
        release_run(h, u, units);
    *handle = RM_INVALID_HANDLE;
    if (worth_giving_back(h))
        compact(h, COMPACT_STEP); /* the top comes down when a compaction reaches it */
    give_back(h);
}

static void *heap_lock(rm_heap *h, rm_handle_t *handle)
{
    uint32_t index = rmi_slot_of(h, *handle);
    if (index == NONE || !rmi_lock_slot(h, index))
        return NULL;
    return at(h, h->slots[index].where);
}

static void heap_unlock(rm_heap *h, rm_handle_t *handle)
{
    uint32_t index = rmi_slot_of(h, *handle);
    if (index != NONE)
        rmi_unlock_slot(h, index);
}

/* Grows or shrinks the block of slot INDEX to NEED units where it stands,
 * using the holes after it and the top.  Returns false if there is no
 * room. */
static bool resize_in_place(rm_heap *h, uint32_t index, uint32_t need)
{
    uint32_t u = h->slots[index].where, old = units_at(h, u), units = old, avail = units;
    while (u + avail < h->top && is_hole(h, u + avail))
        avail += hole_at(h, u + avail)->units;
    bool reaches_top = u + avail == h->top;
    if (need > avail && !(reaches_top && (uint64_t)u + need <= h->capacity && marks_cover(h, (uint64_t)u + need)))
        return false;
    if (h->first_hole > u)
        h->first_hole = u; /* what follows it, holes or top, may become part of it */
    while (units < avail && u + units < h->top && is_hole(h, u + units)) {
        uint32_t next = u + units;
        units += hole_at(h, next)->units;
        take_hole(h, next);
        unmark(h, next);
    }
    if (reaches_top && need >= units) {
        raise_top(h, u + need);
    } else if (units > need) {
        mark(h, u + need);
        release_run(h, u + need, units - need);
    }
    set_owner(h, u, need, index);
    h->live_units += (uint64_t)need - old;
    return true;
}

/* Grows the block of slot INDEX to NEED units by sliding every block after
 * it up by the difference: memory for the growth alone, where moving the
 * block would need its old and new copies at once.  Only when nothing after
 * it is locked, aligned or free (as after a compaction with nothing locked
 * above it). */
static bool grow_by_sliding(rm_heap *h, uint32_t index, uint32_t need)
{
    uint32_t u = h->slots[index].where, units = units_at(h, u), end = u + units, delta = need - units;
    if ((uint64_t)h->top + delta > h->capacity || !marks_cover(h, (uint64_t)h->top + delta))
        return false;
    for (uint32_t pos = end, n; pos < h->top; pos += n) {
        n = units_at(h, pos);
        uint32_t owner = *owner_word(h, pos, n);
        if (owner == 0 || rmi_locks(h, owner - 1) || rmi_align_units(h, owner - 1) > 1)
            return false;
    }
    uint64_t t0 = now_ns();
    if (h->first_hole > u)
        h->first_hole = u; /* the top it may have named moves */
    for (uint32_t pos = end, n; pos < h->top; pos += n) {
        n = units_at(h, pos);
        h->slots[*owner_word(h, pos, n) - 1].where = pos + delta;
    }
    memmove(at(h, end + delta), at(h, end), (size_t)(h->top - end) * UNIT);
    h->bytes_moved += (uint64_t)(h->top - end) * UNIT;
    if (h->top > end)
        shift_marks_up(h, end, h->top, delta);
    raise_top(h, h->top + delta);
    set_owner(h, u, need, index);
    h->live_units += delta;
    h->compact_ns += now_ns() - t0;
    return true;
}

/* Whether the blocks above the block at U are few enough to slide up for
 * it to grow to NEED units, rather than move it: at most SLIDE_RATIO times
 * what it grows to.  Sliding whatever lay above made a 23.5 M-event Python
 * trace (402 MB live at its peak, its lists growing by realloc) move
 * 6.3 GB in 327,000 compactions, 0.86 s of a 2.0 s replay. */
#define SLIDE_RATIO 4
static bool cheap_to_slide(const rm_heap *h, uint32_t u, uint32_t need)
{
    uint64_t above = h->top - (u + units_at(h, u));
    return above <= (uint64_t)SLIDE_RATIO * need;
}

/* Moves the block of slot INDEX, of OLD units, to a new block at TO of
 * NEED units. */
static void move_block(rm_heap *h, uint32_t index, uint32_t old, uint32_t to, uint32_t need)
{
    uint32_t from = h->slots[index].where;
    uint32_t keep = (old < need ? old : need) * UNIT - OWNER_BYTES;
    memcpy(at(h, to), at(h, from), keep);
    set_owner(h, to, need, index);
    h->slots[index].where = to;
    h->live_units += (uint64_t)need - old;
    release_run(h, from, old);
}

/* Room for the block of slot INDEX to grow to NEED units where it stands:
 * into the holes after it and the top, or by sliding what lies above. */
static bool grow_where_it_stands(rm_heap *h, uint32_t index, uint32_t need)
{
    return resize_in_place(h, index, need) || grow_by_sliding(h, index, need);
}

static int heap_realloc(rm_heap *h, rm_handle_t *handle, size_t size)
{
    uint32_t index = rmi_slot_of(h, *handle), need;
    if (index == NONE || !units_for(size, &need)) {
        h->failures++;
        return -1;
    }
    uint32_t old = units_at(h, h->slots[index].where), align = rmi_align_units(h, index);
    if (resize_in_place(h, index, need))
        return 0;
    if (rmi_locks(h, index)) {
        h->failures++;
        return -1; /* a locked block does not move */
    }
    uint32_t to = align == 1 ? find_free(h, need) : NONE;
    if (to == NONE && !(h->flags & RM_NO_COMPACTION) && (uint64_t)h->top + need > h->peak_top &&
        cheap_to_slide(h, h->slots[index].where, need)) {
        /* Rather than grow the heap by a second copy of the block: close
         * the holes, if any, then make room right after the block.  The
         * compaction saves the copy's NEED units, and moves what lies
         * above the lowest hole: at most MOVE_RATIO times as much. */
        if (movable_units(h) && h->top - h->first_hole <= (uint64_t)MOVE_RATIO * need)
            compact(h, COMPACT_STEP);
        if (grow_where_it_stands(h, index, need))
            return 0;
    }
    /* place() may compact and move this block: move_block reads where it
     * is after. */
    if (to == NONE && (to = place(h, need, align)) == NONE) {
        /* No room for a second copy even in the compacted heap (place's
         * last resort): room for the growth alone, where it stands. */
        if (!(h->flags & RM_NO_COMPACTION) && grow_where_it_stands(h, index, need))
            return 0;
        h->failures++;
        return -1;
    }
    move_block(h, index, old, to, need);
    return 0;
}

static size_t heap_usable_size(rm_heap *h, rm_handle_t handle)
{
    uint32_t index = rmi_slot_of(h, handle);
    return index == NONE ? 0 : (size_t)units_at(h, h->slots[index].where) * UNIT - OWNER_BYTES;
}

static unsigned heap_lock_count(rm_heap *h, rm_handle_t handle)
{
    uint32_t index = rmi_slot_of(h, handle);
    return index == NONE ? 0 : rmi_locks(h, index);
}

static bool heap_valid(rm_heap *h, rm_handle_t handle)
{
    return rmi_slot_of(h, handle) != NONE;
}

/* The start bits and their upper levels, as allocated. */
static uint64_t marks_bytes(const rm_heap *h)
{
    uint64_t units = h->marks_units;
    return (starts_words(units) + words_words(units) + group_words(units)) * sizeof(uint64_t);
}

static void heap_stats(rm_heap *h, rm_stats *st)
{
    *st = (rm_stats){
        .capacity = (uint64_t)h->capacity * UNIT,
        .live_blocks = h->live_blocks,
        .live_bytes = h->live_units * UNIT - h->live_blocks * OWNER_BYTES,
        .block_bytes = h->live_units * UNIT,
        .top = (uint64_t)h->top * UNIT,
        .peak_top = (uint64_t)h->peak_top * UNIT,
        .held = (uint64_t)h->held * UNIT,
        .given_back = h->given_back,
        .metadata = rmi_table_bytes(h) + marks_bytes(h),
        .holes = h->holes,
        .hole_bytes = h->hole_units * UNIT,
        .stuck_hole_bytes = h->stuck_units * UNIT,
        .compactions = h->compactions,
        .bytes_moved = h->bytes_moved,
        .compact_ns = h->compact_ns,
        .longest_compact_ns = h->longest_compact_ns,
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
    if (h->top && !marked(h, 0))
        FAIL("no block starts at the heap's start");
    for (uint32_t pos = 0, units; pos < h->top; pos += units) {
        units = units_at(h, pos);
        uint32_t owner = *owner_word(h, pos, units);
        if (pos == h->first_hole)
            first_hole_seen = true;
        if (owner == 0) {
            if (pos < h->first_hole)
                FAIL("hole at unit %u below first_hole %u", pos, h->first_hole);
            if (hole_at(h, pos)->units != units)
                FAIL("hole at unit %u says %u units, its marks %u", pos, hole_at(h, pos)->units, units);
            holes++;
            hole_units += units;
        } else {
            if (owner > h->nslots || h->slots[owner - 1].where != pos || !(h->slots[owner - 1].generation & 1u))
                FAIL("block at unit %u and its slot %u disagree", pos, owner - 1);
            if (pos % rmi_align_units(h, owner - 1))
                FAIL("block at unit %u is not aligned to %u units", pos, rmi_align_units(h, owner - 1));
            live++;
            live_units += units;
        }
    }
    if (h->marks_units < h->top)
        FAIL("the marks cover %llu units, the top is %u", (unsigned long long)h->marks_units, h->top);
    for (uint64_t w = h->top / 64; w < starts_words(h->marks_units); w++) {
        uint64_t above = h->starts[w] & (w == h->top / 64 ? ~0ull << (h->top % 64) : ~0ull);
        if (above)
            FAIL("a block starts at unit %llu, above the top %u",
                 (unsigned long long)(w * 64 + (unsigned)__builtin_ctzll(above)), h->top);
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
    for (unsigned l = 0; l < LISTS; l++) {
        if (((h->nonempty >> l) & 1u) != (h->lists[l] != NONE))
            FAIL("list %u and the nonempty bitmap disagree", l);
        uint32_t prev = NONE;
        for (uint32_t u = h->lists[l]; u != NONE; u = hole_at(h, u)->next) {
            if (u >= h->top || !marked(h, u) || !is_hole(h, u) || list_of(hole_at(h, u)->units) != l ||
                hole_at(h, u)->prev != prev)
                FAIL("free list %u is broken at unit %u", l, u);
            prev = u;
            if (++listed > holes)
                FAIL("free list %u loops", l);
        }
    }
    if (listed != holes)
        FAIL("%llu holes, %llu on the free lists", (unsigned long long)holes, (unsigned long long)listed);
    return rmi_table_check(h, why, len);
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

UNDER_LOCK(rm_handle_t, rm_alloc, heap_alloc_plain, (rm_heap * h, size_t size), size)
UNDER_LOCK(rm_handle_t, rm_calloc, heap_calloc, (rm_heap * h, size_t count, size_t size), count, size)
UNDER_LOCK(rm_handle_t, rm_alloc_aligned, heap_alloc_aligned, (rm_heap * h, size_t align, size_t size), align, size)
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
    compact(h, ALL);
    leave(h);
}
