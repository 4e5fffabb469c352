/*
 * address.h - the addresses a .cmt file may keep (extension kind ADDRESS):
 * the model the writer and the reader share.
 *
 * Each block that returns blocks carries, as its second record, the
 * addresses of the blocks its events return, in order: each the
 * difference from one of four predictions, whichever is nearest,
 *   0  where the last block of the same size to be freed was (allocators
 *      hand a freed block to the next request of its size: glibc's tcache
 *      and fastbins, jemalloc's and mimalloc's size classes), or where the
 *      last block freed was if that size has none;
 *   1  where the last block allocated ended, and as far again as that one
 *      began from the end of the one before (a heap that grows by
 *      bumping, a header between blocks);
 *   2  for a realloc, the block it was passed (grown or shrunk in place);
 *      otherwise where the last block freed was;
 *   3  where the last block allocated began;
 * as one varint, zigzag(address - prediction) * 4 + which.  An address
 * 2^62 or more from every prediction (a pointer with tags in its high
 * bits) is the varint 2^64 - 1 and the address in 8 bytes, little endian.
 * The blocks freed and accessed are known by their tags, so their
 * addresses need no coding: the model keeps each live block's.
 */
#ifndef CMT_ADDRESS_H
#define CMT_ADDRESS_H

#include "../common/internal.h"
#include "../common/map.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ADDRESS: the addresses of the blocks the events of its block return
 * (above), the block's second record.  Once a file has had one, every
 * block with an event that returns a block has one. */
#define CMT_EXTENSION_ADDRESS 4u

/* Sizes whose last freed block is remembered: a direct-mapped table, so
 * that the model's memory does not grow with the sizes a trace asks for. */
#define ADDRESS_SIZES 4096u
#define ADDRESS_PREDICTIONS 4u
/* Longest coded address: the escape's varint and 8 bytes. */
#define ADDRESS_CODE_MAX (CMT_VARINT_MAX + 8)

typedef struct cmti_address_model {
    cmti_map blocks; /* tag -> ADDRESS_AT, ADDRESS_BYTES of each live block */
    uint64_t freed_at[ADDRESS_SIZES], freed_bytes[ADDRESS_SIZES]; /* by size, hashed */
    uint64_t last_freed;        /* where the last block freed was */
    uint64_t last_at, last_end; /* where the last block allocated began and ended */
    uint64_t last_gap;          /* from the end of the one before to its start */
} cmti_address_model;

/* 0, or -1 when out of memory (then only destroy it). */
int cmti_address_model_init(cmti_address_model *m);
void cmti_address_model_destroy(cmti_address_model *m);

/* Codes ADDRESS, of a block of BYTES returned by an event that was passed
 * the block at PASSED (a realloc's; 0 for none), at OUT (room for
 * ADDRESS_CODE_MAX bytes); returns the bytes written. */
size_t cmti_address_encode(const cmti_address_model *m, uint64_t address, uint64_t bytes, uint64_t passed,
                           uint8_t *out);

/* Decodes the address coded at *P (before END) as cmti_address_encode
 * coded it, and moves *P past it.  0, or -1 if it runs past END. */
int cmti_address_decode(const cmti_address_model *m, const uint8_t **p, const uint8_t *end, uint64_t bytes,
                        uint64_t passed, uint64_t *address);

/* After event EV (its tags set, and its address in addr where it returned
 * a block): the block it released is forgotten, the one it returned
 * noted.  0, or -1 when out of memory. */
int cmti_address_follow(cmti_address_model *m, const cmt_event *ev);

/* Where live block TAG is; 0 for a block the model does not know. */
uint64_t cmti_address_of(const cmti_address_model *m, uint64_t tag);

#endif /* CMT_ADDRESS_H */
