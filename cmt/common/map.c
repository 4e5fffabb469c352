/*
 * map.c - see map.h.
 */
#include "map.h"
#include "internal.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Small enough to cost nothing, large enough that a live set swinging
 * between a few and a few hundred blocks never rehashes. */
#define MIN_SLOTS 1024
/* Slots past the last home slot to begin with: runs that long at the end
 * are rare at three-quarters load or less, and the overflow grows when one
 * is. */
#define FIRST_OVERFLOW 64

/* Home slots up to which a map of one value doubles at half full, not
 * three quarters: 8 MiB of them, a quarter of the cache the cores share. */
#define HALF_FULL_SLOTS ((size_t)1 << 19)

/* Sets the count past which the home slots double.  Half full, runs are
 * short: the recorder's table of tags (one value) took 21 instructions a
 * record fewer than at three quarters, and a short Python run (218 K
 * blocks live at most) recorded at 1.26 times its bare time against 1.33.
 * But twice the slots cost more in misses than the probes save once the
 * table outgrows the cache: a long Python run (1.5 M live, 64 MiB of
 * slots at half) recorded at 1.26 against 1.13, and the text reader's
 * table (four values) converted a trace of 19 M events 10% slower. */
static void set_grow_at(cmti_map *map)
{
    size_t slots = map->mask + 1;
    map->grow_at = map->entry_bytes == 16 && slots <= HALF_FULL_SLOTS ? slots / 2 : slots / 4 * 3;
}

/* Copies entry FROM to TO, the values the map has: field by field, where a
 * memcpy of a size known only at run time was a call (a tenth of the
 * recorder's time in the map went to those calls as tables doubled). */
static inline void copy_entry(const cmti_map *map, cmti_map_entry *to, const cmti_map_entry *from)
{
    to->key = from->key;
    to->value[0] = from->value[0];
    if (map->entry_bytes >= 32) {
        to->value[1] = from->value[1];
        to->value[2] = from->value[2];
    }
    if (map->entry_bytes == 40)
        to->value[3] = from->value[3];
}

static size_t bytes_for(const cmti_map *map, size_t slots)
{
    return slots * map->entry_bytes;
}

/* Makes room for ADD more slots at the end, zeroed; false (the map as
 * it was) when out of memory. */
static bool extend(cmti_map *map, size_t add)
{
    unsigned char *slots = cmti_table_resize(map->slots, bytes_for(map, map->capacity),
                                            bytes_for(map, map->capacity + add));
    if (!slots)
        return false;
    cmti_table_prefault(slots, bytes_for(map, map->capacity), bytes_for(map, map->capacity + add));
    map->slots = slots;
    map->capacity += add;
    return true;
}

/* Puts a copy of ENTRY in the first free slot from its home on, the
 * overflow doubling if the run reaches its end; false when out of memory
 * for that. */
static bool place(cmti_map *map, const cmti_map_entry *entry)
{
    size_t i = cmti_map_home(map, entry->key);
    while (i < map->capacity && cmti_map_slot(map, i)->key)
        i++;
    if (i == map->capacity && !extend(map, map->capacity - map->mask - 1))
        return false;
    copy_entry(map, cmti_map_slot(map, i), entry);
    return true;
}

/* Moves every entry in slots [FROM, TO) that is not at its home to the
 * first free slot from its home, taking the slots in order.  With the home
 * slots just halved, or doubled with the new half empty, that is a rehash
 * in place: an entry whose new home is at or below its slot lands between
 * the two (the slot it left is free, and every slot before it is final),
 * and one whose home moved up lands in the new half, among moved entries
 * only. */
static bool settle(cmti_map *map, size_t from, size_t to)
{
    cmti_map_entry moving = {0}; /* GCC -O3 cannot tell that copy_entry reads only what it wrote */
    for (size_t i = from; i < to; i++) {
        cmti_map_entry *e = cmti_map_slot(map, i);
        if (!e->key || cmti_map_home(map, e->key) == i)
            continue;
        copy_entry(map, &moving, e);
        e->key = 0;
        if (!place(map, &moving))
            return false;
    }
    return true;
}

/* Doubles the home slots.  The old overflow sits where the new half
 * begins, so its entries are set aside first and placed last.  False when
 * out of memory: before anything moved, the map as it was; after (an
 * overflow that had to grow again while entries moved, which a run as
 * long as the table's home slots would take), a map only to destroy. */
static bool grow(cmti_map *map)
{
    size_t n = map->mask + 1, overflow = map->capacity - n;
    size_t bytes = bytes_for(map, overflow);
    unsigned char *aside = cmti_malloc(bytes);
    if (!aside)
        return false;
    memcpy(aside, cmti_map_slot(map, n), bytes);
    memset(cmti_map_slot(map, n), 0, bytes);
    bool ok = extend(map, n);
    if (!ok) {
        memcpy(cmti_map_slot(map, n), aside, bytes);
        cmti_free(aside);
        return false;
    }
    map->mask = 2 * n - 1;
    set_grow_at(map);
    ok = settle(map, 0, n);
    for (size_t i = 0; ok && i < overflow; i++) {
        const cmti_map_entry *e = (const cmti_map_entry *)(aside + i * map->entry_bytes);
        if (e->key)
            ok = place(map, e);
    }
    cmti_free(aside);
    return ok;
}

/* Halves the home slots, and gives back the slots past the last entry.
 * It needs no memory: at an eighth of the home slots used no run can
 * reach the end of the slots there are (the table keeps them all if the
 * system will not take some back). */
static void shrink(cmti_map *map)
{
    size_t n = (map->mask + 1) / 2;
    map->mask = n - 1;
    set_grow_at(map);
    (void)settle(map, 0, map->capacity);
    size_t used = map->capacity;
    while (used > n + FIRST_OVERFLOW && !cmti_map_slot(map, used - 1)->key)
        used--;
    unsigned char *slots = cmti_table_resize(map->slots, bytes_for(map, map->capacity), bytes_for(map, used));
    if (slots) {
        map->slots = slots;
        map->capacity = used;
    }
}

int cmti_map_init(cmti_map *map, unsigned values)
{
    map->slots = NULL;
    map->capacity = 0;
    map->count = 0;
    map->entry_bytes = (unsigned)(values + 1) * 8;
    map->entry_shift = values == 1 ? 4 : values == 3 ? 5 : 0;
    map->mask = MIN_SLOTS - 1;
    set_grow_at(map);
    return extend(map, MIN_SLOTS + FIRST_OVERFLOW) ? 0 : -1;
}

void cmti_map_destroy(cmti_map *map)
{
    cmti_table_free(map->slots, bytes_for(map, map->capacity));
    map->slots = NULL;
}

cmti_map_entry *cmti_map_find(const cmti_map *map, uint64_t key)
{
    for (size_t i = cmti_map_home(map, key); i < map->capacity; i++) {
        cmti_map_entry *e = cmti_map_slot(map, i);
        if (e->key == key)
            return e;
        if (!e->key)
            return NULL;
    }
    return NULL;
}

cmti_map_entry *cmti_map_insert(cmti_map *map, uint64_t key)
{
    if (map->count + 1 > map->grow_at && !grow(map))
        return NULL;
    size_t i = cmti_map_home(map, key);
    for (; i < map->capacity; i++) {
        cmti_map_entry *e = cmti_map_slot(map, i);
        if (e->key == key)
            return e;
        if (!e->key)
            break;
    }
    if (i == map->capacity && !extend(map, map->capacity - map->mask - 1))
        return NULL;
    map->count++;
    cmti_map_entry *e = cmti_map_slot(map, i);
    /* Field by field: a memset of a size known only at run time is a call. */
    e->key = key;
    e->value[0] = 0;
    if (map->entry_bytes >= 32)
        e->value[1] = e->value[2] = 0;
    if (map->entry_bytes == 40)
        e->value[3] = 0;
    return e;
}

void cmti_map_remove(cmti_map *map, cmti_map_entry *entry)
{
    size_t at = (size_t)((unsigned char *)entry - map->slots);
    /* A division (tens of cycles) only for entries of four values, the
     * text reader's: the recorder's frees need not pay it. */
    size_t hole = map->entry_shift ? at >> map->entry_shift : at / map->entry_bytes;
    /* Shift back the entries of the run after the hole whose home is at or
     * before it, so that every lookup still finds its entry without
     * tombstones. */
    for (size_t i = hole + 1; i < map->capacity && cmti_map_slot(map, i)->key; i++) {
        cmti_map_entry *e = cmti_map_slot(map, i);
        if (cmti_map_home(map, e->key) <= hole) {
            copy_entry(map, cmti_map_slot(map, hole), e);
            hole = i;
        }
    }
    cmti_map_slot(map, hole)->key = 0;
    map->count--;
    if (map->mask + 1 > MIN_SLOTS && map->count * 8 < map->mask + 1)
        shrink(map);
}
