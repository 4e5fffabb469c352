/*
 * ordered.h - an ordered map from 64-bit keys to 64-bit values.
 *
 * The memtrace reader finds the live block that holds an address (the
 * block with the greatest start address not above it) and cmtoverhead a
 * block's neighbours.  A hash map can't answer that, and the original
 * tools' table of every address between the lowest and the highest (or a
 * Python SortedDict) needed memory for the whole address range; this is a
 * treap (a binary search tree kept balanced by random priorities),
 * O(log n) an operation, one node per live block.
 */
#ifndef CMT_ORDERED_H
#define CMT_ORDERED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cmti_ordered_node cmti_ordered_node;

typedef struct cmti_ordered {
    cmti_ordered_node *nodes; /* nodes[0] is the empty tree */
    uint32_t root;
    uint32_t free_list;      /* nodes given back, linked through .left */
    uint32_t used, cap;      /* nodes[1..used) have been handed out */
    size_t count;
    uint64_t seed;
} cmti_ordered;

/* An empty map; 0, or -1 when out of memory (then only destroy it). */
int cmti_ordered_init(cmti_ordered *map);
void cmti_ordered_destroy(cmti_ordered *map);

/* Sets the value of KEY, adding KEY if it is missing.  Returns 0, or -1
 * when out of memory (or past 2^32 - 1 keys), the map as it was. */
int cmti_ordered_put(cmti_ordered *map, uint64_t key, uint64_t value);

/* Removes KEY; false if it was missing. */
bool cmti_ordered_remove(cmti_ordered *map, uint64_t key);

/* The greatest key not above KEY, and its value; false if there is none. */
bool cmti_ordered_floor(const cmti_ordered *map, uint64_t key, uint64_t *found, uint64_t *value);

/* The least key not below KEY, and its value; false if there is none. */
bool cmti_ordered_ceiling(const cmti_ordered *map, uint64_t key, uint64_t *found, uint64_t *value);

#endif /* CMT_ORDERED_H */
