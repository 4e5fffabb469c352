/*
 * cli.c - see cli.h.
 */
#include "cli.h"
#include "cmt_internal.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

void cli_usage_error(const char *prog, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    cli_bad_option(prog);
}

void cli_bad_option(const char *prog)
{
    fprintf(stderr, "Try '%s --help' for more information.\n", prog);
    exit(EXIT_USAGE);
}

long cli_parse_long(const char *prog, const char *option, const char *value, long min, long max)
{
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno || end == value || *end || v < min || v > max)
        cli_usage_error(prog, "%s takes a whole number from %ld to %ld, not '%s'", option, min, max,
                        value);
    return v;
}

double cli_parse_fraction(const char *prog, const char *option, const char *value)
{
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    if (errno || end == value || *end || !(v >= 0 && v <= 1))
        cli_usage_error(prog, "%s takes a fraction from 0 to 1, not '%s'", option, value);
    return v;
}

void cli_progress_init(cli_progress *p, const char *prog, const cmt_source *source)
{
    p->enabled = isatty(STDERR_FILENO);
    p->shown = false;
    p->prog = prog;
    p->source = source;
    p->last = cmti_seconds(CLOCK_MONOTONIC);
}

void cli_progress_update(cli_progress *p, uint64_t events)
{
    if (!p->enabled)
        return;
    double now = cmti_seconds(CLOCK_MONOTONIC);
    if (now - p->last < 0.25)
        return;
    p->last = now;
    p->shown = true;
    uint64_t done = 0, total = 0;
    if (p->source)
        cmt_source_progress(p->source, &done, &total);
    if (total)
        fprintf(stderr, "\r%s: %llu events, %.0f%% of %s...", p->prog, (unsigned long long)events,
                100.0 * (double)done / (double)total, cmt_source_name(p->source));
    else
        fprintf(stderr, "\r%s: %llu events...", p->prog, (unsigned long long)events);
}

void cli_progress_done(cli_progress *p)
{
    if (p->shown)
        fprintf(stderr, "\r\033[K");
}

cmt_format cli_parse_format(const char *prog, const char *name)
{
    cmt_format format;
    if (cmt_format_from_name(name, &format) == 0)
        return format;
    char names[256] = "";
    size_t n = 0;
    for (int f = 0; f < CMT_FORMAT_COUNT; f++)
        n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", f ? ", " : "", cmt_format_name((cmt_format)f));
    cli_usage_error(prog, "no format '%s' (%s)", name, names);
}

void cli_warn_salvaged(const char *prog, const cmt_source *source, uint64_t events)
{
    if (cmt_source_damaged(source))
        fprintf(stderr, "%s: warning: %s; salvaged the %llu events before it\n", prog, cmt_source_error(source),
                (unsigned long long)events);
}

void cli_parse_trace_options(const char *prog, int argc, char **argv, void (*usage)(void), unsigned takes,
                             cli_trace_options *o)
{
    enum { OPT_PID = 256, OPT_JSON, OPT_SUMMARY, OPT_SALVAGE, OPT_SITES, OPT_FLAMEGRAPH, OPT_WEIGHT, OPT_TOP };
    static const struct option longopts[] = {
        {"format", required_argument, NULL, 'f'}, {"pid", required_argument, NULL, OPT_PID},
        {"output", required_argument, NULL, 'o'}, {"json", no_argument, NULL, OPT_JSON},
        {"summary", no_argument, NULL, OPT_SUMMARY}, {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},      {"salvage", no_argument, NULL, OPT_SALVAGE},
        {"sites", no_argument, NULL, OPT_SITES},  {"flamegraph", required_argument, NULL, OPT_FLAMEGRAPH},
        {"weight", required_argument, NULL, OPT_WEIGHT}, {"top", required_argument, NULL, OPT_TOP},
        {NULL, 0, NULL, 0},
    };
    *o = (cli_trace_options){.weight = CMT_WEIGHT_ALLOCATED, .top = 10};
    const char *needs_sites = NULL; /* an option that goes with --sites */
    int c;
    while ((c = getopt_long(argc, argv, "f:o:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': o->text.format = cli_parse_format(prog, optarg); break;
        case OPT_PID: o->text.pid = (uint64_t)cli_parse_long(prog, "--pid", optarg, 1, LONG_MAX); break;
        case 'o': o->output = optarg; break;
        case OPT_JSON: o->json = true; break;
        case OPT_SALVAGE: o->salvage = true; break;
        case OPT_SUMMARY:
            if (!(takes & CLI_SUMMARY))
                cli_usage_error(prog, "unknown option '--summary'");
            o->summary = true;
            break;
        case OPT_SITES: o->sites = true; break;
        case OPT_FLAMEGRAPH: o->flamegraph = optarg; needs_sites = "--flamegraph"; break;
        case OPT_TOP:
            o->top = (unsigned)cli_parse_long(prog, "--top", optarg, 1, 1000000);
            needs_sites = "--top";
            break;
        case OPT_WEIGHT:
            if (cmt_site_weight_from_name(optarg, &o->weight) < 0)
                cli_usage_error(prog, "--weight takes peak, allocated, allocations, temporary or leaked, not '%s'",
                                optarg);
            needs_sites = "--weight";
            break;
        case 'h': usage(); exit(EXIT_OK);
        case 'V': printf("%s %s\n", prog, cmt_version_string()); exit(EXIT_OK);
        default: cli_bad_option(prog);
        }
    }
    if (argc - optind > 1)
        cli_usage_error(prog, "one input at a time");
    if (!(takes & CLI_SITES) && (o->sites || needs_sites))
        cli_usage_error(prog, "unknown option '%s'", o->sites ? "--sites" : needs_sites);
    if (needs_sites && !o->sites)
        cli_usage_error(prog, "%s goes with --sites", needs_sites);
    o->input = optind < argc ? argv[optind] : "-";
}

static void show_progress(void *context, uint64_t events)
{
    cli_progress_update(context, events);
}

cmt_progress cli_progress_callback(cli_progress *p)
{
    return (cmt_progress){show_progress, p};
}

int cli_run_analysis(const char *prog, const cli_trace_options *o, cli_analysis analyse)
{
    char err[1024];
    cmt_output_remove_on_signals();
    cmt_source *source = cmt_source_open(o->input, &o->text, err, sizeof err);
    if (!source) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return EXIT_DATA;
    }
    if (o->salvage)
        cmt_source_salvage(source);
    cmt_output *out = cmt_output_open(o->output, err, sizeof err);
    if (!out) {
        fprintf(stderr, "%s: %s\n", prog, err);
        cmt_source_close(source);
        return EXIT_DATA;
    }
    cli_progress bar;
    cli_progress_init(&bar, prog, source);
    cmt_progress progress = cli_progress_callback(&bar);
    int rc = analyse(source, out, o, &progress, err, sizeof err);
    cli_progress_done(&bar);
    if (rc == 0)
        rc = cmt_output_commit(out, err, sizeof err);
    else
        cmt_output_abort(out);
    if (rc < 0)
        fprintf(stderr, "%s: %s\n", prog, err);
    else if (cmt_source_damaged(source))
        fprintf(stderr, "%s: warning: %s; the output covers what came before it\n", prog, cmt_source_error(source));
    cmt_source_close(source);
    return rc == 0 ? EXIT_OK : EXIT_DATA;
}
