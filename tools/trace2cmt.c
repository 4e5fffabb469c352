/*
 * trace2cmt - convert a text allocation trace into the compact .cmt format.
 */
#include "cli.h"

#include <cmt.h>

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const PROG = "trace2cmt";

static void usage(void)
{
    printf("Usage: %s [OPTION]... [INPUT|-]\n"
           "Convert an allocation trace (malloc(8) = 81d220b48<1> ..., or one of the\n"
           "formats below, or a .cmt file to compress anew or repair) into the compact\n"
           ".cmt format.  Reads standard input when INPUT is - or absent; zstd-compressed\n"
           "input is read as it is.\n"
           "\n"
           "  -f, --format F     auto (default: decided from the first line), text, kdump,\n"
           "                     valgrind (--trace-malloc=yes output), dtrace (CHERI\n"
           "                     call-trace logs), mtrace (glibc MALLOC_TRACE files),\n"
           "                     memtrace (rmalloc's >>> N|F|L|S|M addr size), ops\n"
           "                     (rmalloc's handle N|F|L|S|M addr size), cmt0 (the\n"
           "                     original cmt tools' binary files, also found by auto)\n"
           "      --pid N        valgrind: the process to read from a log of several\n"
           "                     (default: the one with most calls)\n"
           "  -o, --output FILE  write to FILE (default: standard output); an existing\n"
           "                     FILE is replaced only when the whole trace converted\n"
           "  -s, --text         write the canonical text trace (with tags) instead\n"
           "      --addresses    keep the input's addresses in the .cmt file too (for\n"
           "                     cmtoverhead; -s prints them)\n"
           "  -l, --level N      zstd compression level, 1 to 22 (default %d)\n"
           "      --raw          write the stream uncompressed\n"
           "      --seek-every N a seek point every N events, where analyses start\n"
           "                     on another core (default: 8388608 events and 256 KiB\n"
           "                     of file apart; 0: none)\n"
           "      --strict       a free or realloc of an address that is not live is\n"
           "                     an error (default: counted and skipped)\n"
           "      --salvage      keep every whole event before damage (a file cut short,\n"
           "                     a corrupt block, a bad line) instead of failing\n"
           "  -q, --quiet        no summary line on standard error\n"
           "  -h, --help         show this help\n"
           "  -V, --version      show the version\n"
           "\n"
           "On success prints a summary to standard error: events, bytes written,\n"
           "bytes per event.  Exit status: 0 success, 1 bad input or I/O error,\n"
           "2 usage error.  See docs/trace2cmt.md and docs/FORMAT.md.\n",
           PROG, CMT_CONVERT_LEVEL);
}

typedef struct options {
    const char *input;
    const char *output;
    bool text;
    bool addresses;
    int level;
    long seek_every; /* -1: the writer's default */
    bool quiet;
    bool salvage;
    cmt_text_options text_options;
} options;

static options parse_options(int argc, char **argv)
{
    enum { OPT_RAW = 256, OPT_STRICT, OPT_PID, OPT_SALVAGE, OPT_ADDRESSES, OPT_SEEK_EVERY };
    static const struct option longopts[] = {
        {"format", required_argument, NULL, 'f'}, {"pid", required_argument, NULL, OPT_PID},
        {"output", required_argument, NULL, 'o'}, {"text", no_argument, NULL, 's'},
        {"level", required_argument, NULL, 'l'},  {"raw", no_argument, NULL, OPT_RAW},
        {"strict", no_argument, NULL, OPT_STRICT}, {"quiet", no_argument, NULL, 'q'},
        {"salvage", no_argument, NULL, OPT_SALVAGE}, {"addresses", no_argument, NULL, OPT_ADDRESSES},
        {"seek-every", required_argument, NULL, OPT_SEEK_EVERY},
        {"help", no_argument, NULL, 'h'},         {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    options o = {.level = CMT_CONVERT_LEVEL, .seek_every = -1};
    int c;
    while ((c = getopt_long(argc, argv, "f:o:sl:qhV", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': o.text_options.format = cli_parse_format(PROG, optarg); break;
        case OPT_PID: o.text_options.pid = (uint64_t)cli_parse_long(PROG, "--pid", optarg, 1, LONG_MAX); break;
        case 'o': o.output = optarg; break;
        case 's': o.text = true; break;
        case 'l': o.level = (int)cli_parse_long(PROG, "--level", optarg, 1, 22); break;
        case OPT_RAW: o.level = 0; break;
        case OPT_STRICT: o.text_options.strict = true; break;
        case OPT_SALVAGE: o.salvage = true; break;
        case OPT_ADDRESSES: o.addresses = true; break;
        case OPT_SEEK_EVERY: o.seek_every = cli_parse_long(PROG, "--seek-every", optarg, 0, LONG_MAX); break;
        case 'q': o.quiet = true; break;
        case 'h': usage(); exit(EXIT_OK);
        case 'V': printf("%s %s\n", PROG, cmt_version_string()); exit(EXIT_OK);
        default: cli_bad_option(PROG);
        }
    }
    if (argc - optind > 1)
        cli_usage_error(PROG, "one input at a time");
    if (o.seek_every > 0 && (o.addresses || o.level == 0))
        cli_usage_error(PROG, o.addresses ? "--seek-every: a file with addresses has no seek points"
                                          : "--seek-every: a raw file has no seek points");
    o.input = optind < argc ? argv[optind] : "-";
    return o;
}

/* Copies every event from SOURCE to WRITER or, with a NULL writer, as text
 * to OUT; *EVENTS gets their count.  With ADDRESSES, a SOURCE without them
 * is an error at its first block (rather than a file of made-up 0s).
 * Returns 0 or -1 after printing the error. */
static int convert(cmt_source *source, cmt_writer *writer, cmt_output *out, bool addresses, uint64_t *events)
{
    cli_progress progress;
    cli_progress_init(&progress, PROG, source);
    cmt_event ev;
    int rc;
    uint64_t n = 0;
    uint32_t stacks = 0, modules = 0; /* the source's stacks and modules the output has */
    while ((rc = cmt_source_next(source, &ev)) > 0) {
        if (addresses && ev.tag && !cmt_source_has_addresses(source)) {
            cli_progress_done(&progress);
            fprintf(stderr, "%s: %s: --addresses: the input keeps no addresses (a .cmt file made without them, "
                            "or the original tools' format)\n", PROG, cmt_source_name(source));
            return -1;
        }
        if (ev.stack > stacks) { /* the stacks, as the source names them, before their first block */
            if (writer) {
                rc = cmt_writer_copy_sites(writer, cmt_source_sites(source), ev.stack);
                stacks = ev.stack;
            } else {
                rc = cmt_format_sites(out, cmt_source_sites(source), ev.stack, &modules, &stacks);
            }
            if (rc < 0)
                break;
        }
        if (writer) {
            rc = cmt_writer_write(writer, &ev);
        } else {
            char line[CMT_EVENT_TEXT_MAX];
            rc = cmt_output_write(out, line, cmt_format_event(line, &ev));
        }
        if (rc < 0)
            break;
        if ((++n & 0xffff) == 0)
            cli_progress_update(&progress, n);
    }
    cli_progress_done(&progress);
    *events = n;
    if (rc < 0) {
        const char *msg = writer ? cmt_writer_error(writer) : cmt_output_error(out);
        fprintf(stderr, "%s: %s\n", PROG, *cmt_source_error(source) ? cmt_source_error(source) : msg);
        return -1;
    }
    if (writer && cmt_writer_finish(writer) < 0) {
        fprintf(stderr, "%s: %s\n", PROG, cmt_writer_error(writer));
        return -1;
    }
    return 0;
}

/* The summary line: events, bytes, what SOURCE was read as, and for a
 * text trace what was skipped. */
static void print_summary(const options *o, const cmt_source *source, uint64_t events, uint64_t bytes)
{
    const cmt_text_reader *text = cmt_source_text(source);
    const cmt_text_stats *stats = text ? cmt_text_stats_of(text) : NULL;
    double per_event = events ? (double)bytes / (double)events : 0.0;
    fprintf(stderr, "%s: %llu events, %llu bytes, %.3f bytes/event", PROG, (unsigned long long)events,
            (unsigned long long)bytes, per_event);
    if (o->text)
        fprintf(stderr, " (text)");
    else if (o->level == 0)
        fprintf(stderr, " (raw)");
    else
        fprintf(stderr, " (zstd -%d)", o->level);
    fprintf(stderr, ", read as %s", cmt_source_format_name(source));
    if (!stats) {
        fputc('\n', stderr);
        return;
    }
    if (stats->format == CMT_FORMAT_VALGRIND && stats->processes > 1)
        fprintf(stderr, " (process %llu of %llu%s)", (unsigned long long)stats->pid,
                (unsigned long long)stats->processes, o->text_options.pid ? "" : ", the one with most calls");
    if (stats->other_process)
        fprintf(stderr, "; %llu calls of other processes skipped", (unsigned long long)stats->other_process);
    if (stats->other_records)
        fprintf(stderr, "; %llu records of other kinds skipped", (unsigned long long)stats->other_records);
    if (stats->unknown_frees)
        fprintf(stderr, "; %llu frees of addresses not live skipped",
                (unsigned long long)stats->unknown_frees);
    if (stats->unknown_reallocs)
        fprintf(stderr, "; %llu reallocs of addresses not live read as realloc(NULL, n)",
                (unsigned long long)stats->unknown_reallocs);
    if (stats->reused_live)
        fprintf(stderr, "; %llu %s while live: their earlier blocks taken as freed",
                (unsigned long long)stats->reused_live,
                stats->format == CMT_FORMAT_OPS ? "handles allocated" : "addresses returned");
    if (stats->unmapped_accesses)
        fprintf(stderr, "; %llu accesses outside every live block skipped",
                (unsigned long long)stats->unmapped_accesses);
    if (stats->overrunning_accesses)
        fprintf(stderr, "; %llu accesses run past their block's end (kept; a replay clips them)",
                (unsigned long long)stats->overrunning_accesses);
    fputc('\n', stderr);
}

int main(int argc, char **argv)
{
    options o = parse_options(argc, argv);
    cmt_output_remove_on_signals();
    char err[512];
    cmt_source *source = cmt_source_open(o.input, &o.text_options, err, sizeof err);
    if (!source) {
        fprintf(stderr, "%s: %s\n", PROG, err);
        return EXIT_DATA;
    }
    if (o.salvage)
        cmt_source_salvage(source);
    (void)cmt_source_read_ahead(source); /* reading on one core, encoding on the other; or both on one */
    cmt_output *out = cmt_output_open(o.output, err, sizeof err);
    if (!out) {
        fprintf(stderr, "%s: %s\n", PROG, err);
        cmt_source_close(source);
        return EXIT_DATA;
    }
    if (!o.text && cmt_output_is_terminal(out)) {
        fprintf(stderr, "%s: not writing binary data to a terminal; use -o FILE, a redirection, "
                        "or -s for text\n", PROG);
        cmt_output_abort(out);
        cmt_source_close(source);
        return EXIT_USAGE;
    }
    cmt_writer *writer = NULL;
    if (!o.text && (!(writer = cmt_writer_open(out, o.level, err, sizeof err)) ||
                    (o.addresses && cmt_writer_keep_addresses(writer) < 0) ||
                    (o.seek_every >= 0 && cmt_writer_seek_every(writer, (uint64_t)o.seek_every) < 0))) {
        fprintf(stderr, "%s: %s\n", PROG, writer ? cmt_writer_error(writer) : err);
        cmt_writer_close(writer);
        cmt_output_abort(out);
        cmt_source_close(source);
        return EXIT_DATA;
    }
    uint64_t events = 0;
    int rc = convert(source, writer, out, o.addresses, &events);
    uint64_t bytes = cmt_output_bytes(out);
    cmt_writer_close(writer);
    if (rc == 0 && cmt_output_commit(out, err, sizeof err) < 0) {
        fprintf(stderr, "%s: %s\n", PROG, err);
        rc = -1;
    } else if (rc < 0) {
        cmt_output_abort(out);
    }
    if (rc == 0 && !o.quiet)
        print_summary(&o, source, events, bytes);
    if (rc == 0)
        cli_warn_salvaged(PROG, source, events);
    cmt_source_close(source);
    return rc == 0 ? EXIT_OK : EXIT_DATA;
}
