/*
 * sites_library.c - a shared library for the call sites' tests: its
 * function's allocations must be named for it, in it, by cmtstat --sites.
 */
#include <stdlib.h>

void library_allocates(void);

/* Ten blocks of 3000 bytes, freed together. */
void library_allocates(void)
{
    void *blocks[10];
    for (int i = 0; i < 10; i++)
        blocks[i] = malloc(3000);
    for (int i = 0; i < 10; i++)
        free(blocks[i]);
}
