/*
 * internal.h - what the pieces of libcmt share and users never see.
 */
#ifndef CMT_INTERNAL_H
#define CMT_INTERNAL_H

#include "../cmt.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

#define CMT_ERRLEN 512

/* Writes a printf-style message into BUF of LEN bytes (nothing if BUF is
 * NULL). */
void cmti_set_error(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Zeroes the N bytes at P (N known where it is inlined) in pieces of 48
 * bytes, which GCC makes vector stores: a struct of 96 bytes or more
 * zeroed whole it made a `rep stos`, whose start-up was a fifth of the
 * time decoding 456.hmmer, and 28% of scanning a line of text. */
static inline void cmti_zero(void *p, size_t n)
{
    char *c = p;
    for (; n > 48; n -= 48, c += 48)
        memset(c, 0, 48);
    memset(c, 0, n);
}

/* The library's malloc, calloc and realloc: NULL when memory runs out,
 * which every caller turns into an error for its own caller (a program
 * that links libcmt is never aborted by it).  Every allocation of the
 * library's own goes through them or the table functions below, so that
 * the tests can make any one of them fail. */
void *cmti_malloc(size_t size);
void *cmti_calloc(size_t count, size_t size);
void *cmti_realloc(void *p, size_t size);
void cmti_free(void *p);

/* From now on the library's memory is pages it maps itself, none of it
 * from malloc: for a replay whose malloc is the allocator it measures
 * (a preloaded library), which must see only the trace's calls.  Call it
 * before anything is allocated. */
void cmti_allocate_privately(void);

/* The most bytes of pages the library has held mapped at once since
 * cmti_allocate_privately (its tables and buffers): what of a replay's
 * resident memory is the replayer's own and not the allocator's. */
uint64_t cmti_private_peak_bytes(void);

/* zstd contexts whose memory is the library's (cmti_malloc): a replay's
 * own, so that the decoder's window (2.5 MiB on 456.hmmer's .cmt) is not
 * in the footprint of a glibc whose heap it would share (the replayed
 * overhead came out 13.3 where the trace's own is 2.43), and subject to
 * the tests' injected faults like every other allocation.  NULL when out
 * of memory. */
ZSTD_DCtx *cmti_zstd_dctx(void);
ZSTD_CCtx *cmti_zstd_cctx(void);

/* True if zstd's error RC is its running out of memory (for a window it
 * allocates as it goes): the message is then CMT_NO_MEMORY, not that the
 * stream is corrupt. */
bool cmti_zstd_out_of_memory(size_t rc);

/* Tests: the NTH allocation from now on fails (0: none), and with
 * EVERY_ONE_AFTER every one after it too. */
void cmti_fail_allocation(unsigned long nth, bool every_one_after);

/* Tests: allocations asked of the library so far, failed ones too. */
unsigned long cmti_allocations_made(void);

/* Seconds on CLOCK: CLOCK_MONOTONIC for spans of time,
 * CLOCK_THREAD_CPUTIME_ID for a thread's CPU.  Inline: the replay reads
 * it around its batches of calls. */
static inline double cmti_seconds(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The message every out-of-memory error carries. */
#define CMT_NO_MEMORY "out of memory"

/* Memory for a table that may grow to millions of entries, zeroed where
 * new: past CMT_TABLE_PAGES bytes it gets pages of its own, huge ones
 * where the system has them, since a lookup in a table that size is a
 * cache miss anyway and with 4 KiB pages a TLB miss besides (huge pages
 * halved the recorder's time).  The caller keeps the size: resizing and
 * freeing need it. */
#define CMT_TABLE_PAGES (2u << 20)
/* NULL when out of memory; a failed resize leaves the table as it was. */
void *cmti_table_alloc(size_t bytes);
void *cmti_table_resize(void *p, size_t old_bytes, size_t new_bytes);
void cmti_table_free(void *p, size_t bytes);
/* Makes bytes FROM to TO of TABLE (new, zeroed) present and writable
 * now.  For tables whose new slots are first read at random (a hash
 * table's probes): a read maps the shared zero page, and the write after
 * it then replaces that page and flushes the TLB of every core the
 * process runs on, interrupting the program's threads (9% of the
 * recorder's sink on a short Python run). */
void cmti_table_prefault(void *table, size_t from, size_t to);

/* The name messages use for PATH: "<stdin>" or "<stdout>" for "-". */
const char *cmti_display_name(const char *path, bool output);

/* S hashed on from H (FNV-1a; CMTI_HASH_START to begin), for tables of
 * names and what is drawn for them. */
#define CMTI_HASH_START 1469598103934665603ULL
static inline uint64_t cmti_hash_string(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* True if S ends in SUFFIX and has more before it ("x.cmt", not ".cmt"). */
bool cmti_has_suffix(const char *s, const char *suffix);

/* The last part of PATH, after its last '/'. */
const char *cmti_base_name(const char *path);

/* Room in the array *ITEMS (*CAP elements of SIZE bytes, N of them used)
 * for one more: twice as many when it is full (FIRST for an empty one).
 * Returns 0, or -1 when out of memory (the array as it was). */
int cmti_grow(void **items, size_t *cap, size_t n, size_t size, size_t first);

/* ----------------------------------------------------------------- pieces */

/* An array that grows without its elements ever moving, so that another
 * thread may read the elements published to it while more are added (the
 * stacks of a trace, read ahead): piece k holds 2^(k + CMTI_PIECE_LOG)
 * elements, and CMTI_PIECES of them hold 2^32. */
#define CMTI_PIECE_LOG 8
#define CMTI_PIECES (33 - CMTI_PIECE_LOG)

/* Where element I is: its piece in *K, its place there returned. */
static inline uint32_t cmti_piece_at(uint32_t i, unsigned *k)
{
    uint64_t j = (uint64_t)i + (1u << CMTI_PIECE_LOG);
    unsigned top = 63 - (unsigned)__builtin_clzll(j);
    *k = top - CMTI_PIECE_LOG;
    return (uint32_t)(j - ((uint64_t)1 << top));
}

/* Element I of PIECES (of SIZE bytes each), its piece allocated when it
 * has none; NULL when out of memory. */
void *cmti_piece_slot(void *pieces[CMTI_PIECES], uint32_t i, size_t size);

/* Element I of PIECES, which has it. */
static inline void *cmti_piece_get(void *const pieces[CMTI_PIECES], uint32_t i, size_t size)
{
    unsigned k;
    uint32_t at = cmti_piece_at(i, &k);
    return (char *)pieces[k] + (size_t)at * size;
}

/* ---------------------------------------------------------------- varints */

/* Longest LEB128 encoding of a 64-bit value. */
#define CMT_VARINT_MAX 10

/* Writes V as an unsigned LEB128 varint at P; returns the bytes written. */
static inline size_t cmti_varint_put(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* Reads a varint from [*P, END) into *V and advances *P.  Returns 0, or -1
 * if the input ends inside it or it does not fit 64 bits. */
static inline int cmti_varint_get(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    const uint8_t *q = *p;
    uint64_t result = 0;
    for (unsigned shift = 0; q < end; shift += 7) {
        uint8_t byte = *q++;
        if (shift == 63 && byte > 1)
            return -1;
        result |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *p = q;
            *v = result;
            return 0;
        }
    }
    return -1;
}

/* Bytes cmti_varint_put needs for V. */
static inline size_t cmti_varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* -------------------------------------------------------------- checksum */

/* A streaming 64-bit checksum over a byte sequence, fed in pieces of any
 * size; the same bytes give the same sum however they are split. */
typedef struct cmti_checksum {
    uint64_t state;
    uint64_t total;
    uint8_t pending[8];
    unsigned npending;
} cmti_checksum;

void cmti_checksum_init(cmti_checksum *c);
void cmti_checksum_update(cmti_checksum *c, const void *data, size_t len);
uint64_t cmti_checksum_final(const cmti_checksum *c);

/* An output that keeps what is written in memory, for a text to be
 * written again changed (escaped into a page); NULL when out of memory.
 * cmti_output_text gives what it holds so far, NUL-terminated (good until
 * the next write); commit or abort frees it. */
cmt_output *cmti_output_memory(void);
const char *cmti_output_text(cmt_output *out, size_t *len);

/* ------------------------------------------------------------ input bytes */

/* A zstd decoder between an input and what it reads: the file, or the
 * stage before it. */
typedef struct cmti_zstd_stage {
    struct ZSTD_DCtx_s *dctx;
    uint8_t *packed; /* compressed bytes read, not yet decompressed */
    size_t packed_cap, packed_start, packed_end;
    uint64_t packed_read; /* where packed[0] is in what the stage reads */
    bool frame_done;
} cmti_zstd_stage;

/* The stages an input may have: a .cmt.zst file is zstd data whose
 * content, past the .cmt header, is zstd data again. */
#define CMTI_ZSTD_STAGES 2

/* A buffered reader of a file or standard input.  zstd-compressed input
 * (found by its magic number, whatever the file is called) is decompressed
 * on the way in, and a reader may have the rest of what it reads
 * decompressed from any point (the .cmt reader past its header): one
 * buffer, which the readers decode from where it is. */
typedef struct cmti_input {
    int fd;
    bool owns_fd;
    char name[256];
    uint8_t *buf;
    size_t cap;
    size_t start;      /* first unconsumed byte */
    size_t end;        /* one past the last valid byte */
    uint64_t consumed; /* bytes of what buf holds (the file, or as decompressed) before buf[0] */
    bool eof;
    cmti_zstd_stage stages[CMTI_ZSTD_STAGES]; /* stages[0] reads the file */
    unsigned nstages;
    uint64_t size;        /* the file's bytes, for progress; 0 if not a regular file */
} cmti_input;

/* Opens PATH ("-" for standard input); refuses directories.  Returns 0 or
 * -1 with a message in ERR. */
int cmti_input_open(cmti_input *in, const char *path, char *err, size_t errlen);

/* Makes at least WANT bytes available from buf[start] unless the input
 * ends first.  Returns the bytes available, or -1 on a read error. */
ptrdiff_t cmti_input_fill(cmti_input *in, size_t want, char *err, size_t errlen);

/* Takes the next line, without its newline, into *LINE and *LEN (good
 * until the next call).  Returns 1 for a line, 0 at the end of the input,
 * -1 on a read error (message in ERR), -2 for a line longer than
 * CMT_MAX_LINE (*LINE and *LEN then hold what was read of it). */
int cmti_input_line(cmti_input *in, const char **line, size_t *len, char *err, size_t errlen);

/* Takes the next line as cmti_input_line does, but only if the buffer
 * holds all of it: never reads, so the lines taken before stay where they
 * are.  Returns 1 for a line, 0 if it is not all there (or is too long):
 * then cmti_input_line takes it. */
int cmti_input_peek_line(cmti_input *in, const char **line, size_t *len);

/* From buf[start] on, what IN reads is zstd data, decompressed from then
 * on; positions in buf go on from there (consumed).  0, or -1 with a
 * message in ERR (out of memory, or zstd within zstd within zstd). */
int cmti_input_decompress_rest(cmti_input *in, char *err, size_t errlen);

/* Goes to byte FILE of an input that reads a file through one zstd
 * stage (a compressed .cmt's body), the start of a zstd frame whose
 * output is byte STREAM of the stream, and decompresses from there.
 * Returns 0, or -1 with a message in ERR. */
int cmti_input_restart_at(cmti_input *in, uint64_t file, uint64_t stream, char *err, size_t errlen);

void cmti_input_close(cmti_input *in);

/* Bytes of the file (compressed, where it is) taken in so far. */
uint64_t cmti_input_position(const cmti_input *in);

/* The readers of cmt.h on an input already open, which they take over
 * (closing it if they fail).  PATH is where IN came from, for a reader that
 * reads a file twice. */
cmt_reader *cmti_reader_open_input(cmti_input *in, char *err, size_t errlen);
cmt_text_reader *cmti_text_open_input(cmti_input *in, const char *path, const cmt_text_options *options,
                                     char *err, size_t errlen);

/* The input each reader reads, for its progress. */
const cmti_input *cmti_reader_input(const cmt_reader *r);
const cmti_input *cmti_text_input(const cmt_text_reader *t);

/* The original cmt tools' binary format (format/cmt0.c), read behind
 * cmt_source as the others are: open on an input it takes over, next
 * (1, 0 at the end, -1 with a message naming the byte), error, close. */
typedef struct cmti_cmt0_reader cmti_cmt0_reader;
/* True if the N bytes at P start as the original trace2cmt started every
 * file: a malloc of tag 1. */
bool cmti_looks_like_cmt0(const uint8_t *p, size_t n);
cmti_cmt0_reader *cmti_cmt0_open_input(cmti_input *in, char *err, size_t errlen);
int cmti_cmt0_next(cmti_cmt0_reader *r, cmt_event *ev);
const char *cmti_cmt0_error(const cmti_cmt0_reader *r);
const cmti_input *cmti_cmt0_input(const cmti_cmt0_reader *r);
void cmti_cmt0_close(cmti_cmt0_reader *r);

#endif /* CMT_INTERNAL_H */
