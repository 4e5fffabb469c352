/*
 * cmt.h - compact memory traces: the one header a user of libcmt includes.
 *
 * A trace is a sequence of events, one per call a program made to its
 * allocator.  Every allocation that returned a block gets a tag: 1 for the
 * first, 2 for the second, and so on.  Frees and reallocs name the block
 * they release by that tag, never by address, so a trace can be replayed
 * against any allocator.
 *
 * The library reads text traces (cmt_text_*), writes and reads the compact
 * binary .cmt format (cmt_writer_*, cmt_reader_*; see docs/FORMAT.md), and
 * prints events back as text (cmt_format_event).  Every function that can
 * fail returns a negative value or NULL and leaves one human-readable
 * message, naming the file and the line or byte offset, in the object it
 * was called on.
 *
 * Threads: an object (reader, writer, output, source) is used by one
 * thread at a time; different objects may be used by different threads at
 * once.  The library sets no process policy (signal handlers, the umask)
 * unless asked (cmt_output_remove_on_signals).
 *
 * Lifetimes: a string or pointer an object returns (an error message, a
 * name, the statistics, the text reader behind a source) is good until the
 * next call on that object, or until it is closed where it is the object's
 * fixed part (a name, statistics); copy it to keep it.  Closing an object
 * frees what it allocated; NULL may be closed.
 */
#ifndef CMT_H
#define CMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library's version: the one place it is written (CMakeLists.txt reads
 * it from here).  CMT_VERSION_NUMBER is what this header says;
 * cmt_version_number() what the library linked says. */
#define CMT_VERSION_MAJOR 0
#define CMT_VERSION_MINOR 4
#define CMT_VERSION_PATCH 0
#define CMT_VERSION_NUMBER (CMT_VERSION_MAJOR * 10000 + CMT_VERSION_MINOR * 100 + CMT_VERSION_PATCH)
#define CMT_STRINGIFY_(x) #x
#define CMT_STRINGIFY(x) CMT_STRINGIFY_(x)
#define CMT_VERSION_STRING                                                                                   \
    CMT_STRINGIFY(CMT_VERSION_MAJOR) "." CMT_STRINGIFY(CMT_VERSION_MINOR) "." CMT_STRINGIFY(CMT_VERSION_PATCH)

/* What a shared libcmt exports: the functions declared here, and nothing
 * else (the library is compiled with hidden visibility). */
#if defined(__GNUC__) || defined(__clang__)
#define CMT_API __attribute__((visibility("default")))
#else
#define CMT_API
#endif

/* The version of the library linked, as CMT_VERSION_NUMBER (MAJOR * 10000
 * + MINOR * 100 + PATCH): a program can check it against the header it
 * was built with. */
CMT_API unsigned cmt_version_number(void);

/* The same, as text: "MAJOR.MINOR.PATCH". */
CMT_API const char *cmt_version_string(void);

/* The .cmt format version this library writes; it reads every minor version
 * of the same major version. */
#define CMT_FORMAT_MAJOR 1
#define CMT_FORMAT_MINOR 1

/* Compression level cmtrecord uses unless told otherwise (zstd's scale):
 * it compresses inside the program it records, so cheaply. */
#define CMT_DEFAULT_LEVEL 3

/* And trace2cmt's, which compresses on a core of its own while the other
 * reads (cmt_source_read_ahead): no slower there than 3, and 14% smaller
 * on a g++ compile, 9% on a Python run (docs/performance.md); up to it
 * the writer keeps level 3's 2 MiB window. */
#define CMT_CONVERT_LEVEL 9

/* Longest line a text trace may have; a longer one is an error, not a
 * reason to read megabytes into memory. */
#define CMT_MAX_LINE 65536

/* The calls a trace records. */
typedef enum cmt_op {
    CMT_OP_MALLOC,
    CMT_OP_CALLOC,
    CMT_OP_REALLOC,
    CMT_OP_FREE,
    CMT_OP_POSIX_MEMALIGN,
    CMT_OP_ALIGNED_ALLOC,
    CMT_OP_MEMALIGN,
    /* Accesses to a live block's bytes, from traces that record them (the
     * rmalloc project's memtrace and ops files): not allocator calls, but
     * what a relocating allocator must lock a block for. */
    CMT_OP_LOAD,
    CMT_OP_STORE,
    CMT_OP_MODIFY, /* a load and a store of the same bytes */
    CMT_OP_COUNT
} cmt_op;

/* One allocator call or access.  Tags are 0 where the pointer was NULL. */
typedef struct cmt_event {
    cmt_op op;
    uint64_t tag;      /* the block the call returned; 0 if it returned NULL */
    uint64_t arg_tag;  /* realloc, free, accesses: the block passed in; 0 for NULL */
    uint64_t size;     /* bytes requested; calloc: bytes per element; accesses: bytes accessed */
    uint64_t count;    /* calloc: number of elements; 1 otherwise */
    uint64_t align;    /* aligned family: the alignment asked for; 0 otherwise */
    uint64_t offset;   /* accesses: where in the block they start */
    uint64_t addr;     /* address returned, where known (text input, replay) */
    uint64_t arg_addr; /* address passed in (accesses: of the block), where known */
    uint64_t time;     /* when the call was made, in ns from the recorder's origin
                        * (cmtrecord: the coarse monotonic clock, a tick every few
                        * ms; dtrace, kdump -T); 0 where the trace does not say */
    uint32_t thread;   /* the thread that made it, numbered from 1 in order of
                        * appearance (cmtrecord); 0 where the trace does not say */
    uint32_t slot;     /* with tag: a number for the block, unique among the blocks
                        * live with it and reused after it goes, below the most
                        * blocks live at once (an index for a flat array of them) */
    uint32_t arg_slot; /* with arg_tag: the block passed in's slot */
    uint32_t stack;    /* with tag: the call stack the block was allocated from
                        * (cmt_sites_frame), in a trace that keeps them; else 0 */
} cmt_event;

/* The name of a call as a trace spells it ("malloc", "posix_memalign"...). */
CMT_API const char *cmt_op_name(cmt_op op);

/* True for the calls that hand out a new block (all but free and the
 * accesses). */
CMT_API bool cmt_op_allocates(cmt_op op);

/* True for the accesses: load, store and modify. */
CMT_API bool cmt_op_accesses(cmt_op op);

/* Bytes an event asks for: size, or count * size for calloc (saturating at
 * UINT64_MAX, which no allocator can satisfy). */
CMT_API uint64_t cmt_event_bytes(const cmt_event *ev);

/* True if A and B are the same event as a .cmt file keeps it: every field
 * but the addresses, which the format does not store. */
CMT_API bool cmt_event_same(const cmt_event *a, const cmt_event *b);

/* True when a call OP that passes a block (free, realloc) releases it, given
 * whether it RETURNED a block and the SIZE it asked for: a free does; a
 * realloc does when it returned a block (moved or in place) or asked for
 * 0 bytes (realloc(p, 0) frees p, as glibc's does, whatever it returns); a
 * realloc that failed keeps its block.  For readers that know whether a
 * call returned a block before they know its tag. */
CMT_API bool cmt_releases_block(cmt_op op, bool returned, uint64_t size);

/* True when EV releases the block it passes (ev->arg_tag, not 0): the same
 * rule, for a tagged event. */
CMT_API bool cmt_event_releases(const cmt_event *ev);

/* True when the call returned NULL although it asked for a block: a failed
 * allocation.  realloc(p, 0) returning NULL is a free, not a failure. */
CMT_API bool cmt_event_failed(const cmt_event *ev);

/* ---------------------------------------------------------------- output */

/* A destination for bytes: a file written under a temporary name and
 * renamed into place by cmt_output_commit, or standard output for "-".
 * Until it is committed an existing file of that name is left untouched.
 * The temporary file gets the permissions a new file would (0666 less
 * the umask).  An output may be used by one thread at a time. */
typedef struct cmt_output cmt_output;

/* Process policy, for a program to choose (cmt's tools do; the library
 * never does it by itself): installs handlers for SIGINT, SIGTERM, SIGHUP
 * and SIGPIPE (those not ignored, as under nohup) that remove the
 * temporary file of every output not yet committed or aborted, then die
 * of the signal as they would have.  Call it once, before any thread is
 * started; it replaces the handlers the program had for them. */
CMT_API void cmt_output_remove_on_signals(void);

/* Opens PATH ("-" or NULL for standard output) for writing.  Returns NULL
 * and a message in ERR (of ERRLEN bytes) on failure. */
CMT_API cmt_output *cmt_output_open(const char *path, char *err, size_t errlen);

/* Writes FMT with its arguments, as printf does.  Returns 0, or -1 with
 * the message in cmt_output_error; an output a write failed on fails its
 * commit too, so a printer may check once, at the end. */
CMT_API int cmt_output_printf(cmt_output *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes straight to FD, already open (NAME is for messages): no
 * temporary file (nothing for a signal to remove), for a recorder inside another
 * program, whose file must be readable as far as it got even if the
 * program is killed.  Commit closes FD; abort closes it and keeps what
 * reached it.  NULL when out of memory (FD is then still the caller's). */
CMT_API cmt_output *cmt_output_open_fd(int fd, const char *name);

/* Hands what OUT has buffered to the file now.  Returns 0 or -1. */
CMT_API int cmt_output_flush(cmt_output *out);

/* Appends LEN bytes.  Returns 0, or -1 with a message in cmt_output_error. */
CMT_API int cmt_output_write(cmt_output *out, const void *data, size_t len);

/* True when the output is a terminal (binary data does not belong there). */
CMT_API bool cmt_output_is_terminal(const cmt_output *out);

/* Flushes, closes and renames the file into place; frees OUT.  Returns 0,
 * or -1 (the temporary file removed) with the message in ERR. */
CMT_API int cmt_output_commit(cmt_output *out, char *err, size_t errlen);

/* Discards everything written: removes the temporary file; frees OUT. */
CMT_API void cmt_output_abort(cmt_output *out);

/* The last error on OUT. */
CMT_API const char *cmt_output_error(const cmt_output *out);

/* Bytes written to OUT so far. */
CMT_API uint64_t cmt_output_bytes(const cmt_output *out);

/* ------------------------------------------------------------ call sites */

/* The call stacks a trace may keep (cmtrecord --stacks): an interned
 * tree, each stack one frame on top of its caller's stack, numbered 1,
 * 2... in the order they came; 0 is no stack. */
typedef struct cmt_frame {
    uint32_t caller; /* the stack below this frame: the frame's caller's; 0 for the outermost kept */
    uint32_t module; /* the module its code is in (cmt_sites_module); 0 for none known */
    uint64_t offset; /* the frame's return address less its module's base (the address itself
                      * without a module): the call is in the instruction before it */
} cmt_frame;

/* A program or library the stacks ran in, as loaded: enough to symbolise
 * the frames later, here or on another machine with the same files. */
typedef struct cmt_module {
    uint64_t base;           /* its load bias: a file address plus base is where it ran */
    const char *path;        /* the file, as the loader named it */
    const uint8_t *build_id; /* its GNU build-id (build_id_len bytes; 0 if it has none) */
    size_t build_id_len;
} cmt_module;

/* The stacks and modules a reader has met so far (cmt_reader_sites). */
typedef struct cmt_sites cmt_sites;

/* How many stacks SITES holds (NULL: 0); they are numbered from 1. */
CMT_API uint32_t cmt_sites_stacks(const cmt_sites *sites);

/* The top frame of stack STACK; NULL for 0 or a stack SITES does not hold. */
CMT_API const cmt_frame *cmt_sites_frame(const cmt_sites *sites, uint32_t stack);

/* How many modules SITES holds (NULL: 0); they are numbered from 1. */
CMT_API uint32_t cmt_sites_modules(const cmt_sites *sites);

/* Module MODULE; NULL for 0 or a module SITES does not hold. */
CMT_API const cmt_module *cmt_sites_module(const cmt_sites *sites, uint32_t module);

/* ------------------------------------------------------------ text input */

/* The formats a trace may come in besides .cmt (which its magic number
 * names): the text ones, and the original cmt tools' binary files. */
typedef enum cmt_format {
    CMT_FORMAT_AUTO,  /* decided from the first lines */
    CMT_FORMAT_TEXT,  /* malloc(8) = 81d220b48<1>: the cmt text trace */
    CMT_FORMAT_KDUMP, /* FreeBSD kdump of jemalloc's utrace records */
    CMT_FORMAT_VALGRIND, /* valgrind --trace-malloc=yes */
    CMT_FORMAT_DTRACE, /* CHERI memory-alloc-tracing dtrace logs */
    CMT_FORMAT_MTRACE, /* glibc mtrace() logs */
    CMT_FORMAT_MEMTRACE, /* the rmalloc project's valgrind memtrace: >>> N|F|L|S|M addr size */
    CMT_FORMAT_OPS,    /* the rmalloc project's ops files: handle N|F|L|S|M addr size */
    CMT_FORMAT_CMT0,   /* the original cmt tools' binary files (read by cmt_source_open only) */
    CMT_FORMAT_COUNT
} cmt_format;

/* The name of FORMAT as -f spells it ("auto", "text", "kdump", "valgrind",
 * "dtrace", "mtrace", "memtrace", "ops", "cmt0"). */
CMT_API const char *cmt_format_name(cmt_format format);

/* The format called NAME; returns 0, or -1 if there is none. */
CMT_API int cmt_format_from_name(const char *name, cmt_format *format);

/* Options for reading a text trace. */
typedef struct cmt_text_options {
    cmt_format format;
    /* valgrind: the process to read from a log of several; 0 for the one
     * with most calls (the first one, on standard input). */
    uint64_t pid;
    /* Make a free or realloc of an address that is not live an error
     * instead of a counted skip. */
    bool strict;
} cmt_text_options;

/* What the text reader met beyond the events it returned. */
typedef struct cmt_text_stats {
    uint64_t lines;            /* lines read, blank and comment lines included */
    uint64_t events;           /* events returned */
    uint64_t unknown_frees;    /* free of an address that was not live: skipped */
    uint64_t unknown_reallocs; /* realloc of an address that was not live: read as realloc(NULL, n) */
    uint64_t reused_live;      /* allocation returned an address still live: the old block taken as freed */
    uint64_t other_records;    /* lines of other record types (kdump's CALL, malloc_init()...): skipped */
    cmt_format format;         /* the format read (what auto chose) */
    uint64_t pid;              /* valgrind: the process read */
    uint64_t processes;        /* valgrind: processes in the log (0: not counted, on standard input) */
    uint64_t other_process;    /* valgrind: calls of other processes skipped */
    uint64_t unmapped_accesses; /* accesses that hit no live block: skipped */
    uint64_t overrunning_accesses; /* accesses running past their block's end: kept */
    uint64_t tag_offset;       /* the input's tags are ours plus this (0 when it has none) */
} cmt_text_stats;

typedef struct cmt_text_reader cmt_text_reader;

/* Opens a text trace at PATH ("-" for standard input), zstd-compressed or
 * not.  Returns NULL with a message in ERR. */
CMT_API cmt_text_reader *cmt_text_open(const char *path, const cmt_text_options *options,
                               char *err, size_t errlen);

/* Reads the next event into EV.  Returns 1 for an event, 0 at the end of the
 * trace, -1 on an error (message: "FILE:LINE: ..."). */
CMT_API int cmt_text_next(cmt_text_reader *reader, cmt_event *ev);

/* The last error, "FILE:LINE: can't parse: <line>" and the like. */
CMT_API const char *cmt_text_error(const cmt_text_reader *reader);

/* Counts of what was read and skipped so far. */
CMT_API const cmt_text_stats *cmt_text_stats_of(const cmt_text_reader *reader);

/* The stacks the trace has named so far: the lines cmt_format_sites
 * writes, glibc mtrace's callers (each a stack of one frame). */
CMT_API const cmt_sites *cmt_text_sites(const cmt_text_reader *reader);

/* Closes the input and frees READER. */
CMT_API void cmt_text_close(cmt_text_reader *reader);

/* ----------------------------------------------------------- text output */

/* Longest line cmt_format_event writes, terminating NUL included. */
#define CMT_EVENT_TEXT_MAX 176

/* Writes EV as one line of text, newline included, into BUF (at least
 * CMT_EVENT_TEXT_MAX bytes), e.g. "realloc(81d220b48<1>, 16) = 81d3b83a0<2>\n"
 * or, for an access, "store(81d3b83a0<2>+8, 4)\n" (block+offset, bytes).
 * Addresses are printed in hex without 0x as the original tools did, NULL
 * as 0x0.  An event's time, thread and stack, where known, come first:
 * "@1.000000250 t2 s14 malloc(8) = 0<7>\n" (seconds, to the nanosecond),
 * so that the text keeps all a .cmt file does (cmt_format_sites prints the
 * stacks' lines).  Returns the length written. */
CMT_API size_t cmt_format_event(char *buf, const cmt_event *ev);

/* Writes to OUT, as lines of text, the stacks of SITES past the first
 * *STACKS up to stack UPTO, each after the module it is in where that is
 * past the first *MODULES (both counts then updated): "module 1
 * 0x7f3a2c000000 3c6f8a... /usr/lib/libfoo.so" (number, load bias,
 * build-id or -, path) and "stack 5 3 1 0x1d2c" (number, caller's stack,
 * module, offset).  A printer calls it before an event whose stack (UPTO)
 * it has not printed, so that the text reads back with its stacks, and
 * each line comes where a recorder names it: converting the text back
 * gives the same text.  Returns 0 or -1. */
CMT_API int cmt_format_sites(cmt_output *out, const cmt_sites *sites, uint32_t upto, uint32_t *modules,
                             uint32_t *stacks);

/* --------------------------------------------------------- binary output */

typedef struct cmt_writer cmt_writer;

/* Starts a .cmt stream on OUT (which stays the caller's to commit or
 * abort).  LEVEL is the zstd level, 1 to 22, or 0 for raw (uncompressed)
 * output.  Returns NULL with a message in ERR. */
CMT_API cmt_writer *cmt_writer_open(cmt_output *out, int level, char *err, size_t errlen);

/* Appends EV.  Its tag must be the next one (1 more than the last) or 0,
 * and its arg_tag a live block or 0.  Returns 0, or -1 with a message. */
CMT_API int cmt_writer_write(cmt_writer *writer, const cmt_event *ev);

/* From the first event on, keeps the address each event returns (the
 * events' addr), as extension records of kind 4 (docs/FORMAT.md), for
 * readers that lay blocks out (cmtoverhead).  Returns 0, or -1 once an
 * event has been written. */
CMT_API int cmt_writer_keep_addresses(cmt_writer *writer);

/* Places a seek point (where a reader can start, so that an analysis
 * runs on every core) every EVENTS events or so, 0 for none.  By default
 * they are 2^23 events and 256 KiB of file apart, where they cost under
 * 0.3%.  Compressed files only, and not with addresses.  Returns 0, or
 * -1 once an event has been written. */
CMT_API int cmt_writer_seek_every(cmt_writer *writer, uint64_t events);

/* Names a module the stacks that follow may run in: the next number
 * (from 1) is its, stored in *NUMBER.  Returns 0 or -1. */
CMT_API int cmt_writer_module(cmt_writer *writer, const cmt_module *module, uint32_t *number);

/* Adds a stack, FRAME on top of FRAME->caller's (0 or a stack added
 * before), in FRAME->module (0 or a module named before): the next
 * number (from 1) is its, stored in *NUMBER, for the events' stack.
 * From the first stack on, the file keeps the stack of every block its
 * events return (0 where an event has none).  Not with seek points:
 * a file with stacks has none.  Returns 0 or -1. */
CMT_API int cmt_writer_stack(cmt_writer *writer, const cmt_frame *frame, uint32_t *number);

/* Adds the stacks of SITES up to stack UPTO that the writer does not have
 * yet, each after the module it is in where the writer has not that
 * either, with the same numbers (the writer's must be a beginning of
 * SITES's): a program copying a trace calls it before an event whose
 * stack (UPTO) is more than it has added, and the copy names each where
 * the original did, if a recorder wrote it.  Returns 0 or -1. */
CMT_API int cmt_writer_copy_sites(cmt_writer *writer, const cmt_sites *sites, uint32_t upto);

/* Appends an extension record of kind KIND (see docs/FORMAT.md) that
 * readers which do not know KIND skip.  Returns 0 or -1. */
CMT_API int cmt_writer_write_extension(cmt_writer *writer, uint64_t kind, const void *data, size_t len);

/* Ends the stream (end marker, event count, checksum) and flushes it to
 * the output.  Returns 0 or -1. */
CMT_API int cmt_writer_finish(cmt_writer *writer);

/* The last error of WRITER. */
CMT_API const char *cmt_writer_error(const cmt_writer *writer);

/* Events written so far. */
CMT_API uint64_t cmt_writer_events(const cmt_writer *writer);

/* Frees WRITER (finished or not). */
CMT_API void cmt_writer_close(cmt_writer *writer);

/* ---------------------------------------------------------- binary input */

typedef struct cmt_reader cmt_reader;

/* Opens the .cmt file at PATH ("-" for standard input) and checks its
 * header.  Returns NULL with a message in ERR. */
CMT_API cmt_reader *cmt_reader_open(const char *path, char *err, size_t errlen);

/* Decodes the next event into EV (its addresses are 0 unless the file
 * keeps them: cmt_reader_has_addresses).
 * Returns 1 for an event, 0 at the verified end of the stream, -1 when the
 * file is truncated or corrupt (message: "FILE: byte N: ..."). */
CMT_API int cmt_reader_next(cmt_reader *reader, cmt_event *ev);

/* The last error of READER. */
CMT_API const char *cmt_reader_error(const cmt_reader *reader);

/* Reads on to the end of the file without decoding its events, checking
 * its framing and its checksum (so a damaged file still fails), and stores
 * in *EVENTS how many the whole file holds, as its end record says.  Many
 * times faster than decoding, for a summary.  Returns 0, or -1 as
 * cmt_reader_next does. */
CMT_API int cmt_reader_skim(cmt_reader *reader, uint64_t *events);

/* True if the file keeps its blocks' addresses (cmt_writer_keep_addresses),
 * known from the first event that returns a block on. */
CMT_API bool cmt_reader_has_addresses(const cmt_reader *reader);

/* The stacks and modules the file has named so far (cmt_event.stack
 * numbers them); empty for a file without. */
CMT_API const cmt_sites *cmt_reader_sites(const cmt_reader *reader);

/* True if the file is zstd-compressed. */
CMT_API bool cmt_reader_compressed(const cmt_reader *reader);

/* Blocks live at this point of the stream. */
CMT_API uint64_t cmt_reader_live_blocks(const cmt_reader *reader);

/* Closes the input and frees READER. */
CMT_API void cmt_reader_close(cmt_reader *reader);

/* ------------------------------------------------------------ any trace */

/* A trace of any kind, for tools that take them all: a .cmt file (known by
 * its magic number), a file of the original cmt tools (known by its first
 * record, or -f cmt0), or a text trace in any format cmt_text_open
 * reads. */
typedef struct cmt_source cmt_source;

/* Opens PATH ("-" for standard input); OPTIONS (NULL: -f auto) apply to a
 * text trace.  Returns NULL with a message in ERR, also for an empty
 * input: the tools that take either kind have nothing to say of one. */
CMT_API cmt_source *cmt_source_open(const char *path, const cmt_text_options *options, char *err,
                            size_t errlen);

/* The next event, as cmt_reader_next or cmt_text_next gives it: 1, 0 at
 * the end, -1 on an error. */
CMT_API int cmt_source_next(cmt_source *source, cmt_event *ev);

/* The last error, naming the file and the line or byte. */
CMT_API const char *cmt_source_error(const cmt_source *source);

/* From now on damage (a file cut short, a corrupt block, a line that can't
 * be read) ends the trace instead of failing it: every whole event before
 * it is returned, then the end.  cmt_source_damaged says whether it came,
 * cmt_source_error what it was. */
CMT_API void cmt_source_salvage(cmt_source *source);

/* From now on SOURCE decodes ahead on a thread of its own, batches of
 * events at a time, so that what the caller does with each event takes a
 * second core (trace2cmt's encoding, cmtstat's statistics): the same
 * events, errors and end.  Call it after cmt_source_salvage, if at all,
 * and before the first event; the source's text reader (cmt_source_text)
 * and cmt_source_damaged are then to be looked at only at the end.
 * Returns 0, or -1 (out of memory, no thread), when SOURCE reads as
 * before. */
CMT_API int cmt_source_read_ahead(cmt_source *source);

/* True if a salvaging SOURCE met damage and ended there. */
CMT_API bool cmt_source_damaged(const cmt_source *source);

/* The name of the input, for messages ("<stdin>" for standard input). */
CMT_API const char *cmt_source_name(const cmt_source *source);

/* How far SOURCE has read: the bytes of its file taken in so far in *DONE,
 * the file's size in *TOTAL (0 where the input is no regular file: a pipe,
 * a terminal), for a progress line. */
CMT_API void cmt_source_progress(const cmt_source *source, uint64_t *done, uint64_t *total);

/* What SOURCE is read as: ".cmt", "cmt0", or the text format's name as
 * -f spells it (what auto chose). */
CMT_API const char *cmt_source_format_name(const cmt_source *source);

/* True for a text trace, whose events carry the program's addresses, and
 * for a .cmt file written with them (known from its first event that
 * returns a block on: cmt_reader_has_addresses); the original tools'
 * files kept none. */
CMT_API bool cmt_source_has_addresses(const cmt_source *source);

/* The call stacks SOURCE has met so far, for its events' stack (NULL
 * where the input keeps none).  With read-ahead, the stacks of the events
 * handed out so far are there; more may be being added. */
CMT_API const cmt_sites *cmt_source_sites(const cmt_source *source);

/* The text reader behind SOURCE, for its counts; NULL for a binary file. */
CMT_API const cmt_text_reader *cmt_source_text(const cmt_source *source);

/* Closes SOURCE and the file it read (NULL: nothing). */
CMT_API void cmt_source_close(cmt_source *source);

#ifdef __cplusplus
}
#endif

#endif /* CMT_H */
