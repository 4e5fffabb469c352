/*
 * live.c - see live.h.
 */
#include "live.h"
#include "internal.h"

#include <stdlib.h>

#define LIVE_DEAD (1ULL << 63)
#define MIN_CAP 64

static inline size_t lowbit(size_t i)
{
    return i & (~i + 1);
}

static void resize(cmt_live *set, size_t cap)
{
    set->cap = cap;
    set->tags = cmt_xrealloc(set->tags, (cap + 1) * sizeof *set->tags);
    set->tree = cmt_xrealloc(set->tree, (cap + 1) * sizeof *set->tree);
}

void cmt_live_init(cmt_live *set)
{
    set->tags = NULL;
    set->tree = NULL;
    set->n = set->live = 0;
    resize(set, MIN_CAP);
}

void cmt_live_destroy(cmt_live *set)
{
    free(set->tags);
    free(set->tree);
    set->tags = NULL;
    set->tree = NULL;
}

/* Live entries among positions 1..POS. */
static size_t prefix(const cmt_live *set, size_t pos)
{
    size_t sum = 0;
    for (; pos > 0; pos -= lowbit(pos))
        sum += set->tree[pos];
    return sum;
}

void cmt_live_push(cmt_live *set, uint64_t tag)
{
    if (set->n == set->cap)
        resize(set, set->cap * 2);
    size_t pos = ++set->n;
    set->tags[pos] = tag;
    /* A Fenwick node covers (pos - lowbit(pos), pos]: all at or before pos,
     * so a node can be computed when its position is appended. */
    uint32_t count = 1;
    for (size_t i = pos - 1; i > pos - lowbit(pos); i -= lowbit(i))
        count += set->tree[i];
    set->tree[pos] = count;
    set->live++;
}

/* Drops the dead entries so that the array holds only live ones. */
static void compact(cmt_live *set)
{
    size_t n = 0;
    for (size_t i = 1; i <= set->n; i++)
        if (!(set->tags[i] & LIVE_DEAD))
            set->tags[++n] = set->tags[i];
    set->n = n;
    for (size_t i = 1; i <= n; i++)
        set->tree[i] = 1;
    for (size_t i = 1; i <= n; i++) {
        size_t parent = i + lowbit(i);
        if (parent <= n)
            set->tree[parent] += set->tree[i];
    }
    if (set->cap > MIN_CAP && set->cap > 4 * n)
        resize(set, set->cap / 2 > MIN_CAP ? set->cap / 2 : MIN_CAP);
}

void cmt_live_remove_at(cmt_live *set, size_t pos)
{
    set->tags[pos] |= LIVE_DEAD;
    set->live--;
    if (pos == set->n) {
        /* Nodes at or before the new end never cover the dropped tail. */
        while (set->n > 0 && (set->tags[set->n] & LIVE_DEAD))
            set->n--;
        return;
    }
    for (size_t i = pos; i <= set->n; i += lowbit(i))
        set->tree[i]--;
    if (set->n > MIN_CAP && set->n > 2 * set->live)
        compact(set);
}

int cmt_live_find_rank(const cmt_live *set, uint64_t rank, size_t *pos)
{
    if (rank >= set->live)
        return -1;
    if (rank == 0) { /* the last entry is always live */
        *pos = set->n;
        return 0;
    }
    /* The smallest position whose prefix count is live - rank. */
    size_t want = set->live - rank;
    size_t step = 1;
    while (step * 2 <= set->n)
        step *= 2;
    size_t p = 0;
    for (; step > 0; step /= 2) {
        if (p + step <= set->n && set->tree[p + step] < want) {
            p += step;
            want -= set->tree[p];
        }
    }
    *pos = p + 1;
    return 0;
}

int cmt_live_find_tag(const cmt_live *set, uint64_t tag, size_t *pos)
{
    if (set->n > 0 && set->tags[set->n] == tag) {
        *pos = set->n;
        return 0;
    }
    /* Blocks mostly die young: gallop back from the newest to bracket TAG
     * (cache lines near the end are warm), then bisect the bracket. */
    size_t lo = 1, hi = set->n + 1;
    for (size_t step = 1; step < set->n; step *= 2) {
        size_t probe = set->n - step;
        if ((set->tags[probe] & ~LIVE_DEAD) < tag) {
            lo = probe + 1;
            break;
        }
        hi = probe + 1;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if ((set->tags[mid] & ~LIVE_DEAD) < tag)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo > set->n || set->tags[lo] != tag)
        return -1; /* absent, or present but dead */
    *pos = lo;
    return 0;
}

uint64_t cmt_live_rank_at(const cmt_live *set, size_t pos)
{
    return set->live - prefix(set, pos);
}
