/*
 * ordered.c - the treap behind ordered.h.
 *
 * Nodes live in one array and refer to each other by index, so a node is
 * 32 bytes and a freed one is reused before the array grows.  Insertion
 * and removal recurse to the depth of the tree, which random priorities
 * keep near 2 ln n.
 */
#include "ordered.h"
#include "internal.h"

#include <stdlib.h>

struct cmti_ordered_node {
    uint64_t key, value;
    uint32_t left, right;
    uint32_t priority;
};

int cmti_ordered_init(cmti_ordered *map)
{
    *map = (cmti_ordered){.seed = 0x9e3779b97f4a7c15u};
    map->cap = 64;
    map->nodes = cmti_calloc(map->cap, sizeof *map->nodes);
    map->used = 1;
    return map->nodes ? 0 : -1;
}

void cmti_ordered_destroy(cmti_ordered *map)
{
    cmti_free(map->nodes);
    map->nodes = NULL;
}

static uint32_t next_priority(cmti_ordered *map)
{
    /* xorshift64: priorities only need to look random to the keys. */
    uint64_t x = map->seed;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    map->seed = x;
    return (uint32_t)(x >> 32);
}

static uint32_t new_node(cmti_ordered *map, uint64_t key, uint64_t value)
{
    uint32_t n = map->free_list;
    if (n) {
        map->free_list = map->nodes[n].left;
    } else {
        if (map->used == map->cap) {
            if (map->cap > UINT32_MAX / 2)
                return 0; /* nodes are numbered in 32 bits */
            cmti_ordered_node *nodes = cmti_realloc(map->nodes, 2 * (size_t)map->cap * sizeof *map->nodes);
            if (!nodes)
                return 0;
            map->nodes = nodes;
            map->cap *= 2;
        }
        n = map->used++;
    }
    map->nodes[n] = (cmti_ordered_node){.key = key, .value = value, .priority = next_priority(map)};
    return n;
}

/* Splits tree T into the keys below KEY (*LESS) and the others (*REST). */
static void split(cmti_ordered_node *nodes, uint32_t t, uint64_t key, uint32_t *less, uint32_t *rest)
{
    if (!t) {
        *less = *rest = 0;
    } else if (nodes[t].key < key) {
        split(nodes, nodes[t].right, key, &nodes[t].right, rest);
        *less = t;
    } else {
        split(nodes, nodes[t].left, key, less, &nodes[t].left);
        *rest = t;
    }
}

/* Joins trees A and B, every key of A below every key of B. */
static uint32_t merge(cmti_ordered_node *nodes, uint32_t a, uint32_t b)
{
    if (!a || !b)
        return a ? a : b;
    if (nodes[a].priority > nodes[b].priority) {
        nodes[a].right = merge(nodes, nodes[a].right, b);
        return a;
    }
    nodes[b].left = merge(nodes, a, nodes[b].left);
    return b;
}

static uint32_t insert(cmti_ordered_node *nodes, uint32_t t, uint32_t n)
{
    if (!t)
        return n;
    if (nodes[n].priority > nodes[t].priority) {
        split(nodes, t, nodes[n].key, &nodes[n].left, &nodes[n].right);
        return n;
    }
    if (nodes[n].key < nodes[t].key)
        nodes[t].left = insert(nodes, nodes[t].left, n);
    else
        nodes[t].right = insert(nodes, nodes[t].right, n);
    return t;
}

static uint32_t find(const cmti_ordered *map, uint64_t key)
{
    uint32_t t = map->root;
    while (t && map->nodes[t].key != key)
        t = key < map->nodes[t].key ? map->nodes[t].left : map->nodes[t].right;
    return t;
}

int cmti_ordered_put(cmti_ordered *map, uint64_t key, uint64_t value)
{
    uint32_t t = find(map, key);
    if (t) {
        map->nodes[t].value = value;
        return 0;
    }
    uint32_t n = new_node(map, key, value);
    if (!n)
        return -1;
    map->root = insert(map->nodes, map->root, n);
    map->count++;
    return 0;
}

/* Removes KEY from tree *T; returns the removed node or 0. */
static uint32_t erase(cmti_ordered_node *nodes, uint32_t *t, uint64_t key)
{
    while (*t && nodes[*t].key != key)
        t = key < nodes[*t].key ? &nodes[*t].left : &nodes[*t].right;
    uint32_t gone = *t;
    if (gone)
        *t = merge(nodes, nodes[gone].left, nodes[gone].right);
    return gone;
}

bool cmti_ordered_remove(cmti_ordered *map, uint64_t key)
{
    uint32_t gone = erase(map->nodes, &map->root, key);
    if (!gone)
        return false;
    map->nodes[gone].left = map->free_list;
    map->free_list = gone;
    map->count--;
    return true;
}

/* The nearest key to KEY on one side, KEY itself included: the greatest
 * not above it, or with ABOVE the least not below it. */
static bool nearest(const cmti_ordered *map, uint64_t key, bool above, uint64_t *found, uint64_t *value)
{
    uint32_t best = 0;
    for (uint32_t t = map->root; t;) {
        const cmti_ordered_node *n = &map->nodes[t];
        bool candidate = above ? n->key >= key : n->key <= key;
        if (candidate)
            best = t;
        t = candidate == above ? n->left : n->right;
    }
    if (!best)
        return false;
    *found = map->nodes[best].key;
    *value = map->nodes[best].value;
    return true;
}

bool cmti_ordered_floor(const cmti_ordered *map, uint64_t key, uint64_t *found, uint64_t *value)
{
    return nearest(map, key, false, found, value);
}

bool cmti_ordered_ceiling(const cmti_ordered *map, uint64_t key, uint64_t *found, uint64_t *value)
{
    return nearest(map, key, true, found, value);
}
