/*
 * map.h - a hash map from a non-zero 64-bit key to three 64-bit values.
 *
 * The text reader maps live addresses to tags with it and the replayer
 * maps live tags to the replaying allocator's blocks.  Open addressing with
 * linear probing and backward-shift deletion: no tombstones, so a trace of
 * 10^8 events with a thousand live blocks keeps a table of a few thousand
 * slots.  The table shrinks as blocks die, so its size follows what is
 * live, not what was.
 */
#ifndef CMT_MAP_H
#define CMT_MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct cmt_map_entry {
    uint64_t key; /* 0: empty slot */
    uint64_t a, b, c;
} cmt_map_entry;

typedef struct cmt_map {
    cmt_map_entry *slots;
    size_t mask;
    size_t count;
} cmt_map;

/* The slot where KEY's search starts.  Fibonacci hashing: addresses are
 * multiples of 16 and tags are consecutive; the high bits of the product
 * spread both. */
static inline size_t cmt_map_home(const cmt_map *map, uint64_t key)
{
    return (size_t)((key * 0x9E3779B97F4A7C15ULL) >> 32) & map->mask;
}

/* Asks the cache for KEY's slot ahead of a find or insert: with a table
 * larger than the cache, a batch of lookups overlaps its misses. */
static inline void cmt_map_prefetch(const cmt_map *map, uint64_t key)
{
    __builtin_prefetch(&map->slots[cmt_map_home(map, key)]);
}

void cmt_map_init(cmt_map *map);
void cmt_map_destroy(cmt_map *map);

/* The entry for KEY, or NULL. */
cmt_map_entry *cmt_map_find(const cmt_map *map, uint64_t key);

/* The entry for KEY, added with zero values if it was missing.  The pointer
 * is good until the next insert or remove. */
cmt_map_entry *cmt_map_insert(cmt_map *map, uint64_t key);

/* Removes ENTRY (from cmt_map_find or cmt_map_insert). */
void cmt_map_remove(cmt_map *map, cmt_map_entry *entry);

#endif /* CMT_MAP_H */
