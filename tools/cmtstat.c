/*
 * cmtstat - a trace's statistics at a glance: calls, live bytes and their
 * peak, sizes, lifetimes, temporaries, leaks, macro and micro lifetimes.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const char *const PROG = "cmtstat";

static void usage(void)
{
    printf("Usage: %s [OPTION]... [INPUT|-]\n"
           "Print the statistics of a trace (.cmt or text, any format trace2cmt reads):\n"
           "events by kind, bytes allocated, the peak of live bytes and blocks and when\n"
           "it came, blocks never freed, temporary allocations (freed before any other\n"
           "allocation), and histograms of sizes, lifetimes (in events), macro lifetime\n"
           "(the share of the trace a block lived through) and, for traces with\n"
           "accesses, micro lifetime (its own accesses over all events in its life).\n"
           "\n"
           "      --json         one JSON object\n"
           "      --sites        the call sites instead, of a trace recorded with\n"
           "                     cmtrecord --stacks: the top sites by bytes live at the\n"
           "                     peak, bytes allocated, allocations, temporary\n"
           "                     allocations and bytes never freed, each with its\n"
           "                     function, file and line (with --json: every site)\n"
           "      --top N        sites in each list (default 10)\n"
           "      --flamegraph FILE  with --sites: the stacks, folded (flamegraph.pl,\n"
           "                     speedscope, inferno), weighed by --weight; drawn\n"
           "                     as a flame graph if FILE ends in .svg\n"
           "      --weight W     peak, allocated (default), allocations, temporary\n"
           "                     or leaked\n"
           CLI_TRACE_OPTIONS_HELP
           "\n"
           "Exit status: 0 success, 1 bad input or I/O error, 2 usage error.\n"
           "See docs/cmtstat.md.\n",
           PROG);
}

static int analyse(cmt_source *source, cmt_output *out, const cli_trace_options *o,
                   const cmt_progress *progress, char *err, size_t errlen)
{
    if (o->sites) {
        cmt_sites_options options = {.json = o->json, .top = o->top, .weight = o->weight,
                                     .flamegraph = o->flamegraph};
        return cmt_sites_report(source, out, &options, progress, err, errlen);
    }
    cmt_trace_stats stats;
    if (cmt_stats_read(source, &stats, progress, err, errlen) < 0)
        return -1;
    cmt_stats_print(out, cmt_source_name(source), &stats, o->json);
    return 0; /* a failed write fails the output's commit */
}

int main(int argc, char **argv)
{
    cli_trace_options o;
    cli_parse_trace_options(PROG, argc, argv, usage, CLI_SITES, &o);
    return cli_run_analysis(PROG, &o, analyse);
}
