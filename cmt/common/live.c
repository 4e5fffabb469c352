/*
 * live.c - see live.h.
 */
#include "live.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define WORD 64
#define MIN_CAP 64
/* The tree counts the live blocks of groups of GROUP words (1,024
 * positions), not of each word: 2.66 M live blocks make a tree of 10 KB,
 * which stays in the L1 cache, where a node a word made 320 KB whose
 * descent missed it at most levels (a third of decoding a Python trace
 * with that many live).  The words of one group are counted one by one,
 * two cache lines of bits. */
#define GROUP 16
/* A search from the newest end counts this many words one by one before
 * it turns to the tree: most frees are of blocks that young. */
#define NEAR_WORDS 8

static inline size_t lowbit(size_t i)
{
    return i & (~i + 1);
}

static inline size_t words_of(size_t positions)
{
    return (positions + WORD - 1) / WORD;
}

static inline size_t groups_of(size_t words)
{
    return (words + GROUP - 1) / GROUP;
}

/* The functions that count bits are built twice, for processors with a
 * popcnt instruction and for those without (plain x86-64, where the
 * builtin is a library call), and the loader picks.  (GCC exports the
 * picking whatever the visibility: cmt/libcmt.map keeps it in.) */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define COUNTS_BITS __attribute__((target_clones("popcnt", "default")))
#else
#define COUNTS_BITS
#endif

static inline unsigned count_bits(uint64_t bits)
{
    return (unsigned)__builtin_popcountll(bits);
}

/* The position within a word of its Ith live bit (0 = the lowest): the
 * byte that holds it from the bytes' running counts, then the bit within
 * the byte.  The highest, the newest block, is the common case. */
static inline unsigned select_bit(uint64_t bits, size_t i)
{
    uint64_t counts = bits - ((bits >> 1) & 0x5555555555555555ULL);
    counts = (counts & 0x3333333333333333ULL) + ((counts >> 2) & 0x3333333333333333ULL);
    counts = (counts + (counts >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
    uint64_t running = counts * 0x0101010101010101ULL; /* byte k: live bits in bytes 0..k */
    if (i + 1 == running >> 56)
        return 63u - (unsigned)__builtin_clzll(bits);
    unsigned byte = 0;
    while ((running >> (8 * byte) & 0xff) <= i)
        byte++;
    size_t before = byte ? running >> (8 * (byte - 1)) & 0xff : 0;
    uint64_t in = bits >> (8 * byte) & 0xff;
    for (i -= before; i > 0; i--)
        in &= in - 1;
    return 8 * byte + (unsigned)__builtin_ctzll(in);
}

/* The five arrays live in one table, so that growing it either works or
 * leaves everything as it was: the tags first, the slots (if kept), then
 * for each word its live bits and its first tag, and the tree's node of
 * each group of words.  Bytes for CAP positions, and where each array
 * starts in them. */
static size_t table_bytes(const cmti_live *set, size_t cap)
{
    return cap * (sizeof(uint64_t) + (set->with_slots ? sizeof(uint32_t) : 0)) +
           2 * (cap / WORD) * sizeof(uint64_t) + (groups_of(cap / WORD) + 1) * sizeof(uint32_t);
}

static void point_into(cmti_live *set, unsigned char *table, size_t cap)
{
    set->tags = (uint64_t *)table;
    set->slots = set->with_slots ? (uint32_t *)(table + cap * sizeof(uint64_t)) : NULL;
    set->bits = (uint64_t *)(table + cap * sizeof(uint64_t) + (set->with_slots ? cap * sizeof(uint32_t) : 0));
    set->first = set->bits + cap / WORD;
    set->tree = (uint32_t *)(set->first + cap / WORD);
}

/* Gives the set room for CAP positions (at least its N); -1 if out of
 * memory to grow, when it is as it was.  A table that will not shrink
 * keeps its size, holding the smaller layout. */
static int resize(cmti_live *set, size_t cap)
{
    size_t old = set->cap, words = words_of(set->n);
    unsigned char *table = (unsigned char *)set->tags;
    if (cap > old) {
        table = cmti_table_resize(table, set->bytes, table_bytes(set, cap));
        if (!table)
            return -1;
        set->bytes = table_bytes(set, cap);
    }
    /* The arrays after the tags move to where CAP puts them: last first
     * when they move up, first first when they move down. */
    cmti_live moved = {.with_slots = set->with_slots};
    point_into(&moved, table, cap);
    if (old) {
        cmti_live was = {.with_slots = set->with_slots};
        point_into(&was, table, old);
        size_t tree_bytes = (groups_of(words) + 1) * sizeof(uint32_t), word_bytes = words * sizeof(uint64_t);
        size_t slot_bytes = set->with_slots ? set->n * sizeof(uint32_t) : 0;
        if (cap > old) {
            memmove(moved.tree, was.tree, tree_bytes);
            memmove(moved.first, was.first, word_bytes);
            memmove(moved.bits, was.bits, word_bytes);
            if (slot_bytes)
                memmove(moved.slots, was.slots, slot_bytes);
        } else {
            if (slot_bytes)
                memmove(moved.slots, was.slots, slot_bytes);
            memmove(moved.bits, was.bits, word_bytes);
            memmove(moved.first, was.first, word_bytes);
            memmove(moved.tree, was.tree, tree_bytes);
        }
    }
    set->cap = cap;
    point_into(set, table, cap);
    if (cap < old) {
        unsigned char *smaller = cmti_table_resize(table, set->bytes, table_bytes(set, cap));
        if (smaller) {
            set->bytes = table_bytes(set, cap);
            point_into(set, smaller, cap);
        }
    }
    return 0;
}

int cmti_live_init(cmti_live *set, bool with_slots)
{
    *set = (cmti_live){.with_slots = with_slots, .rank_finger = SIZE_MAX};
    return resize(set, MIN_CAP);
}

void cmti_live_destroy(cmti_live *set)
{
    cmti_table_free(set->tags, set->bytes);
    *set = (cmti_live){.with_slots = set->with_slots};
}

/* Live blocks in the first G groups. */
static inline size_t live_in_groups(const cmti_live *set, size_t g)
{
    size_t sum = 0;
    for (; g > 0; g -= lowbit(g))
        sum += set->tree[g];
    return sum;
}

/* Live blocks in the first K words: the groups before K's from the tree,
 * and its own words counted, or the groups up to and with K's, less the
 * words of it from K on, whichever counts fewer words. */
static inline size_t live_in_words(const cmti_live *set, size_t k)
{
    size_t g = k / GROUP, group_end = (g + 1) * GROUP;
    if (k % GROUP > GROUP / 2 && group_end <= set->cap / WORD) {
        size_t sum = live_in_groups(set, g + 1);
        for (size_t w = k; w < group_end; w++)
            sum -= count_bits(set->bits[w]);
        return sum;
    }
    size_t sum = live_in_groups(set, g);
    for (size_t w = g * GROUP; w < k; w++)
        sum += count_bits(set->bits[w]);
    return sum;
}

int cmti_live_push(cmti_live *set, uint64_t tag, uint32_t slot)
{
    if (set->n == set->cap && resize(set, set->cap * 2) < 0)
        return -1;
    size_t pos = set->n++, w = pos / WORD;
    if (pos % WORD == 0) {
        if (w % GROUP == 0) {
            /* A new group.  Its tree node covers the groups (k - lowbit(k),
             * k] (1-based), all there now, so it can be computed at once
             * from the nodes below it. */
            size_t k = w / GROUP + 1;
            uint32_t count = 0;
            for (size_t i = k - 1; i > k - lowbit(k); i -= lowbit(i))
                count += set->tree[i];
            set->tree[k] = count;
        }
        set->bits[w] = 0;
        set->first[w] = tag;
    }
    set->tags[pos] = tag;
    if (set->with_slots)
        set->slots[pos] = slot;
    set->bits[w] |= 1ULL << (pos % WORD);
    set->tree[w / GROUP + 1]++; /* the only node there is yet that covers it */
    set->live++;
    set->after_finger++; /* every position is after the finger's */
    return 0;
}

/* Drops the dead positions, so that the array holds only live ones. */
static void compact(cmti_live *set)
{
    size_t m = 0, words = words_of(set->n);
    for (size_t w = 0; w < words; w++)
        for (uint64_t b = set->bits[w]; b; b &= b - 1, m++) {
            size_t from = w * WORD + (size_t)__builtin_ctzll(b);
            set->tags[m] = set->tags[from];
            if (set->with_slots)
                set->slots[m] = set->slots[from];
        }
    set->n = m;
    set->rank_finger = SIZE_MAX; /* the positions have moved */
    words = words_of(m);
    for (size_t w = 0; w < words; w++) {
        size_t in = w + 1 < words || m % WORD == 0 ? WORD : m % WORD;
        set->bits[w] = in == WORD ? ~0ULL : (1ULL << in) - 1;
        set->first[w] = set->tags[w * WORD];
    }
    size_t groups = groups_of(words), per_group = (size_t)WORD * GROUP;
    for (size_t g = 0; g < groups; g++)
        set->tree[g + 1] = (uint32_t)(m - g * per_group < per_group ? m - g * per_group : per_group);
    for (size_t k = 1; k <= groups; k++) {
        size_t parent = k + lowbit(k);
        if (parent <= groups)
            set->tree[parent] += set->tree[k];
    }
    if (set->cap > MIN_CAP && set->cap > 4 * m)
        (void)resize(set, set->cap / 2); /* needs no memory */
}

static inline void remove_at(cmti_live *set, size_t pos)
{
    size_t w = pos / WORD, groups = groups_of(words_of(set->n));
    set->bits[w] &= ~(1ULL << (pos % WORD));
    set->live--;
    if (pos > set->rank_finger)
        set->after_finger--;
    for (size_t k = w / GROUP + 1; k <= groups; k += lowbit(k))
        set->tree[k]--;
    if (pos == set->n - 1) {
        /* The newest died: the end moves back to the newest still live
         * (bits past the end are always clear). */
        while (set->n > 0) {
            size_t last = (set->n - 1) / WORD;
            if (set->bits[last]) {
                set->n = last * WORD + WORD - (size_t)__builtin_clzll(set->bits[last]);
                break;
            }
            set->n = last * WORD;
        }
        if (set->rank_finger >= set->n)
            set->rank_finger = SIZE_MAX; /* the next push would come before it */
        return;
    }
    if (set->n > MIN_CAP && set->n > 2 * set->live)
        compact(set);
}

COUNTS_BITS int cmti_live_find_rank(const cmti_live *set, uint64_t rank, size_t *pos)
{
    if (rank >= set->live)
        return -1;
    if (rank == 0) { /* the newest: the last position is always live */
        *pos = set->n - 1;
        return 0;
    }
    size_t words = words_of(set->n);
    uint64_t left = rank;
    for (size_t w = words; w > 0 && words - w < NEAR_WORDS;) {
        w--;
        size_t count = (size_t)count_bits(set->bits[w]);
        if (left < count) {
            *pos = w * WORD + select_bit(set->bits[w], count - 1 - left);
            return 0;
        }
        left -= count;
    }
    /* Further back: down the tree to the group that holds the block with
     * live - rank live blocks up to and with it, then along its words. */
    size_t want = set->live - rank, k = 0, step = 1, groups = groups_of(words);
    while (step * 2 <= groups)
        step *= 2;
    for (; step > 0; step /= 2) {
        if (k + step <= groups && set->tree[k + step] < want) {
            k += step;
            want -= set->tree[k];
        }
    }
    size_t w = k * GROUP;
    for (size_t count; want > (count = (size_t)count_bits(set->bits[w])); w++)
        want -= count;
    *pos = w * WORD + select_bit(set->bits[w], want - 1);
    return 0;
}

/* True if TAG would be in word W: W's first tag is at most TAG, and the
 * next word's (if any) greater. */
static inline bool word_would_hold(const cmti_live *set, size_t words, size_t w, uint64_t tag)
{
    return w < words && set->first[w] <= tag && (w + 1 == words || set->first[w + 1] > tag);
}

/* find_word past the finger's own word: the next and the one before (at
 * finger 0, finger - 1 wraps past the words and holds nothing), else
 * galloping back from the newest, then bisecting. */
static bool find_word_further(const cmti_live *set, size_t words, uint64_t tag, size_t *word)
{
    size_t finger = set->finger;
    for (size_t i = 0; i < 2; i++) {
        size_t w = i == 0 ? finger + 1 : finger - 1;
        if (word_would_hold(set, words, w, tag)) {
            *word = w;
            return true;
        }
    }
    size_t lo = 0, hi = words;
    for (size_t step = 1; step <= words; step *= 2) {
        size_t probe = words - step;
        if (set->first[probe] <= tag) {
            lo = probe;
            break;
        }
        hi = probe;
    }
    if (set->first[lo] > tag)
        return false;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (set->first[mid] <= tag)
            lo = mid;
        else
            hi = mid;
    }
    *word = lo;
    return true;
}

/* The word that would hold TAG: the last whose first tag is at most TAG.
 * The word of the last one found first, inline: most frees find theirs
 * there (the call and the loop of three were 36 instructions a free). */
static inline bool find_word(const cmti_live *set, uint64_t tag, size_t *word)
{
    size_t words = words_of(set->n);
    if (word_would_hold(set, words, set->finger, tag)) {
        *word = set->finger;
        return true;
    }
    return find_word_further(set, words, tag, word);
}

/* Finds live block TAG and stores its position in *POS.  Returns 0, or -1
 * if TAG is not live.  Inlined into rank_of whatever GCC thinks of its
 * size: GCC left it a call, 5 instructions a record more. */
static inline __attribute__((always_inline)) int find_tag(cmti_live *set, uint64_t tag, size_t *pos)
{
    if (set->n == 0)
        return -1;
    if (set->tags[set->n - 1] == tag) {
        *pos = set->n - 1;
        return 0;
    }
    size_t lo;
    if (!find_word(set, tag, &lo))
        return -1;
    set->finger = lo;
    /* Then TAG within the word.  Tags grow by at least one a position, so
     * TAG is at most TAG - first positions in, and exactly there unless a
     * compaction dropped tags between: one cache line, not a bisection's
     * four. */
    size_t a = lo * WORD, end = a + WORD < set->n ? a + WORD : set->n;
    uint64_t in = tag - set->first[lo];
    size_t at = in < end - a ? a + (size_t)in : end - 1;
    if (set->tags[at] > tag) {
        /* Else the last position before it holding at most TAG (the
         * word's first does), by a bisection with no branch to mispredict:
         * after compactions, the mispredicted one was a third of the
         * recorder's time on a program with few blocks live. */
        const uint64_t *p = set->tags + a;
        for (size_t len = at - a; len > 1;) {
            size_t half = len / 2;
            p = p[half] <= tag ? p + half : p;
            len -= half;
        }
        at = (size_t)(p - set->tags);
    }
    if (set->tags[at] != tag || !cmti_live_is_live(set, at))
        return -1; /* absent, or present but dead */
    *pos = at;
    return 0;
}

/* Live blocks at the positions after A up to and with B (A <= B, in words
 * at most NEAR_WORDS apart). */
static inline uint64_t live_after_upto(const cmti_live *set, size_t a, size_t b)
{
    size_t wa = a / WORD, wb = b / WORD;
    uint64_t after_a = ~0ULL << (a % WORD) << 1, upto_b = ~0ULL >> (WORD - 1 - b % WORD);
    if (wa == wb)
        return count_bits(set->bits[wa] & after_a & upto_b);
    uint64_t live = count_bits(set->bits[wa] & after_a) + count_bits(set->bits[wb] & upto_b);
    for (size_t w = wa + 1; w < wb; w++)
        live += count_bits(set->bits[w]);
    return live;
}

/* The rank (0 = newest live) of the block at POS: its word's live bits
 * after it, then the words to the newest where they are few, or from the
 * rank of the last block ranked so far back where that is a few words
 * away (a program that tears down what it built frees its blocks in the
 * order it made them), or else from the tree.  Inlined into rank_of
 * whatever GCC thinks of its size: left a call, it was built without the
 * popcnt instruction, a library call a word. */
static inline __attribute__((always_inline)) uint64_t rank_at(cmti_live *set, size_t pos)
{
    size_t w = pos / WORD, last = words_of(set->n) - 1, f = set->rank_finger;
    uint64_t rank;
    if (last - w <= NEAR_WORDS)
        return live_after_upto(set, pos, set->n - 1);
    if (pos > f && w - f / WORD <= NEAR_WORDS)
        rank = set->after_finger - live_after_upto(set, f, pos);
    else if (pos < f && f / WORD - w <= NEAR_WORDS)
        rank = set->after_finger + live_after_upto(set, pos, f);
    else
        rank = (uint64_t)count_bits(set->bits[w] >> (pos % WORD) >> 1) + set->live - live_in_words(set, w + 1);
    set->rank_finger = pos;
    set->after_finger = rank;
    return rank;
}

void cmti_live_remove_at(cmti_live *set, size_t pos)
{
    remove_at(set, pos);
}

/* Finding, ranking and removing in one call: the coder's, at every free. */
COUNTS_BITS int cmti_live_rank_of(cmti_live *set, uint64_t tag, bool take, uint64_t *rank)
{
    size_t pos;
    if (find_tag(set, tag, &pos) < 0)
        return -1;
    *rank = rank_at(set, pos);
    if (take)
        remove_at(set, pos);
    return 0;
}
