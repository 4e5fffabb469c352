/*
 * fuzz.h - what the fuzz harnesses share: an input as a file the readers
 * can open, and the round trip every decoded trace must survive.
 */
#ifndef CMT_FUZZ_H
#define CMT_FUZZ_H

#include <cmt.h>

#include <stddef.h>
#include <stdint.h>

/* The most events a harness keeps for its round trip. */
#define FUZZ_EVENTS 100000

/* Events gathered for the round trip, in an array that grows. */
typedef struct fuzz_events {
    cmt_event *events;
    size_t n, cap;
} fuzz_events;

/* A slot for one more event, or NULL once FUZZ_EVENTS are held. */
cmt_event *fuzz_next_slot(fuzz_events *e);

/* The zstd level of a round trip from byte B: mostly raw, which is
 * fast; compressed one time in eight. */
int fuzz_level(uint8_t b);

/* DATA in an anonymous file; its name (/proc/self/fd/N) goes to PATH.
 * Returns the descriptor, to close after. */
int fuzz_file(const uint8_t *data, size_t size, char *path, size_t len);

/* Writes EVENTS as .cmt at LEVEL, with the stacks of SITES (NULL: none),
 * and reads them back: any difference aborts.  Events a reader gave back
 * must be a trace the writer takes. */
void fuzz_round_trip(const cmt_event *events, size_t n, const cmt_sites *sites, int level);

/* The harness entry point libFuzzer calls. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
