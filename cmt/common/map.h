/*
 * map.h - a hash map from a non-zero 64-bit key to one, three or four
 * 64-bit values.
 *
 * The text reader and the recorder map live addresses to tags with it
 * (the replayer indexes its blocks by slot instead: slots.h).  Open
 * addressing with linear probing and backward-shift deletion: no
 * tombstones, so a trace of 10^8 events with a thousand live blocks keeps
 * a table of a few thousand slots.  The table shrinks as blocks die, so
 * its size follows what is live, not what was.
 *
 * Probes never wrap around: a run that reaches the last home slot goes on
 * into an overflow past it, which grows when a run needs more.  Without
 * wrapping, doubling can happen in place (the table grows with mremap and
 * each entry moves at most once, to its home or its home plus the old
 * size), so a table of millions of entries never holds its old and new
 * copies at once, and only the new half's pages are ever first touched.
 */
#ifndef CMT_MAP_H
#define CMT_MAP_H

#include <stddef.h>
#include <stdint.h>

/* An entry.  Only the map's values exist: in a map of one value,
 * value[1] to value[3] belong to the next entry.  What each value means is
 * its user's to name (an enum of indexes beside the user's map). */
typedef struct cmti_map_entry {
    uint64_t key; /* 0: empty slot */
    uint64_t value[4];
} cmti_map_entry;

typedef struct cmti_map {
    unsigned char *slots;
    unsigned entry_bytes; /* 16 (one value), 32 (three) or 40 (four) */
    unsigned entry_shift; /* log2 of entry_bytes where it is a power of two, else 0 */
    size_t mask;          /* home slots - 1 */
    size_t capacity;      /* slots allocated: the home slots and the overflow past them */
    size_t count;
    size_t grow_at;       /* the home slots double when an insert would pass this many entries */
} cmti_map;

/* The slot where KEY's search starts.  Fibonacci hashing: addresses are
 * multiples of 16 and tags are consecutive; the high bits of the product
 * spread both, so its bytes are reversed to put them lowest.  (Bits 32 and
 * up, taken before, clustered a heap's addresses: 3.4 slots from home on
 * average at a quarter full, a Python run's, against 0.3 now.)  Doubling
 * the home slots adds one bit above the old ones, so an entry's new home
 * is its old one or that plus the old size. */
static inline size_t cmti_map_home(const cmti_map *map, uint64_t key)
{
    return (size_t)__builtin_bswap64(key * 0x9E3779B97F4A7C15ULL) & map->mask;
}

/* The entry in slot I: every entry is in one of slots 0 to capacity - 1,
 * the empty ones with key 0. */
static inline cmti_map_entry *cmti_map_slot(const cmti_map *map, size_t i)
{
    return (cmti_map_entry *)(map->slots + i * map->entry_bytes);
}

/* The next entry from slot *I on, or NULL past the last; *I is left
 * after it.  Start with *I = 0 to visit every entry (none may be added or
 * removed meanwhile). */
static inline cmti_map_entry *cmti_map_next(const cmti_map *map, size_t *i)
{
    for (; *i < map->capacity; ++*i) {
        cmti_map_entry *e = cmti_map_slot(map, *i);
        if (e->key) {
            ++*i;
            return e;
        }
    }
    return NULL;
}

/* Asks the cache for KEY's slot ahead of a find or insert: with a table
 * larger than the cache, a batch of lookups overlaps its misses. */
static inline void cmti_map_prefetch(const cmti_map *map, uint64_t key)
{
    __builtin_prefetch(cmti_map_slot(map, cmti_map_home(map, key)));
}

/* An empty map whose entries hold VALUES values: 1, 3 or 4.  One value makes entries half as large: twice as many to a
 * cache line.
 * Returns 0, or -1 when out of memory (then only destroy it). */
int cmti_map_init(cmti_map *map, unsigned values);
void cmti_map_destroy(cmti_map *map);

/* The entry for KEY, or NULL. */
cmti_map_entry *cmti_map_find(const cmti_map *map, uint64_t key);

/* The entry for KEY, added with zero values if it was missing.  The pointer
 * is good until the next insert or remove.  NULL when out of memory, after
 * which the map is only to be destroyed (a doubling that failed half done
 * may have lost entries). */
cmti_map_entry *cmti_map_insert(cmti_map *map, uint64_t key);

/* Removes ENTRY (from cmti_map_find or cmti_map_insert). */
void cmti_map_remove(cmti_map *map, cmti_map_entry *entry);

#endif /* CMT_MAP_H */
