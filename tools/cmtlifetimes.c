/*
 * cmtlifetimes - annotate a trace with how long each block lived, or sum
 * it up (the original lifetimes.py and lifetimes-summary.sh).
 */
#include "cli.h"

#include <stdio.h>

static const char *const PROG = "cmtlifetimes";

static void usage(void)
{
    printf("Usage: %s [OPTION]... [INPUT|-]\n"
           "Annotate every free and realloc of a trace (.cmt or text, any format\n"
           "trace2cmt reads) with the size of the block it released and how many\n"
           "lines before it was allocated:\n"
           "\n"
           "  free(81d3b83a0<6656>)                             # 16 bytes, allocated 1 lines ago\n"
           "\n"
           "      --summary      instead, count the blocks that died at each lifetime and\n"
           "                     size, most frequent first (count, lifetime, size)\n"
           "      --json         the summary as JSON\n"
           CLI_TRACE_OPTIONS_HELP
           "\n"
           "Exit status: 0 success, 1 bad input or I/O error, 2 usage error.\n"
           "See docs/cmtlifetimes.md.\n",
           PROG);
}

static int analyse(cmt_source *source, cmt_output *out, const cli_trace_options *o,
                   const cmt_progress *progress, char *err, size_t errlen)
{
    if (!o->summary)
        return cmt_annotate_lifetimes(source, out, progress, err, errlen);
    return cmt_lifetimes_summary(source, out, o->json, progress, err, errlen);
}

int main(int argc, char **argv)
{
    cli_trace_options o;
    cli_parse_trace_options(PROG, argc, argv, usage, CLI_SUMMARY, &o);
    if (o.json && !o.summary)
        cli_usage_error(PROG, "--json goes with --summary");
    return cli_run_analysis(PROG, &o, analyse);
}
