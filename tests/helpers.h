/*
 * helpers.h - what the tests share: scratch files, running the real tools,
 * and turning event lists into .cmt files and back.
 */
#ifndef CMT_TEST_HELPERS_H
#define CMT_TEST_HELPERS_H

#include <cmt.h>

#include <stddef.h>
#include <stdio.h>

/* A fresh scratch folder for this test process; removed by
 * scratch_cleanup (a suite's .fini). */
const char *scratch_dir(void);
void scratch_cleanup(void);

/* SCRATCH/NAME in a static buffer that the eighth call after reuses. */
const char *scratch_path(const char *name);

void write_file(const char *path, const void *data, size_t len);
void write_text(const char *path, const char *text);

/* The whole file, NUL-terminated; *LEN gets its length if not NULL. */
char *read_file(const char *path, size_t *len);

bool file_exists(const char *path);

/* Runs a shell command; its stdout and stderr go to the returned buffers
 * (free them).  Returns the exit status, or -1 if it did not exit. */
int run(const char *cmd, char **out, char **err);

/* run() of a command made with printf's FMT. */
int runf(char **out, char **err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Encodes N events into a .cmt file at PATH at LEVEL (0: raw); their
 * stacks, where they have them, named as test_frame and test_module say,
 * just before their first block. */
void encode_events(const char *path, const cmt_event *events, size_t n, int level);

/* Writes EVENTS to PATH compressed, with a seek point every SEEK_EVERY
 * events (cmt_writer_seek_every). */
void encode_events_seeking(const char *path, const cmt_event *events, size_t n, uint64_t seek_every);

/* Writes N events as the original cmt tools' trace2cmt wrote them (the
 * format cmt0, docs/FORMAT.md): malloc, realloc and free only, their tags
 * counting up by one from 1. */
void encode_cmt0(const char *path, const cmt_event *events, size_t n);

/* Gives the blocks the N EVENTS return addresses as an allocator might
 * (past the last block and a header, where a freed block of the same size
 * was, now and then anywhere in 64 bits), and the events that pass a
 * block its address. */
void give_addresses(cmt_event *events, size_t n, unsigned seed);

/* encode_events, keeping the addresses (cmt_writer_keep_addresses). */
void encode_events_with_addresses(const char *path, const cmt_event *events, size_t n, int level);

/* Gives the blocks the N EVENTS return stacks (0 for the first few, then
 * any named so far or the next), for encode_events_keeping. */
void give_stacks(cmt_event *events, size_t n, unsigned seed);
cmt_frame test_frame(uint32_t stack);
cmt_module test_module(uint32_t m);

/* Encodes the trace at TEXT (any format the library reads) into a .cmt
 * file at CMT, as trace2cmt does, through the library; returns CMT. */
const char *encode_trace(const char *text, const char *cmt);

/* Decodes a whole .cmt file; returns the events (free them), their count
 * in *N, and the return value of the last cmt_reader_next in *RC (0 for a
 * clean end).  The reader's message is copied to ERR when given. */
cmt_event *decode_events(const char *path, size_t *n, int *rc, char *err, size_t errlen);

/* Every event SOURCE gives, to its end or an error: the events (free
 * them), their count in *N, and the last return of cmt_source_next in
 * *RC. */
cmt_event *source_events(cmt_source *source, size_t *n, int *rc);

/* A random but valid trace of N events, the same for the same SEED. */
cmt_event *random_events(size_t n, unsigned seed);

/* The path of a file under CMT_SHARED_TRACES, or NULL if it is absent; in a
 * static buffer that the next call reuses. */
const char *shared_trace(const char *name);

/* jemalloc, which the replay preloads into a process of its own; a
 * sanitized cmtreplay refuses preloads (the sanitizer's runtime must come
 * first), and the tests that only need another allocator than glibc's
 * take rmalloc there. */
#ifdef __SANITIZE_ADDRESS__
#define JEMALLOC_OR_RMALLOC "rmalloc"
#else
#define JEMALLOC_OR_RMALLOC "jemalloc"
#endif

#endif
