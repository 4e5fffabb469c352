/*
 * stacks.c - the call stack of every allocation (--stacks), interned.
 *
 * The program's thread unwinds its own stack (unwind.c, from the
 * binaries' call frame information, which Debian's binaries, built
 * without frame pointers, all have; libunwind's unw_backtrace where a
 * frame's rule is of another shape) and looks the frames up in a cache
 * of its own: a repeated stack costs a hash and a comparison of its
 * frames.  A stack it has not met is added, under a
 * lock, to the tree every thread shares: one node per frame on top of its
 * caller's node, so that stacks share their common callers, as the file
 * keeps them (extension kind STACK).  The numbers are the file's: the
 * sink names the nodes in order, each before the first block made from
 * it, with the modules (programs and libraries) their frames are in.
 */
#define _GNU_SOURCE /* dladdr, dl_iterate_phdr */
#include "recorder.h"
#include "cmt_internal.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#define THREAD_LOCAL __thread __attribute__((tls_model("initial-exec")))

/* Frames unw_backtrace is asked for beyond the depth kept: the
 * recorder's own, dropped. */
#define OWN_FRAMES_MOST 4

typedef struct node {
    uint64_t ip;     /* the frame's return address */
    uint32_t caller; /* the node below it; 0 for the outermost kept */
} node;

static struct {
    int depth;                  /* 0: no stacks */
    uintptr_t own_start, own_end; /* libcmtrecord.so's code: frames there are the recorder's */
    pthread_mutex_t lock;       /* adding nodes */
    node *nodes[CMTI_PIECES];   /* by number - 1; cmti_piece_slot's, never moving */
    _Atomic uint32_t count;     /* nodes published */
    uint32_t *index;            /* (caller, ip) -> number, open addressing; 0 is empty */
    size_t index_mask;          /* its size - 1, a power of 2 less 1 */
} tree = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* CMTRECORD_UNWIND_CHECK=1: every stack is unwound both ways, and a
 * difference is said and aborts the program (the tests' check of
 * unwind.c on real programs). */
static bool checking;
static _Atomic uint64_t walked, unwound; /* stacks our walker took, and libunwind */

/* A thread's stacks met lately, by the hash of their frames, each with
 * its frames: comparing them is a read of a few lines in a row, where
 * walking the stack's nodes to check it took a cache miss a frame (a
 * fifth of a Python run's time).  Mapped on the thread's first stack
 * (malloc is the program's), unmapped at its exit (stacks_thread_gone). */
#define CACHE_SIZE 1024

typedef struct cached {
    uint64_t hash;
    uint32_t stack;
    uint32_t n;
    uintptr_t ips[]; /* tree.depth of them */
} cached;

static THREAD_LOCAL unsigned char *cache;

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdULL;
}

static node *node_at(uint32_t number)
{
    return cmti_piece_get((void *const *)tree.nodes, number - 1, sizeof(node));
}

/* The span [*START, *END) of INFO's object's loaded segments; empty
 * (*START >= *END) for an object with none. */
static void loaded_span(const struct dl_phdr_info *info, uintptr_t *start, uintptr_t *end)
{
    *start = UINTPTR_MAX;
    *end = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t s = info->dlpi_addr + ph->p_vaddr, e = s + ph->p_memsz;
        *start = s < *start ? s : *start;
        *end = e > *end ? e : *end;
    }
}

/* True if ADDRESS is in [START, END). */
static bool within(const void *address, uintptr_t start, uintptr_t end)
{
    return (uintptr_t)address >= start && (uintptr_t)address < end;
}

/* How many of the N frames at IPS, from the first, are the recorder's
 * own (libcmtrecord.so's). */
static int own_frames(void *const *ips, int n)
{
    int k = 0;
    while (k < n && within(ips[k], tree.own_start, tree.own_end))
        k++;
    return k;
}

/* Finds [start, end) of the object that holds ADDRESS. */
struct object_range {
    uintptr_t address, start, end;
};

static int find_object(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct object_range *o = data;
    uintptr_t start, end;
    loaded_span(info, &start, &end);
    if (!within((const void *)o->address, start, end))
        return 0;
    o->start = start;
    o->end = end;
    return 1;
}

void stacks_start(int depth)
{
    if (depth <= 0)
        return;
    struct object_range own = {(uintptr_t)&stacks_start, 0, 0};
    dl_iterate_phdr(find_object, &own);
    tree.own_start = own.start;
    tree.own_end = own.end;
    tree.index_mask = 4095;
    tree.index = calloc(tree.index_mask + 1, sizeof *tree.index);
    if (!tree.index)
        return;
    unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
    const char *check = getenv(CMTRECORD_UNWIND_CHECK);
    checking = check && strcmp(check, "1") == 0;
    tree.depth = depth > STACKS_DEPTH_MOST ? STACKS_DEPTH_MOST : depth;
}

bool stacks_wanted(void)
{
    return tree.depth > 0;
}

static size_t slot_of(uint32_t caller, uint64_t ip)
{
    return (size_t)mix(mix(0, caller), ip) & tree.index_mask;
}

/* The index, twice as large.  False when out of memory. */
static bool grow_index(void)
{
    size_t mask = tree.index_mask * 2 + 1;
    uint32_t *index = calloc(mask + 1, sizeof *index);
    if (!index)
        return false;
    uint32_t *old = tree.index;
    tree.index = index;
    tree.index_mask = mask;
    for (uint32_t n = 1; n <= atomic_load_explicit(&tree.count, memory_order_relaxed); n++) {
        const node *d = node_at(n);
        size_t s = slot_of(d->caller, d->ip);
        while (index[s])
            s = (s + 1) & mask;
        index[s] = n;
    }
    free(old);
    return true;
}

/* The node for IP on CALLER, added if new; 0 when out of memory.  The
 * lock held. */
static uint32_t intern(uint32_t caller, uint64_t ip)
{
    size_t s = slot_of(caller, ip);
    for (uint32_t n; (n = tree.index[s]); s = (s + 1) & tree.index_mask) {
        const node *d = node_at(n);
        if (d->ip == ip && d->caller == caller)
            return n;
    }
    uint32_t count = atomic_load_explicit(&tree.count, memory_order_relaxed);
    if (count == UINT32_MAX - 1)
        return 0;
    node *d = cmti_piece_slot((void **)tree.nodes, count, sizeof *d);
    if (!d)
        return 0;
    *d = (node){ip, caller};
    tree.index[s] = count + 1;
    atomic_store_explicit(&tree.count, count + 1, memory_order_release);
    if ((size_t)count + 1 > tree.index_mask / 2 && !grow_index())
        return 0;
    return count + 1;
}

static size_t cached_size(void)
{
    return sizeof(cached) + (size_t)tree.depth * sizeof(uintptr_t);
}

/* The calling thread's cache, mapped on its first call; NULL if it could
 * not be. */
static unsigned char *thread_cache(void)
{
    if (!cache) {
        void *p = mmap(NULL, CACHE_SIZE * cached_size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        cache = p == MAP_FAILED ? NULL : p;
    }
    return cache;
}

static void check_unwinding(void *const *ips, int n)
{
    void *theirs[STACKS_DEPTH_MOST + OWN_FRAMES_MOST];
    int m = unw_backtrace(theirs, tree.depth + OWN_FRAMES_MOST);
    int skip = own_frames(theirs, m), ours = own_frames(ips, n);
    int k = 0;
    while (ours + k < n && skip + k < m && ips[ours + k] == theirs[skip + k])
        k++;
    if ((ours + k < n && skip + k < m) || (n - ours != m - skip && n < tree.depth + OWN_FRAMES_MOST &&
                                            m < tree.depth + OWN_FRAMES_MOST)) {
        char line[160];
        int len = snprintf(line, sizeof line, "cmtrecord: unwinding differs at frame %d: %p (of %d) against libunwind's "
                                              "%p (of %d)\n", k, k < n - ours ? ips[ours + k] : NULL, n - ours,
                           k < m - skip ? theirs[skip + k] : NULL, m - skip);
        (void)!write(2, line, (size_t)len);
        abort();
    }
}

uint32_t stacks_capture(void)
{
    void *ips[STACKS_DEPTH_MOST + OWN_FRAMES_MOST];
    /* Our own walk where it knows every frame's rule, libunwind's else. */
    int n = unwind_stack(ips, tree.depth + OWN_FRAMES_MOST);
    if (checking) {
        atomic_fetch_add(n >= 0 ? &walked : &unwound, 1);
        if (n >= 0)
            check_unwinding(ips, n);
    }
    if (n < 0)
        n = unw_backtrace(ips, tree.depth + OWN_FRAMES_MOST);
    int first = own_frames(ips, n);
    n -= first;
    n = n > tree.depth ? tree.depth : n;
    if (n <= 0)
        return 0;
    void **frames = ips + first;
    /* A rotate and an xor a frame, mixed once at the end: a multiply a
     * frame was a tenth of a Python run's time with --stacks (the
     * frames are compared anyway). */
    uint64_t hash = (uint64_t)n;
    for (int i = 0; i < n; i++)
        hash = (hash << 7 | hash >> 57) ^ (uint64_t)(uintptr_t)frames[i];
    hash = mix(hash, 0);
    unsigned char *entries = thread_cache();
    cached *e = entries ? (cached *)(entries + (hash >> 54) % CACHE_SIZE * cached_size()) : NULL;
    if (e && e->hash == hash && e->n == (uint32_t)n && e->stack && memcmp(e->ips, frames, (size_t)n * sizeof *frames) == 0)
        return e->stack;
    pthread_mutex_lock(&tree.lock);
    uint32_t stack = 0;
    for (int i = n - 1; i >= 0; i--)
        if (!(stack = intern(stack, (uint64_t)(uintptr_t)frames[i])))
            break;
    pthread_mutex_unlock(&tree.lock);
    if (e) {
        e->hash = hash;
        e->stack = stack;
        e->n = (uint32_t)n;
        memcpy(e->ips, frames, (size_t)n * sizeof *frames);
    }
    return stack;
}

void stacks_report(void)
{
    if (!checking)
        return;
    char line[160];
    int len = snprintf(line, sizeof line, "cmtrecord: unwinding checked: %llu stacks walked, %llu by libunwind\n",
                       (unsigned long long)atomic_load(&walked), (unsigned long long)atomic_load(&unwound));
    (void)!write(2, line, (size_t)len);
}

void stacks_thread_gone(void)
{
    if (!tree.depth)
        return;
    if (cache)
        munmap(cache, CACHE_SIZE * cached_size());
    cache = NULL;
    unwind_thread_gone();
}

void stacks_before_fork(void)
{
    pthread_mutex_lock(&tree.lock);
}

void stacks_after_fork(void)
{
    pthread_mutex_unlock(&tree.lock);
}

/* ------------------------------------------------------ the sink's half */

/* The modules the process has loaded, as the sink last looked
 * (dl_iterate_phdr), and which of them the file has named. */
#define MODULES_MOST 8192
#define BUILD_ID_MOST 64

typedef struct module {
    uintptr_t start, end; /* its loaded segments span this */
    uint64_t base;        /* its load bias */
    char *path;
    uint8_t build_id[BUILD_ID_MOST];
    size_t build_id_len;
    uint32_t number;      /* in the file; 0: not named there yet */
} module;

static struct {
    module list[MODULES_MOST];
    size_t n;
    uint32_t named; /* nodes named in the file */
} seen;

/* The GNU build-id in the notes of INFO's object, into M. */
static void read_build_id(const struct dl_phdr_info *info, module *m)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr), *end = p + ph->p_memsz;
        while (end - p >= (ptrdiff_t)sizeof(ElfW(Nhdr))) {
            const ElfW(Nhdr) *note = (const ElfW(Nhdr) *)p;
            size_t name = (note->n_namesz + 3) & ~(size_t)3, desc = (note->n_descsz + 3) & ~(size_t)3;
            const uint8_t *data = p + sizeof *note + name;
            if (data + desc > end)
                break;
            if (note->n_type == NT_GNU_BUILD_ID && note->n_namesz == 4 &&
                memcmp(p + sizeof *note, "GNU", 4) == 0 && note->n_descsz <= BUILD_ID_MOST) {
                memcpy(m->build_id, data, note->n_descsz);
                m->build_id_len = note->n_descsz;
                return;
            }
            p = data + desc;
        }
    }
}

static int note_module(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    module m = {.base = info->dlpi_addr};
    loaded_span(info, &m.start, &m.end);
    if (m.start >= m.end)
        return 0;
    for (size_t i = 0; i < seen.n; i++)
        if (seen.list[i].start == m.start && seen.list[i].base == m.base)
            return 0;
    if (seen.n == MODULES_MOST)
        return 1;
    char exe[4096];
    const char *name = info->dlpi_name;
    if (!name || !*name) { /* the program itself */
        ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
        exe[len > 0 ? len : 0] = 0;
        name = exe;
    }
    if (!(m.path = strdup(name)))
        return 1;
    read_build_id(info, &m);
    seen.list[seen.n++] = m;
    return 0;
}

/* The module IP is in, looking again at what is loaded if none is known
 * to hold it; NULL for none (code made at run time). */
static module *module_of(uint64_t ip)
{
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < seen.n; i++)
            if (within((const void *)(uintptr_t)ip, seen.list[i].start, seen.list[i].end))
                return &seen.list[i];
        if (pass == 0)
            dl_iterate_phdr(note_module, NULL);
    }
    return NULL;
}

int stacks_name_upto(cmt_writer *w, uint32_t stack)
{
    uint32_t number;
    for (; seen.named < stack; seen.named++) {
        const node *d = node_at(seen.named + 1);
        module *m = module_of(d->ip - 1); /* the call, before the return address */
        if (m && !m->number) {
            cmt_module named = {m->base, m->path, m->build_id, m->build_id_len};
            if (cmt_writer_module(w, &named, &m->number) < 0)
                return -1;
        }
        cmt_frame frame = {d->caller, m ? m->number : 0, m ? d->ip - m->base : d->ip};
        if (cmt_writer_stack(w, &frame, &number) < 0)
            return -1;
    }
    return 0;
}

void stacks_new_file(void)
{
    seen.named = 0;
    for (size_t i = 0; i < seen.n; i++)
        seen.list[i].number = 0;
}
