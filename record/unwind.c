/*
 * unwind.c - the program's stack, frame by frame, from the call frame
 * information every binary carries for exceptions (.eh_frame), each
 * return address's rule learnt once and kept in the thread's cache.
 *
 * libunwind's unw_backtrace took 40 ns a call and 7 ns a frame here, most
 * of a Python run's cost with --stacks (32 frames at almost every
 * allocation).  The rules of x86-64 code are nearly all of one shape: the
 * frame's base (the CFA) is the stack pointer or the frame pointer plus a
 * constant, the return address just below it, and the caller's frame
 * pointer saved at a constant offset from it, or left alone.  A frame
 * whose rule has another shape (a signal's trampoline, a DWARF
 * expression), or a base outside the thread's stack, ends the walk as
 * "not known", and the caller asks libunwind instead.  A walk that meets
 * the thread's last walk compares the rest instead (same_rest).  Code
 * without any call frame information (the loader's entry point, which
 * runs the libraries' constructors) is the outermost frame, as libunwind
 * takes it.
 */
#define _GNU_SOURCE /* dl_iterate_phdr, pthread_getattr_np */
#include "recorder.h"
#include "cmt_internal.h"

#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define THREAD_LOCAL __thread __attribute__((tls_model("initial-exec")))

enum { REG_RBP = 6, REG_RSP = 7, REG_RA = 16 };

/* 16 bytes, four to a cache line: a walk's time went on missing them in
 * a table of 24-byte rules. */
typedef struct rule {
    uintptr_t ip;       /* the return address it is for; 0: the entry is empty */
    int32_t cfa_offset;
    int16_t rbp_offset; /* where the caller's rbp is saved, from the CFA; 0: left alone */
    uint8_t cfa_reg;    /* REG_RSP or REG_RBP */
    bool known : 1;     /* the rule has the shape this walker follows */
    bool last : 1;      /* the return address is undefined: the outermost frame */
} rule;

/* The thread's rules, direct-mapped by return address, and its stack's
 * bounds: mapped on its first walk (malloc is the program's). */
#define RULES 4096
static THREAD_LOCAL rule *rules;
static THREAD_LOCAL uintptr_t stack_low, stack_high;

/* The thread's last walk, frame by frame: where a new walk comes to a
 * frame of it (the same return address at the same base) below which
 * every frame's base was the stack pointer plus a constant, the rest of
 * the stack is the same if the return addresses the stack holds there
 * still are: read and compared, they spare a rule's lookup a frame,
 * which missed the cache (the outer frames of consecutive allocations
 * are mostly the same). */
#define WALK_MOST (STACKS_DEPTH_MOST + 8)
typedef struct walk {
    int n;                   /* frames, the walker's own first */
    bool natural;            /* it ended at the stack's end, not at the depth asked for */
    bool zero;               /* ... at a return address of 0 (read at the last base, and checked) */
    uintptr_t ip[WALK_MOST], cfa[WALK_MOST];
    bool by_sp[WALK_MOST];   /* the frame's base is the stack pointer plus a constant */
} walk;
static THREAD_LOCAL walk *last_walk;

/* What a thread maps: its rules, then its last walk. */
#define THREAD_AREA (RULES * sizeof(rule) + sizeof(walk))

/* ------------------------------------------------------ reading the CFI */

/* An unsigned LEB128 number (the format's varints); one that runs past
 * END, or past 64 bits, ends the record (*P at END) as 0. */
static uint64_t uleb(const uint8_t **p, const uint8_t *end)
{
    uint64_t v;
    if (cmti_varint_get(p, end, &v) == 0)
        return v;
    *p = end;
    return 0;
}

static int64_t sleb(const uint8_t **p, const uint8_t *end)
{
    int64_t v = 0;
    unsigned shift = 0;
    uint8_t b = 0;
    while (*p < end && shift < 64) {
        b = *(*p)++;
        v |= (int64_t)((uint64_t)(b & 0x7f) << shift);
        shift += 7;
        if (!(b & 0x80))
            break;
    }
    if (shift < 64 && (b & 0x40))
        v |= -((int64_t)1 << shift);
    return v;
}

/* A pointer encoded as ENCODING (DW_EH_PE_*) at *P; DATA is the base of
 * datarel.  False for an encoding this reader does not take. */
static bool encoded(const uint8_t **p, const uint8_t *end, uint8_t encoding, uintptr_t data, uintptr_t *out)
{
    if (encoding == 0xff) { /* omit */
        *out = 0;
        return true;
    }
    const uint8_t *at = *p;
    static const uint8_t width[16] = {8, 0, 2, 4, 8, 0, 0, 0, 0, 0, 2, 4, 8, 0, 0, 0};
    if ((size_t)(end - at) < width[encoding & 0x0f])
        return false;
    uintptr_t v;
    switch (encoding & 0x0f) {
    case 0x00: memcpy(&v, at, 8); *p += 8; break;
    case 0x01: v = (uintptr_t)uleb(p, end); break;
    case 0x02: { uint16_t x; memcpy(&x, at, 2); v = x; *p += 2; break; }
    case 0x03: { uint32_t x; memcpy(&x, at, 4); v = x; *p += 4; break; }
    case 0x04: memcpy(&v, at, 8); *p += 8; break;
    case 0x09: v = (uintptr_t)sleb(p, end); break;
    case 0x0a: { int16_t x; memcpy(&x, at, 2); v = (uintptr_t)(intptr_t)x; *p += 2; break; }
    case 0x0b: { int32_t x; memcpy(&x, at, 4); v = (uintptr_t)(intptr_t)x; *p += 4; break; }
    case 0x0c: memcpy(&v, at, 8); *p += 8; break;
    default: return false;
    }
    switch (encoding & 0x70) {
    case 0x00: break;
    case 0x10: v += (uintptr_t)at; break; /* pcrel */
    case 0x30: v += data; break;          /* datarel */
    default: return false;
    }
    if (encoding & 0x80) /* indirect */
        return false;
    *out = v;
    return *p <= end;
}

/* The FDE of the code at IP, from its object's .eh_frame_hdr search
 * table. */
struct fde_search {
    uintptr_t ip;
    const uint8_t *fde;
};

static int find_fde(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct fde_search *s = data;
    const ElfW(Phdr) *hdr = NULL;
    bool holds = false;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && s->ip >= start && s->ip < start + ph->p_memsz)
            holds = true;
        if (ph->p_type == PT_GNU_EH_FRAME)
            hdr = ph;
    }
    if (!holds)
        return 0;
    if (!hdr)
        return 1;
    const uint8_t *h = (const uint8_t *)(info->dlpi_addr + hdr->p_vaddr), *end = h + hdr->p_memsz, *p = h + 4;
    uintptr_t frame, count;
    /* version 1; the table: (initial location, FDE) pairs of datarel sdata4, sorted */
    if (h[0] != 1 || h[3] != 0x3b || !encoded(&p, end, h[1], (uintptr_t)h, &frame) ||
        !encoded(&p, end, h[2], (uintptr_t)h, &count))
        return 1;
    const int32_t *table = (const int32_t *)p;
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if ((uintptr_t)h + (uintptr_t)(intptr_t)table[2 * mid] <= s->ip)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo > 0)
        s->fde = h + table[2 * (lo - 1) + 1];
    return 1;
}

typedef struct cfa_state {
    uint8_t cfa_reg;
    int64_t cfa_offset;
    int64_t rbp_offset; /* 0: same value */
    int64_t ra_offset;  /* where the return address is, from the CFA */
    bool ra_undefined, odd; /* odd: a shape this walker does not follow */
} cfa_state;

/* Runs the CFI instructions from P to END, for code at TARGET, from LOC. */
static bool run_cfi(const uint8_t *p, const uint8_t *end, uintptr_t loc, uintptr_t target, uint64_t code_align,
                    int64_t data_align, cfa_state *s, const cfa_state *initial)
{
    cfa_state remembered[8];
    unsigned depth = 0;
    while (p < end) {
        uint8_t op = *p++;
        uint64_t reg;
        int64_t off;
        switch (op >> 6) {
        case 1: /* advance_loc */
            loc += (op & 0x3f) * code_align;
            if (loc > target)
                return true;
            continue;
        case 2: /* offset */
            off = (int64_t)uleb(&p, end) * data_align;
            if ((op & 0x3f) == REG_RBP)
                s->rbp_offset = off;
            else if ((op & 0x3f) == REG_RA)
                s->ra_offset = off;
            continue;
        case 3: /* restore */
            if ((op & 0x3f) == REG_RBP)
                s->rbp_offset = initial->rbp_offset;
            else if ((op & 0x3f) == REG_RA)
                s->ra_offset = initial->ra_offset;
            continue;
        }
        switch (op) {
        case 0x00: break;                                   /* nop */
        case 0x02: /* advance_loc1, 2 and 4 */
        case 0x03:
        case 0x04: {
            size_t n = op == 0x02 ? 1 : op == 0x03 ? 2 : 4;
            if ((size_t)(end - p) < n)
                return false;
            uint32_t d = 0;
            memcpy(&d, p, n); /* little endian */
            p += n;
            loc += d * code_align;
            if (loc > target)
                return true;
            break;
        }
        case 0x05: /* offset_extended */
        case 0x11: /* offset_extended_sf */
            reg = uleb(&p, end);
            off = op == 0x05 ? (int64_t)uleb(&p, end) * data_align : sleb(&p, end) * data_align;
            if (reg == REG_RBP)
                s->rbp_offset = off;
            else if (reg == REG_RA)
                s->ra_offset = off;
            break;
        case 0x06: /* restore_extended */
            reg = uleb(&p, end);
            if (reg == REG_RBP)
                s->rbp_offset = initial->rbp_offset;
            break;
        case 0x07: /* undefined */
            if (uleb(&p, end) == REG_RA)
                s->ra_undefined = true;
            break;
        case 0x08: /* same_value */
            if (uleb(&p, end) == REG_RBP)
                s->rbp_offset = 0;
            break;
        case 0x09: /* register */
            reg = uleb(&p, end);
            uleb(&p, end);
            if (reg == REG_RBP || reg == REG_RA)
                s->odd = true;
            break;
        case 0x0a: /* remember_state */
            if (depth == 8)
                return false;
            remembered[depth++] = *s;
            break;
        case 0x0b: /* restore_state */
            if (depth == 0)
                return false;
            *s = remembered[--depth];
            break;
        case 0x0c: /* def_cfa */
            s->cfa_reg = (uint8_t)uleb(&p, end);
            s->cfa_offset = (int64_t)uleb(&p, end);
            break;
        case 0x0d: /* def_cfa_register */
            s->cfa_reg = (uint8_t)uleb(&p, end);
            break;
        case 0x0e: /* def_cfa_offset */
            s->cfa_offset = (int64_t)uleb(&p, end);
            break;
        case 0x12: /* def_cfa_sf */
            s->cfa_reg = (uint8_t)uleb(&p, end);
            s->cfa_offset = sleb(&p, end) * data_align;
            break;
        case 0x13: /* def_cfa_offset_sf */
            s->cfa_offset = sleb(&p, end) * data_align;
            break;
        case 0x2e: /* GNU_args_size */
            uleb(&p, end);
            break;
        case 0x0f: /* def_cfa_expression */
            s->odd = true;
            p += uleb(&p, end);
            break;
        case 0x10: /* expression */
        case 0x16: /* val_expression */
            reg = uleb(&p, end);
            p += uleb(&p, end);
            if (reg == REG_RBP || reg == REG_RA || reg == REG_RSP)
                s->odd = true;
            break;
        case 0x14: /* val_offset */
        case 0x15: /* val_offset_sf */
            reg = uleb(&p, end);
            if (op == 0x14)
                uleb(&p, end);
            else
                sleb(&p, end);
            if (reg == REG_RBP || reg == REG_RA)
                s->odd = true;
            break;
        default:
            return false;
        }
    }
    return true;
}

/* The rule for the code at TARGET (a return address less one, or the
 * first frame's own address), from its FDE. */
static rule learn(uintptr_t ip, uintptr_t target)
{
    rule r = {.ip = ip};
    struct fde_search search = {target, NULL};
    dl_iterate_phdr(find_fde, &search);
    const uint8_t *fde = search.fde;
    if (!fde) { /* code without call frame information (the loader's entry): where unwinding ends */
        r.known = r.last = true;
        return r;
    }
    uint32_t len;
    memcpy(&len, fde, 4);
    if (len == 0 || len == 0xffffffffu)
        return r;
    const uint8_t *fde_end = fde + 4 + len, *p = fde + 4;
    int32_t cie_delta;
    memcpy(&cie_delta, p, 4);
    const uint8_t *cie = p - cie_delta;
    p += 4;
    uint32_t cie_len;
    memcpy(&cie_len, cie, 4);
    if (cie_len == 0 || cie_len == 0xffffffffu)
        return r;
    const uint8_t *cie_end = cie + 4 + cie_len, *c = cie + 8;
    uint8_t version = *c++;
    const char *augmentation = (const char *)c;
    c += strlen(augmentation) + 1;
    uint64_t code_align = uleb(&c, cie_end);
    int64_t data_align = sleb(&c, cie_end);
    uint64_t ra_reg = version == 1 ? *c++ : uleb(&c, cie_end);
    uint8_t fde_encoding = 0;
    if (augmentation[0] == 'z') {
        uint64_t n = uleb(&c, cie_end);
        const uint8_t *data_end = c + n;
        for (const char *a = augmentation + 1; *a && c < data_end; a++) {
            uintptr_t ignored;
            if (*a == 'R')
                fde_encoding = *c++;
            else if (*a == 'L')
                c++;
            else if (*a == 'P') {
                uint8_t e = *c++;
                if (!encoded(&c, data_end, e & 0x7f, 0, &ignored))
                    return r;
            } else if (*a == 'S')
                return r; /* a signal's frame: libunwind knows those */
        }
        c = data_end;
    } else if (augmentation[0]) {
        return r;
    }
    uintptr_t start, range;
    if (ra_reg != REG_RA || !encoded(&p, fde_end, fde_encoding, 0, &start) ||
        !encoded(&p, fde_end, fde_encoding & 0x0f, 0, &range))
        return r;
    if (target < start || target >= start + range) { /* the FDE before it: the code has none */
        r.known = r.last = true;
        return r;
    }
    if (augmentation[0] == 'z')
        p += uleb(&p, fde_end);
    cfa_state s = {.cfa_reg = REG_RSP, .cfa_offset = 8, .ra_offset = -8};
    if (!run_cfi(c, cie_end, start, target, code_align, data_align, &s, &s))
        return r;
    cfa_state initial = s;
    if (!run_cfi(p, fde_end, start, target, code_align, data_align, &s, &initial))
        return r;
    r.last = s.ra_undefined;
    r.known = !s.odd && (s.cfa_reg == REG_RSP || s.cfa_reg == REG_RBP) && s.ra_offset == -8 &&
              s.cfa_offset == (int32_t)s.cfa_offset && s.rbp_offset == (int16_t)s.rbp_offset;
    r.cfa_reg = s.cfa_reg;
    r.cfa_offset = (int32_t)s.cfa_offset;
    r.rbp_offset = (int16_t)s.rbp_offset;
    return r;
}

/* ------------------------------------------------------------- walking */

/* The thread's rules and stack bounds, made on its first walk; false if
 * they could not be. */
static bool thread_ready(void)
{
    if (rules)
        return true;
    pthread_attr_t attr;
    void *base;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &attr) != 0)
        return false;
    bool ok = pthread_attr_getstack(&attr, &base, &size) == 0;
    pthread_attr_destroy(&attr);
    if (!ok)
        return false;
    void *p = mmap(NULL, THREAD_AREA, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return false;
    stack_low = (uintptr_t)base;
    stack_high = (uintptr_t)base + size;
    rules = p;
    last_walk = (walk *)((rule *)p + RULES);
    return true;
}

void unwind_thread_gone(void)
{
    if (rules)
        munmap(rules, THREAD_AREA);
    rules = NULL;
    last_walk = NULL;
}

static const rule *rule_of(uintptr_t ip, bool first)
{
    rule *r = &rules[(ip ^ ip >> 13) % RULES];
    if (r->ip != ip)
        *r = learn(ip, first ? ip : ip - 1);
    return r;
}

/* The word on the stack at ADDRESS (checked to be there by the caller). */
static uintptr_t word_at(uintptr_t address)
{
    uintptr_t w;
    memcpy(&w, (const void *)address, sizeof w);
    return w;
}

/* Frame J of the last walk has the base and return address the new walk
 * is at: the frames above it are the same, if the stack still holds
 * their return addresses and each frame's base followed from the one
 * before (by the stack pointer).  Returns how many frames the last walk
 * had past J that are the new walk's too, and the new walk is then
 * complete (-1: not so). */
static int same_rest(const walk *w, int j, int room)
{
    int rest = w->n - 1 - j;
    if (!w->natural && rest < room)
        return -1; /* the last walk stopped short of where this one must go */
    for (int k = j + 1; k < w->n && k - j <= room; k++)
        if (word_at(w->cfa[k - 1] - 8) != w->ip[k] || !w->by_sp[k])
            return -1;
    if (w->natural && w->zero && rest < room && word_at(w->cfa[w->n - 1] - 8) != 0)
        return -1;
    return rest < room ? rest : room;
}

__attribute__((noinline)) int unwind_stack(void **ips, int most)
{
    if (!thread_ready())
        return -1;
    walk *w = last_walk;
    uintptr_t frame_ip[WALK_MOST], frame_cfa[WALK_MOST];
    bool frame_by_sp[WALK_MOST];
    int frames = 0, j = 0; /* the frames walked; where the last walk's bases reach this one's */
    bool natural = true, zero = false;
    uintptr_t ip, sp, bp;
    __asm__ volatile("lea 0(%%rip), %0\n\tmov %%rsp, %1\n\tmov %%rbp, %2" : "=r"(ip), "=r"(sp), "=r"(bp));
    int n = 0;
    for (bool first = true;; first = false) {
        if (n == most) {
            natural = false;
            break;
        }
        const rule *r = rule_of(ip, first);
        if (!r->known || frames == WALK_MOST)
            return -1;
        if (!first)
            ips[n++] = (void *)ip;
        frame_ip[frames] = ip;
        if (r->last) { /* the outermost frame: its base is not needed */
            frame_cfa[frames] = 0;
            frame_by_sp[frames++] = true;
            break;
        }
        uintptr_t cfa = (r->cfa_reg == REG_RSP ? sp : bp) + (uintptr_t)(intptr_t)r->cfa_offset;
        if (cfa < stack_low + 8 || cfa > stack_high || cfa <= sp)
            return -1; /* a base outside the stack: not a rule to trust */
        frame_cfa[frames] = cfa;
        frame_by_sp[frames++] = r->cfa_reg == REG_RSP;
        while (j < w->n && w->cfa[j] < cfa)
            j++;
        int rest;
        if (!first && j < w->n && w->cfa[j] == cfa && w->ip[j] == ip && (rest = same_rest(w, j, most - n)) >= 0) {
            for (int k = 1; k <= rest; k++)
                ips[n++] = (void *)w->ip[j + k];
            /* The new walk for the next: this one's frames, then the last's. */
            int old_rest = w->n - j - 1, keep = old_rest < WALK_MOST - frames ? old_rest : WALK_MOST - frames;
            memmove(w->ip + frames, w->ip + j + 1, (size_t)keep * sizeof *w->ip);
            memmove(w->cfa + frames, w->cfa + j + 1, (size_t)keep * sizeof *w->cfa);
            memmove(w->by_sp + frames, w->by_sp + j + 1, (size_t)keep * sizeof *w->by_sp);
            memcpy(w->ip, frame_ip, (size_t)frames * sizeof *frame_ip);
            memcpy(w->cfa, frame_cfa, (size_t)frames * sizeof *frame_cfa);
            memcpy(w->by_sp, frame_by_sp, (size_t)frames * sizeof *frame_by_sp);
            w->n = frames + keep;
            w->natural = w->natural && keep == old_rest;
            return n;
        }
        uintptr_t ra = word_at(cfa - 8);
        if (r->rbp_offset) {
            uintptr_t at = cfa + (uintptr_t)(intptr_t)r->rbp_offset;
            if (at < sp || at + 8 > stack_high) /* a frame's saves are between its stack pointer and its base */
                return -1;
            bp = word_at(at);
        }
        sp = cfa;
        ip = ra;
        if (ip == 0) {
            zero = true;
            break;
        }
    }
    memcpy(w->ip, frame_ip, (size_t)frames * sizeof *frame_ip);
    memcpy(w->cfa, frame_cfa, (size_t)frames * sizeof *frame_cfa);
    memcpy(w->by_sp, frame_by_sp, (size_t)frames * sizeof *frame_by_sp);
    w->n = frames;
    w->natural = natural;
    w->zero = zero;
    return n;
}
