/*
 * registry.c - the allocators cmtreplay knows, by name.
 */
#include "allocator.h"

#include <string.h>

const cmt_allocator *const cmt_allocators[] = {
    &cmt_allocator_system,
    &cmt_allocator_rmalloc,
    NULL,
};

const cmt_allocator *cmt_allocator_find(const char *name)
{
    for (size_t i = 0; cmt_allocators[i]; i++)
        if (strcmp(cmt_allocators[i]->name, name) == 0)
            return cmt_allocators[i];
    return strcmp(name, cmt_allocator_null.name) == 0 ? &cmt_allocator_null : NULL;
}

size_t cmt_round_alignment(size_t align)
{
    size_t a = sizeof(void *);
    while (a < align && a < ((size_t)1 << (sizeof(size_t) * 8 - 1)))
        a <<= 1;
    return a;
}
