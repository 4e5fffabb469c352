/*
 * record_early.c - a library of record_target's whose constructor
 * allocates.  The loader runs it before the preloaded recorder's own
 * constructor, so the recorder's first call comes from here: the
 * program's call, to be recorded like any other (it once started the
 * recorder and went unrecorded, and its block's free vanished).
 */
#include <stdlib.h>

static void *volatile early[2];

__attribute__((constructor)) static void allocate_early(void)
{
    early[0] = malloc(11111);
    early[1] = malloc(22222);
}

void release_early_blocks(void);

void release_early_blocks(void)
{
    free(early[0]);
    free(early[1]);
    early[0] = early[1] = NULL;
}
