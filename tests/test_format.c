/*
 * test_format.c - the .cmt writer and reader: round trips, and every way a
 * file can be cut or damaged; and the reader of the original tools' files.
 */
#include "cmt_internal.h"
#include "format/sites.h"
#include "helpers.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

TestSuite(format, .fini = scratch_cleanup);

/* PATH, read whole, gives the N EVENTS (WHAT says which, for messages),
 * and WITH_ADDRESSES their addresses too: the block's each returned, and
 * the block's it was passed. */
static void expect_decodes_to(const char *path, const cmt_event *events, size_t n, bool with_addresses,
                              const char *what)
{
    size_t got;
    int rc;
    char err[512];
    cmt_event *back = decode_events(path, &got, &rc, err, sizeof err);
    cr_assert_eq(rc, 0, "%s: %s", what, err);
    cr_assert_eq(got, n, "%s", what);
    for (size_t i = 0; i < n; i++) {
        cr_assert(cmt_event_same(&events[i], &back[i]), "%s: event %zu differs", what, i);
        if (!with_addresses)
            continue;
        cr_assert_eq(back[i].addr, events[i].tag ? events[i].addr : 0, "%s: event %zu's address", what, i);
        cr_assert_eq(back[i].arg_addr, events[i].arg_tag ? events[i].arg_addr : 0, "%s: event %zu's block's address",
                     what, i);
    }
    free(back);
}

static void check_round_trip(size_t n, unsigned seed, int level)
{
    cmt_event *events = random_events(n, seed);
    const char *path = scratch_path("round.cmt");
    encode_events(path, events, n, level);
    char what[64];
    snprintf(what, sizeof what, "seed %u, level %d", seed, level);
    expect_decodes_to(path, events, n, false, what);
    free(events);
}

Test(format, random_traces_round_trip_raw_and_compressed)
{
    for (unsigned seed = 1; seed <= 20; seed++)
        check_round_trip(seed * 997, seed, seed % 2 ? 0 : (int)(seed % 19) + 1);
}

Test(format, a_trace_larger_than_a_block_round_trips)
{
    check_round_trip(600000, 99, 0);
    check_round_trip(600000, 100, 3);
}

Test(format, an_empty_trace_round_trips)
{
    check_round_trip(0, 1, 0);
    check_round_trip(0, 1, 3);
}

Test(format, sizes_and_counts_keep_all_64_bits)
{
    cmt_event events[] = {
        {.op = CMT_OP_MALLOC, .tag = 1, .size = UINT64_MAX, .count = 1},
        {.op = CMT_OP_MALLOC, .tag = 2, .size = 0, .count = 1},
        {.op = CMT_OP_MALLOC, .tag = 3, .size = UINT64_MAX, .count = 1}, /* 0 - 1 wraps */
        {.op = CMT_OP_CALLOC, .tag = 4, .size = 1ULL << 40, .count = UINT64_MAX},
        {.op = CMT_OP_MEMALIGN, .tag = 5, .size = 3, .count = 1, .align = 1ULL << 63},
        {.op = CMT_OP_REALLOC, .tag = 6, .arg_tag = 1, .size = UINT64_MAX - 1, .count = 1},
    };
    size_t n = sizeof events / sizeof events[0];
    encode_events(scratch_path("big.cmt"), events, n, 0);
    size_t got;
    int rc;
    cmt_event *back = decode_events(scratch_path("big.cmt"), &got, &rc, NULL, 0);
    cr_assert_eq(rc, 0);
    cr_assert_eq(got, n);
    for (size_t i = 0; i < n; i++)
        cr_assert(cmt_event_same(&events[i], &back[i]), "event %zu", i);
    free(back);
}

Test(format, the_common_case_takes_one_byte_an_event)
{
    /* malloc(n), malloc(n + 1), free, free: the opcode holds it all. */
    enum { PAIRS = 10000 };
    cmt_event *events = calloc(4 * PAIRS, sizeof *events);
    uint64_t tag = 1;
    for (size_t i = 0; i < PAIRS; i++) {
        cmt_event *e = &events[4 * i];
        e[0] = (cmt_event){.op = CMT_OP_MALLOC, .tag = tag, .size = 40, .count = 1};
        e[1] = (cmt_event){.op = CMT_OP_MALLOC, .tag = tag + 1, .size = 41, .count = 1};
        e[2] = (cmt_event){.op = CMT_OP_FREE, .arg_tag = tag + 1, .count = 1};
        e[3] = (cmt_event){.op = CMT_OP_FREE, .arg_tag = tag, .count = 1};
        tag += 2;
    }
    encode_events(scratch_path("pairs.cmt"), events, 4 * PAIRS, 0);
    size_t len;
    free(read_file(scratch_path("pairs.cmt"), &len));
    cr_assert_lt(len, 4 * PAIRS + 64, "%zu bytes for %d events", len, 4 * PAIRS);
    free(events);
}


/* Finishes W's stream on OUT (at PATH) and decodes the file: the events,
 * their count in *N, the last return in *RC, the message in ERR. */
static cmt_event *finish_and_decode(cmt_writer *w, cmt_output *out, const char *path, size_t *n, int *rc, char *err,
                                    size_t errlen)
{
    cr_assert_eq(cmt_writer_finish(w), 0);
    cmt_writer_close(w);
    cr_assert_eq(cmt_output_commit(out, err, errlen), 0);
    return decode_events(path, n, rc, err, errlen);
}
Test(format, unknown_extension_records_are_skipped)
{
    const char *path = scratch_path("ext.cmt");
    char err[512];
    cmt_output *out = cmt_output_open(path, err, sizeof err);
    cmt_writer *w = cmt_writer_open(out, 0, err, sizeof err);
    cmt_event a = {.op = CMT_OP_MALLOC, .tag = 1, .size = 8, .count = 1};
    cmt_event b = {.op = CMT_OP_FREE, .arg_tag = 1, .count = 1};
    cr_assert_eq(cmt_writer_write(w, &a), 0);
    cr_assert_eq(cmt_writer_write_extension(w, 12345, "future field", 12), 0);
    cr_assert_eq(cmt_writer_write_extension(w, 99, NULL, 0), 0);
    cr_assert_eq(cmt_writer_write(w, &b), 0);
    size_t n;
    int rc;
    cmt_event *back = finish_and_decode(w, out, path, &n, &rc, err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_eq(n, 2);
    cr_assert(cmt_event_same(&back[0], &a) && cmt_event_same(&back[1], &b));
    free(back);
}

Test(format, the_writer_rejects_events_that_break_the_rules)
{
    char err[512];
    cmt_output *out = cmt_output_open(scratch_path("bad.cmt"), err, sizeof err);
    cmt_writer *w = cmt_writer_open(out, 0, err, sizeof err);
    cmt_event skip = {.op = CMT_OP_MALLOC, .tag = 2, .size = 8, .count = 1};
    cr_assert_eq(cmt_writer_write(w, &skip), -1);
    cr_assert(strstr(cmt_writer_error(w), "block 1 is next"), "%s", cmt_writer_error(w));
    cmt_writer_close(w);
    cmt_output_abort(out);
    cr_assert_not(file_exists(scratch_path("bad.cmt")), "an aborted output leaves no file");

    out = cmt_output_open(scratch_path("bad.cmt"), err, sizeof err);
    w = cmt_writer_open(out, 0, err, sizeof err);
    cmt_event dead = {.op = CMT_OP_FREE, .arg_tag = 5, .count = 1};
    cr_assert_eq(cmt_writer_write(w, &dead), -1);
    cr_assert(strstr(cmt_writer_error(w), "not live"), "%s", cmt_writer_error(w));
    cmt_writer_close(w);
    cmt_output_abort(out);

    cr_assert_null(cmt_writer_open(NULL, 23, err, sizeof err));
    cr_assert(strstr(err, "out of range"), "%s", err);
}

/* The writer's calls for the recorder's commonest events (write.h) write
 * the bytes cmt_writer_write does, across threads, clocks, blocks and seek
 * points, and fail as it does. */
Test(format, the_plain_calls_write_what_write_does)
{
    for (unsigned seed = 1; seed <= 6; seed++) {
        size_t n = 150000;
        cmt_event *events = random_events(n, seed);
        char err[512];
        const char *paths[2] = {scratch_path("write.cmt"), scratch_path("plain.cmt")};
        for (int plain = 0; plain < 2; plain++) {
            cmt_output *out = cmt_output_open(paths[plain], err, sizeof err);
            cmt_writer *w = cmt_writer_open(out, CMT_DEFAULT_LEVEL, err, sizeof err);
            cr_assert_not_null(w, "%s", err);
            for (size_t i = 0; i < n; i++) {
                const cmt_event *ev = &events[i];
                int rc;
                if (plain && ev->op == CMT_OP_MALLOC && ev->tag)
                    rc = cmti_writer_malloc(w, ev->tag, ev->size, ev->thread, ev->time);
                else if (plain && ev->op == CMT_OP_FREE && ev->arg_tag)
                    rc = cmti_writer_free(w, ev->arg_tag, ev->thread, ev->time);
                else
                    rc = cmt_writer_write(w, ev);
                cr_assert_eq(rc, 0, "seed %u, event %zu: %s", seed, i, cmt_writer_error(w));
            }
            cr_assert_eq(cmt_writer_finish(w), 0);
            cmt_writer_close(w);
            cr_assert_eq(cmt_output_commit(out, err, sizeof err), 0, "%s", err);
        }
        size_t a_len, b_len;
        char *a = read_file(paths[0], &a_len), *b = read_file(paths[1], &b_len);
        cr_assert(a_len == b_len && memcmp(a, b, a_len) == 0, "seed %u: the files differ", seed);
        free(a);
        free(b);
        free(events);
    }

    char err[512];
    cmt_output *out = cmt_output_open(scratch_path("bad.cmt"), err, sizeof err);
    cmt_writer *w = cmt_writer_open(out, 0, err, sizeof err);
    cr_assert_eq(cmti_writer_malloc(w, 1, 8, 0, 0), 0);
    cr_assert_eq(cmti_writer_malloc(w, 3, 8, 0, 0), -1, "a tag skipped");
    cr_assert(strstr(cmt_writer_error(w), "block 2 is next"), "%s", cmt_writer_error(w));
    cmt_writer_close(w);
    cmt_output_abort(out);
    out = cmt_output_open(scratch_path("bad.cmt"), err, sizeof err);
    w = cmt_writer_open(out, 0, err, sizeof err);
    cr_assert_eq(cmti_writer_malloc(w, 1, 8, 0, 0), 0);
    cr_assert_eq(cmti_writer_free(w, 1, 0, 0), 0);
    cr_assert_eq(cmti_writer_free(w, 1, 0, 0), -1, "a block freed twice");
    cr_assert(strstr(cmt_writer_error(w), "not live"), "%s", cmt_writer_error(w));
    cmt_writer_close(w);
    cmt_output_abort(out);
}

/* A small file with every kind of event, raw or compressed: the damage
 * tests decode it once for every byte or bit of it. */
#define SMALL_EVENTS 200
static cmt_event *small_events(bool stacks)
{
    cmt_event *events = random_events(SMALL_EVENTS, 5);
    if (stacks)
        give_stacks(events, SMALL_EVENTS, 5);
    return events;
}

static char *small_file(int level, bool addresses, bool stacks, size_t *len)
{
    cmt_event *events = small_events(stacks);
    if (addresses) {
        give_addresses(events, SMALL_EVENTS, 5);
        encode_events_with_addresses(scratch_path("small.cmt"), events, SMALL_EVENTS, level);
    } else {
        encode_events(scratch_path("small.cmt"), events, SMALL_EVENTS, level);
    }
    free(events);
    return read_file(scratch_path("small.cmt"), len);
}

/* Skims PATH (cmt_reader_skim): 0 and the events in *N, or -1 with the
 * message in ERR. */
static int skim(const char *path, uint64_t *n, char *err, size_t errlen)
{
    cmt_reader *r = cmt_reader_open(path, err, errlen);
    if (!r)
        return -1;
    int rc = cmt_reader_skim(r, n);
    if (rc < 0)
        snprintf(err, errlen, "%s", cmt_reader_error(r));
    cmt_reader_close(r);
    return rc;
}

/* Decoding PATH, and skimming it, must end in an error, never a clean end
 * or a crash. */
static void expect_failure(const char *path, const char *what)
{
    size_t n;
    int rc;
    char err[512];
    free(decode_events(path, &n, &rc, err, sizeof err));
    cr_assert_lt(rc, 0, "%s: decoded %zu events and a clean end", what, n);
    cr_assert(strstr(err, path) != NULL, "%s: the message names the file: %s", what, err);
    uint64_t skimmed;
    cr_assert_lt(skim(path, &skimmed, err, sizeof err), 0, "%s: skimmed %llu events and a clean end", what,
                 (unsigned long long)skimmed);
    cr_assert(strstr(err, path) != NULL, "%s: the skim's message names the file: %s", what, err);
}

static void check_every_truncation(int level, bool addresses, bool stacks)
{
    size_t len;
    char *data = small_file(level, addresses, stacks, &len);
    const char *path = scratch_path("cut.cmt");
    for (size_t cut = 0; cut < len; cut++) {
        write_file(path, data, cut);
        char what[64];
        snprintf(what, sizeof what, "cut at byte %zu of %zu", cut, len);
        expect_failure(path, what);
    }
    free(data);
}

Test(format, a_file_cut_at_any_byte_is_an_error_raw)
{
    check_every_truncation(0, false, false);
    check_every_truncation(0, true, false);
    check_every_truncation(0, true, true);
}

Test(format, a_file_cut_at_any_byte_is_an_error_compressed)
{
    check_every_truncation(3, false, false);
    check_every_truncation(3, true, false);
    check_every_truncation(3, false, true);
}

/* A damaged file may decode only to an error or, where the bit is one a
 * decoder must ignore (zstd's frame header has one), to the very events
 * that were written: never to other events. */
static void expect_failure_or_same(const char *path, const cmt_event *original, size_t n,
                                   const char *what)
{
    size_t got;
    int rc;
    char err[512];
    cmt_event *back = decode_events(path, &got, &rc, err, sizeof err);
    if (rc < 0) {
        cr_assert(strstr(err, path) != NULL, "%s: the message names the file: %s", what, err);
    } else {
        cr_assert_eq(got, n, "%s: decoded %zu events and a clean end", what, got);
        for (size_t i = 0; i < n; i++)
            cr_assert(cmt_event_same(&back[i], &original[i]), "%s: event %zu decoded wrong", what, i);
    }
    free(back);
    uint64_t skimmed;
    int skim_rc = skim(path, &skimmed, err, sizeof err);
    cr_assert_eq(skim_rc < 0, rc < 0, "%s: the skim and the decoding disagree", what);
    cr_assert(skim_rc < 0 || skimmed == n, "%s: skimmed %llu events", what, (unsigned long long)skimmed);
}

static void check_every_bit_flip(int level, bool addresses, bool stacks)
{
    size_t len;
    char *data = small_file(level, addresses, stacks, &len);
    cmt_event *original = small_events(stacks);
    const char *path = scratch_path("flip.cmt");
    for (size_t at = 0; at < len; at++) {
        if (at == 5)
            continue; /* the minor version: any value reads (see a_newer_minor_version_is_read) */
        for (int bit = 0; bit < 8; bit++) {
            data[at] ^= (char)(1 << bit);
            write_file(path, data, len);
            char what[64];
            snprintf(what, sizeof what, "bit %d of byte %zu flipped", bit, at);
            if (level == 0)
                expect_failure(path, what);
            else
                expect_failure_or_same(path, original, SMALL_EVENTS, what);
            data[at] ^= (char)(1 << bit);
        }
    }
    free(original);
    free(data);
}

Test(format, a_flipped_bit_anywhere_is_an_error_raw)
{
    check_every_bit_flip(0, false, false);
    check_every_bit_flip(0, true, false);
    check_every_bit_flip(0, true, true);
}

Test(format, a_flipped_bit_anywhere_is_an_error_compressed)
{
    check_every_bit_flip(3, false, false);
    check_every_bit_flip(3, true, false);
    check_every_bit_flip(3, false, true);
}

/* Salvage keeps every whole block before the damage, and only those: a
 * damaged block must not decode into events that were never written (one
 * flipped bit at byte 40,000 once salvaged 229,368 events, all from
 * event 130,544 on different from the trace's). */
static void check_salvage_gives_a_prefix(int level)
{
    const size_t n = 200000;
    cmt_event *original = random_events(n, 17);
    const char *good = scratch_path("salvage-good.cmt"), *path = scratch_path("salvage.cmt");
    encode_events(good, original, n, level);
    size_t len;
    char *data = read_file(good, &len);
    size_t salvaged_any = 0;
    for (unsigned k = 0; k < 240; k++) {
        size_t at = 8 + (size_t)((uint64_t)k * 2654435761u % (len - 8)); /* past the 8-byte header */
        data[at] ^= (char)(1 << (k % 8));
        write_file(path, data, len);
        data[at] ^= (char)(1 << (k % 8));
        char err[512];
        cmt_source *s = cmt_source_open(path, NULL, err, sizeof err);
        cr_assert_not_null(s, "%s", err);
        cmt_source_salvage(s);
        cmt_event ev;
        size_t got = 0;
        int rc;
        while ((rc = cmt_source_next(s, &ev)) > 0) {
            cr_assert_lt(got, n, "byte %zu flipped: more events than were written", at);
            cr_assert(cmt_event_same(&ev, &original[got]), "byte %zu flipped: event %zu was never written", at, got);
            got++;
        }
        cr_assert_eq(rc, 0);
        salvaged_any += got > 0;
        cmt_source_close(s);
    }
    cr_assert_gt(salvaged_any, 100, "damage past the first block salvages what came before it");
    free(data);
    free(original);
}

Test(format, salvage_returns_a_prefix_of_the_trace_raw)
{
    check_salvage_gives_a_prefix(0);
}

Test(format, salvage_returns_a_prefix_of_the_trace_compressed)
{
    check_salvage_gives_a_prefix(3);
}

/* The skim's count is the file's, whether it starts at the beginning or
 * after some events were decoded; the reader is at the end after it. */
Test(format, a_skim_counts_every_event_without_decoding)
{
    for (int level = 0; level <= 3; level += 3) {
        enum { N = 100000 };
        cmt_event *events = random_events(N, 11);
        const char *path = scratch_path("skim.cmt");
        encode_events(path, events, N, level);
        free(events);
        char err[512];
        uint64_t n = 0;
        cr_assert_eq(skim(path, &n, err, sizeof err), 0, "%s", err);
        cr_assert_eq(n, N, "level %d", level);
        cmt_reader *r = cmt_reader_open(path, err, sizeof err);
        cmt_event ev;
        for (int i = 0; i < 40000; i++)
            cr_assert_eq(cmt_reader_next(r, &ev), 1);
        n = 0;
        cr_assert_eq(cmt_reader_skim(r, &n), 0, "%s", cmt_reader_error(r));
        cr_assert_eq(n, N);
        cr_assert_eq(cmt_reader_next(r, &ev), 0, "the skim read to the verified end");
        cmt_reader_close(r);
    }
}

Test(format, trailing_data_is_an_error)
{
    size_t len;
    char *data = small_file(0, false, false, &len);
    data = realloc(data, len + 1);
    data[len] = 0;
    write_file(scratch_path("trailing.cmt"), data, len + 1);
    expect_failure(scratch_path("trailing.cmt"), "one byte appended");
    free(data);
}

static void expect_open_error(const char *path, const char *needle)
{
    char err[512];
    cmt_reader *r = cmt_reader_open(path, err, sizeof err);
    cr_assert_null(r, "%s opened", path);
    cr_assert(strstr(err, needle), "expected '%s' in: %s", needle, err);
}

Test(format, headers_that_are_not_ours_are_named_as_such)
{
    write_text(scratch_path("empty.cmt"), "");
    expect_open_error(scratch_path("empty.cmt"), "empty file");
    write_text(scratch_path("text.cmt"), "malloc(8) = 0x10\n");
    expect_open_error(scratch_path("text.cmt"), "not a .cmt trace");
    write_file(scratch_path("zstd.cmt"), "\x28\xb5\x2f\xfd\0\0\0\0", 8);
    expect_open_error(scratch_path("zstd.cmt"), "byte 8: truncated: the zstd data ends in the middle of a frame");
    write_file(scratch_path("v2.cmt"), "\x89" "CMT\x02\0\0\0", 8);
    expect_open_error(scratch_path("v2.cmt"), "version 2.0 is not supported");
    write_file(scratch_path("flags.cmt"), "\x89" "CMT\x01\0\x80\0", 8);
    expect_open_error(scratch_path("flags.cmt"), "unknown flags");
    write_file(scratch_path("short.cmt"), "\x89" "CMT\x01", 5);
    expect_open_error(scratch_path("short.cmt"), "ends inside the .cmt header");
    expect_open_error(scratch_dir(), "is a directory");
    expect_open_error(scratch_path("missing.cmt"), "No such file");
    expect_open_error("/dev/null", "empty file");
}

Test(format, a_cmt_file_compressed_again_with_zstd_reads_as_it_is)
{
    size_t len;
    free(small_file(3, false, false, &len));
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "zstd -q -f -o '%s' '%s'", scratch_path("small.cmt.zst"), scratch_path("small.cmt"));
    cr_assert_eq(run(cmd, NULL, NULL), 0);
    size_t n;
    int rc;
    char err[512];
    free(decode_events(scratch_path("small.cmt.zst"), &n, &rc, err, sizeof err));
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_eq(n, SMALL_EVENTS);
}

Test(format, a_newer_minor_version_is_read)
{
    size_t len;
    char *data = small_file(0, false, false, &len);
    data[5] = 9; /* minor versions only add what older readers may skip */
    write_file(scratch_path("minor.cmt"), data, len);
    size_t n;
    int rc;
    free(decode_events(scratch_path("minor.cmt"), &n, &rc, NULL, 0));
    cr_assert_eq(rc, 0);
    cr_assert_eq(n, SMALL_EVENTS);
    free(data);
}

/* The text trace TEXT must convert (trace2cmt --raw) to exactly the LEN
 * bytes of WANT: a worked example of docs/FORMAT.md (WANT NULL: only
 * written, to example.cmt). */
static void expect_worked_example(const char *text, const char *options, const uint8_t *want, size_t len)
{
    write_text(scratch_path("example.trace"), text);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s/trace2cmt -q --raw %s -o '%s' '%s'", CMT_TOOLS, options,
             scratch_path("example.cmt"), scratch_path("example.trace"));
    cr_assert_eq(run(cmd, NULL, NULL), 0, "%s", cmd);
    if (!want)
        return; /* written, to compare with */
    size_t got_len;
    char *got = read_file(scratch_path("example.cmt"), &got_len);
    cr_assert_eq(got_len, len, "%zu bytes where the page shows %zu", got_len, len);
    for (size_t i = 0; i < len; i++)
        cr_assert_eq((uint8_t)got[i], want[i], "byte %zu: %02x where the page shows %02x", i,
                     (uint8_t)got[i], want[i]);
    free(got);
}

static const char EXAMPLE_CALLS[] = "malloc(24) = 0x1000\nmalloc(25) = 0x1020\ncalloc(4, 24) = 0x1040\n"
                                   "realloc(0x1000, 300) = 0x2000\nfree(0x1020)\nfree(0x0)\n"
                                   "malloc(1152921504606846976) = 0x0\nfree(0x2000)\nfree(0x1040)\n";
static const char EXAMPLE_ACCESSES[] = "malloc(24) = 0x1000\nstore(0x1000, 8)\nstore(0x1000+8, 8)\n"
                                      "load(0x1000+4, 4)\nmodify(0x1000+20, 3)\nmalloc(24) = 0x2000\n"
                                      "load(0x1000+4, 4)\nfree(0x1000)\nfree(0x2000)\n";

Test(format, the_worked_examples_of_the_format_page_hold)
{
    static const uint8_t calls[] = {
        0x89, 0x43, 0x4d, 0x54, 0x01, 0x01, 0x00, 0x00, 0x0b, 0x07, 0x0d, 0xfe, 0xaa, 0xa8, 0xc1, 0xba,
        0x02, 0xd3, 0xd4, 0xaa, 0x00, 0x00, 0x03, 0x04, 0x18, 0x04, 0xac, 0x03, 0x80, 0x3b, 0x94, 0x57,
        0xaf, 0x02, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10, 0x00, 0x09, 0x04, 0x42, 0x3f, 0x91,
        0x9d, 0xf0, 0xbe, 0x82, 0x78,
    };
    expect_worked_example(EXAMPLE_CALLS, "", calls, sizeof calls);
    static const uint8_t accesses[] = {
        0x89, 0x43, 0x4d, 0x54, 0x01, 0x01, 0x00, 0x00, 0x0a, 0x0e, 0x04, 0xfe, 0xaa, 0xe9, 0xe9, 0xe2,
        0xf1, 0xa0, 0xe2, 0x01, 0x00, 0x03, 0x04, 0x18, 0x01, 0x00, 0x00, 0x00, 0x00, 0x17, 0x00, 0x18,
        0x03, 0x00, 0x25, 0xed, 0x8c, 0x22, 0xd2, 0x00, 0x09, 0x02, 0xff, 0xc1, 0x25, 0x9a, 0x28, 0x6e,
        0x26, 0x1d,
    };
    expect_worked_example(EXAMPLE_ACCESSES, "", accesses, sizeof accesses);
    static const uint8_t addresses[] = {
        0x89, 0x43, 0x4d, 0x54, 0x01, 0x01, 0x00, 0x00, 0x0c, 0x09, 0x16, 0xfe, 0xfe, 0xaa, 0xa8, 0xc1,
        0xba, 0x02, 0xd3, 0xd4, 0xaa, 0x00, 0x00, 0x03, 0x04, 0x04, 0x09, 0x18, 0x04, 0xac, 0x03, 0x80,
        0xea, 0xae, 0x2a, 0xd4, 0x80, 0x80, 0x02, 0x83, 0x02, 0x05, 0xc9, 0xf5, 0x01, 0x02, 0x80, 0x80,
        0x80, 0x80, 0x80, 0x80, 0x80, 0x10, 0x00, 0x09, 0x04, 0x56, 0xf3, 0xb4, 0x7a, 0x50, 0x21, 0x25,
        0x64,
    };
    expect_worked_example(EXAMPLE_CALLS, "--addresses", addresses, sizeof addresses);
}

/* The fourth worked example: the first with a seek point every 4 events.
 * Its zstd frames are zstd's to make; the stream they hold, and the index
 * after them, are the format's. */
Test(format, the_worked_example_with_seek_points_holds)
{
    static const uint8_t stream[] = {
        0x05, 0x06, 0x05, 0xfe, 0xaa, 0xa8, 0xc1, 0xba, 0x03, 0x04, 0x18, 0x04, 0xac, 0x03, 0x3b, 0x6e,
        0x05, 0x1d, 0x02, 0x07, 0x05, 0x1b, 0xfe, 0xfe, 0x02, 0xd3, 0xd4, 0xaa, 0x00, 0x03, 0x04, 0x08,
        0x0f, 0x80, 0x01, 0xa3, 0x28, 0x3f, 0x04, 0x04, 0x00, 0x00, 0xac, 0x02, 0x18, 0x19, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10, 0x03, 0x04, 0x1b,
        0xfe, 0xfe, 0x00, 0x03, 0x04, 0x08, 0x17, 0xe0, 0xb1, 0x31, 0x0e, 0x08, 0x04, 0x00, 0x00, 0x80,
        0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10, 0xac, 0x02, 0x18, 0x19, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x09, 0x04, 0x60, 0x1a, 0xdc, 0xea, 0xf4, 0xc5, 0xb2, 0x5d,
    };
    static const uint8_t index[] = {
        0x5c, 0x2a, 0x4d, 0x18, 0x17, 0x00, 0x00, 0x00, 0x02, 0x29, 0x13, 0x04, 0x04, 0x03, 0x40, 0x2a,
        0x04, 0x00, 0x01, 0xa5, 0xeb, 0x46, 0xec, 0x17, 0x00, 0x00, 0x00, 0x43, 0x4d, 0x54, 0x58,
    };
    write_text(scratch_path("example.trace"), EXAMPLE_CALLS);
    cr_assert_eq(runf(NULL, NULL, "%s/trace2cmt -q -l 1 --seek-every 4 -o '%s' '%s'", CMT_TOOLS,
                      scratch_path("seek-example.cmt"), scratch_path("example.trace")), 0);
    size_t len;
    char *file = read_file(scratch_path("seek-example.cmt"), &len);
    cr_assert_gt(len, 8 + sizeof index);
    cr_assert(memcmp(file + len - sizeof index, index, sizeof index) == 0, "the index is not the page's");
    uint8_t body[sizeof stream + 16];
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    ZSTD_inBuffer in = {file + 8, len - 8, 0};
    ZSTD_outBuffer out = {body, sizeof body, 0};
    while (in.pos < in.size)
        cr_assert_not(ZSTD_isError(ZSTD_decompressStream(dctx, &out, &in)));
    ZSTD_freeDCtx(dctx);
    cr_assert_eq(out.pos, sizeof stream);
    for (size_t i = 0; i < sizeof stream; i++)
        cr_assert_eq(body[i], stream[i], "stream offset %zu: %02x where the page shows %02x", i + 8, body[i], stream[i]);
    free(file);
}

/* The same examples as format 1.0 wrote them, without block checksums:
 * read as they were. */
Test(format, files_of_version_1_0_still_read)
{
    static const uint8_t calls[] = {
        0x89, 0x43, 0x4d, 0x54, 0x01, 0x00, 0x00, 0x00, 0x0a, 0x05, 0x09, 0xaa, 0xa8, 0xc1, 0xba, 0x02,
        0xd3, 0xd4, 0xaa, 0x00, 0x00, 0x18, 0x04, 0xac, 0x03, 0x80, 0x02, 0x80, 0x80, 0x80, 0x80, 0x80,
        0x80, 0x80, 0x10, 0x00, 0x09, 0x04, 0x12, 0xd6, 0x7e, 0x11, 0x41, 0x10, 0x4b, 0xc3,
    };
    static const uint8_t accesses[] = {
        0x89, 0x43, 0x4d, 0x54, 0x01, 0x00, 0x00, 0x00, 0x09, 0x0c, 0x00, 0xaa, 0xe9, 0xe9, 0xe2, 0xf1,
        0xa0, 0xe2, 0x01, 0x00, 0x18, 0x01, 0x00, 0x00, 0x00, 0x00, 0x17, 0x00, 0x18, 0x03, 0x00, 0x25,
        0x00, 0x09, 0x02, 0xbb, 0xc7, 0x1e, 0x0e, 0x54, 0xa8, 0x57, 0x8a,
    };
    const struct {
        const uint8_t *bytes;
        size_t len;
        const char *text;
    } old[] = {{calls, sizeof calls, EXAMPLE_CALLS}, {accesses, sizeof accesses, EXAMPLE_ACCESSES}};
    for (size_t i = 0; i < 2; i++) {
        write_file(scratch_path("v10.cmt"), old[i].bytes, old[i].len);
        expect_worked_example(old[i].text, "", NULL, 0);
        size_t n_old, n_new;
        int rc;
        char err[512];
        cmt_event *a = decode_events(scratch_path("v10.cmt"), &n_old, &rc, err, sizeof err);
        cr_assert_eq(rc, 0, "%s", err);
        cmt_event *b = decode_events(scratch_path("example.cmt"), &n_new, &rc, err, sizeof err);
        cr_assert_eq(rc, 0, "%s", err);
        cr_assert_eq(n_old, n_new);
        for (size_t k = 0; k < n_old; k++)
            cr_assert(cmt_event_same(&a[k], &b[k]), "example %zu, event %zu", i, k);
        free(a);
        free(b);
    }
}

Test(format, an_access_to_the_previous_block_when_it_is_dead_is_corrupt)
{
    /* malloc(8); free it; load "the previous access's block": there is none. */
    static const uint8_t bytes[] = {0x89, 0x43, 0x4d, 0x54, 0x01, 0x00, 0x00, 0x00, 0x03, 0x03, 0x00,
                                    0xaa, 0x00, 0xe0, 0x08, 0x00, 0x00};
    const char *path = scratch_path("dead-access.cmt");
    write_file(path, bytes, sizeof bytes);
    size_t n;
    int rc;
    char err[512];
    free(decode_events(path, &n, &rc, err, sizeof err));
    cr_assert_eq(rc, -1);
    cr_assert_eq(n, 2);
    cr_assert(strstr(err, "byte 13: corrupt: an access to the previous access's block"), "%s", err);
}

Test(format, the_writer_rejects_accesses_to_no_block_or_a_dead_one)
{
    char err[512];
    cmt_output *out = cmt_output_open(scratch_path("bad-access.cmt"), err, sizeof err);
    cmt_writer *w = cmt_writer_open(out, 0, err, sizeof err);
    cmt_event none = {.op = CMT_OP_LOAD, .size = 4, .count = 1};
    cr_assert_eq(cmt_writer_write(w, &none), -1);
    cr_assert(strstr(cmt_writer_error(w), "access to no block"), "%s", cmt_writer_error(w));
    cmt_writer_close(w);
    cmt_output_abort(out);

    out = cmt_output_open(scratch_path("bad-access.cmt"), err, sizeof err);
    w = cmt_writer_open(out, 0, err, sizeof err);
    cmt_event events[] = {
        {.op = CMT_OP_MALLOC, .tag = 1, .size = 8, .count = 1},
        {.op = CMT_OP_STORE, .arg_tag = 1, .size = 8, .count = 1},
        {.op = CMT_OP_FREE, .arg_tag = 1, .count = 1},
    };
    for (size_t i = 0; i < 3; i++)
        cr_assert_eq(cmt_writer_write(w, &events[i]), 0);
    cr_assert_eq(cmt_writer_write(w, &events[1]), -1, "the block of the previous access died");
    cr_assert(strstr(cmt_writer_error(w), "not live"), "%s", cmt_writer_error(w));
    cmt_writer_close(w);
    cmt_output_abort(out);
}

/* ------------------------------------------------------------ slots */

/* The slots of every event of the trace at PATH: each block's unique among
 * the blocks live with it, and all below the most live at once (what
 * lets the replay index a flat array by them).  Returns the most live. */
static uint64_t check_slots(const char *path)
{
    char err[512];
    cmt_source *s = cmt_source_open(path, NULL, err, sizeof err);
    cr_assert_not_null(s, "%s", err);
    enum { MOST = 1 << 20 };
    uint64_t *tag_in = calloc(MOST, sizeof *tag_in); /* slot -> the live tag there, 0: none */
    uint64_t live = 0, most = 0, highest = 0;
    cmt_event ev;
    int rc;
    while ((rc = cmt_source_next(s, &ev)) > 0) {
        if (ev.arg_tag && (ev.op == CMT_OP_FREE || ev.op == CMT_OP_REALLOC || cmt_op_accesses(ev.op))) {
            cr_assert_lt(ev.arg_slot, MOST);
            cr_assert_eq(tag_in[ev.arg_slot], ev.arg_tag, "%s: the block passed is not in its slot", path);
            if (cmt_event_releases(&ev)) {
                tag_in[ev.arg_slot] = 0;
                live--;
            }
        }
        if (ev.tag) {
            cr_assert_lt(ev.slot, MOST);
            cr_assert_eq(tag_in[ev.slot], 0, "%s: slot %u taken twice", path, ev.slot);
            tag_in[ev.slot] = ev.tag;
            if (++live > most)
                most = live;
            if (ev.slot > highest)
                highest = ev.slot;
        }
    }
    cr_assert_eq(rc, 0, "%s", cmt_source_error(s));
    cr_assert_lt(highest, most, "%s: slots reach past the most blocks live at once", path);
    cmt_source_close(s);
    free(tag_in);
    return most;
}

TestSuite(slots, .fini = scratch_cleanup);

Test(slots, unique_among_live_blocks_and_below_the_peak_in_text_and_cmt)
{
    const char *text = CMT_SAMPLES "/python-json.trace", *cmt = scratch_path("slots.cmt");
    cr_assert_eq(runf(NULL, NULL, "%s/trace2cmt -q -o %s %s", CMT_TOOLS, cmt, text), 0);
    uint64_t most = check_slots(text);
    cr_assert_gt(most, 100, "a trace with a live set to speak of");
    cr_assert_eq(check_slots(cmt), most);
    /* Every call, realloc(p, 0) and realloc(NULL, n) among them. */
    check_slots(CMT_SAMPLES "/every-call.trace");
    /* A block returned while still live (an implied free first), and a
     * realloc in place, which keep their slot. */
    const char *odd = scratch_path("slots.trace");
    write_text(odd, "malloc(16) = 0x10\nmalloc(16) = 0x20\nmalloc(32) = 0x10\n"
                    "realloc(0x20, 64) = 0x20\nfree(0x10)\nmalloc(8) = 0x30\n");
    cr_assert_eq(check_slots(odd), 2);
}

/* ------------------------------------------------------------- addresses */

TestSuite(addresses, .fini = scratch_cleanup);

Test(addresses, kept_addresses_read_back_through_blocks_raw_and_compressed)
{
    for (unsigned seed = 1; seed <= 3; seed++) {
        size_t n = 100000; /* blocks of 32 Ki opcodes: several */
        cmt_event *events = random_events(n, seed);
        give_addresses(events, n, seed);
        const char *path = scratch_path("addresses.cmt");
        for (int level = 0; level <= 3; level += 3) {
            encode_events_with_addresses(path, events, n, level);
            char what[64];
            snprintf(what, sizeof what, "seed %u, level %d", seed, level);
            expect_decodes_to(path, events, n, true, what);
            char err[512];
            cmt_reader *r = cmt_reader_open(path, err, sizeof err);
            cmt_event ev;
            while (cmt_reader_next(r, &ev) > 0 && !ev.tag)
                ;
            cr_assert(cmt_reader_has_addresses(r), "known by the first block returned");
            cmt_reader_close(r);
        }
        free(events);
    }
}

Test(addresses, a_file_without_them_says_so_and_its_addresses_are_0)
{
    cmt_event *events = random_events(1000, 3);
    give_addresses(events, 1000, 3);
    const char *path = scratch_path("none.cmt");
    encode_events(path, events, 1000, 3);
    char err[512];
    cmt_reader *r = cmt_reader_open(path, err, sizeof err);
    cmt_event ev;
    while (cmt_reader_next(r, &ev) > 0)
        cr_assert(ev.addr == 0 && ev.arg_addr == 0);
    cr_assert_not(cmt_reader_has_addresses(r));
    cmt_reader_close(r);
    free(events);
}

/* Extension records made by hand that do not fit the stream: a case is
 * RECORDS records of KIND with the LEN bytes of PAYLOAD, then MALLOCS
 * mallocs; reading the file must fail with MESSAGE, at a byte. */
typedef struct bad_records {
    uint8_t kind, payload[8];
    size_t len, records, mallocs;
    const char *message;
} bad_records;

static void expect_refused(const bad_records *cases, size_t n_cases, const char *path)
{
    for (size_t i = 0; i < n_cases; i++) {
        char err[512];
        cmt_output *out = cmt_output_open(path, err, sizeof err);
        cmt_writer *w = cmt_writer_open(out, 0, err, sizeof err);
        for (size_t k = 0; k < cases[i].records; k++)
            cr_assert_eq(cmt_writer_write_extension(w, cases[i].kind, cases[i].payload, cases[i].len), 0);
        for (size_t k = 0; k < cases[i].mallocs; k++) {
            cmt_event ev = {.op = CMT_OP_MALLOC, .count = 1, .size = 16, .tag = k + 1};
            cr_assert_eq(cmt_writer_write(w, &ev), 0);
        }
        size_t n;
        int rc;
        free(finish_and_decode(w, out, path, &n, &rc, err, sizeof err));
        cr_assert_eq(rc, -1, "case %zu", i);
        cr_assert(strstr(err, cases[i].message) && strstr(err, ": byte "), "case %zu: %s", i, err);
    }
}

/* ADDRESS records that do not fit their block's events. */
Test(addresses, address_records_that_disagree_with_their_block_are_corrupt)
{
    static const bad_records cases[] = {
        {4, {0x00}, 1, 1, 2, "corrupt: a block returned without its address"},
        {4, {0x00, 0x00}, 2, 1, 1, "corrupt: the block's address record holds more addresses than its events return"},
        {4, {0x80}, 1, 1, 1, "corrupt: an address runs past its record"},
        {4, {0x00}, 1, 2, 1, "corrupt: two address records in a block"},
    };
    expect_refused(cases, sizeof cases / sizeof cases[0], scratch_path("bad-addresses.cmt"));
}

Test(addresses, they_are_kept_from_the_first_event_or_not_at_all)
{
    char err[512];
    cmt_output *out = cmt_output_open(scratch_path("late.cmt"), err, sizeof err);
    cmt_writer *w = cmt_writer_open(out, 0, err, sizeof err);
    cmt_event ev = {.op = CMT_OP_MALLOC, .count = 1, .size = 16, .tag = 1};
    cr_assert_eq(cmt_writer_write(w, &ev), 0);
    cr_assert_eq(cmt_writer_keep_addresses(w), -1);
    cr_assert(strstr(cmt_writer_error(w), "from the first event"), "%s", cmt_writer_error(w));
    cmt_writer_close(w);
    cmt_output_abort(out);
}

/* ------------------------------------------------ the original tools' files */

TestSuite(cmt0, .fini = scratch_cleanup);

/* Reads PATH through a source with FORMAT; the events, their count in *N,
 * the last return in *RC, the message in ERR. */
static cmt_event *read_source(const char *path, cmt_format format, size_t *n, int *rc, char *err, size_t errlen)
{
    cmt_text_options options = {.format = format};
    cmt_source *s = cmt_source_open(path, &options, err, errlen);
    *n = 0;
    if (!s) {
        *rc = -2;
        return NULL;
    }
    cr_assert_str_eq(cmt_source_format_name(s), format == CMT_FORMAT_CMT0 || format == CMT_FORMAT_AUTO
                                                      ? "cmt0" : cmt_format_name(format));
    cr_assert_not(cmt_source_has_addresses(s));
    cmt_event *events = source_events(s, n, rc);
    snprintf(err, errlen, "%s", cmt_source_error(s));
    cmt_source_close(s);
    return events;
}

/* Five records as the original trace2cmt wrote them, the last the free of
 * tag 1 that the original cmtreplay refused ("oldtag >= oldnewtag"). */
static const uint8_t ORIGINAL[] = {
    0x98, 0x80, 0x81,       /* malloc(24): size 24, no block freed, tag 1 (a step of 1) */
    0x2c, 0x82, 0x80, 0x81, /* malloc(300): 300 = 0x2c + 2 << 7; tag 2 */
    0x90, 0x81, 0x81,       /* realloc(<2>, 16): the newest (1 back), tag 3 */
    0x80, 0x81,             /* free(<3>) */
    0x80, 0x83,             /* free(<1>): 3 back from tag 3 */
};

Test(cmt0, the_original_trace2cmt_s_files_read_the_free_of_tag_1_too)
{
    const char *path = scratch_path("original");
    write_file(path, ORIGINAL, sizeof ORIGINAL);
    size_t n;
    int rc;
    char err[512];
    cmt_event *ev = read_source(path, CMT_FORMAT_AUTO, &n, &rc, err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_eq(n, 5);
    const cmt_event want[] = {
        {.op = CMT_OP_MALLOC, .size = 24, .count = 1, .tag = 1},
        {.op = CMT_OP_MALLOC, .size = 300, .count = 1, .tag = 2},
        {.op = CMT_OP_REALLOC, .size = 16, .count = 1, .tag = 3, .arg_tag = 2},
        {.op = CMT_OP_FREE, .count = 1, .arg_tag = 3},
        {.op = CMT_OP_FREE, .count = 1, .arg_tag = 1},
    };
    for (size_t i = 0; i < n; i++) {
        cmt_event w = want[i];
        w.slot = ev[i].slot; /* slots are the reader's to choose, and checked elsewhere */
        w.arg_slot = ev[i].arg_slot;
        cr_assert(cmt_event_same(&ev[i], &w), "event %zu", i);
    }
    free(ev);
    /* And its text is the original's -s form, tags and all. */
    char *out;
    cr_assert_eq(runf(&out, NULL, "%s/trace2cmt -q -s %s", CMT_TOOLS, path), 0);
    cr_assert_str_eq(out, "malloc(24) = 0<1>\nmalloc(300) = 0<2>\nrealloc(0<2>, 16) = 0<3>\nfree(0<3>)\nfree(0<1>)\n");
    free(out);
}

/* A random trace of malloc, realloc and free, with sizes of every length
 * the format's numbers take (up to 2^32 - 1). */
static cmt_event *random_calls(size_t n, unsigned seed)
{
    cmt_event *events = calloc(n, sizeof *events);
    uint64_t *live = malloc(n * sizeof *live), next = 1;
    size_t nlive = 0;
    srand(seed);
    for (size_t i = 0; i < n; i++) {
        cmt_event *ev = &events[i];
        ev->count = 1;
        int dice = rand() % 10;
        if (nlive && dice < 4) {
            size_t k = rand() % 2 ? nlive - 1 : (size_t)rand() % nlive;
            *ev = (cmt_event){.op = CMT_OP_FREE, .count = 1, .arg_tag = live[k]};
            live[k] = live[--nlive];
            continue;
        }
        ev->size = 1 + (uint64_t)rand() % ((uint64_t)1 << (rand() % 32));
        ev->tag = next++;
        if (nlive && dice < 6) {
            size_t k = (size_t)rand() % nlive;
            ev->op = CMT_OP_REALLOC;
            ev->arg_tag = live[k];
            live[k] = ev->tag;
        } else {
            ev->op = CMT_OP_MALLOC;
            live[nlive++] = ev->tag;
        }
    }
    free(live);
    return events;
}

Test(cmt0, random_traces_read_back_as_written_plain_and_through_zstd)
{
    for (unsigned seed = 1; seed <= 4; seed++) {
        size_t n = 5000;
        cmt_event *events = random_calls(n, seed);
        const char *path = scratch_path("random.cmt0");
        encode_cmt0(path, events, n);
        for (int zstd = 0; zstd < 2; zstd++) {
            if (zstd)
                cr_assert_eq(runf(NULL, NULL, "zstd -q -f %s -o %s.zst", path, path), 0);
            size_t got;
            int rc;
            char err[512], name[600];
            snprintf(name, sizeof name, "%s%s", path, zstd ? ".zst" : "");
            cmt_event *back = read_source(name, seed % 2 ? CMT_FORMAT_CMT0 : CMT_FORMAT_AUTO, &got, &rc, err,
                                          sizeof err);
            cr_assert_eq(rc, 0, "%s", err);
            cr_assert_eq(got, n);
            for (size_t i = 0; i < n; i++) {
                back[i].slot = back[i].arg_slot = 0;
                cr_assert(cmt_event_same(&events[i], &back[i]), "seed %u, event %zu", seed, i);
            }
            free(back);
        }
        free(events);
    }
}

Test(cmt0, a_file_cut_inside_a_record_is_an_error_naming_its_byte)
{
    /* The format has no end record: a cut between records is a shorter
     * trace, a cut inside one an error at the record's first byte. */
    static const size_t record_ends[] = {3, 7, 10, 12, 14};
    const char *path = scratch_path("cut");
    for (size_t len = 1; len < sizeof ORIGINAL; len++) {
        write_file(path, ORIGINAL, len);
        size_t n, whole = 0, start = 0;
        for (size_t i = 0; i < 5 && record_ends[i] <= len; i++)
            start = record_ends[i], whole++;
        int rc;
        char err[512];
        free(read_source(path, CMT_FORMAT_CMT0, &n, &rc, err, sizeof err));
        cr_assert_eq(n, whole, "cut at %zu", len);
        if (start == len) {
            cr_assert_eq(rc, 0, "cut at %zu: %s", len, err);
        } else {
            char want[64];
            snprintf(want, sizeof want, "byte %zu: truncated", start);
            cr_assert_eq(rc, -1, "cut at %zu", len);
            cr_assert(strstr(err, want) && strstr(err, path), "cut at %zu: %s", len, err);
        }
    }
}

Test(cmt0, records_the_original_writer_could_not_have_written_are_errors)
{
    static const struct {
        uint8_t bytes[16];
        size_t len;
        const char *message;
    } cases[] = {
        {{0x98, 0x80, 0x81, 0x80, 0x80}, 5, "byte 3: corrupt: a record with neither a size nor a block to free"},
        {{0x98, 0x80, 0x81, 0x80, 0x82}, 5, "byte 3: corrupt: frees a block older than the first"},
        {{0x98, 0x80, 0x81, 0x80, 0x81, 0x80, 0x81}, 7, "byte 5: corrupt: frees a block that is not live"},
        {{0x98, 0x80, 0x81, 0x98, 0x80, 0x80}, 6, "byte 3: corrupt: an allocation without a new tag"},
        {{0x98, 0x80, 0x81, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80}, 9, "byte 3: corrupt: a number longer than 5 bytes"},
        {{0x98, 0x80, 0x81, 0x98, 0x80, 0x00, 0x00, 0x00, 0x00, 0x90}, 10, "byte 3: corrupt: a new tag past 2^32"},
    };
    const char *path = scratch_path("bad");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_file(path, cases[i].bytes, cases[i].len);
        size_t n;
        int rc;
        char err[512];
        free(read_source(path, CMT_FORMAT_CMT0, &n, &rc, err, sizeof err));
        cr_assert_eq(rc, -1, "case %zu", i);
        cr_assert(strstr(err, cases[i].message), "case %zu: %s", i, err);
    }
    /* And none of them is taken for a text trace by a reader asked for one. */
    char err[512];
    cmt_text_options cmt0 = {.format = CMT_FORMAT_CMT0};
    cr_assert_null(cmt_text_open(path, &cmt0, err, sizeof err));
    cr_assert(strstr(err, "cmt0 is a binary format"), "%s", err);
}

Test(cmt0, only_a_first_malloc_of_tag_1_is_taken_for_one)
{
    cr_assert(cmti_looks_like_cmt0(ORIGINAL, sizeof ORIGINAL));
    static const uint8_t utf8_text[] = "\xef\xbb\xbfmalloc(8) = 0x10\n"; /* a byte-order mark */
    static const uint8_t free_first[] = {0x80, 0x81};
    static const uint8_t no_tag[] = {0x98, 0x80, 0x80};
    cr_assert_not(cmti_looks_like_cmt0(utf8_text, sizeof utf8_text - 1));
    cr_assert_not(cmti_looks_like_cmt0(free_first, sizeof free_first));
    cr_assert_not(cmti_looks_like_cmt0(no_tag, sizeof no_tag));
    cr_assert_not(cmti_looks_like_cmt0((const uint8_t *)"malloc(8)", 9));
}

/* ------------------------------------------------------------ reading ahead */

TestSuite(ahead, .fini = scratch_cleanup);

/* PATH read through a source, reading ahead or not: the events, their
 * count in *N, the last return in *RC and the message in ERR. */
static cmt_event *read_through(const char *path, bool ahead, bool salvage, size_t *n, int *rc, char *err,
                               size_t errlen)
{
    cmt_source *s = cmt_source_open(path, NULL, err, errlen);
    cr_assert_not_null(s, "%s", err);
    if (salvage)
        cmt_source_salvage(s);
    if (ahead)
        cr_assert_eq(cmt_source_read_ahead(s), 0);
    cmt_event *events = source_events(s, n, rc), again;
    cr_assert_eq(cmt_source_next(s, &again), *rc, "the end, again");
    snprintf(err, errlen, "%s", cmt_source_error(s));
    if (salvage)
        cr_assert_eq(cmt_source_damaged(s), *rc == 0 && *err, "damaged");
    cmt_source_close(s);
    return events;
}

Test(ahead, reading_ahead_gives_the_same_events_errors_and_salvage)
{
    size_t total = 100000; /* 25 batches */
    cmt_event *events = random_events(total, 7);
    const char *path = scratch_path("ahead.cmt"), *cut = scratch_path("ahead-cut.cmt");
    encode_events(path, events, total, 3);
    size_t len;
    char *data = read_file(path, &len);
    write_file(cut, data, len * 2 / 3);
    free(data);
    for (int c = 0; c < 4; c++) {
        const char *file = c % 2 ? cut : path;
        bool salvage = c >= 2;
        size_t n[2];
        int rc[2];
        char err[2][512];
        cmt_event *got[2];
        for (int ahead = 0; ahead < 2; ahead++)
            got[ahead] = read_through(file, ahead, salvage, &n[ahead], &rc[ahead], err[ahead], sizeof err[ahead]);
        cr_assert_eq(n[1], n[0], "case %d", c);
        cr_assert_eq(rc[1], rc[0], "case %d", c);
        cr_assert_str_eq(err[1], err[0], "case %d", c);
        cr_assert_eq(rc[0], c == 1 ? -1 : 0, "case %d: %s", c, err[0]);
        for (size_t i = 0; i < n[0]; i++)
            cr_assert(cmt_event_same(&got[0][i], &got[1][i]), "case %d, event %zu", c, i);
        if (c == 0)
            cr_assert_eq(n[0], total);
        free(got[0]);
        free(got[1]);
    }
    free(events);
}

Test(ahead, a_source_closed_before_its_end_stops_its_thread)
{
    cmt_event *events = random_events(100000, 8);
    const char *path = scratch_path("early.cmt");
    encode_events(path, events, 100000, 0);
    free(events);
    for (int read = 0; read < 3; read++) {
        char err[512];
        cmt_source *s = cmt_source_open(path, NULL, err, sizeof err);
        cr_assert_eq(cmt_source_read_ahead(s), 0);
        cr_assert_eq(cmt_source_read_ahead(s), 0, "a second call changes nothing");
        cmt_event ev;
        for (int i = 0; i < read * 5000; i++)
            cr_assert_eq(cmt_source_next(s, &ev), 1);
        cmt_source_close(s); /* the thread may be reading, or waiting for room */
    }
}

Test(ahead, without_memory_for_it_a_source_reads_as_before)
{
    cmt_event *events = random_events(5000, 9);
    const char *path = scratch_path("nomem.cmt");
    encode_events(path, events, 5000, 3);
    free(events);
    for (unsigned nth = 1; nth <= 2; nth++) {
        char err[512];
        cmt_source *s = cmt_source_open(path, NULL, err, sizeof err);
        cmti_fail_allocation(nth, false);
        cr_assert_eq(cmt_source_read_ahead(s), -1, "allocation %u failing", nth);
        cmti_fail_allocation(0, false);
        cmt_event ev;
        size_t n = 0;
        int rc;
        while ((rc = cmt_source_next(s, &ev)) > 0)
            n++;
        cr_assert_eq(rc, 0);
        cr_assert_eq(n, 5000);
        cmt_source_close(s);
    }
}

/* ---------------------------------------------------------- seek points */

TestSuite(seek, .fini = scratch_cleanup);

/* Decodes segment K of PATH (of INDEX) and checks its events against the
 * trace's, EVENTS from *AT on: the blocks live at its seek point, LIVE
 * (oldest first, *NLIVE of them, kept up to date), are the ones its
 * external ranks name.  A DAMAGED file may end in an error (then false),
 * but never give other events. */
static bool check_segment(const char *path, const cmti_seek_index *index, size_t k, const cmt_event *events,
                          size_t n, size_t *at, uint64_t *live, size_t *nlive, bool damaged)
{
    char err[512];
    cr_assert_eq(index->points[k].events, *at, "seek point %zu is at event %zu", k, *at);
    uint64_t *external = malloc((*nlive + 1) * sizeof *external);
    memcpy(external, live, *nlive * sizeof *live);
    size_t nexternal = *nlive;
    cmt_reader *r = cmti_reader_open_segment(path, &index->points[k], k + 1 < index->n ? &index->points[k + 1] : NULL,
                                             err, sizeof err);
    cr_assert(r || damaged, "%s", err);
    if (!r) {
        free(external);
        return false;
    }
    cmt_event ev;
    int rc;
    while ((rc = cmt_reader_next(r, &ev)) > 0) {
        if (*at == n && damaged)
            break;
        cr_assert_lt(*at, n, "segment %zu: more events than the trace", k);
        const cmt_event *want = &events[*at];
        if (ev.arg_tag == CMTI_TAG_EXTERNAL) {
            cr_assert_lt(ev.arg_addr, nexternal, "event %zu: external rank %llu of %zu", *at,
                         (unsigned long long)ev.arg_addr, nexternal);
            size_t pos = nexternal - 1 - (size_t)ev.arg_addr;
            ev.arg_tag = external[pos];
            if (cmt_event_releases(want))
                memmove(&external[pos], &external[pos + 1], (--nexternal - pos) * sizeof *external);
        }
        cr_assert(cmt_event_same(&ev, want), "segment %zu: event %zu decoded wrong", k, *at);
        if (want->arg_tag && cmt_event_releases(want)) {
            size_t pos = 0;
            while (live[pos] != want->arg_tag)
                pos++;
            memmove(&live[pos], &live[pos + 1], (--*nlive - pos) * sizeof *live);
        }
        if (want->tag)
            live[(*nlive)++] = want->tag;
        ++*at;
    }
    cr_assert(rc == 0 || damaged, "segment %zu: %s", k, cmt_reader_error(r));
    cr_assert(rc == 0 || strstr(cmt_reader_error(r), path), "%s", cmt_reader_error(r));
    cmt_reader_close(r);
    free(external);
    return rc == 0;
}

static void check_segments(size_t n, unsigned seed, uint64_t every)
{
    cmt_event *events = random_events(n, seed);
    const char *path = scratch_path("seek.cmt");
    encode_events_seeking(path, events, n, every);
    expect_decodes_to(path, events, n, false, "read whole");
    char err[512];
    cmti_seek_index index;
    cr_assert_eq(cmti_seek_index_read(path, &index, err, sizeof err), 1, "%s", err);
    cr_assert_geq(index.n, n / every, "%zu seek points for %zu events, one every %llu", index.n, n,
                  (unsigned long long)every);
    uint64_t *live = malloc(n * sizeof *live);
    size_t nlive = 0, at = 0;
    for (size_t k = 0; k < index.n; k++)
        check_segment(path, &index, k, events, n, &at, live, &nlive, false);
    cr_assert_eq(at, n);
    cmti_seek_index_destroy(&index);
    free(live);
    free(events);
}

Test(seek, segments_decode_as_the_whole_file_does)
{
    /* Every kind of event (accesses to blocks live before the seek point
     * included), timed and threaded, many segments and a few. */
    for (unsigned seed = 1; seed <= 6; seed++) {
        check_segments(20000, seed, 997);
        check_segments(20000, seed, 7001);
    }
}

Test(seek, files_have_none_unless_long_enough_compressed_and_without_addresses)
{
    cmt_event *events = random_events(5000, 3);
    char err[512];
    cmti_seek_index index;
    const char *path = scratch_path("none.cmt");
    encode_events(path, events, 5000, 3); /* far fewer than 2^23 events */
    cr_assert_eq(cmti_seek_index_read(path, &index, err, sizeof err), 0);
    encode_events(path, events, 5000, 0); /* raw */
    cr_assert_eq(cmti_seek_index_read(path, &index, err, sizeof err), 0);
    free(events);
}

/* Every segment of a DAMAGED copy of the trace EVENTS decodes to its
 * events or to an error, and a damaged index is an error, not a guide to
 * other events. */
static void expect_segments_fail_or_same(const char *path, const cmt_event *events, size_t n, const char *what)
{
    char err[512];
    cmti_seek_index index;
    int found = cmti_seek_index_read(path, &index, err, sizeof err);
    if (found < 0)
        cr_assert(strstr(err, path), "%s: %s", what, err);
    if (found <= 0)
        return;
    uint64_t *live = malloc(n * sizeof *live);
    size_t nlive = 0, at = 0;
    for (size_t k = 0; k < index.n && at <= n; k++) {
        if (index.points[k].events != at)
            break; /* a damaged index: its segment's reader must refuse it */
        if (!check_segment(path, &index, k, events, n, &at, live, &nlive, true))
            break;
    }
    free(live);
    cmti_seek_index_destroy(&index);
}

#define SEEKING_EVERY 37
static char *small_seeking_file(cmt_event **events, size_t *len)
{
    *events = random_events(SMALL_EVENTS, 5);
    encode_events_seeking(scratch_path("small-seek.cmt"), *events, SMALL_EVENTS, SEEKING_EVERY);
    return read_file(scratch_path("small-seek.cmt"), len);
}

Test(seek, a_file_cut_anywhere_is_an_error_but_where_its_index_starts)
{
    cmt_event *events;
    size_t len;
    char *data = small_seeking_file(&events, &len);
    cmti_seek_index index;
    char err[512];
    cr_assert_eq(cmti_seek_index_read(scratch_path("small-seek.cmt"), &index, err, sizeof err), 1, "%s", err);
    cr_assert_geq(index.n, SMALL_EVENTS / SEEKING_EVERY);
    cmti_seek_index_destroy(&index);
    /* The index frame is the file's last: its length is in its footer. */
    size_t index_at = len - 8 - ((size_t)(uint8_t)data[len - 8] | (size_t)(uint8_t)data[len - 7] << 8);
    const char *path = scratch_path("cut-seek.cmt");
    for (size_t cut = 0; cut < len; cut++) {
        write_file(path, data, cut);
        char what[64];
        snprintf(what, sizeof what, "cut at byte %zu of %zu", cut, len);
        if (cut != index_at) {
            expect_failure(path, what);
            continue;
        }
        size_t got; /* the trace whole, without its index */
        int rc;
        free(decode_events(path, &got, &rc, err, sizeof err));
        cr_assert(rc == 0 && got == SMALL_EVENTS, "%s: %s", what, err);
        cr_assert_eq(cmti_seek_index_read(path, &index, err, sizeof err), 0, "%s", what);
    }
    free(events);
    free(data);
}

Test(seek, a_flipped_bit_anywhere_is_an_error_or_the_same_events_whole_or_by_segments)
{
    cmt_event *events;
    size_t len;
    char *data = small_seeking_file(&events, &len);
    const char *path = scratch_path("flip-seek.cmt");
    for (size_t at = 0; at < len; at++) {
        if (at == 5)
            continue; /* the minor version: any value reads */
        for (int bit = 0; bit < 8; bit++) {
            data[at] ^= (char)(1 << bit);
            write_file(path, data, len);
            char what[64];
            snprintf(what, sizeof what, "bit %d of byte %zu flipped", bit, at);
            expect_failure_or_same(path, events, SMALL_EVENTS, what);
            expect_segments_fail_or_same(path, events, SMALL_EVENTS, what);
            data[at] ^= (char)(1 << bit);
        }
    }
    free(events);
    free(data);
}

/* A seek record that lies, in a block whose checksum is right (a file
 * made to deceive, or a writer's bug): the whole file's reader, and the
 * reader of the segment before it, both refuse it, so that reading by
 * segments never counts what reading in order refuses.  Made from the
 * worked example: its frames decompressed, the second's seek record
 * changed (the newest recent size 300 made 301) and its block's checksum
 * made anew, the frames compressed again and the index written again. */
Test(seek, a_seek_record_that_lies_is_refused_by_either_reader)
{
    write_text(scratch_path("example.trace"), EXAMPLE_CALLS);
    const char *good = scratch_path("seek-good.cmt");
    cr_assert_eq(runf(NULL, NULL, "%s/trace2cmt -q -l 1 --seek-every 4 -o '%s' '%s'", CMT_TOOLS, good,
                      scratch_path("example.trace")), 0);
    char err[512];
    cmti_seek_index index;
    cr_assert_eq(cmti_seek_index_read(good, &index, err, sizeof err), 1, "%s", err);
    cr_assert_eq(index.n, 3);
    size_t len;
    char *file = read_file(good, &len);
    size_t index_at = len - 8 - ((size_t)(uint8_t)file[len - 8] | (size_t)(uint8_t)file[len - 7] << 8);
    uint8_t out[4096];
    size_t out_len = 8;
    memcpy(out, file, 8);
    for (size_t k = 0; k < 3; k++) {
        size_t from = (size_t)index.points[k].file, to = k < 2 ? (size_t)index.points[k + 1].file : index_at;
        uint8_t frame[256];
        size_t n = ZSTD_decompress(frame, sizeof frame, file + from, to - from);
        cr_assert_not(ZSTD_isError(n));
        if (k == 1) {
            /* 07 05 1b | fe fe 02 d3 d4 aa 00 | 03 04 08 0f 80 | checksum, seek record... */
            const size_t heads = 3 + 7, tails = heads + 5, recent = tails + 4 + 4;
            cr_assert_eq(frame[recent], 0xac, "the newest recent size, 300, is where the page says");
            frame[recent]++;
            const uint8_t *pieces[] = {frame, frame + tails}; /* the tails' first four bytes its own place */
            const size_t lens[] = {tails, n - tails};
            uint32_t sum = cmti_block_checksum(pieces, lens, 2);
            for (int i = 0; i < 4; i++)
                frame[tails + i] = (uint8_t)(sum >> (8 * i));
        }
        index.points[k].file = out_len;
        size_t packed = ZSTD_compress(out + out_len, sizeof out - out_len, frame, n, 1);
        cr_assert_not(ZSTD_isError(packed));
        out_len += packed;
    }
    uint8_t *index_frame;
    size_t index_len;
    cr_assert_eq(cmti_seek_index_frame(&index, &index_frame, &index_len), 0);
    memcpy(out + out_len, index_frame, index_len);
    out_len += index_len;
    cmti_free(index_frame);
    const char *bad = scratch_path("seek-lies.cmt");
    write_file(bad, out, out_len);
    size_t got;
    int rc;
    free(decode_events(bad, &got, &rc, err, sizeof err));
    cr_assert_eq(rc, -1);
    cr_assert(strstr(err, "a seek record that does not match the stream"), "%s", err);
    cmti_seek_index bad_index;
    cr_assert_eq(cmti_seek_index_read(bad, &bad_index, err, sizeof err), 1, "%s", err);
    cmt_reader *first = cmti_reader_open_segment(bad, &bad_index.points[0], &bad_index.points[1], err, sizeof err);
    cr_assert_not_null(first, "%s", err);
    cmt_event ev;
    while ((rc = cmt_reader_next(first, &ev)) > 0)
        ;
    cr_assert_eq(rc, -1, "the first segment ends where the lie begins");
    cr_assert(strstr(cmt_reader_error(first), "a seek record that does not match the stream"), "%s",
              cmt_reader_error(first));
    cmt_reader_close(first);
    cmti_seek_index_destroy(&bad_index);
    cmti_seek_index_destroy(&index);
    free(file);
}

/* ---------------------------------------------------------------- stacks */

TestSuite(stacks, .fini = scratch_cleanup);

/* The sites PATH names, read whole, are those test_frame and
 * test_module give, STACKS of them. */
static void expect_sites(const char *path, uint32_t stacks, bool ahead)
{
    char err[512];
    cmt_source *s = cmt_source_open(path, NULL, err, sizeof err);
    cr_assert_not_null(s, "%s", err);
    if (ahead)
        cr_assert_eq(cmt_source_read_ahead(s), 0);
    cmt_event ev;
    while (cmt_source_next(s, &ev) > 0) {
        const cmt_frame *f = cmt_source_sites(s) ? cmt_sites_frame(cmt_source_sites(s), ev.stack) : NULL;
        cr_assert(ev.stack == 0 || (f && f->offset == test_frame(ev.stack).offset), "stack %u", ev.stack);
    }
    const cmt_sites *sites = cmt_source_sites(s);
    cr_assert_eq(cmt_sites_stacks(sites), stacks);
    cr_assert_eq(cmt_sites_modules(sites), stacks ? 2 : 0);
    for (uint32_t k = 1; k <= stacks; k++) {
        cmt_frame want = test_frame(k);
        const cmt_frame *got = cmt_sites_frame(sites, k);
        cr_assert(got && got->caller == want.caller && got->module == want.module && got->offset == want.offset,
                  "stack %u", k);
    }
    for (uint32_t m = 1; m <= cmt_sites_modules(sites); m++) {
        cmt_module want = test_module(m);
        const cmt_module *got = cmt_sites_module(sites, m);
        cr_assert(got->base == want.base && strcmp(got->path, want.path) == 0 &&
                  got->build_id_len == want.build_id_len &&
                  memcmp(got->build_id, want.build_id, want.build_id_len) == 0, "module %u", m);
    }
    cr_assert_null(cmt_sites_frame(sites, 0));
    cr_assert_null(cmt_sites_frame(sites, stacks + 1));
    cr_assert_null(cmt_sites_module(sites, 3));
    cmt_source_close(s);
}

Test(stacks, every_block_s_stack_reads_back_raw_compressed_and_with_addresses)
{
    for (unsigned seed = 1; seed <= 3; seed++) {
        size_t n = 100000; /* blocks of 32 Ki opcodes: several */
        cmt_event *events = random_events(n, seed);
        give_stacks(events, n, seed);
        give_addresses(events, n, seed);
        uint32_t stacks = 0;
        for (size_t i = 0; i < n; i++)
            stacks = events[i].stack > stacks ? events[i].stack : stacks;
        const char *path = scratch_path("stacks.cmt");
        for (int level = 0; level <= 3; level += 3) {
            char what[64];
            snprintf(what, sizeof what, "seed %u, level %d", seed, level);
            encode_events(path, events, n, level);
            expect_decodes_to(path, events, n, false, what);
            expect_sites(path, stacks, seed == 2);
            encode_events_with_addresses(path, events, n, level);
            expect_decodes_to(path, events, n, true, what);
        }
        free(events);
    }
}

Test(stacks, a_file_without_them_has_none)
{
    cmt_event *events = random_events(1000, 3);
    const char *path = scratch_path("none.cmt");
    encode_events(path, events, 1000, 3);
    expect_sites(path, 0, false);
    free(events);
}

/* Site records that do not fit their block's events, or the stacks and
 * modules before them: each an error naming its byte. */
Test(stacks, site_records_that_disagree_with_the_stream_are_corrupt)
{
    static const bad_records cases[] = {
        {7, {0x00}, 1, 1, 2, "corrupt: a block returned without its stack"},
        {7, {0x00, 0x00}, 2, 1, 1, "corrupt: the block's stacks record holds more stacks than its events return"},
        {7, {0x80}, 1, 1, 1, "corrupt: a stack runs past its record"},
        {7, {0x00}, 1, 2, 1, "corrupt: two stacks records in a block"},
        {7, {0x02}, 1, 1, 1, "corrupt: a block from stack 1, which has not been named"},
        {6, {0x01, 0x00, 0x10}, 3, 1, 0, "corrupt: a stack whose caller's stack comes after it"},
        {6, {0x00, 0x01, 0x10}, 3, 1, 0, "corrupt: a stack in a module not yet named"},
        {6, {0x00, 0x00}, 2, 1, 0, "corrupt: a stack record that is not one"},
        {5, {0x02, 0x00, 0x00, 'x'}, 4, 1, 0, "corrupt: module 2 where module 1 is next"},
        {5, {0x01, 0x00, 0x05, 'x'}, 4, 1, 0, "corrupt: a module record that is not one"},
        {5, {0x01, 0x00, 0x00, 'x', 0, 'y'}, 6, 1, 0, "corrupt: a module record that is not one"},
    };
    expect_refused(cases, sizeof cases / sizeof cases[0], scratch_path("bad-stacks.cmt"));
}

Test(stacks, the_writer_takes_only_stacks_it_has_and_then_places_no_seek_points)
{
    char err[512];
    const char *path = scratch_path("writer-stacks.cmt");
    cmt_output *out = cmt_output_open(path, err, sizeof err);
    cmt_writer *w = cmt_writer_open(out, 3, err, sizeof err);
    cr_assert_eq(cmt_writer_seek_every(w, 10), 0);
    cmt_event ev = {.op = CMT_OP_MALLOC, .count = 1, .size = 16, .tag = 1, .stack = 1};
    cr_assert_eq(cmt_writer_write(w, &ev), -1);
    cr_assert(strstr(cmt_writer_error(w), "event 1 is from stack 1, which has not been added"), "%s",
              cmt_writer_error(w));
    cmt_writer_close(w);
    cmt_output_abort(out);

    out = cmt_output_open(path, err, sizeof err);
    w = cmt_writer_open(out, 3, err, sizeof err);
    cr_assert_eq(cmt_writer_seek_every(w, 10), 0);
    uint32_t number;
    cmt_frame bad = {.caller = 1};
    cr_assert_eq(cmt_writer_stack(w, &bad, &number), -1);
    cmt_writer_close(w);
    cmt_output_abort(out);

    out = cmt_output_open(path, err, sizeof err);
    w = cmt_writer_open(out, 3, err, sizeof err);
    cr_assert_eq(cmt_writer_seek_every(w, 10), 0);
    cmt_frame top = {0};
    cr_assert_eq(cmt_writer_stack(w, &top, &number), 0);
    cr_assert_eq(number, 1);
    for (uint64_t tag = 1; tag <= 100000; tag++) {
        cmt_event e = {.op = CMT_OP_MALLOC, .count = 1, .size = 16, .tag = tag, .stack = (uint32_t)(tag % 2)};
        cr_assert_eq(cmt_writer_write(w, &e), 0);
    }
    cr_assert_eq(cmt_writer_finish(w), 0);
    cmt_writer_close(w);
    cr_assert_eq(cmt_output_commit(out, err, sizeof err), 0);
    cmti_seek_index index;
    cr_assert_eq(cmti_seek_index_read(path, &index, err, sizeof err), 0, "no index: %s", err);
}

/* A recorder's coarse clock: events in runs at one time cost a CLOCK
 * record a run, not one an event, and read back with their times. */
Test(format, times_that_repeat_cost_a_record_a_change)
{
    enum { N = 100000, RUN = 1000 };
    cmt_event *events = calloc(N, sizeof *events);
    for (size_t i = 0; i < N; i++) {
        events[i] = i % 2 ? (cmt_event){.op = CMT_OP_FREE, .arg_tag = i / 2 + 1, .count = 1}
                          : (cmt_event){.op = CMT_OP_MALLOC, .tag = i / 2 + 1, .size = 32, .count = 1};
    }
    const char *plain = scratch_path("untimed.cmt"), *timed = scratch_path("timed.cmt");
    encode_events(plain, events, N, 0);
    for (size_t i = 0; i < N; i++)
        events[i].time = 1000000000 + 4000000 * (uint64_t)(i / RUN);
    encode_events(timed, events, N, 0);
    expect_decodes_to(timed, events, N, false, "coarse times");
    size_t a, b;
    free(read_file(plain, &a));
    free(read_file(timed, &b));
    cr_assert_leq(b - a, (N / RUN) * 8 + 16, "%zu bytes for %d changes of time", b - a, N / RUN);
    free(events);
}

/* A writer copies the sites of a source that is reading ahead, which adds
 * a module and then a stack in it while the copy runs: the copy must
 * never take the stack without its module (it did, once in six runs of
 * trace2cmt on a recording). */
typedef struct growing {
    cmt_sites sites;
    _Atomic bool done;
} growing;

static void *grow_sites(void *arg)
{
    growing *g = arg;
    char why[256];
    for (uint32_t k = 1; k <= 20000; k++) {
        cmti_module_record m = {k, 0, NULL, 0, "lib.so", 6};
        cmt_frame f = {k - 1, k, 16};
        cr_assert_eq(cmti_sites_add_module(&g->sites, &m, why, sizeof why), 0);
        cr_assert_eq(cmti_sites_add_stack(&g->sites, &f, why, sizeof why), 0);
    }
    atomic_store(&g->done, true);
    return NULL;
}

Test(stacks, a_copy_of_growing_sites_takes_every_stack_with_its_module)
{
    growing g = {0};
    char err[512];
    cmt_output *out = cmt_output_open(scratch_path("growing.cmt"), err, sizeof err);
    cmt_writer *w = cmt_writer_open(out, 0, err, sizeof err);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, grow_sites, &g), 0);
    while (!atomic_load(&g.done))
        cr_assert_eq(cmt_writer_copy_sites(w, &g.sites, cmt_sites_stacks(&g.sites)), 0, "%s", cmt_writer_error(w));
    pthread_join(t, NULL);
    cr_assert_eq(cmt_writer_copy_sites(w, &g.sites, cmt_sites_stacks(&g.sites)), 0, "%s", cmt_writer_error(w));
    cmt_writer_close(w);
    cmt_output_abort(out);
    cmti_sites_destroy(&g.sites);
}
