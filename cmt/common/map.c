/*
 * map.c - see map.h.
 */
#include "map.h"
#include "internal.h"

#include <stdlib.h>

/* Small enough to cost nothing, large enough that a live set swinging
 * between a few and a few hundred blocks never rehashes. */
#define MIN_SLOTS 1024

static void rehash(cmt_map *map, size_t nslots)
{
    cmt_map_entry *old = map->slots;
    size_t old_n = old ? map->mask + 1 : 0;
    map->slots = cmt_table_alloc(nslots * sizeof *map->slots);
    map->mask = nslots - 1;
    for (size_t i = 0; i < old_n; i++) {
        if (!old[i].key)
            continue;
        size_t j = cmt_map_home(map, old[i].key);
        while (map->slots[j].key)
            j = (j + 1) & map->mask;
        map->slots[j] = old[i];
    }
    cmt_table_free(old, old_n * sizeof *old);
}

void cmt_map_init(cmt_map *map)
{
    map->slots = NULL;
    map->count = 0;
    rehash(map, MIN_SLOTS);
}

void cmt_map_destroy(cmt_map *map)
{
    cmt_table_free(map->slots, (map->mask + 1) * sizeof *map->slots);
    map->slots = NULL;
}

cmt_map_entry *cmt_map_find(const cmt_map *map, uint64_t key)
{
    for (size_t i = cmt_map_home(map, key);; i = (i + 1) & map->mask) {
        if (map->slots[i].key == key)
            return &map->slots[i];
        if (!map->slots[i].key)
            return NULL;
    }
}

cmt_map_entry *cmt_map_insert(cmt_map *map, uint64_t key)
{
    if ((map->count + 1) * 4 > (map->mask + 1) * 3)
        rehash(map, (map->mask + 1) * 2);
    size_t i = cmt_map_home(map, key);
    for (; map->slots[i].key; i = (i + 1) & map->mask)
        if (map->slots[i].key == key)
            return &map->slots[i];
    map->count++;
    map->slots[i] = (cmt_map_entry){.key = key};
    return &map->slots[i];
}

void cmt_map_remove(cmt_map *map, cmt_map_entry *entry)
{
    size_t hole = (size_t)(entry - map->slots);
    /* Shift back the entries of the probe run after the hole that may sit
     * there, so that every lookup still finds its entry without tombstones. */
    for (size_t i = (hole + 1) & map->mask; map->slots[i].key; i = (i + 1) & map->mask) {
        size_t home = cmt_map_home(map, map->slots[i].key);
        if (((i - home) & map->mask) >= ((i - hole) & map->mask)) {
            map->slots[hole] = map->slots[i];
            hole = i;
        }
    }
    map->slots[hole].key = 0;
    map->count--;
    if (map->mask + 1 > MIN_SLOTS && map->count * 8 < map->mask + 1)
        rehash(map, (map->mask + 1) / 2);
}
