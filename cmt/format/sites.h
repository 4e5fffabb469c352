/*
 * sites.h - the call sites a .cmt file may keep: the modules (programs
 * and libraries) its stacks run in, its interned stacks, and the stack of
 * every block (extension kinds MODULE, STACK and STACKS; docs/FORMAT.md).
 *
 * A stack is one frame on top of its caller's stack, numbered 1, 2... as
 * they come, so that the stacks of a program share their common callers
 * (heaptrack's tree) and a file holds each frame of a call path once.
 * The table only grows, and where an entry is stored it stays: a reader
 * decoding ahead on a thread of its own (cmt_source_read_ahead) adds to
 * it while the caller looks up the stacks of the events it was handed,
 * which were all added before their events were.
 */
#ifndef CMT_SITES_H
#define CMT_SITES_H

#include "codes.h"

#include <stdatomic.h>

struct cmt_sites {
    cmt_frame *frames[CMTI_PIECES]; /* cmti_piece_slot's: entries never move */
    cmt_module *modules[CMTI_PIECES];
    _Atomic uint32_t stacks_n, modules_n; /* published after their entry is stored */
};

/* Longest STACK payload: three varints. */
#define SITES_STACK_PAYLOAD_MAX (3 * CMT_VARINT_MAX)

/* Frees what SITES holds (not SITES itself). */
void cmti_sites_destroy(cmt_sites *sites);

/* A MODULE record's fields, pointing into its payload. */
typedef struct cmti_module_record {
    uint64_t number; /* 1, 2... as they come */
    uint64_t base;
    const uint8_t *build_id;
    size_t build_id_len;
    const char *path; /* path_len bytes, no NUL among them */
    size_t path_len;
} cmti_module_record;

/* Adds a module, copied; it must be the next (MODULE numbers them, as a
 * check).  0, or -1 with a message in ERR. */
int cmti_sites_add_module(cmt_sites *sites, const cmti_module_record *module, char *err, size_t errlen);

/* Adds a stack, checked (its caller and module must be there already);
 * 0, or -1 with a message in ERR. */
int cmti_sites_add_stack(cmt_sites *sites, const cmt_frame *frame, char *err, size_t errlen);

/* The payload of a MODULE record, into *PAYLOAD (allocated; the caller
 * frees it); its length, or 0 when out of memory. */
size_t cmti_module_encode(const cmti_module_record *module, uint8_t **payload);

/* Decodes a MODULE payload of LEN bytes at P (MODULE then points into
 * it): 0, or -1 if it is not one. */
int cmti_module_decode(const uint8_t *p, size_t len, cmti_module_record *module);

/* The payload of a STACK record; its length. */
size_t cmti_stack_encode(const cmt_frame *frame, uint8_t *out);

/* Decodes a STACK payload: 0, or -1 if it is not exactly one. */
int cmti_stack_decode(const uint8_t *p, size_t len, cmt_frame *frame);

#endif /* CMT_SITES_H */
