/*
 * test_text.c - the text trace reader and printer: every line form, every
 * malformed form, and what the reader does with traces that start late.
 */
#include "helpers.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

TestSuite(text, .fini = scratch_cleanup);

typedef struct parsed {
    cmt_event events[64];
    size_t n;
    int rc;
    char err[512];
    cmt_text_stats stats;
    uint32_t stacks;      /* the reader's stacks (mtrace's callers, dtrace's stacks) */
    cmt_frame frames[16]; /* the first of them, stack 1 first */
} parsed;

static parsed parse_with(const char *text, cmt_text_options options)
{
    parsed p = {0};
    const char *path = scratch_path("t.trace");
    write_text(path, text);
    cmt_text_reader *t = cmt_text_open(path, &options, p.err, sizeof p.err);
    cr_assert_not_null(t, "%s", p.err);
    while (p.n < 64 && (p.rc = cmt_text_next(t, &p.events[p.n])) > 0)
        p.n++;
    snprintf(p.err, sizeof p.err, "%s", cmt_text_error(t));
    p.stats = *cmt_text_stats_of(t);
    const cmt_sites *sites = cmt_text_sites(t);
    p.stacks = cmt_sites_stacks(sites);
    for (uint32_t i = 1; i <= p.stacks && i <= 16; i++)
        p.frames[i - 1] = *cmt_sites_frame(sites, i);
    cmt_text_close(t);
    return p;
}

static parsed parse(const char *text, bool strict)
{
    return parse_with(text, (cmt_text_options){.strict = strict});
}

/* P must hold exactly the N events of WANT. */
static void expect_events(const parsed *p, const cmt_event *want, size_t n)
{
    cr_assert_eq(p->n, n, "%zu events where %zu were wanted", p->n, n);
    for (size_t i = 0; i < n; i++)
        cr_assert(cmt_event_same(&p->events[i], &want[i]), "event %zu", i + 1);
}

/* Reading TEXT must stop with an error containing NEEDLE. */
static void expect_parse_error(const char *text, bool strict, const char *needle)
{
    parsed p = parse(text, strict);
    cr_assert_eq(p.rc, -1, "read without error: %s", text);
    cr_assert(strstr(p.err, needle), "expected '%s' in: %s", needle, p.err);
}

Test(text, every_call_of_the_sample_reads_as_worked_out)
{
    char *text = read_file(CMT_SAMPLES "/every-call.trace", NULL);
    parsed p = parse(text, true);
    free(text);
    cr_assert_eq(p.rc, 0, "%s", p.err);
    const cmt_event want[] = {
        {.op = CMT_OP_MALLOC, .tag = 1, .size = 100, .count = 1},
        {.op = CMT_OP_CALLOC, .tag = 2, .size = 25, .count = 4},
        {.op = CMT_OP_REALLOC, .tag = 3, .arg_tag = 1, .size = 300, .count = 1},
        {.op = CMT_OP_POSIX_MEMALIGN, .tag = 4, .size = 64, .count = 1, .align = 64},
        {.op = CMT_OP_ALIGNED_ALLOC, .tag = 5, .size = 256, .count = 1, .align = 128},
        {.op = CMT_OP_MEMALIGN, .tag = 6, .size = 80, .count = 1, .align = 32},
        {.op = CMT_OP_FREE, .arg_tag = 2, .count = 1},
        {.op = CMT_OP_REALLOC, .tag = 7, .size = 50, .count = 1},
        {.op = CMT_OP_FREE, .count = 1},
        {.op = CMT_OP_MALLOC, .tag = 8, .size = 0, .count = 1},
        {.op = CMT_OP_MALLOC, .size = 1ULL << 60, .count = 1},
        {.op = CMT_OP_REALLOC, .arg_tag = 3, .size = 0, .count = 1},
        {.op = CMT_OP_FREE, .arg_tag = 4, .count = 1},
        {.op = CMT_OP_FREE, .arg_tag = 5, .count = 1},
        {.op = CMT_OP_FREE, .arg_tag = 6, .count = 1},
        {.op = CMT_OP_FREE, .arg_tag = 7, .count = 1},
        {.op = CMT_OP_FREE, .arg_tag = 8, .count = 1},
    };
    expect_events(&p, want, sizeof want / sizeof want[0]);
    cr_assert_eq(p.events[0].addr, 0x1000);
    cr_assert_eq(p.events[2].arg_addr, 0x1000);
    cr_assert_eq(p.stats.lines, 19);
    cr_assert(cmt_event_failed(&p.events[10]), "malloc = 0x0 is a failure");
    cr_assert_not(cmt_event_failed(&p.events[11]), "realloc(p, 0) = 0x0 is a free");
}

Test(text, spellings_of_pointers_numbers_and_space)
{
    parsed p = parse("\n"
                     "   # a comment\n"
                     "malloc(8) = 81d220b48<6655>\r\n"
                     "\tmalloc( 0x10 )=0X81D220C00\n"
                     "calloc(2,3) = 0x81d220d00<6657>      # annotated\n"
                     "realloc(81d220b48<6655>,16) = 81d3b83a0\n"
                     "free(0x81D220C00)\n"
                     "malloc(1) = (nil)\n"
                     "free(NULL)\n"
                     "free(81d3b83a0<6658>)\n",
                     true);
    cr_assert_eq(p.rc, 0, "%s", p.err);
    cr_assert_eq(p.n, 8);
    cr_assert_eq(p.events[0].addr, 0x81d220b48);
    cr_assert_eq(p.events[1].size, 16);
    cr_assert_eq(p.events[1].addr, 0x81d220c00);
    cr_assert_eq(p.events[3].arg_tag, 1, "tags are renumbered from 1");
    cr_assert_eq(p.events[4].arg_tag, 2);
    cr_assert_eq(p.events[5].tag, 0);
    cr_assert_eq(p.events[6].arg_tag, 0);
    cr_assert_eq(p.events[7].arg_tag, 4);
}

/* Each of these lines, third in a file, must give "FILE:3: can't parse". */
static const char *const malformed[] = {
    "malloc(8) = ",
    "malloc(8)",
    "malloc 8 = 0x10",
    "malloc(-8) = 0x10",
    "malloc(18446744073709551616) = 0x10",
    "malloc(8) = 0x10000000000000000",
    "malloc(8) = 0xzz",
    "malloc(8) = 0x10 extra",
    "malloc(8, 9) = 0x10",
    "calloc(8) = 0x10",
    "realloc(0x10) = 0x20",
    "free()",
    "free(0x10) = 0x20",
    "frees(0x10)",
    "mallocx(8) = 0x10",
    "malloc(8) = 0x10<0>",
    "malloc(8) = 0x10<5",
    "malloc(8) = 0x10<x>",
    "posix_memalign(16) = 0x10",
    "MALLOC(8) = 0x10",
    "malloc(8) == 0x10",
    "malloc(8",
    "61039 make     USER  0x800607420 = malloc(26)",
    "mallocxyzzy(8) = 0x10", /* longer than its guess: read past the name once */
    "freeing(0x10)",
};

Test(text, each_malformed_line_is_an_error_naming_file_and_line)
{
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        char text[256];
        size_t len = (size_t)snprintf(text, sizeof text, "malloc(1) = 0x100\n# ok\n%s\nfree(0x100)\n", malformed[i]);
        const char *path = scratch_path("bad.trace");
        write_file(path, text, len);
        char err[512];
        cmt_text_reader *t = cmt_text_open(path, NULL, err, sizeof err);
        cmt_event ev;
        int rc;
        while ((rc = cmt_text_next(t, &ev)) > 0)
            ;
        char want[600];
        snprintf(want, sizeof want, "%s:3: can't parse: ", path);
        cr_assert_eq(rc, -1, "line '%s' was read", malformed[i]);
        cr_assert(strncmp(cmt_text_error(t), want, strlen(want)) == 0, "line '%s': %s", malformed[i],
                  cmt_text_error(t));
        cmt_text_close(t);
    }
}

Test(text, a_nul_byte_is_shown_escaped)
{
    write_file(scratch_path("nul.trace"), "malloc(8\0) = 0x10\n", 19);
    char err[512];
    cmt_text_reader *t = cmt_text_open(scratch_path("nul.trace"), NULL, err, sizeof err);
    cmt_event ev;
    cr_assert_eq(cmt_text_next(t, &ev), -1);
    cr_assert(strstr(cmt_text_error(t), "malloc(8\\x00) = 0x10"), "%s", cmt_text_error(t));
    cmt_text_close(t);
}

Test(text, tags_must_agree_where_given)
{
    expect_parse_error("malloc(8) = 0x10<1>\nmalloc(8) = 0x20<3>\n", false,
                       ":2: tags must count up by one: malloc(8) = 0x20<3>");
    expect_parse_error("malloc(8) = 0x10<1>\nmalloc(8) = 0x20<2>\nfree(0x10<2>)\n", false,
                       ":3: the tag does not match");
}

Test(text, address_0_with_a_tag_names_the_block_by_its_tag)
{
    parsed p = parse("malloc(8) = 0<1>\n"
                     "calloc(2, 8) = 0<2>\n"
                     "realloc(0<1>, 32) = 0<3>\n"
                     "realloc(0<2>, 64) = 0\n" /* failed: block 2 stays */
                     "free(0<2>)\n"
                     "free(0)\n"
                     "free(0<3>)\n",
                     true);
    cr_assert_eq(p.rc, 0, "%s", p.err);
    const cmt_event want[] = {
        {.op = CMT_OP_MALLOC, .tag = 1, .size = 8, .count = 1},
        {.op = CMT_OP_CALLOC, .tag = 2, .size = 8, .count = 2},
        {.op = CMT_OP_REALLOC, .tag = 3, .arg_tag = 1, .size = 32, .count = 1},
        {.op = CMT_OP_REALLOC, .arg_tag = 2, .size = 64, .count = 1},
        {.op = CMT_OP_FREE, .arg_tag = 2, .count = 1},
        {.op = CMT_OP_FREE, .count = 1},
        {.op = CMT_OP_FREE, .arg_tag = 3, .count = 1},
    };
    expect_events(&p, want, sizeof want / sizeof want[0]);
    expect_parse_error("malloc(8) = 0<1>\nfree(0<2>)\n", true, ":2: address is not live (--strict)");
}

Test(text, an_excerpt_may_start_at_any_tag)
{
    parsed p = parse("malloc(8) = 81d220b48<6655>\n"
                     "realloc(81d220b48<6655>, 16) = 81d3b83a0<6656>\n"
                     "free(81d3b83a0<6656>)\n",
                     true);
    cr_assert_eq(p.rc, 0, "%s", p.err);
    cr_assert_eq(p.n, 3);
    cr_assert_eq(p.events[1].tag, 2);
    cr_assert_eq(p.events[2].arg_tag, 2);
}

Test(text, addresses_that_are_not_live_are_counted_not_fatal)
{
    parsed p = parse("free(0x500)\n"
                     "realloc(0x600, 10) = 0x700\n"
                     "malloc(4) = 0x800\n"
                     "free(0x800)\n"
                     "free(0x800)\n",
                     false);
    cr_assert_eq(p.rc, 0, "%s", p.err);
    cr_assert_eq(p.stats.unknown_frees, 2, "one never allocated, one double free");
    cr_assert_eq(p.stats.unknown_reallocs, 1);
    cr_assert_eq(p.n, 3);
    cr_assert_eq(p.events[0].op, CMT_OP_REALLOC);
    cr_assert_eq(p.events[0].arg_tag, 0, "read as realloc(NULL, 10)");
    cr_assert_eq(p.events[0].tag, 1);

    expect_parse_error("malloc(4) = 0x800\nfree(0x500)\n", true,
                       ":2: address is not live (--strict): free(0x500)");
}

Test(text, an_address_returned_while_live_frees_the_earlier_block)
{
    parsed p = parse("malloc(4) = 0x800\nmalloc(8) = 0x800\nfree(0x800)\n", false);
    cr_assert_eq(p.rc, 0, "%s", p.err);
    cr_assert_eq(p.stats.reused_live, 1);
    cr_assert_eq(p.n, 4);
    cr_assert_eq(p.events[1].op, CMT_OP_FREE);
    cr_assert_eq(p.events[1].arg_tag, 1);
    cr_assert_eq(p.events[2].tag, 2);
    cr_assert_eq(p.events[3].arg_tag, 2);

    expect_parse_error("malloc(4) = 0x800\nmalloc(8) = 0x800\n", true,
                       ":2: address returned while still live");
}

Test(text, a_failed_realloc_keeps_its_block_and_realloc_to_zero_frees_it)
{
    parsed p = parse("malloc(4) = 0x800\n"
                     "realloc(0x800, 99) = 0x0\n"
                     "free(0x800)\n"
                     "malloc(4) = 0x900\n"
                     "realloc(0x900, 0) = 0x0\n"
                     "free(0x900)\n",
                     false);
    cr_assert_eq(p.rc, 0, "%s", p.err);
    cr_assert_eq(p.n, 5);
    cr_assert_eq(p.events[2].arg_tag, 1, "the block outlived the failed realloc");
    cr_assert_eq(p.stats.unknown_frees, 1, "realloc(p, 0) freed p");
}

Test(text, a_line_too_long_is_an_error_not_a_memory_hog)
{
    size_t len = CMT_MAX_LINE * 3;
    char *text = malloc(len + 1);
    memset(text, ' ', len);
    memcpy(text, "malloc(1) = 0x10\n", 17);
    text[len] = '\0';
    expect_parse_error(text, false, ":2: line longer than 65536 bytes");
    free(text);
}

Test(text, the_last_line_needs_no_newline)
{
    parsed p = parse("malloc(1) = 0x10\nfree(0x10)", true);
    cr_assert_eq(p.rc, 0, "%s", p.err);
    cr_assert_eq(p.n, 2);
}

Test(text, printing_gives_the_original_line_format)
{
    char line[CMT_EVENT_TEXT_MAX];
    cmt_event ev = {.op = CMT_OP_REALLOC, .tag = 6656, .arg_tag = 6655, .size = 16,
                    .addr = 0x81d3b83a0, .arg_addr = 0x81d220b48};
    cmt_format_event(line, &ev);
    cr_assert_str_eq(line, "realloc(81d220b48<6655>, 16) = 81d3b83a0<6656>\n");
    ev = (cmt_event){.op = CMT_OP_POSIX_MEMALIGN, .size = UINT64_MAX, .align = UINT64_MAX};
    size_t n = cmt_format_event(line, &ev);
    cr_assert_str_eq(line, "posix_memalign(18446744073709551615, 18446744073709551615) = 0x0\n");
    cr_assert_eq(n, strlen(line));
    ev = (cmt_event){.op = CMT_OP_FREE};
    cmt_format_event(line, &ev);
    cr_assert_str_eq(line, "free(0x0)\n");
    ev = (cmt_event){.op = CMT_OP_CALLOC, .count = 3, .size = 7, .tag = 1, .addr = 0xabc};
    cmt_format_event(line, &ev);
    cr_assert_str_eq(line, "calloc(3, 7) = abc<1>\n");
}

Test(text, printed_text_reads_back_the_same)
{
    char *text = read_file(CMT_SAMPLES "/python-json.trace", NULL);
    parsed first = {0};
    const char *path = scratch_path("a.trace");
    write_text(path, text);
    free(text);
    char err[512];
    cmt_text_reader *t = cmt_text_open(path, NULL, err, sizeof err);
    cmt_output *out = cmt_output_open(scratch_path("b.trace"), err, sizeof err);
    cmt_event ev;
    size_t n = 0;
    while ((first.rc = cmt_text_next(t, &ev)) > 0) {
        char line[CMT_EVENT_TEXT_MAX];
        cmt_output_write(out, line, cmt_format_event(line, &ev));
        n++;
    }
    cr_assert_eq(first.rc, 0, "%s", cmt_text_error(t));
    cmt_text_close(t);
    cr_assert_eq(cmt_output_commit(out, err, sizeof err), 0);
    t = cmt_text_open(scratch_path("b.trace"), &(cmt_text_options){.strict = true}, err, sizeof err);
    size_t m = 0;
    while (cmt_text_next(t, &ev) > 0)
        m++;
    cr_assert_str_eq(cmt_text_error(t), "");
    cr_assert_eq(m, n);
    cmt_text_close(t);
}

/* ---------------------------------------------------------------- kdump */

static parsed parse_as(const char *text, cmt_format format)
{
    return parse_with(text, (cmt_text_options){.format = format});
}

/* Each of BAD, after the good line FIRST, must be "FILE:2: can't parse". */
static void expect_second_lines_bad(const char *first, const char *const *bad, size_t n, cmt_format format)
{
    for (size_t i = 0; i < n; i++) {
        char text[256];
        snprintf(text, sizeof text, "%s\n%s\n", first, bad[i]);
        parsed p = parse_as(text, format);
        cr_assert_eq(p.rc, -1, "read: %s", bad[i]);
        cr_assert(strstr(p.err, ":2: can't parse: "), "%s", p.err);
    }
}

/* TEXT reads as FORMAT into N events with these TIMES and THREADS. */
static void expect_times_and_threads(const char *text, cmt_format format, size_t n, const uint64_t *times,
                                     const uint32_t *threads)
{
    parsed p = parse_as(text, CMT_FORMAT_AUTO);
    cr_assert_eq(p.rc, 0, "%s", p.err);
    cr_assert_eq(p.stats.format, format);
    cr_assert_eq(p.n, n);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(p.events[i].time, times[i], "event %zu", i);
        cr_assert_eq(p.events[i].thread, threads[i], "event %zu", i);
    }
}

/* Times and threads in the text: "@SECONDS tTHREAD " before the call,
 * where known, so that text -> .cmt -> text loses nothing. */
Test(text, times_and_threads_print_before_the_call_and_read_back)
{
    char line[CMT_EVENT_TEXT_MAX];
    cmt_event ev = {.op = CMT_OP_FREE, .count = 1, .arg_tag = 7, .time = 1000000250, .thread = 2};
    cmt_format_event(line, &ev);
    cr_assert_str_eq(line, "@1.000000250 t2 free(0<7>)\n");
    ev = (cmt_event){.op = CMT_OP_MALLOC, .count = 1, .size = 8, .tag = 1, .time = UINT64_MAX, .thread = UINT32_MAX};
    size_t n = cmt_format_event(line, &ev);
    cr_assert_str_eq(line, "@18446744073.709551615 t4294967295 malloc(8) = 0<1>\n");
    cr_assert_eq(n, strlen(line));
    expect_times_and_threads("@0.5 t3 malloc(8) = 0x10\n"
                             "t1 realloc(0x10, 16) = 0x20\n"
                             "@1536334807.907404 free(0x20)   # annotated\n"
                             "@2 t0 malloc(1) = 0x30\n",
                             CMT_FORMAT_TEXT, 4, (const uint64_t[]){500000000, 0, 1536334807907404000ULL, 2000000000},
                             (const uint32_t[]){3, 1, 0, 0});
    static const char *const bad[] = {
        "@ malloc(8) = 0x40",     "@x malloc(8) = 0x40",   "@99999999999 malloc(8) = 0x40",
        "t4294967296 malloc(8) = 0x40", "t malloc(8) = 0x40", "t2 @1 malloc(8) = 0x40",
    };
    expect_second_lines_bad("malloc(1) = 0x10", bad, sizeof bad / sizeof bad[0], CMT_FORMAT_TEXT);
}

/* Every kind of event, timed or not, on threads or not, through .cmt and
 * its text and back: the same events, and the same .cmt, byte for byte. */
Test(text, text_of_a_cmt_file_converts_back_to_the_same_file)
{
    for (unsigned seed = 1; seed <= 6; seed++) {
        size_t n = 3000;
        cmt_event *events = random_events(n, seed);
        const char *cmt = scratch_path("a.cmt"), *text = scratch_path("a.txt"), *again = scratch_path("b.cmt");
        encode_events(cmt, events, n, CMT_CONVERT_LEVEL); /* trace2cmt's, to compare its files with */
        cr_assert_eq(runf(NULL, NULL, "%s/trace2cmt -q -s %s -o %s && %s/trace2cmt -q %s -o %s", CMT_TOOLS, cmt, text,
                          CMT_TOOLS, text, again), 0, "seed %u", seed);
        cr_assert_eq(runf(NULL, NULL, "cmp %s %s", cmt, again), 0, "seed %u", seed);
        size_t got;
        int rc;
        cmt_event *back = decode_events(again, &got, &rc, NULL, 0);
        cr_assert_eq(got, n);
        for (size_t i = 0; i < n; i++)
            cr_assert(cmt_event_same(&events[i], &back[i]), "seed %u, event %zu", seed, i);
        free(back);
        free(events);
    }
}

/* kdump -H: a thread id after the pid, kept as the thread of the events,
 * numbered 1, 2... in order of appearance as cmtrecord numbers them. */
Test(text, kdump_thread_ids_are_kept)
{
    /* The third: a free of thread 2's block by thread 1; the fourth -T with -H. */
    expect_times_and_threads("  61039 100234 cppcheck USER  0x4df1040 = malloc(72)\n"
                             "  61039 100240 cppcheck USER  0x4e02c80 = malloc(16)\n"
                             "  61039 100234 cppcheck USER  free(0x4e02c80)\n"
                             "  61039 100240 cppcheck 1536334807.907404 USER  free(0x4df1040)\n",
                             CMT_FORMAT_KDUMP, 4, (const uint64_t[]){0, 0, 0, 1536334807907404000ULL},
                             (const uint32_t[]){1, 2, 1, 2});
    parsed plain = parse_as("  61039 cppcheck USER  0x4df1040 = malloc(72)\n", CMT_FORMAT_AUTO);
    cr_assert_eq(plain.events[0].thread, 0, "without -H, no thread");
}

Test(text, kdump_records_of_every_kind)
{
    parsed p = parse_as("  61039 make     USER  malloc_init()\n"
                        "  61039 make     USER  0x800607420 = malloc(26)\n"
                        "  61039 make     CALL  mmap(0,0x200000,0x3<PROT_READ|PROT_WRITE>)\n"
                        "  61039 make     RET   mmap 34368126976/0x800600000\n"
                        "  61039 make     USER  0x800608000 = realloc(0x800607420, 52)\n"
                        "  61039 make     USER  0x800608000 = realloc(0x800608000, 60)\n"
                        "  61039 my prog name USER  0x800609000 = malloc(8)\n"
                        "  61039 100150 make USER  0x80060a000 = malloc(9)\n"
                        "  61039 make     1536334807.907404 USER  0x0 = malloc(99999999999)\n"
                        "  61039 make     USER  free(0x0)\n"
                        "  61039 make     USER  free(0x800608000)\n"
                        "  61039 make     USER  12 00 00 00 ab cd\n",
                        CMT_FORMAT_KDUMP);
    cr_assert_eq(p.rc, 0, "%s", p.err);
    cr_assert_eq(p.stats.other_records, 4, "malloc_init, CALL, RET, a foreign utrace");
    const cmt_event want[] = {
        {.op = CMT_OP_MALLOC, .tag = 1, .size = 26, .count = 1},
        {.op = CMT_OP_REALLOC, .tag = 2, .arg_tag = 1, .size = 52, .count = 1},
        {.op = CMT_OP_REALLOC, .tag = 3, .arg_tag = 2, .size = 60, .count = 1}, /* in place */
        {.op = CMT_OP_MALLOC, .tag = 4, .size = 8, .count = 1},
        {.op = CMT_OP_MALLOC, .tag = 5, .size = 9, .count = 1, .thread = 1}, /* kdump -H: thread 100150 */
        {.op = CMT_OP_MALLOC, .size = 99999999999, .count = 1, .time = 1536334807907404000}, /* failed; kdump -T */
        {.op = CMT_OP_FREE, .count = 1},
        {.op = CMT_OP_FREE, .arg_tag = 3, .count = 1},
    };
    expect_events(&p, want, sizeof want / sizeof want[0]);
}

Test(text, malformed_kdump_records_name_their_line)
{
    const char *bad[] = {
        "  61039 make     USER  0x800607420 = malloc(x)",
        "  61039 make     USER  0x800607420 = calloc(2)",
        "  61039 make     USER  0x800607420 malloc(8)",
        "  61039 make     USER  free(0x10",
        "  61039 make     USER  malloc_init() extra",
        "make USER 0x10 = malloc(8)",
        "  61039 make     nothing we know",
    };
    expect_second_lines_bad("  1 a USER  0x10 = malloc(1)", bad, sizeof bad / sizeof bad[0], CMT_FORMAT_KDUMP);
}

Test(text, auto_detects_each_format_and_reads_zstd_input)
{
    parsed p = parse_as("# a comment first\n\n  61039 make     USER  0x10 = malloc(26)\n", CMT_FORMAT_AUTO);
    cr_assert_eq(p.rc, 0, "%s", p.err);
    cr_assert_eq(p.stats.format, CMT_FORMAT_KDUMP);
    p = parse_as("# a comment first\nmalloc(8) = 0x10\n", CMT_FORMAT_AUTO);
    cr_assert_eq(p.stats.format, CMT_FORMAT_TEXT);
    cr_assert_eq(p.n, 1);
    p = parse_as("", CMT_FORMAT_AUTO);
    cr_assert_eq(p.rc, 0);
    cr_assert_eq(p.stats.format, CMT_FORMAT_TEXT);

    write_text(scratch_path("z.trace"), "malloc(8) = 0x10\nfree(0x10)\n");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "zstd -q -f -o '%s' '%s'", scratch_path("z.trace.zst"), scratch_path("z.trace"));
    cr_assert_eq(run(cmd, NULL, NULL), 0);
    char err[512];
    cmt_text_reader *t = cmt_text_open(scratch_path("z.trace.zst"), NULL, err, sizeof err);
    cmt_event ev;
    cr_assert_eq(cmt_text_next(t, &ev), 1);
    cr_assert_eq(cmt_text_next(t, &ev), 1);
    cr_assert_eq(cmt_text_next(t, &ev), 0, "%s", cmt_text_error(t));
    cmt_text_close(t);
}

/* ------------------------------------------------------------- valgrind */

Test(text, valgrind_calls_of_every_kind)
{
    parsed p = parse_as("==7513== Memcheck, a memory error detector\n"
                        "--7513-- malloc(16) = 0x4A5B040\n"
                        "--7513-- Reading syms from /usr/bin/cppcheck\n"
                        "--7513-- calloc(1,1040) = 0x4E032B0\n"
                        "--7513-- realloc(0x0,1600)malloc(1600) = 0x4A432F0\n"
                        "--7513-- realloc(0x4A432F0,3200) = 0x4A44000\n"
                        "--7513-- memalign(al 64, size 100) = 0x4A5C040\n"
                        "--7513-- _Znwm(72) = 0x4E02C80\n"
                        "--7513-- _ZnamRKSt9nothrow_t(8) = 0x4E02D00\n"
                        "--7513-- _ZnwmSt11align_val_t(size 48, al 32) = 0x4E02E00\n"
                        "program output in between\n"
                        "--7513-- _ZdlPvm(0x4E02C80)\n"
                        "--7513-- _ZdaPv(0x4E02D00)\n"
                        "--7513-- _ZdlPvSt11align_val_t(0x4E02E00, al 32)\n"
                        "--7513-- free(0x4A5B040)\n"
                        "--7513-- realloc(0x4A44000,0)free(0x4A44000)\n"
                        "==7513== HEAP SUMMARY:\n",
                        CMT_FORMAT_VALGRIND);
    cr_assert_eq(p.rc, 0, "%s", p.err);
    const cmt_event want[] = {
        {.op = CMT_OP_MALLOC, .tag = 1, .size = 16, .count = 1},
        {.op = CMT_OP_CALLOC, .tag = 2, .size = 1040, .count = 1},
        {.op = CMT_OP_REALLOC, .tag = 3, .size = 1600, .count = 1},
        {.op = CMT_OP_REALLOC, .tag = 4, .arg_tag = 3, .size = 3200, .count = 1},
        {.op = CMT_OP_MEMALIGN, .tag = 5, .size = 100, .count = 1, .align = 64},
        {.op = CMT_OP_MALLOC, .tag = 6, .size = 72, .count = 1},
        {.op = CMT_OP_MALLOC, .tag = 7, .size = 8, .count = 1},
        {.op = CMT_OP_MEMALIGN, .tag = 8, .size = 48, .count = 1, .align = 32},
        {.op = CMT_OP_FREE, .arg_tag = 6, .count = 1},
        {.op = CMT_OP_FREE, .arg_tag = 7, .count = 1},
        {.op = CMT_OP_FREE, .arg_tag = 8, .count = 1},
        {.op = CMT_OP_FREE, .arg_tag = 1, .count = 1},
        {.op = CMT_OP_REALLOC, .arg_tag = 4, .size = 0, .count = 1},
    };
    expect_events(&p, want, sizeof want / sizeof want[0]);
    cr_assert_eq(p.stats.other_records, 4);
    cr_assert_eq(p.stats.pid, 7513);
}

Test(text, malformed_valgrind_calls_name_their_line)
{
    const char *bad[] = {
        "--7513-- malloc(16) = ",
        "--7513-- malloc(x) = 0x10",
        "--7513-- calloc(1) = 0x10",
        "--7513-- _ZdlPv(0x10",
        "--7513-- malloc(16)",
    };
    expect_second_lines_bad("--7513-- malloc(1) = 0x10", bad, sizeof bad / sizeof bad[0], CMT_FORMAT_VALGRIND);
}

Test(text, valgrind_logs_of_several_processes_read_the_busiest)
{
    const char *log = "--100-- malloc(1) = 0x10\n"
                      "--200-- malloc(2) = 0x20\n"
                      "--200-- malloc(3) = 0x30\n"
                      "--100-- free(0x10)\n"
                      "--200-- free(0x20)\n";
    parsed p = parse_as(log, CMT_FORMAT_AUTO);
    cr_assert_eq(p.rc, 0, "%s", p.err);
    cr_assert_eq(p.stats.format, CMT_FORMAT_VALGRIND);
    cr_assert_eq(p.stats.pid, 200, "the process with most calls");
    cr_assert_eq(p.stats.processes, 2);
    cr_assert_eq(p.stats.other_process, 2);
    cr_assert_eq(p.stats.other_records, 0, "other processes' calls are counted once, as such");
    cr_assert_eq(p.n, 3);
    cr_assert_eq(p.events[0].size, 2);
    p = parse_with(log, (cmt_text_options){.format = CMT_FORMAT_VALGRIND, .pid = 100});
    cr_assert_eq(p.n, 2);
    cr_assert_eq(p.events[0].size, 1);
    /* A process the log does not have: an error that lists the ones it has,
     * not an empty trace. */
    p = parse_with(log, (cmt_text_options){.pid = 300});
    cr_assert_eq(p.rc, -1);
    cr_assert(strstr(p.err, "no call of process 300 in the log; its processes: 100, 200"), "%s", p.err);
    /* --pid of a format without processes does nothing: refused. */
    write_text(scratch_path("kd.trace"), "malloc(8) = 0x10\n");
    char err[512];
    cmt_text_options pid_of_text = {.pid = 100};
    cr_assert_null(cmt_text_open(scratch_path("kd.trace"), &pid_of_text, err, sizeof err));
    cr_assert(strstr(err, "--pid reads one process of a valgrind log, and this is text"), "%s", err);
}

/* --------------------------------------------------------------- dtrace */

Test(text, dtrace_calls_of_every_kind)
{
    parsed p = parse_as("call-trace\t1536334807907404599\t50a0805 14\tmalloc\t96\t81d21e100\n"
                        "call-trace\t1536334807907404600\t\tcalloc\t4 24\t81d21e200\n"
                        "call-trace\t1536334807907404601\t\taligned_alloc\t64 128\t81d21e300\n"
                        "call-trace\t1536334807907404602\t\tposix_memalign\t32 16\t81d21e400\n"
                        "call-trace\t1536334807909430574\t8099e0663 16\trealloc\t81d21e100 340\t81d279480\n"
                        "call-trace\t1536334807907411147\t\tfree\t81d279480\t\n"
                        "other-probe\t1\t\tsomething\t\t\n",
                        CMT_FORMAT_DTRACE);
    cr_assert_eq(p.rc, 0, "%s", p.err);
    const cmt_event want[] = {
        {.op = CMT_OP_MALLOC, .tag = 1, .size = 96, .count = 1, .time = 1536334807907404599},
        {.op = CMT_OP_CALLOC, .tag = 2, .size = 24, .count = 4, .time = 1536334807907404600},
        {.op = CMT_OP_ALIGNED_ALLOC, .tag = 3, .size = 128, .count = 1, .align = 64, .time = 1536334807907404601},
        {.op = CMT_OP_POSIX_MEMALIGN, .tag = 4, .size = 16, .count = 1, .align = 32, .time = 1536334807907404602},
        {.op = CMT_OP_REALLOC, .tag = 5, .arg_tag = 1, .size = 340, .count = 1, .time = 1536334807909430574},
        {.op = CMT_OP_FREE, .arg_tag = 5, .count = 1, .time = 1536334807907411147},
    };
    expect_events(&p, want, sizeof want / sizeof want[0]);
    cr_assert_eq(p.stats.other_records, 1);
    cr_assert_eq(p.stacks, 0, "\"50a0805 14\" is no stack DTrace prints: not read");
}

/* The later layout (normalise-trace.pl's): a header line naming the
 * columns, the thread after the stack, and two columns after the result. */
Test(text, dtrace_calls_with_their_threads)
{
    const char *log = "@record-type:call-trace\ttimestamp-unix-ns\tcallstack\ttid\tname\targs\tresult"
                      "\talloc-stack\tcpu-time-ns\n"
                      "call-trace\t100\t0x50a0805 0x50a1000\t100234\tmalloc\t96\t81d21e100\tJemalloc\t5000\n"
                      "call-trace\t200\t\t100240\tmalloc\t16\t81d21e200\tJemalloc\t5100\n"
                      "call-trace\t300\t\t100234\tfree\t81d21e100\t\tJemalloc\t5200\n"
                      "call-trace\t400\t0x7000 0x50a1000\t100240\trealloc\t81d21e200 32\t81d21e300\tJemalloc\t5300\n"
                      "call-trace\t500\t0x50a0805 0x50a1000\t100234\tmalloc\t8\t81d21e400\tJemalloc\t5400\n";
    for (int autodetect = 0; autodetect < 2; autodetect++) {
        parsed p = parse_as(log, autodetect ? CMT_FORMAT_AUTO : CMT_FORMAT_DTRACE);
        cr_assert_eq(p.rc, 0, "%s", p.err);
        cr_assert_eq(p.stats.format, CMT_FORMAT_DTRACE);
        const cmt_event want[] = {
            {.op = CMT_OP_MALLOC, .tag = 1, .size = 96, .count = 1, .time = 100, .thread = 1, .stack = 2},
            {.op = CMT_OP_MALLOC, .tag = 2, .size = 16, .count = 1, .time = 200, .thread = 2},
            {.op = CMT_OP_FREE, .arg_tag = 1, .count = 1, .time = 300, .thread = 1},
            {.op = CMT_OP_REALLOC, .tag = 3, .arg_tag = 2, .size = 32, .count = 1, .time = 400, .thread = 2, .stack = 3},
            {.op = CMT_OP_MALLOC, .tag = 4, .size = 8, .count = 1, .time = 500, .thread = 1, .stack = 2},
        };
        expect_events(&p, want, sizeof want / sizeof want[0]);
        /* The frames, innermost first in the log: stacks 1 (0x50a1000, the
         * outermost) and 2 (0x50a0805 on it), then 3 (0x7000 on 1). */
        cr_assert_eq(p.stacks, 3);
        const cmt_frame *f = p.frames;
        cr_assert(f[0].caller == 0 && f[0].module == 0 && f[0].offset == 0x50a1000);
        cr_assert(f[1].caller == 1 && f[1].module == 0 && f[1].offset == 0x50a0805);
        cr_assert(f[2].caller == 1 && f[2].module == 0 && f[2].offset == 0x7000);
    }
    const char *bad[] = {
        "call-trace\t1\t\t7\tmalloc\t96",
        "call-trace\t1\t\t7\t8\t96\t81d21e100",
        "call-trace\t1\t\t18446744073709551615\tmalloc\t96\t81d21e100",
    };
    expect_second_lines_bad("call-trace\t1\t\t7\tmalloc\t8\t10", bad, sizeof bad / sizeof bad[0],
                            CMT_FORMAT_DTRACE);
}

Test(text, malformed_dtrace_calls_name_their_line)
{
    const char *bad[] = {
        "call-trace\t1\t\tmalloc\tx\t81d21e100",
        "call-trace\t1\t\tmalloc\t96",
        "call-trace\t1\t\tmalloc\t96\t",
        "call-trace\tnow\t\tmalloc\t96\t81d21e100",
        "call-trace\t1\t\tmallocx\t96\t81d21e100",
        "call-trace\t1\t\tfree\t81d21e100\t81d21e100",
        "call-trace\t1\t\trealloc\t81d21e100\t81d21e100",
        "call-trace\t1\t\tload\t81d21e100 4\t",
    };
    expect_second_lines_bad("call-trace\t1\t\tmalloc\t8\t10", bad, sizeof bad / sizeof bad[0], CMT_FORMAT_DTRACE);
}

/* --------------------------------------------------------------- mtrace */

Test(text, mtrace_records_of_every_kind)
{
    parsed p = parse_as("= Start\n"
                        "@ ./prog:[0x4005d4] + 0x1b4a460 0x10\n"
                        "@ [0x4005d8] + 0x1b4a480 0x20\n"
                        "@ ./prog:[0x4005f0] < 0x1b4a460\n"
                        "@ ./prog:[0x4005f0] > 0x1b4a4a0 0x30\n"
                        "@ ./prog:[0x400600] ! 0x1b4a4a0 0x1000\n"
                        "@ ./prog:[0x4005e2] - 0x1b4a4a0\n"
                        "@ ./prog:[0x4005e2] - 0x1b4a480\n"
                        "@ ./prog:(main+0x1c)[0x4005d4] + (nil) 0x1000000000000000\n"
                        "@ /opt/my app/lib.so:(f-0x8)[0x7f00] + 0x1b4a500 0x8\n"
                        "- 0x1b4a500\n"
                        "= End\n",
                        CMT_FORMAT_AUTO);
    cr_assert_eq(p.rc, 0, "%s", p.err);
    cr_assert_eq(p.stats.format, CMT_FORMAT_MTRACE);
    const cmt_event want[] = {
        {.op = CMT_OP_MALLOC, .tag = 1, .size = 16, .count = 1, .stack = 1},
        {.op = CMT_OP_MALLOC, .tag = 2, .size = 32, .count = 1, .stack = 2},
        {.op = CMT_OP_REALLOC, .tag = 3, .arg_tag = 1, .size = 48, .count = 1, .stack = 3},
        {.op = CMT_OP_REALLOC, .arg_tag = 3, .size = 4096, .count = 1}, /* failed: block 3 lives on */
        {.op = CMT_OP_FREE, .arg_tag = 3, .count = 1},
        {.op = CMT_OP_FREE, .arg_tag = 2, .count = 1},
        {.op = CMT_OP_MALLOC, .size = 1ULL << 60, .count = 1}, /* failed, kept as a failure */
        {.op = CMT_OP_MALLOC, .tag = 4, .size = 8, .count = 1, .stack = 6}, /* a caller whose file has a space */
        {.op = CMT_OP_FREE, .arg_tag = 4, .count = 1},          /* no caller at all */
    };
    expect_events(&p, want, sizeof want / sizeof want[0]);
    cr_assert_eq(p.stats.other_records, 2);
}

/* The callers become stacks of one frame, in the files they name: each
 * caller once, in the order they come (frees' and failed calls' too). */
Test(text, mtrace_callers_are_kept_as_stacks)
{
    const char *path = scratch_path("callers.mtrace");
    write_text(path, "@ ./prog:[0x4005d4] + 0x1b4a460 0x10\n"
                     "@ [0x4005d8] + 0x1b4a480 0x20\n"
                     "@ /opt/my app/lib.so:(f-0x8)[0x7f00] - 0x1b4a460\n"
                     "@ ./prog:(main+0x1c)[0x4005d4] + 0x1b4a4a0 0x8\n"
                     "@ /opt/my app/lib.so:[0x7f10] + 0x1b4a4c0 0x8\n");
    char err[512];
    cmt_source *s = cmt_source_open(path, NULL, err, sizeof err);
    cr_assert_not_null(s, "%s", err);
    cmt_event ev;
    uint32_t stacks[4], n = 0;
    while (cmt_source_next(s, &ev) > 0)
        if (ev.tag)
            stacks[n++] = ev.stack;
    cr_assert_eq(n, 4);
    cr_assert(stacks[0] == 1 && stacks[1] == 2 && stacks[2] == 1 && stacks[3] == 4, "%u %u %u %u", stacks[0],
              stacks[1], stacks[2], stacks[3]);
    const cmt_sites *sites = cmt_source_sites(s);
    cr_assert_eq(cmt_sites_stacks(sites), 4);
    cr_assert_eq(cmt_sites_modules(sites), 2);
    cr_assert_str_eq(cmt_sites_module(sites, 1)->path, "./prog");
    cr_assert_str_eq(cmt_sites_module(sites, 2)->path, "/opt/my app/lib.so");
    static const cmt_frame want[] = {{0, 1, 0x4005d4}, {0, 0, 0x4005d8}, {0, 2, 0x7f00}, {0, 2, 0x7f10}};
    for (uint32_t k = 0; k < 4; k++) {
        const cmt_frame *f = cmt_sites_frame(sites, k + 1);
        cr_assert(f->caller == want[k].caller && f->module == want[k].module && f->offset == want[k].offset,
                  "stack %u", k + 1);
    }
    cmt_source_close(s);
}

Test(text, malformed_mtrace_records_name_their_line)
{
    const char *bad[] = {
        "@ ./prog:[0x4005d4] + 0x1b4a460",
        "@ ./prog:[0x4005d4] * 0x1b4a460 0x10",
        "@ ./prog:[0x4005d4] > 0x1b4a460 0x10",
        "@ ./prog:[0x4005d4] - zz",
        "x ./prog:[0x4005d4] + 0x1b4a460 0x10",
        "@ ./prog:[0x4005d4]+ 0x1b4a460 0x10",
    };
    expect_second_lines_bad("= Start", bad, sizeof bad / sizeof bad[0], CMT_FORMAT_MTRACE);
}

Test(text, auto_tells_dtrace_and_valgrind_apart)
{
    cr_assert_eq(parse_as("call-trace\t1\t\tmalloc\t8\t10\n", CMT_FORMAT_AUTO).stats.format, CMT_FORMAT_DTRACE);
    cr_assert_eq(parse_as("==1== Memcheck\n--1-- malloc(8) = 0x10\n", CMT_FORMAT_AUTO).stats.format,
                 CMT_FORMAT_VALGRIND);
}

/* ------------------------------------------------- memtrace and ops */

Test(text, memtrace_records_of_every_kind)
{
    parsed p = parse_as("==1== Memcheck, a memory error detector\n"
                        ">>> N 1000 16\n"
                        ">>> N 2000 8\n"
                        ">>> S 1000 4\n"
                        ">>> L 1012 4\n"     /* inside block 1: offset 12 */
                        ">>> M 2004 8\n"     /* runs 4 bytes past block 2 */
                        ">>> L 1016 4\n"     /* just past block 1: no block */
                        ">>> L 500 4\n"      /* below every block */
                        ">>> F 1000 0\n"
                        ">>> L 1004 4\n"     /* block 1 is gone */
                        ">>> F 3000 0\n"     /* never allocated */
                        ">>> N 2000 32\n",   /* block 2's free was missed */
                        CMT_FORMAT_AUTO);
    cr_assert_eq(p.rc, 0, "%s", p.err);
    cr_assert_eq(p.stats.format, CMT_FORMAT_MEMTRACE);
    const cmt_event want[] = {
        {.op = CMT_OP_MALLOC, .tag = 1, .size = 16, .count = 1},
        {.op = CMT_OP_MALLOC, .tag = 2, .size = 8, .count = 1},
        {.op = CMT_OP_STORE, .arg_tag = 1, .size = 4, .count = 1},
        {.op = CMT_OP_LOAD, .arg_tag = 1, .offset = 12, .size = 4, .count = 1},
        {.op = CMT_OP_MODIFY, .arg_tag = 2, .offset = 4, .size = 8, .count = 1},
        {.op = CMT_OP_FREE, .arg_tag = 1, .count = 1},
        {.op = CMT_OP_FREE, .arg_tag = 2, .count = 1},
        {.op = CMT_OP_MALLOC, .tag = 3, .size = 32, .count = 1},
    };
    expect_events(&p, want, sizeof want / sizeof want[0]);
    cr_assert_eq(p.stats.unmapped_accesses, 3);
    cr_assert_eq(p.stats.overrunning_accesses, 1);
    cr_assert_eq(p.stats.unknown_frees, 1);
    cr_assert_eq(p.stats.reused_live, 1);
    cr_assert_eq(p.stats.other_records, 1, "the valgrind line around the records");
    cr_assert_eq(p.events[4].arg_addr, 2000, "an access names its block's address");
}

Test(text, memtrace_finds_the_block_among_many)
{
    /* Blocks of 10 bytes every 16: each access must land in the right one
     * or in none, whatever the order blocks came and went in. */
    char *text = malloc(1 << 20);
    size_t len = 0;
    for (int i = 0; i < 500; i++)
        len += (size_t)sprintf(text + len, ">>> N %d 10\n", 4096 + 16 * ((i * 7919) % 500));
    for (int i = 0; i < 500; i += 2)
        len += (size_t)sprintf(text + len, ">>> F %d 0\n", 4096 + 16 * i);
    for (int a = 0; a < 16 * 500; a += 3)
        len += (size_t)sprintf(text + len, ">>> L %d 1\n", 4096 + a);
    write_text(scratch_path("many.memtrace"), text);
    free(text);
    char err[512];
    cmt_text_reader *t = cmt_text_open(scratch_path("many.memtrace"), NULL, err, sizeof err);
    cr_assert_not_null(t, "%s", err);
    cmt_event ev;
    uint64_t accesses = 0, want = 0;
    int rc;
    while ((rc = cmt_text_next(t, &ev)) > 0) {
        if (!cmt_op_accesses(ev.op))
            continue;
        accesses++;
        cr_assert_eq(ev.arg_addr % 32, 16, "only the odd blocks are live");
        cr_assert_lt(ev.offset, 10);
    }
    cr_assert_eq(rc, 0, "%s", cmt_text_error(t));
    for (int a = 0; a < 16 * 500; a += 3)
        want += (a / 16) % 2 == 1 && a % 16 < 10;
    cr_assert_eq(accesses, want);
    cr_assert_eq(cmt_text_stats_of(t)->unmapped_accesses, (uint64_t)(16 * 500 + 2) / 3 - want);
    cmt_text_close(t);
}

Test(text, ops_records_of_every_kind)
{
    parsed p = parse_as("# handle op address size\n"
                        "0 N 1000 16\n"
                        "1 N 1000 8\n"       /* the same address, another handle: both live */
                        "0 S 1008 4\n"
                        "1 L 1000 16\n"      /* runs past handle 1's 8 bytes */
                        "0 M 2000 4\n"       /* outside handle 0's block */
                        "7 L 1000 4\n"       /* no such handle */
                        "0 F 1000 0\n"
                        "0 L 1000 4\n"       /* handle 0 is gone */
                        "7 F 1000 0\n"
                        "1 F 1000 0\n",
                        CMT_FORMAT_AUTO);
    cr_assert_eq(p.rc, 0, "%s", p.err);
    cr_assert_eq(p.stats.format, CMT_FORMAT_OPS);
    const cmt_event want[] = {
        {.op = CMT_OP_MALLOC, .tag = 1, .size = 16, .count = 1},
        {.op = CMT_OP_MALLOC, .tag = 2, .size = 8, .count = 1},
        {.op = CMT_OP_STORE, .arg_tag = 1, .offset = 8, .size = 4, .count = 1},
        {.op = CMT_OP_LOAD, .arg_tag = 2, .size = 16, .count = 1},
        {.op = CMT_OP_FREE, .arg_tag = 1, .count = 1},
        {.op = CMT_OP_FREE, .arg_tag = 2, .count = 1},
    };
    expect_events(&p, want, sizeof want / sizeof want[0]);
    cr_assert_eq(p.stats.unmapped_accesses, 3);
    cr_assert_eq(p.stats.overrunning_accesses, 1);
    cr_assert_eq(p.stats.unknown_frees, 1);
    cr_assert_eq(p.stats.reused_live, 0, "handles, not addresses, name blocks");
}

Test(text, malformed_memtrace_and_ops_records_name_their_line)
{
    const char *bad_memtrace[] = {
        ">>> N 1000", ">>> X 1000 4", ">>> N 0 16", ">>> L 1000 4 extra", ">>> L x 4",
        ">>> N 99999999999999999999 4", ">>>L1000 4",
    };
    expect_second_lines_bad(">>> N 1 1", bad_memtrace, sizeof bad_memtrace / sizeof bad_memtrace[0],
                            CMT_FORMAT_MEMTRACE);
    const char *bad_ops[] = {
        "1 N 1000", "1 X 1000 4", "N 1000 4", "1 L 1000 4 extra", "-1 L 1000 4",
        "18446744073709551615 N 1000 4", "1 N 0 4", "1 L1000 4",
    };
    expect_second_lines_bad("0 N 1 1", bad_ops, sizeof bad_ops / sizeof bad_ops[0], CMT_FORMAT_OPS);
}

Test(text, accesses_in_the_text_format_read_and_print)
{
    parsed p = parse("malloc(24) = 0x1000<1>\n"
                     "store(0x1000, 8)\n"
                     "load(1000<1>+20, 4)\n"
                     "modify(0x1000+16, 16)\n"
                     "load(0x2000, 4)\n"
                     "load(0, 4)\n" /* NULL: no block (the fuzzer's find) */
                     "free(0x1000)\n",
                     true);
    cr_assert_eq(p.rc, 0, "%s", p.err);
    const cmt_event want[] = {
        {.op = CMT_OP_MALLOC, .tag = 1, .size = 24, .count = 1},
        {.op = CMT_OP_STORE, .arg_tag = 1, .size = 8, .count = 1},
        {.op = CMT_OP_LOAD, .arg_tag = 1, .offset = 20, .size = 4, .count = 1},
        {.op = CMT_OP_MODIFY, .arg_tag = 1, .offset = 16, .size = 16, .count = 1},
        {.op = CMT_OP_FREE, .arg_tag = 1, .count = 1},
    };
    expect_events(&p, want, sizeof want / sizeof want[0]);
    cr_assert_eq(p.stats.unmapped_accesses, 2);
    cr_assert_eq(p.stats.overrunning_accesses, 1);
    char line[CMT_EVENT_TEXT_MAX];
    cmt_format_event(line, &p.events[2]);
    cr_assert_str_eq(line, "load(1000<1>+20, 4)\n");
    cmt_format_event(line, &p.events[1]);
    cr_assert_str_eq(line, "store(1000<1>, 8)\n");
    expect_parse_error("malloc(8) = 0x10<1>\nload(0x10<2>, 4)\n", false, ":2: the tag does not match");
    expect_parse_error("malloc(8) = 0x10\nload(0x10+, 4)\n", false, ":2: can't parse");
    expect_parse_error("malloc(8) = 0x10\nstore(0x10) = 0x10\n", false, ":2: can't parse");
}

/* The 64 KiB limit holds wherever the line ends: inside the reader's
 * buffer (megabytes), at the end of the input, or past the limit; the
 * quoted line is cut to a readable length. */
Test(text, a_line_over_the_limit_is_refused_wherever_it_ends)
{
    static const char *const endings[] = {"\n", "", "\nfree(0x10)\n"};
    for (size_t i = 0; i < sizeof endings / sizeof endings[0]; i++) {
        size_t digits = 70000;
        char *text = malloc(digits + 64);
        size_t n = (size_t)sprintf(text, "malloc(");
        memset(text + n, '1', digits);
        sprintf(text + n + digits, ") = 0x10%s", endings[i]);
        parsed p = parse(text, false);
        free(text);
        cr_assert_eq(p.rc, -1, "ending %zu", i);
        cr_assert(strstr(p.err, ":1: line longer than 65536 bytes: malloc(1111"), "%s", p.err);
        cr_assert_lt(strlen(p.err), 200, "the line quoted in part: %s", p.err);
    }
    char *text = malloc(CMT_MAX_LINE + 64);
    size_t n = (size_t)sprintf(text, "malloc(8) = 0x10\n");
    memset(text + n, '#', CMT_MAX_LINE);
    strcpy(text + n + CMT_MAX_LINE, "\nfree(0x10)\n");
    parsed p = parse(text, false);
    free(text);
    cr_assert_eq(p.rc, 0, "a line of exactly the limit: %s", p.err);
    cr_assert_eq(p.n, 2);
}

/* The lines cmt_format_sites writes read back; lines that do not fit
 * the stacks before them are errors naming their line. */
Test(text, stack_lines_read_back_and_bad_ones_are_named)
{
    const char *path = scratch_path("stacks.trace");
    write_text(path, "module 1 0x7f0000 0abc /usr/lib/lib x.so\n"
                     "module 2 0x0 - ./prog\n"
                     "stack 1 0 1 0x10\n"
                     "stack 2 1 2 0x20\n"
                     "t1 s2 malloc(8) = 0x10<1>\n"
                     "free(0x10<1>)\n");
    char err[512];
    cmt_source *s = cmt_source_open(path, NULL, err, sizeof err);
    cr_assert_not_null(s, "%s", err);
    cmt_event ev;
    cr_assert_eq(cmt_source_next(s, &ev), 1, "%s", cmt_source_error(s));
    cr_assert_eq(ev.stack, 2);
    const cmt_sites *sites = cmt_source_sites(s);
    const cmt_module *m = cmt_sites_module(sites, 1);
    cr_assert(m && m->base == 0x7f0000 && m->build_id_len == 2 && m->build_id[0] == 0x0a && m->build_id[1] == 0xbc);
    cr_assert_str_eq(m->path, "/usr/lib/lib x.so");
    cr_assert_eq(cmt_sites_module(sites, 2)->build_id_len, 0);
    const cmt_frame *f = cmt_sites_frame(sites, 2);
    cr_assert(f->caller == 1 && f->module == 2 && f->offset == 0x20);
    cr_assert_eq(cmt_source_next(s, &ev), 1);
    cr_assert_eq(cmt_source_next(s, &ev), 0);
    cmt_source_close(s);

    static const char *const bad[] = {
        "stack 2 0 0 0x10\n",                     /* not the next number */
        "stack 1 1 0 0x10\n",                     /* its caller after it */
        "stack 1 0 1 0x10\n",                     /* a module not named */
        "module 1 0x0 - ./p\nmodule 1 0x0 - ./q\n", /* the same number twice */
        "module 1 0x0 zz ./p\n",                  /* a build-id that is not hex */
        "malloc(8) = 0x10\nt1 s1 malloc(8) = 0x20\n", /* a stack not named */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_text(path, bad[i]);
        s = cmt_source_open(path, NULL, err, sizeof err);
        cr_assert_not_null(s, "%s", err);
        int rc;
        while ((rc = cmt_source_next(s, &ev)) > 0)
            ;
        cr_assert_eq(rc, -1, "case %zu read", i);
        cr_assert(strstr(cmt_source_error(s), "can't parse"), "case %zu: %s", i, cmt_source_error(s));
        cmt_source_close(s);
    }
}
