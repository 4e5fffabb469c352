/*
 * cmtoverhead - annotate a trace that has addresses (cmtreplay -v output)
 * with the heap's layout around each block and the pages it costs (the
 * original overhead.py).
 */
#include "cli.h"

#include <stdio.h>

static const char *const PROG = "cmtoverhead";

static void usage(void)
{
    printf("Usage: %s [OPTION]... [INPUT|-]\n"
           "Annotate a trace with addresses, typically `cmtreplay -a ALLOCATOR -v`\n"
           "output, with each block's neighbours, the gaps to them, its 4 KiB pages and\n"
           "how many pages the working set (pages holding any live byte) gained or lost:\n"
           "\n"
           "  malloc(20) = 81d2899a0<8>                         # prev 81d289980, gap 0, next 81d28ba20, gap 8300, pages [8508041, 8508041], 0 more pages\n"
           "  free(81d2899a0<8>)                                # 20 bytes, allocated 2 lines ago, prev 81d289980, gap 0, next 81d28ba20, gap 8300, pages [8508041-8508041], 0 fewer pages\n"
           "\n"
           "A missing neighbour is prev 0 (next 0), gap -1.\n"
           "\n"
           CLI_TRACE_OPTIONS_HELP
           "\n"
           "Exit status: 0 success, 1 bad input (a .cmt file: it keeps no addresses)\n"
           "or I/O error, 2 usage error.  See docs/cmtoverhead.md.\n",
           PROG);
}

static int analyse(cmt_source *source, cmt_output *out, const cli_trace_options *o,
                   const cmt_progress *progress, char *err, size_t errlen)
{
    (void)o;
    return cmt_annotate_overhead(source, out, progress, err, errlen);
}

int main(int argc, char **argv)
{
    cli_trace_options o;
    cli_parse_trace_options(PROG, argc, argv, usage, 0, &o);
    if (o.json)
        cli_usage_error(PROG, "no --json: the output is the annotated trace");
    return cli_run_analysis(PROG, &o, analyse);
}
