/*
 * cli.h - what the command-line tools share: exit codes, number options,
 * a progress line on stderr (only when stderr is a terminal), and the
 * options and the run of the analysis tools.
 */
#ifndef CMT_CLI_H
#define CMT_CLI_H

#include <analysis.h>

#include <stdbool.h>
#include <stdint.h>

enum { EXIT_OK = 0, EXIT_DATA = 1, EXIT_USAGE = 2 };

/* Prints "PROG: MESSAGE" and the hint to try --help; exits with 2. */
void cli_usage_error(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

/* After getopt has said what is wrong with an option (unknown, or its
 * argument missing): the hint, and exit 2, without saying it twice. */
void cli_bad_option(const char *prog) __attribute__((noreturn));

/* Parses an integer option value in [MIN, MAX] or exits with a usage error. */
long cli_parse_long(const char *prog, const char *option, const char *value, long min, long max);

/* Parses a fraction in [0, 1] or exits with a usage error. */
double cli_parse_fraction(const char *prog, const char *option, const char *value);

/* A progress line that redraws itself at most a few times a second: the
 * events so far and, where the source is a file, how much of it that is. */
typedef struct cli_progress {
    bool enabled;
    bool shown;
    const char *prog;
    const cmt_source *source; /* NULL: events only */
    double last;
} cli_progress;

void cli_progress_init(cli_progress *p, const char *prog, const cmt_source *source);

/* Called often (every few thousand events): redraws when due. */
void cli_progress_update(cli_progress *p, uint64_t events);

/* Clears the line. */
void cli_progress_done(cli_progress *p);

/* The library's progress callback that updates P. */
cmt_progress cli_progress_callback(cli_progress *p);


/* -f NAME: the format called NAME, or a usage error listing them. */
cmt_format cli_parse_format(const char *prog, const char *name);

/* After a salvaging read of SOURCE that met damage: a warning saying what
 * it was and how many events (EVENTS) came before it. */
void cli_warn_salvaged(const char *prog, const cmt_source *source, uint64_t events);

/* ------------------------------------------------------ analysis tools */

/* What the analysis tools take: [-f F] [--pid N] [-o FILE] [--json]
 * [--summary] [INPUT|-]. */
typedef struct cli_trace_options {
    const char *input;
    const char *output;
    bool json;
    bool summary;
    /* cmtstat's: --sites, --flamegraph FILE, --weight W, --top N */
    bool sites;
    const char *flamegraph;
    cmt_site_weight weight;
    unsigned top;
    bool salvage;
    cmt_text_options text;
} cli_trace_options;

/* The help lines of the options every analysis tool takes. */
#define CLI_TRACE_OPTIONS_HELP                                                                     \
    "  -f, --format F     the input's text format (default auto; see trace2cmt)\n"                 \
    "      --pid N        valgrind: the process to read\n"                                         \
    "  -o, --output FILE  write to FILE (default: standard output), whole or not at all\n"         \
    "      --salvage      read up to damage (a file cut short, a bad line) and stop\n"             \
    "                     there, with a warning, instead of failing\n"                             \
    "  -h, --help         show this help\n"                                                        \
    "  -V, --version      show the version\n"

/* The options beyond the common ones a tool takes. */
enum { CLI_SUMMARY = 1, CLI_SITES = 2 };

/* Parses ARGV into O; -h calls USAGE and exits; --summary is an option
 * only with CLI_SUMMARY in TAKES, --sites and what goes with it only with
 * CLI_SITES. */
void cli_parse_trace_options(const char *prog, int argc, char **argv, void (*usage)(void), unsigned takes,
                             cli_trace_options *o);

/* An analysis from the source to the output; 0, or -1 with a message. */
typedef int (*cli_analysis)(cmt_source *source, cmt_output *out, const cli_trace_options *o,
                            const cmt_progress *progress, char *err, size_t errlen);

/* Opens O's input and output, runs ANALYSE with a progress line on a
 * terminal, and keeps the output only if it succeeded.  Returns the exit
 * status. */
int cli_run_analysis(const char *prog, const cli_trace_options *o, cli_analysis analyse);

#endif /* CMT_CLI_H */
