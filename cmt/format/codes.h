/*
 * codes.h - the byte codes of the .cmt event stream and the size model
 * that the writer and the reader share.  docs/FORMAT.md is the prose of
 * this file; change both together.
 */
#ifndef CMT_CODES_H
#define CMT_CODES_H

#include "../common/internal.h"

/* File header: magic, major, minor, flags, reserved. */
#define CMT_HEADER_SIZE 8
static const uint8_t CMT_MAGIC[4] = {0x89, 'C', 'M', 'T'};
#define CMT_FLAG_ZSTD 0x01u

/* The body is a sequence of blocks and an end record.  A block is
 *
 *     varint(ops_len > 0) varint(heads_len) varint(tails_len)
 *     ops[ops_len] heads[heads_len] tails[tails_len]
 *
 * Every event is one opcode byte in ops, whose low bits often hold the whole
 * event; the numbers it needs beyond that are varints whose first byte is
 * in heads and whose continuation bytes are in tails (extension payloads go
 * to tails too).  Kept apart, each section is uniform enough for zstd to
 * code near its entropy: sizes in heads are nearly random bytes, their high
 * bits in tails nearly constant.  The end record is
 *
 *     0x00 varint(events) varint(tags) checksum[8]
 */
#define CMT_SECTION_MAX (128 * 1024) /* no section may be longer */
#define CMT_WINDOW_LOG 21                /* the zstd window of the default levels: 2 MiB */
#define CMT_TABLE_LOG 18                 /* and their match tables, at most 2^18 entries */

/* Opcodes. */
#define CODE_FREE 0x00u           /* 0x00-0x9f: free of rank 0..158; 0x9f + varint(rank - 159) */
#define CODE_FREE_RANKS 160u
#define CODE_MALLOC 0xa0u         /* 0xa0-0xaf: size code */
#define CODE_REALLOC 0xb0u        /* 0xb0-0xbf: size code, then varint(rank + 1), 0 = NULL */
#define CODE_CALLOC 0xc0u         /* 0xc0-0xcf: size code of the element size, then varint(count) */
#define CODE_POSIX_MEMALIGN 0xd0u /* varint(align), varint(size) */
#define CODE_ALIGNED_ALLOC 0xd1u
#define CODE_MEMALIGN 0xd2u
#define CODE_FREE_NULL 0xd3u      /* free(NULL) */
#define CODE_NULL_RESULT 0xd4u    /* the allocation that follows returned NULL */
/* 0xd5-0xdf: reserved; a reader rejects them. */
#define CODE_ACCESS 0xe0u         /* 0xe0-0xf1: kind * ACCESS_WIDTHS + width code, then
                                   * varint(block), varint(offset) [varint(size)] */
#define CODE_ACCESS_END (CODE_ACCESS + 3 * ACCESS_WIDTHS)
/* 0xf2-0xfd: reserved. */
#define CODE_EXTENSION 0xfeu      /* varint(kind), varint(length), length bytes in tails */
/* 0xff: reserved. */

/* Most varints one event needs, and their most continuation bytes. */
#define CMT_EVENT_VARINTS 3
#define CMT_EVENT_TAIL_MAX (CMT_EVENT_VARINTS * (CMT_VARINT_MAX - 1))

/* Extension kinds.  TIME: the time of the event that follows, as a
 * varint of the zigzag-coded difference in nanoseconds from the time of
 * the last event that had one (from 0 for the first). */
#define CMT_EXTENSION_TIME 1u
/* CLOCK (cmt 0.4): the time of the events that follow, up to the next
 * CLOCK record, coded as TIME's (the difference from the last time either
 * gave); 0: no time.  A TIME record still gives the one event after it a
 * time of its own.  What the writer puts where an event's time differs
 * from the one before, so that a recorder's coarse clock (a tick every few
 * ms) costs a record a tick, not one an event. */
#define CMT_EXTENSION_CLOCK 9u
/* THREAD: the thread of the events that follow, up to the next THREAD
 * record, as a varint (1, 2... in order of appearance). */
#define CMT_EXTENSION_THREAD 2u
/* BLOCK_CHECKSUM (format 1.1): the first record of every block, its
 * payload four bytes, little endian: the low 32 bits of the checksum of
 * the block as it stands in the body, its header included and these four
 * bytes taken as zeros.  A reader checks a block before it decodes any of
 * it, so that salvage never returns an event of a damaged block; a 1.0
 * reader skips the record as a kind it does not know. */
#define CMT_EXTENSION_BLOCK_CHECKSUM 3u
#define CMT_BLOCK_CHECKSUM_BYTES 4u

/* The checksum BLOCK_CHECKSUM holds, of a block whose bytes are the N
 * PIECES of LENS bytes, one after the other (the writer has its header and
 * sections apart, the reader the block whole); its last piece is the
 * tails, whose first four bytes are the checksum's own place. */
uint32_t cmti_block_checksum(const uint8_t *const pieces[], const size_t lens[], size_t n);

/* ADDRESS (4) is address.h's.  Agreed for call sites (issue 18), not yet
 * written, and skipped by this reader as every kind it does not know:
 * MODULE, a program or library the stacks run in (number, load address,
 * build-id, path); STACK, an interned stack (the caller's stack, module,
 * offset); STACKS, the stacks of the blocks a block's events return.
 * docs/FORMAT.md has their payloads. */
#define CMT_EXTENSION_MODULE 5u
#define CMT_EXTENSION_STACK 6u
#define CMT_EXTENSION_STACKS 7u

/* Longest extension payload: it must fit a section. */
#define CMT_EXTENSION_MAX (CMT_SECTION_MAX / 2)

/* Sizes.  The low four bits of a malloc, realloc or calloc opcode say
 * where its size is: one of the sizes most recently asked for (codes
 * 0..SIZE_RECENT-1, newest first), one more or one less than the newest
 * (programs often ask for n and then n + 1), or a varint that follows.
 * Programs ask for the same few sizes again and again, so most sizes fit
 * in the opcode. */
#define SIZE_RECENT 8u
#define SIZE_PLUS_ONE 8u
#define SIZE_MINUS_ONE 9u
#define SIZE_LITERAL 10u
/* 11-15: reserved; a reader rejects them. */

typedef struct cmti_size_model {
    uint64_t recent[SIZE_RECENT];
} cmti_size_model;

/* Moves SIZE to the front of the recent sizes, from where it was or
 * pushing out the oldest, and says where it was (SIZE_RECENT: not there).
 * One pass, rotated forward, carrying each entry to the next: GCC made the
 * loop that moved them back one a call to memmove, 8% of decoding
 * 456.hmmer, and another 8% around it, and a search before the move was
 * a second pass. */
static inline unsigned size_model_note(cmti_size_model *m, uint64_t size)
{
    uint64_t carried = size;
    for (unsigned i = 0; i < SIZE_RECENT; i++) {
        uint64_t was = m->recent[i];
        m->recent[i] = carried;
        if (was == size)
            return i;
        carried = was;
    }
    return SIZE_RECENT;
}

/* The size code for SIZE; the caller writes the literal for SIZE_LITERAL. */
static inline unsigned size_model_encode(cmti_size_model *m, uint64_t size)
{
    uint64_t newest = m->recent[0];
    unsigned code = size_model_note(m, size);
    if (code < SIZE_RECENT)
        return code;
    /* Sizes are 64-bit and wrap as unsigned numbers do, both ways. */
    if (size == newest + 1)
        return SIZE_PLUS_ONE;
    return size == newest - 1 ? SIZE_MINUS_ONE : SIZE_LITERAL;
}

/* The size that CODE (and LITERAL, for SIZE_LITERAL) stands for; updates
 * the model as size_model_encode did.  The caller has rejected codes
 * above SIZE_LITERAL. */
static inline uint64_t size_model_decode(cmti_size_model *m, unsigned code, uint64_t literal)
{
    uint64_t size;
    if (code < SIZE_RECENT)
        size = m->recent[code];
    else if (code == SIZE_PLUS_ONE)
        size = m->recent[0] + 1;
    else if (code == SIZE_MINUS_ONE)
        size = m->recent[0] - 1;
    else
        size = literal;
    size_model_note(m, size);
    return size;
}

/* Accesses.  The opcode holds the kind (load, store, modify) and the
 * width: 1, 2, 4, 8 or 16 bytes, the sizes loads and stores come in, or a
 * literal size that follows.  Programs touch one block many times in a
 * row, walking through it, so the block is 0 for "the block of the
 * previous access" (rank + 1 otherwise), and the offset is zigzag-coded
 * relative to where the previous access to the same block ended (to 0 for
 * a new block): a walk codes as runs of zeros. */
#define ACCESS_WIDTHS 6u
#define ACCESS_LITERAL 5u

typedef struct cmti_access_model {
    uint64_t tag; /* the block of the previous access; 0 when none or dead */
    uint64_t end; /* where in it that access ended */
} cmti_access_model;

static inline unsigned access_width_code(uint64_t size)
{
    switch (size) {
    case 1: return 0;
    case 2: return 1;
    case 4: return 2;
    case 8: return 3;
    case 16: return 4;
    default: return ACCESS_LITERAL;
    }
}

/* The size of width code CODE below ACCESS_LITERAL. */
static inline uint64_t access_width(unsigned code)
{
    return (uint64_t)1 << code;
}

/* Where the offset of an access to TAG is counted from. */
static inline uint64_t access_base(const cmti_access_model *m, uint64_t tag)
{
    return tag == m->tag ? m->end : 0;
}

static inline void access_model_note(cmti_access_model *m, uint64_t tag, uint64_t offset,
                                     uint64_t size)
{
    m->tag = tag;
    m->end = offset + size;
}

/* Block TAG died: "the block of the previous access" no longer names it. */
static inline void access_model_forget(cmti_access_model *m, uint64_t tag)
{
    if (m->tag == tag)
        m->tag = 0;
}

static inline uint64_t zigzag_encode(uint64_t delta)
{
    return (delta << 1) ^ (uint64_t)-(int64_t)(delta >> 63);
}

static inline uint64_t zigzag_decode(uint64_t v)
{
    return (v >> 1) ^ (uint64_t)-(int64_t)(v & 1);
}

#endif /* CMT_CODES_H */
