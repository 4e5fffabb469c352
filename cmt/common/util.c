/*
 * util.c - the version, error messages, allocation (tables too) with the fault
 * injection the tests fail it with, and the facts about calls that every
 * part of the library asks.
 */
#define _GNU_SOURCE /* mremap */
#include "internal.h"

#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_customMem */
#include <zstd.h>
#include <zstd_errors.h>

#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

unsigned cmt_version_number(void)
{
    return CMT_VERSION_NUMBER;
}

const char *cmt_version_string(void)
{
    return CMT_VERSION_STRING;
}

void cmti_set_error(char *buf, size_t len, const char *fmt, ...)
{
    if (!buf || len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

/* Fault injection for the tests (cmti_fail_allocation): the allocation
 * that brings the count to 0 fails, and with every_one_after the ones
 * after it too. */
static unsigned long allocations_left;
static bool failing_after;
static _Atomic unsigned long allocations_made; /* the recorder allocates from more than one thread */

void cmti_fail_allocation(unsigned long nth, bool every_one_after)
{
    allocations_left = nth;
    failing_after = every_one_after;
}

unsigned long cmti_allocations_made(void)
{
    return atomic_load_explicit(&allocations_made, memory_order_relaxed);
}

/* False if the allocation about to be made is to fail. */
static bool allocation_allowed(void)
{
    atomic_fetch_add_explicit(&allocations_made, 1, memory_order_relaxed);
    if (!allocations_left)
        return true;
    if (--allocations_left)
        return true;
    allocations_left = failing_after;
    return false;
}

/* Private allocation (cmti_allocate_privately): each block pages of its
 * own, its size in the PRIVATE_HEADER bytes before it: a cache line, so
 * that the block is as aligned as the structures that ask for one (the
 * threaded replay's lanes).  The library allocates a few
 * tables and buffers, large and seldom, so a system call each is cheap. */
#define PRIVATE_HEADER 64
static bool private_pages;
/* Bytes mapped now and at most, counted in private mode only: the
 * threaded replay's lanes allocate at once, hence atomics. */
static _Atomic uint64_t private_mapped, private_mapped_peak;

static size_t whole_pages(size_t bytes)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    return (bytes + page - 1) & ~(page - 1);
}

/* Counts a mapping's change from BEFORE bytes to AFTER (either 0). */
static void count_mapped(size_t before, size_t after)
{
    if (!private_pages)
        return;
    uint64_t delta = (uint64_t)whole_pages(after) - whole_pages(before); /* wraps when the mapping shrinks */
    uint64_t now = atomic_fetch_add(&private_mapped, delta) + delta;
    uint64_t peak = atomic_load(&private_mapped_peak);
    while (now > peak && !atomic_compare_exchange_weak(&private_mapped_peak, &peak, now))
        ;
}

uint64_t cmti_private_peak_bytes(void)
{
    return atomic_load(&private_mapped_peak);
}

void cmti_allocate_privately(void)
{
    private_pages = true;
}

static void *private_alloc(size_t size)
{
    size_t total = size + PRIVATE_HEADER;
    if (total < size)
        return NULL;
    unsigned char *p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    count_mapped(0, total);
    memcpy(p, &total, sizeof total);
    return p + PRIVATE_HEADER;
}

static size_t private_size(const void *p)
{
    size_t total;
    memcpy(&total, (const unsigned char *)p - PRIVATE_HEADER, sizeof total);
    return total - PRIVATE_HEADER;
}

static void private_free(void *p)
{
    if (!p)
        return;
    size_t total = private_size(p) + PRIVATE_HEADER;
    munmap((unsigned char *)p - PRIVATE_HEADER, total);
    count_mapped(total, 0);
}

static void *private_realloc(void *p, size_t size)
{
    if (!p)
        return private_alloc(size);
    size_t total = size + PRIVATE_HEADER, old = private_size(p) + PRIVATE_HEADER;
    if (total < size)
        return NULL;
    unsigned char *q = mremap((unsigned char *)p - PRIVATE_HEADER, old, total, MREMAP_MAYMOVE);
    if (q == MAP_FAILED)
        return NULL;
    count_mapped(old, total);
    memcpy(q, &total, sizeof total);
    return q + PRIVATE_HEADER;
}

void *cmti_malloc(size_t size)
{
    if (!allocation_allowed())
        return NULL;
    return private_pages ? private_alloc(size) : malloc(size);
}

void *cmti_calloc(size_t count, size_t size)
{
    if (!allocation_allowed())
        return NULL;
    size_t bytes;
    if (private_pages)
        return __builtin_mul_overflow(count, size, &bytes) ? NULL : private_alloc(bytes); /* fresh pages: zeroed */
    return calloc(count, size);
}

void *cmti_realloc(void *p, size_t size)
{
    if (!allocation_allowed())
        return NULL;
    return private_pages ? private_realloc(p, size) : realloc(p, size);
}

void cmti_free(void *p)
{
    if (private_pages)
        private_free(p);
    else
        free(p);
}

static void *zstd_alloc(void *opaque, size_t size)
{
    (void)opaque;
    return cmti_malloc(size);
}

static void zstd_free(void *opaque, void *p)
{
    (void)opaque;
    cmti_free(p);
}

static const ZSTD_customMem zstd_memory = {zstd_alloc, zstd_free, NULL};

ZSTD_DCtx *cmti_zstd_dctx(void)
{
    return ZSTD_createDCtx_advanced(zstd_memory);
}

ZSTD_CCtx *cmti_zstd_cctx(void)
{
    return ZSTD_createCCtx_advanced(zstd_memory);
}

bool cmti_zstd_out_of_memory(size_t rc)
{
    return ZSTD_getErrorCode(rc) == ZSTD_error_memory_allocation;
}

/* Huge pages are 2 MiB here, the size from which tables get pages of
 * their own; a table's pages start on such a boundary, else the kernel
 * gives it none at its two ends and splits them all when the table moves. */
#define HUGE_PAGE ((size_t)CMT_TABLE_PAGES)

/* BYTES of fresh zeroed pages on a huge-page boundary, or NULL. */
static void *map_huge_aligned(size_t bytes)
{
    size_t span = bytes + HUGE_PAGE;
    unsigned char *p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    unsigned char *start = (unsigned char *)(((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    size_t page = (size_t)sysconf(_SC_PAGESIZE), used = (bytes + page - 1) & ~(page - 1);
    if (start > p)
        munmap(p, (size_t)(start - p));
    if (start + used < p + span)
        munmap(start + used, (size_t)(p + span - (start + used)));
    madvise(start, used, MADV_HUGEPAGE);
    count_mapped(0, used);
    return start;
}

void *cmti_table_alloc(size_t bytes)
{
    if (bytes < CMT_TABLE_PAGES)
        return cmti_calloc(1, bytes);
    return allocation_allowed() ? map_huge_aligned(bytes) : NULL;
}

void *cmti_table_resize(void *p, size_t old_bytes, size_t new_bytes)
{
    if (!p)
        return cmti_table_alloc(new_bytes);
    if (old_bytes >= CMT_TABLE_PAGES && new_bytes >= CMT_TABLE_PAGES) {
        if (!allocation_allowed())
            return NULL;
        /* Where it is if the pages after it are free (and always to
         * shrink); else the old pages move, not copied, to the start of a
         * fresh aligned span. */
        void *q = mremap(p, old_bytes, new_bytes, 0);
        if (q != MAP_FAILED) {
            madvise(q, new_bytes, MADV_HUGEPAGE);
            count_mapped(old_bytes, new_bytes);
            return q;
        }
        q = map_huge_aligned(new_bytes);
        if (!q)
            return NULL;
        if (mremap(p, old_bytes, old_bytes, MREMAP_MAYMOVE | MREMAP_FIXED, q) == MAP_FAILED) {
            cmti_table_free(q, new_bytes);
            return NULL;
        }
        count_mapped(old_bytes, 0); /* the old pages are now the new span's first ones */
        return q;
    }
    if (old_bytes < CMT_TABLE_PAGES && new_bytes < CMT_TABLE_PAGES) {
        unsigned char *q = cmti_realloc(p, new_bytes);
        if (q && new_bytes > old_bytes)
            memset(q + old_bytes, 0, new_bytes - old_bytes);
        return q;
    }
    void *q = cmti_table_alloc(new_bytes);
    if (!q)
        return NULL;
    memcpy(q, p, old_bytes < new_bytes ? old_bytes : new_bytes);
    cmti_table_free(p, old_bytes);
    return q;
}

void cmti_table_prefault(void *table, size_t from, size_t to)
{
    if (to < CMT_TABLE_PAGES || to <= from)
        return; /* small tables come from realloc and memset: written already */
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    from &= ~(page - 1); /* the table's pages are its own from its page-aligned start */
    (void)madvise((unsigned char *)table + from, to - from, MADV_POPULATE_WRITE); /* else they fault in as used */
}

void cmti_table_free(void *p, size_t bytes)
{
    if (!p)
        return;
    if (bytes < CMT_TABLE_PAGES) {
        cmti_free(p);
    } else {
        munmap(p, bytes);
        count_mapped(bytes, 0);
    }
}

const char *cmti_display_name(const char *path, bool output)
{
    if (!path || strcmp(path, "-") == 0)
        return output ? "<stdout>" : "<stdin>";
    return path;
}

static const char *const op_names[CMT_OP_COUNT] = {
    [CMT_OP_MALLOC] = "malloc",
    [CMT_OP_CALLOC] = "calloc",
    [CMT_OP_REALLOC] = "realloc",
    [CMT_OP_FREE] = "free",
    [CMT_OP_POSIX_MEMALIGN] = "posix_memalign",
    [CMT_OP_ALIGNED_ALLOC] = "aligned_alloc",
    [CMT_OP_MEMALIGN] = "memalign",
    [CMT_OP_LOAD] = "load",
    [CMT_OP_STORE] = "store",
    [CMT_OP_MODIFY] = "modify",
};

const char *cmt_op_name(cmt_op op)
{
    return (unsigned)op < CMT_OP_COUNT ? op_names[op] : "?";
}

bool cmt_op_allocates(cmt_op op)
{
    return op != CMT_OP_FREE && !cmt_op_accesses(op);
}

bool cmt_op_accesses(cmt_op op)
{
    return op >= CMT_OP_LOAD && op <= CMT_OP_MODIFY;
}

uint64_t cmt_event_bytes(const cmt_event *ev)
{
    if (ev->op != CMT_OP_CALLOC)
        return ev->size;
    uint64_t total;
    if (__builtin_mul_overflow(ev->count, ev->size, &total))
        return UINT64_MAX;
    return total;
}

bool cmt_event_same(const cmt_event *a, const cmt_event *b)
{
    return a->op == b->op && a->tag == b->tag && a->arg_tag == b->arg_tag && a->size == b->size &&
           a->count == b->count && a->align == b->align && a->offset == b->offset && a->time == b->time &&
           a->thread == b->thread && a->stack == b->stack;
}

bool cmt_releases_block(cmt_op op, bool returned, uint64_t size)
{
    return op == CMT_OP_FREE || (op == CMT_OP_REALLOC && (returned || size == 0));
}

bool cmt_event_releases(const cmt_event *ev)
{
    return ev->arg_tag != 0 && cmt_releases_block(ev->op, ev->tag != 0, ev->size);
}

bool cmt_event_failed(const cmt_event *ev)
{
    return cmt_op_allocates(ev->op) && ev->tag == 0 && !cmt_event_releases(ev);
}

static const char *const format_names[CMT_FORMAT_COUNT] = {
    [CMT_FORMAT_AUTO] = "auto",
    [CMT_FORMAT_TEXT] = "text",
    [CMT_FORMAT_KDUMP] = "kdump",
    [CMT_FORMAT_VALGRIND] = "valgrind",
    [CMT_FORMAT_DTRACE] = "dtrace",
    [CMT_FORMAT_MTRACE] = "mtrace",
    [CMT_FORMAT_MEMTRACE] = "memtrace",
    [CMT_FORMAT_OPS] = "ops",
    [CMT_FORMAT_CMT0] = "cmt0",
};

const char *cmt_format_name(cmt_format format)
{
    return (unsigned)format < CMT_FORMAT_COUNT ? format_names[format] : "?";
}

int cmt_format_from_name(const char *name, cmt_format *format)
{
    for (int f = 0; f < CMT_FORMAT_COUNT; f++) {
        if (strcmp(name, format_names[f]) == 0) {
            *format = (cmt_format)f;
            return 0;
        }
    }
    return -1;
}

void *cmti_piece_slot(void *pieces[CMTI_PIECES], uint32_t i, size_t size)
{
    unsigned k;
    uint32_t at = cmti_piece_at(i, &k);
    if (!pieces[k] && !(pieces[k] = cmti_malloc(size << (k + CMTI_PIECE_LOG))))
        return NULL;
    return (char *)pieces[k] + (size_t)at * size;
}

int cmti_grow(void **items, size_t *cap, size_t n, size_t size, size_t first)
{
    if (n < *cap)
        return 0;
    size_t more = *cap ? 2 * *cap : first;
    void *grown = cmti_realloc(*items, more * size);
    if (!grown)
        return -1;
    *items = grown;
    *cap = more;
    return 0;
}

bool cmti_has_suffix(const char *s, const char *suffix)
{
    size_t len = strlen(s), n = strlen(suffix);
    return len > n && strcmp(s + len - n, suffix) == 0;
}

const char *cmti_base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}
