/*
 * cmtreplay - replay a trace against allocators and report their cost, as
 * a table, JSON, or (--compare) pictures and a web page.
 */
#include "replay_report.h"
#include "cli.h"
#include "cmt_internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const PROG = "cmtreplay";

#define MAX_ALLOCATORS 16

static void usage(void)
{
    printf("Usage: %s [OPTION]... INPUT|-\n"
           "Replay a trace (.cmt, or text in any format trace2cmt reads) against an\n"
           "allocator and report what it cost in time and memory.\n"
           "\n"
           "  -a, --allocator NAME  system (default), jemalloc, rmalloc; tcmalloc and mimalloc\n"
           "                        where installed, and preload:LIBRARY.so for any library\n"
           "                        that replaces malloc (each preloaded into a process\n"
           "                        of its own), plugin:LIBRARY.so for one exporting the\n"
           "                        vtable of cmt_allocator.h; a comma-separated list or 'all' replays\n"
           "                        against each in a fresh process and prints them\n"
           "                        side by side; 'list' lists them\n"
           "  -v, --verbose         print the trace with the replaying allocator's\n"
           "                        pointers (the report then goes to standard error)\n"
           "  -o, --output FILE     write the -v trace to FILE instead of standard output\n"
           "      --report FILE     write the report to FILE\n"
           "      --json            write the report as JSON\n"
           "      --touch=all|page|none  write every allocated byte (all, the default),\n"
           "                        a byte a page (page, as memory_replay does: the\n"
           "                        pages resident without writing them all), or none\n"
           "      --no-touch        --touch=none\n"
           "  -r, --repeat N        each replay N times, each in a fresh process: the\n"
           "                        median by time, with the spread\n"
           "      --serial          replay a trace's threads on one thread, every event\n"
           "                        in the recorded order (default: a thread for each)\n"
           "      --pace            keep the recorded gaps between calls, where the\n"
           "                        trace has times (cmtrecord, dtrace, kdump -T): a\n"
           "                        thread that is early sleeps, off the clock\n"
           "      --window N        no thread runs an event more than N events (of the\n"
           "                        recorded order) ahead of the earliest not yet run,\n"
           "                        so that the blocks live at once are the recorded\n"
           "                        ones (default 64; 0: only the hand-offs wait)\n"
           "      --salvage         replay up to damage in the trace (a file cut short,\n"
           "                        a corrupt block) and report that far, with a warning\n"
           "      --stop-on-failure stop at the first allocation that fails in the replay\n"
           "                        though it succeeded when traced (default: count it,\n"
           "                        go on without the block, say so and exit 1)\n"
           "      --allow-failures  such failures are expected: report them, exit 0\n"
           "      --timeline FILE   write event, live bytes and footprint every N events\n"
           "                        to FILE (FILE.NAME for each of several allocators)\n"
           "      --timeline-every N  the N of --timeline (default 1000; with --compare,\n"
           "                        a 2000th of the trace)\n"
           "      --compare DIR     replay against every allocator (or those of -a) and\n"
           "                        write DIR/index.html: memory over time against the\n"
           "                        optimum, the size and lifetime histograms (PNG and\n"
           "                        SVG, drawn by gnuplot) and the numbers\n"
           "\n"
           "rmalloc:\n"
           "      --pinned F        lock this fraction of the blocks (0 to 1) for their\n"
           "                        whole life\n"
           "      --no-compact      never move blocks\n"
           "      --capacity BYTES  the heap's capacity (default 16 GiB of address space)\n"
           "      --maxmem          the max-memory experiment: the smallest rmalloc heap\n"
           "                        the trace replays in, with and without compaction,\n"
           "                        beside the optimum and system's and jemalloc's peaks\n"
           "  -h, --help            show this help\n"
           "  -V, --version         show the version\n"
           "\n"
           "Exit status: 0 success; 1 bad trace, I/O error, or allocations that failed in\n"
           "the replay but not when traced (without --allow-failures); 2 usage error.\n"
           "See docs/cmtreplay.md.\n",
           PROG);
}

typedef struct options {
    const char *input;
    const cmt_allocator *allocators[MAX_ALLOCATORS];
    size_t nallocators;
    bool verbose;
    const char *output;
    const char *report;
    bool json;
    cmt_touch touch;
    const char *timeline;
    uint64_t timeline_every;
    cmt_rmalloc_settings rmalloc; /* --pinned, --no-compact, --capacity */
    char rmalloc_settings[128];   /* ... as the settings rmalloc's create reads */
    bool maxmem;
    const char *compare;
    bool allocators_given, every_given;
    bool salvage, stop_on_failure, allow_failures, serial, pace;
    uint64_t window; /* --window: 0 unbounded */
    const char *rmalloc_option; /* the last rmalloc-only option given, for the check that rmalloc is named */
    long repetitions;            /* -r */
    int child_fd;                /* --replay-child: a replay in a preloaded process, its report to this fd */
    const char *child_allocator; /* ... under this name */
} options;

/* The vtables made for the preload and plugin allocators named on the
 * command line (options point here). */
static cmt_allocator made[MAX_ALLOCATORS];
static size_t nmade;

/* Appends A, one of these, to O's allocators. */
static void add_made(options *o, cmt_allocator a)
{
    made[nmade] = a;
    o->allocators[o->nallocators++] = &made[nmade++];
}

/* The command line as given, for a replay in a process of its own. */
static char **command_line;
static int command_words;

static void list_allocators(void)
{
    for (size_t i = 0; cmt_allocators[i]; i++)
        printf("%-10s %s\n", cmt_allocators[i]->name, cmt_allocators[i]->description);
    printf("%-10s %s (not in all)\n", cmt_allocator_null.name, cmt_allocator_null.description);
    for (const cmt_preload *p = cmt_preloads; p->name; p++) {
        if (cmt_preload_available(p))
            printf("%-10s %s (%s)\n", p->name, p->description, p->library);
        else
            printf("%-10s %s: not installed (apt-get install %s)\n", p->name, p->description, p->package);
    }
    printf("%-10s any library that replaces malloc, preloaded\n", "preload:LIBRARY.so");
    printf("%-10s any library that exports the vtable of cmt_allocator.h\n", "plugin:LIBRARY.so");
}

/* A sanitized build's runtime must come first among the libraries, so no
 * allocator can be preloaded before it. */
#ifdef __SANITIZE_ADDRESS__
#define PRELOADING false
#else
#define PRELOADING true
#endif

static void add_preloaded(options *o, const char *name, const char *library)
{
    if (!PRELOADING)
        cli_usage_error(PROG, "%s: this cmtreplay is built with AddressSanitizer, whose runtime must come first: "
                              "no allocator can be preloaded before it", name);
    add_made(o, cmt_allocator_preloaded(name, library));
}

/* KIND:PATH as the reports name it: KIND and the file's name (reports
 * keep 31 characters), in memory that lasts. */
static const char *short_name(const char *kind, const char *path)
{
    char *name = malloc(strlen(kind) + strlen(path) + 2);
    if (!name)
        cli_usage_error(PROG, "out of memory");
    sprintf(name, "%s:%s", kind, cmti_base_name(path));
    return name;
}

/* -a plugin:PATH.so: the vtable the library exports. */
static void add_plugin(options *o, const char *name)
{
    void *library = dlopen(name + 7, RTLD_NOW | RTLD_LOCAL);
    if (!library)
        cli_usage_error(PROG, "%s: %s", name, dlerror());
    const cmt_allocator *vtable = dlsym(library, "cmt_allocator_plugin");
    const int *abi = dlsym(library, "cmt_allocator_abi");
    if (!vtable || !abi)
        cli_usage_error(PROG, "%s exports no cmt_allocator_plugin and cmt_allocator_abi (cmt_allocator.h)", name + 7);
    if (*abi != CMT_ALLOCATOR_ABI)
        cli_usage_error(PROG, "%s is built for vtable %d; this cmtreplay takes %d", name + 7, *abi, CMT_ALLOCATOR_ABI);
    cmt_allocator a = *vtable;
    a.name = short_name("plugin", name + 7);
    a.preload = NULL; /* the library is in this process already */
    add_made(o, a);
}

static void add_allocator(options *o, const char *name)
{
    if (o->nallocators == MAX_ALLOCATORS)
        cli_usage_error(PROG, "too many allocators");
    const cmt_allocator *a = cmt_allocator_find(name);
    if (a) {
        o->allocators[o->nallocators++] = a;
        return;
    }
    if (strncmp(name, "plugin:", 7) == 0) {
        add_plugin(o, name);
        return;
    }
    if (strncmp(name, "preload:", 8) == 0) {
        if (access(name + 8, R_OK) != 0)
            cli_usage_error(PROG, "%s: %s", name + 8, strerror(errno));
        const char *library = strdup(name + 8); /* the parsing copy of the words goes; this must stay */
        if (!library)
            cli_usage_error(PROG, "out of memory");
        add_preloaded(o, short_name("preload", library), library);
        return;
    }
    const cmt_preload *p = cmt_preload_find(name);
    if (p) {
        if (!cmt_preload_available(p))
            cli_usage_error(PROG, "%s is not installed (%s; apt-get install %s)", name, p->library, p->package);
        add_preloaded(o, p->name, p->library);
        return;
    }
    cli_usage_error(PROG, "no allocator '%s' (-a list shows them)", name);
}

static void parse_allocators(options *o, const char *spec)
{
    if (strcmp(spec, "list") == 0) {
        list_allocators();
        exit(EXIT_OK);
    }
    o->nallocators = 0;
    nmade = 0;
    if (strcmp(spec, "all") == 0) {
        for (size_t i = 0; cmt_allocators[i]; i++)
            o->allocators[o->nallocators++] = cmt_allocators[i];
        for (const cmt_preload *p = cmt_preloads; p->name && PRELOADING; p++)
            if (cmt_preload_available(p))
                add_preloaded(o, p->name, p->library);
        return;
    }
    char *copy = strdup(spec), *save = NULL;
    for (char *name = strtok_r(copy, ",", &save); name; name = strtok_r(NULL, ",", &save))
        add_allocator(o, name);
    free(copy);
    if (o->nallocators == 0)
        cli_usage_error(PROG, "-a needs an allocator name");
}

static options parse_options(int argc, char **argv)
{
    enum {
        OPT_REPORT = 256, OPT_JSON, OPT_NO_TOUCH, OPT_TIMELINE, OPT_TIMELINE_EVERY, OPT_PINNED,
        OPT_NO_COMPACT, OPT_CAPACITY, OPT_MAXMEM, OPT_COMPARE, OPT_SALVAGE, OPT_STOP, OPT_ALLOW_FAILURES,
        OPT_SERIAL, OPT_WINDOW, OPT_PACE, OPT_CHILD, OPT_CHILD_ALLOCATOR, OPT_TOUCH
    };
    static const struct option longopts[] = {
        {"allocator", required_argument, NULL, 'a'}, {"verbose", no_argument, NULL, 'v'},
        {"repeat", required_argument, NULL, 'r'},
        {"output", required_argument, NULL, 'o'},    {"report", required_argument, NULL, OPT_REPORT},
        {"json", no_argument, NULL, OPT_JSON},        {"no-touch", no_argument, NULL, OPT_NO_TOUCH},
        {"touch", required_argument, NULL, OPT_TOUCH},
        {"timeline", required_argument, NULL, OPT_TIMELINE},
        {"timeline-every", required_argument, NULL, OPT_TIMELINE_EVERY},
        {"pinned", required_argument, NULL, OPT_PINNED},
        {"no-compact", no_argument, NULL, OPT_NO_COMPACT},
        {"capacity", required_argument, NULL, OPT_CAPACITY},
        {"maxmem", no_argument, NULL, OPT_MAXMEM},
        {"compare", required_argument, NULL, OPT_COMPARE},
        {"salvage", no_argument, NULL, OPT_SALVAGE},
        {"stop-on-failure", no_argument, NULL, OPT_STOP},
        {"allow-failures", no_argument, NULL, OPT_ALLOW_FAILURES},
        {"serial", no_argument, NULL, OPT_SERIAL},
        {"window", required_argument, NULL, OPT_WINDOW},
        {"pace", no_argument, NULL, OPT_PACE},
        {"replay-child", required_argument, NULL, OPT_CHILD},
        {"replay-allocator", required_argument, NULL, OPT_CHILD_ALLOCATOR},
        {"help", no_argument, NULL, 'h'},             {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    options o = {.allocators = {&cmt_allocator_system}, .nallocators = 1, .touch = CMT_TOUCH_ALL,
                 .timeline_every = 1000, .window = 64, .child_fd = -1};
    int c;
    while ((c = getopt_long(argc, argv, "a:vo:r:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'a':
            parse_allocators(&o, optarg);
            o.allocators_given = true;
            break;
        case 'v': o.verbose = true; break;
        case 'r': o.repetitions = cli_parse_long(PROG, "-r", optarg, 1, 1000); break;
        case 'o': o.output = optarg; break;
        case OPT_REPORT: o.report = optarg; break;
        case OPT_JSON: o.json = true; break;
        case OPT_NO_TOUCH: o.touch = CMT_TOUCH_NONE; break;
        case OPT_TOUCH:
            if (!strcmp(optarg, "all"))
                o.touch = CMT_TOUCH_ALL;
            else if (!strcmp(optarg, "page"))
                o.touch = CMT_TOUCH_PAGE;
            else if (!strcmp(optarg, "none"))
                o.touch = CMT_TOUCH_NONE;
            else
                cli_usage_error(PROG, "--touch takes all, page or none, not '%s'", optarg);
            break;
        case OPT_TIMELINE: o.timeline = optarg; break;
        case OPT_TIMELINE_EVERY:
            o.timeline_every = (uint64_t)cli_parse_long(PROG, "--timeline-every", optarg, 1, LONG_MAX);
            o.every_given = true;
            break;
        case OPT_COMPARE: o.compare = optarg; break;
        case OPT_SALVAGE: o.salvage = true; break;
        case OPT_STOP: o.stop_on_failure = true; break;
        case OPT_ALLOW_FAILURES: o.allow_failures = true; break;
        case OPT_SERIAL: o.serial = true; break;
        case OPT_PACE: o.pace = true; break;
        case OPT_WINDOW: o.window = (uint64_t)cli_parse_long(PROG, "--window", optarg, 0, 1L << 40); break;
        case OPT_CHILD: o.child_fd = (int)cli_parse_long(PROG, "--replay-child", optarg, 0, 1 << 20); break;
        case OPT_CHILD_ALLOCATOR: o.child_allocator = optarg; break;
        case OPT_PINNED:
            o.rmalloc.pinned = cli_parse_fraction(PROG, "--pinned", optarg);
            o.rmalloc_option = "--pinned";
            break;
        case OPT_NO_COMPACT:
            o.rmalloc.no_compaction = true;
            o.rmalloc_option = "--no-compact";
            break;
        case OPT_CAPACITY:
            o.rmalloc.capacity = (uint64_t)cli_parse_long(PROG, "--capacity", optarg, 16, LONG_MAX);
            o.rmalloc_option = "--capacity";
            break;
        case OPT_MAXMEM: o.maxmem = true; break;
        case 'h': usage(); exit(EXIT_OK);
        case 'V': printf("%s %s\n", PROG, cmt_version_string()); exit(EXIT_OK);
        default: cli_bad_option(PROG);
        }
    }
    if (optind == argc)
        cli_usage_error(PROG, "no input (give a .cmt file, or - for standard input)");
    if (argc - optind > 1)
        cli_usage_error(PROG, "one input at a time");
    if (o.verbose && o.nallocators > 1)
        cli_usage_error(PROG, "-v prints one replay: name one allocator");
    if (o.verbose && o.allocators[0] == &cmt_allocator_null)
        cli_usage_error(PROG, "-v: the null allocator's blocks share their bytes, so its pointers name no block");
    if (o.maxmem && (o.verbose || o.timeline))
        cli_usage_error(PROG, "--maxmem replays many times: no -v or --timeline with it");
    if (o.compare && (o.verbose || o.timeline || o.maxmem) && o.child_fd < 0)
        cli_usage_error(PROG, "--compare writes its own timelines: no -v, --timeline or --maxmem with it");
    if (o.output && !o.verbose)
        cli_usage_error(PROG, "-o names where -v writes the trace; add -v");
    if (o.maxmem && o.allocators_given)
        cli_usage_error(PROG, "--maxmem replays rmalloc, system and jemalloc as it must: no -a with it");
    if (o.repetitions > 1 && (o.verbose || o.timeline || o.compare || o.maxmem))
        cli_usage_error(PROG, "-r repeats a replay for its figures: no -v, --timeline, --compare or --maxmem with it");
    if (o.stop_on_failure && o.allow_failures)
        cli_usage_error(PROG, "--stop-on-failure or --allow-failures, not both");
    bool rmalloc_named = o.maxmem || (o.compare && !o.allocators_given);
    for (size_t i = 0; i < o.nallocators; i++)
        rmalloc_named |= o.allocators[i] == &cmt_allocator_rmalloc;
    if (o.rmalloc_option && !rmalloc_named)
        cli_usage_error(PROG, "%s is an rmalloc option, and rmalloc is not among the allocators (-a)",
                        o.rmalloc_option);
    cmt_rmalloc_format_settings(o.rmalloc_settings, sizeof o.rmalloc_settings, &o.rmalloc);
    o.input = argv[optind];
    return o;
}

/* Opens PATH for writing unless it is NULL (then *OUT stays NULL); 0 or -1. */
static int open_optional(const char *path, bool wanted, cmt_output **out)
{
    char err[512];
    *out = NULL;
    if (!wanted)
        return 0;
    if (!(*out = cmt_output_open(path, err, sizeof err))) {
        fprintf(stderr, "%s: %s\n", PROG, err);
        return -1;
    }
    return 0;
}

/* Commits OUT if the replay went well (RC 0), discards it if not; returns
 * the new RC. */
static int finish_optional(cmt_output *out, int rc)
{
    char err[512];
    if (!out)
        return rc;
    if (rc < 0) {
        cmt_output_abort(out);
        return rc;
    }
    if (cmt_output_commit(out, err, sizeof err) < 0) {
        fprintf(stderr, "%s: %s\n", PROG, err);
        return -1;
    }
    return 0;
}

/* Where the replay against A writes its --timeline: FILE, or FILE.NAME
 * when there are several allocators. */
static void timeline_path(const options *o, const cmt_allocator *a, char *path, size_t len)
{
    snprintf(path, len, o->nallocators > 1 || o->compare ? "%s.%s" : "%s", o->timeline, a->name);
}

/* The replay's progress: on the terminal, and in the channel for the
 * parent's samples. */
typedef struct child_progress {
    cli_progress bar;
    cmt_replay_channel *channel;
} child_progress;

static void show_child_progress(void *context, uint64_t events)
{
    child_progress *p = context;
    __atomic_store_n(&p->channel->events, events, __ATOMIC_RELAXED);
    cli_progress_update(&p->bar, events);
}

/* Replays INPUT against one allocator in this process, the replay's own.
 * Returns 0 or -1 after printing the error. */
static int replay_one(const options *o, const cmt_allocator *a, cmt_replay_channel *channel)
{
    char err[512], timeline_file[4096];
    cmt_source *source = cmt_source_open(o->input, NULL, err, sizeof err);
    if (!source) {
        fprintf(stderr, "%s: %s\n", PROG, err);
        return -1;
    }
    if (o->salvage)
        cmt_source_salvage(source);
    if (o->timeline)
        timeline_path(o, a, timeline_file, sizeof timeline_file);
    cmt_output *trace, *timeline;
    if (open_optional(o->output, o->verbose, &trace) < 0 ||
        open_optional(timeline_file, o->timeline != NULL, &timeline) < 0) {
        finish_optional(trace, -1);
        cmt_source_close(source);
        return -1;
    }
    child_progress progress = {.channel = channel};
    cli_progress_init(&progress.bar, PROG, source);
    cmt_replay_options ro = {.touch = o->touch, .serial = o->serial, .pace = o->pace, .window = o->window,
                             .stop_on_failure = o->stop_on_failure,
                             .allocator = {.settings = a == &cmt_allocator_rmalloc ? o->rmalloc_settings : NULL},
                             .trace = trace,
                             .timeline = timeline, .timeline_every = o->timeline_every,
                             .progress = {show_child_progress, &progress}};
    cmt_replay_report *report = &channel->report;
    int rc = cmt_replay(source, a, &ro, report, err, sizeof err);
    cli_progress_done(&progress.bar);
    if (rc < 0)
        fprintf(stderr, "%s: %s\n", PROG, err);
    rc = finish_optional(timeline, finish_optional(trace, rc));
    if (rc == 0)
        cli_warn_salvaged(PROG, source, report->events);
    cmt_source_close(source);
    return rc;
}

/* In the child: cmtreplay again, a fresh process (with A's library
 * preloaded if it has one), to replay as the command line says against A
 * and report through the channel at FD. */
static void run_child(const options *o, const cmt_allocator *a, int fd)
{
    char **argv = calloc((size_t)command_words + 8, sizeof *argv);
    char child[32], name[512], timeline[4200], every[48];
    if (!argv)
        _exit(EXIT_DATA);
    int n = 0;
    for (int i = 0; i < command_words; i++)
        argv[n++] = command_line[i];
    snprintf(child, sizeof child, "--replay-child=%d", fd);
    snprintf(name, sizeof name, "--replay-allocator=%s", a->name);
    argv[n++] = child;
    argv[n++] = name;
    if (o->timeline) {
        snprintf(timeline, sizeof timeline, "--timeline=%s", o->timeline);
        snprintf(every, sizeof every, "--timeline-every=%llu", (unsigned long long)o->timeline_every);
        argv[n++] = timeline;
        argv[n++] = every;
    }
    argv[n] = NULL;
    if (a->preload) {
        setenv("LD_PRELOAD", a->preload, 1);
        setenv("CMT_REPLAY_PRELOADED", a->preload, 1);
    } else {
        unsetenv("CMT_REPLAY_PRELOADED");
    }
    execv("/proc/self/exe", argv);
    fprintf(stderr, "%s: can't run the %s replay: %s\n", PROG, a->name, strerror(errno));
    _exit(EXIT_DATA);
}

typedef int writer(cmt_output *out, const void *what);

/* Writes OUT (NULL: it could not be opened, ERR, of WRITE_ERRLEN bytes, says why) whole with
 * WRITE(OUT, WHAT): committed if it went well, else discarded and the
 * error said.  Returns 0 or -1. */
#define WRITE_ERRLEN 512
static int write_and_commit(cmt_output *out, char *err, writer *write, const void *what)
{
    if (out && write(out, what) < 0) {
        snprintf(err, WRITE_ERRLEN, "%s", cmt_output_error(out));
        cmt_output_abort(out);
        out = NULL;
    }
    if (!out || cmt_output_commit(out, err, WRITE_ERRLEN) < 0) {
        fprintf(stderr, "%s: %s\n", PROG, err);
        return -1;
    }
    return 0;
}

/* Writes PATH ("-": standard output) whole with WRITE(OUT, WHAT). */
static int write_whole(const char *path, writer *write, const void *what)
{
    char err[WRITE_ERRLEN] = "";
    return write_and_commit(cmt_output_open(path, err, sizeof err), err, write, what);
}

static int write_samples(cmt_output *out, const void *samples)
{
    return cmt_rss_samples_write(samples, out);
}

/* With --timeline, the parent's samples of the process's resident bytes
 * beside the child's table, in FILE.rss.  Returns 0 or -1. */
static int write_rss_samples(const options *o, const cmt_allocator *a, const cmt_rss_samples *samples)
{
    char path[4200];
    timeline_path(o, a, path, sizeof path - 4);
    strcat(path, ".rss");
    return write_whole(path, write_samples, samples);
}

/* Replays against A in a fresh process of its own, so that every
 * allocator starts alike and the kernel's figures are the replay's:
 * wait4's max RSS, faults and CPU, and the resident bytes sampled from
 * /proc while it runs.  Returns 0 or -1 after printing the error. */
static int replay_in_child(const options *o, const cmt_allocator *a, cmt_replay_report *report)
{
    char err[512];
    int fd;
    cmt_replay_channel *ch = cmt_channel_create(&fd, err, sizeof err);
    if (!ch) {
        fprintf(stderr, "%s: %s\n", PROG, err);
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "%s: fork: %s\n", PROG, strerror(errno));
        cmt_channel_close(ch);
        close(fd);
        return -1;
    }
    if (pid == 0)
        run_child(o, a, fd);
    close(fd);
    int status = 0;
    struct rusage ru;
    cmt_rss_samples samples = {0};
    int rc = cmt_replay_watch(pid, ch, &samples, &status, &ru);
    if (rc < 0)
        fprintf(stderr, "%s: the %s replay: wait4: %s\n", PROG, a->name, strerror(errno));
    else if (WIFSIGNALED(status))
        fprintf(stderr, "%s: the %s replay died of signal %d\n", PROG, a->name, WTERMSIG(status));
    if (rc < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || !ch->done)
        rc = -1;
    if (rc == 0) {
        *report = ch->report;
        report->peak_rss = (uint64_t)ru.ru_maxrss * 1024;
        cmt_report_kernel_figures(report, &ru, NULL);
        if (o->timeline)
            rc = write_rss_samples(o, a, &samples);
    }
    cmt_rss_samples_free(&samples);
    cmt_channel_close(ch);
    return rc;
}

static int by_time(const void *a, const void *b)
{
    double x = cmt_report_ns_per_event(a), y = cmt_report_ns_per_event(b);
    return (x > y) - (x < y);
}

/* -r N: N replays against A, each in a fresh process (run-to-run noise
 * of 15% can swap two allocators' places); *REPORT is the median by time
 * per event, with the spread.  Returns 0 or -1. */
static int replay_repeated(const options *o, const cmt_allocator *a, cmt_replay_report *report)
{
    size_t n = (size_t)o->repetitions;
    cmt_replay_report *runs = calloc(n, sizeof *runs);
    if (!runs) {
        fprintf(stderr, "%s: out of memory\n", PROG);
        return -1;
    }
    for (size_t k = 0; k < n; k++) {
        if (replay_in_child(o, a, &runs[k]) < 0) {
            free(runs);
            return -1;
        }
    }
    qsort(runs, n, sizeof *runs, by_time);
    *report = runs[n / 2];
    report->repetitions = n;
    report->ns_per_event_min = cmt_report_ns_per_event(&runs[0]);
    report->ns_per_event_max = cmt_report_ns_per_event(&runs[n - 1]);
    report->peak_rss_min = report->peak_rss_max = runs[0].peak_rss;
    for (size_t k = 1; k < n; k++) {
        if (runs[k].peak_rss < report->peak_rss_min)
            report->peak_rss_min = runs[k].peak_rss;
        if (runs[k].peak_rss > report->peak_rss_max)
            report->peak_rss_max = runs[k].peak_rss;
    }
    free(runs);
    return 0;
}

typedef struct report_job {
    const options *o;
    const cmt_replay_report *reports;
    const cmt_maxmem *maxmem;
} report_job;

static int print_report(cmt_output *out, const void *what)
{
    const report_job *job = what;
    if (job->maxmem)
        cmt_report_print_maxmem(out, job->maxmem, job->o->json);
    else if (job->o->nallocators == 1)
        cmt_report_print(out, &job->reports[0], job->o->json);
    else
        cmt_report_print_comparison(out, job->reports, job->o->nallocators, job->o->json);
    return 0; /* a failed write fails the commit */
}

/* Prints the report to --report FILE, or to standard output (standard
 * error when -v has standard output).  Returns 0 or -1. */
static int emit_report(const options *o, const cmt_replay_report *reports, const cmt_maxmem *maxmem)
{
    report_job job = {o, reports, maxmem};
    if (o->report || !o->verbose || o->output)
        return write_whole(o->report ? o->report : "-", print_report, &job);
    char err[WRITE_ERRLEN] = "can't write to standard error";
    int fd = dup(STDERR_FILENO);
    cmt_output *out = fd >= 0 ? cmt_output_open_fd(fd, "standard error") : NULL;
    if (fd >= 0 && !out)
        close(fd);
    return write_and_commit(out, err, print_report, &job);
}

/* --maxmem: rmalloc's smallest heaps, with and without compaction, beside
 * the optimum and the peaks of system and jemalloc.  Returns 0 or -1. */
static int max_memory(const options *o)
{
    cmt_maxmem m = {.step = 4096};
    char err[512];
    cmt_rmalloc_settings compacting = o->rmalloc, fixed = o->rmalloc;
    compacting.no_compaction = false;
    fixed.no_compaction = true;
    if (cmt_rmalloc_min_capacity(o->input, &compacting, m.step, &m.compacting, &m.peak_live, err, sizeof err) < 0 ||
        cmt_rmalloc_min_capacity(o->input, &fixed, m.step, &m.fixed, &m.peak_live, err, sizeof err) < 0) {
        fprintf(stderr, "%s: %s\n", PROG, err);
        return -1;
    }
    if (replay_in_child(o, &cmt_allocator_system, &m.system) < 0)
        return -1;
    const cmt_preload *je = cmt_preload_find("jemalloc");
    if (PRELOADING && cmt_preload_available(je)) {
        cmt_allocator jemalloc = cmt_allocator_preloaded(je->name, je->library);
        if (replay_in_child(o, &jemalloc, &m.jemalloc) < 0)
            return -1;
    }
    return emit_report(o, NULL, &m);
}

/* --compare: the flame graph of the bytes the trace's stacks allocated,
 * for the page, where it has STACKS (read in order, as a file with stacks
 * is); else none, and none left from an earlier report.  0 or -1. */
static int flame_graph(const options *o, bool stacks, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/" CMT_COMPARE_STACKS, o->compare);
    if (!stacks) {
        if (unlink(path) == 0 || errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s/%s: %s", o->compare, CMT_COMPARE_STACKS, strerror(errno));
        return -1;
    }
    cmt_source *source = cmt_source_open(o->input, NULL, err, errlen);
    cmt_sites_options drawing = {.weight = CMT_WEIGHT_ALLOCATED, .flamegraph = path}; /* .svg: drawn */
    if (source && o->salvage)
        cmt_source_salvage(source);
    int rc = source ? cmt_sites_report(source, NULL, &drawing, NULL, err, errlen) : -1;
    cmt_source_close(source);
    return rc;
}

/* --compare, before the replays: the trace's statistics (which also say
 * how long it is, for the timelines' spacing) and the folder.  Returns 0
 * or -1 after printing the error. */
static int prepare_comparison(options *o, cmt_trace_stats *stats, char *timeline, size_t len)
{
    char err[1024];
    if (cmt_compare_check_gnuplot(err, sizeof err) < 0) {
        fprintf(stderr, "%s: %s\n", PROG, err);
        return -1;
    }
    if (!o->allocators_given)
        parse_allocators(o, "all");
    if (mkdir(o->compare, 0777) < 0 && errno != EEXIST) {
        fprintf(stderr, "%s: %s: %s\n", PROG, o->compare, strerror(errno));
        return -1;
    }
    cmt_source *source = cmt_source_open(o->input, NULL, err, sizeof err);
    if (source && o->salvage)
        cmt_source_salvage(source);
    cli_progress bar;
    cli_progress_init(&bar, PROG, source);
    cmt_progress progress = cli_progress_callback(&bar);
    int rc = source ? cmt_stats_read(source, stats, &progress, err, sizeof err) : -1;
    cli_progress_done(&bar);
    bool stacks = rc == 0 && cmt_sites_stacks(cmt_source_sites(source)) > 0;
    cmt_source_close(source);
    if (rc < 0 || flame_graph(o, stacks, err, sizeof err) < 0) {
        fprintf(stderr, "%s: %s\n", PROG, err);
        return -1;
    }
    snprintf(timeline, len, "%s/timeline", o->compare);
    o->timeline = timeline;
    if (!o->every_given)
        o->timeline_every = stats->events / 2000 + 1;
    return 0;
}

/* Says, after the report, which allocators could not make blocks the
 * traced program had: their figures leave those blocks out.  True if any. */
static bool failures_said(const options *o, const cmt_replay_report *reports)
{
    bool any = false;
    for (size_t i = 0; i < o->nallocators; i++) {
        const cmt_replay_report *r = &reports[i];
        if (!r->failed_in_replay)
            continue;
        any = true;
        char bytes[32];
        fprintf(stderr,
                "%s: WARNING: %s: %llu allocations (%s bytes asked) failed in the replay that did not fail "
                "when traced: the replay went on without those blocks, and its figures leave them out%s\n",
                PROG, r->allocator, (unsigned long long)r->failed_in_replay,
                cmt_report_grouped(bytes, r->failed_bytes),
                o->allow_failures ? "" : " (--allow-failures to accept this and exit 0)");
    }
    return any;
}

/* In the child, the allocator --replay-allocator names: the process's
 * own malloc if a library was preloaded for it, else the one of that name
 * among those the command line gave (or built in, for --maxmem). */
static const cmt_allocator *child_allocator(const options *o, cmt_allocator *process)
{
    if (getenv("CMT_REPLAY_PRELOADED")) {
        *process = cmt_allocator_process;
        process->name = o->child_allocator;
        return process;
    }
    for (size_t i = 0; i < o->nallocators; i++)
        if (strcmp(o->allocators[i]->name, o->child_allocator) == 0)
            return o->allocators[i];
    return cmt_allocator_find(o->child_allocator);
}

/* --replay-child: this process was started fresh by cmtreplay to replay
 * against one allocator, its own memory kept apart from the allocator's,
 * and to leave the report in the channel. */
static int replay_as_child(const options *o)
{
    cmt_replay_channel *ch = cmt_channel_open(o->child_fd);
    cmt_allocator process;
    const cmt_allocator *a = o->child_allocator ? child_allocator(o, &process) : NULL;
    if (!ch || !a) {
        fprintf(stderr, "%s: --replay-child is cmtreplay's own, for the process it starts for a replay\n", PROG);
        return EXIT_USAGE;
    }
    cmti_allocate_privately();
    int rc = replay_one(o, a, ch);
    ch->done = rc == 0;
    return rc == 0 ? EXIT_OK : EXIT_DATA;
}

int main(int argc, char **argv)
{
    command_line = argv;
    command_words = argc;
    options o = parse_options(argc, argv);
    if (o.child_fd >= 0)
        return replay_as_child(&o);
    cmt_output_remove_on_signals();
    if ((o.nallocators > 1 || o.maxmem || o.compare) && strcmp(o.input, "-") == 0)
        cli_usage_error(PROG, "this reads the trace more than once: give a file, not -");
    if (o.maxmem)
        return max_memory(&o) == 0 ? EXIT_OK : EXIT_DATA;
    cmt_trace_stats stats;
    char timeline[4096];
    if (o.compare && prepare_comparison(&o, &stats, timeline, sizeof timeline) < 0)
        return EXIT_DATA;
    cmt_replay_report reports[MAX_ALLOCATORS];
    int rc = 0;
    if (o.repetitions > 1) {
        for (size_t i = 0; i < o.nallocators && rc == 0; i++)
            rc = replay_repeated(&o, o.allocators[i], &reports[i]);
    } else {
        for (size_t i = 0; i < o.nallocators && rc == 0; i++)
            rc = replay_in_child(&o, o.allocators[i], &reports[i]);
    }
    if (rc < 0)
        return EXIT_DATA;
    if (o.pace && !reports[0].paced)
        fprintf(stderr, "%s: warning: --pace: %s has no times to keep (cmtrecord's before cmt 0.4 kept none): "
                        "replayed as fast as it goes\n", PROG, cmti_display_name(o.input, false));
    for (size_t i = 0; i < o.nallocators; i++)
        if (o.allocators[i] == &cmt_allocator_null)
            for (size_t k = 0; k < o.nallocators; k++)
                reports[k].harness_ns_per_event = cmt_report_ns_per_event(&reports[i]);
    if (o.compare) {
        char err[1024];
        if (cmt_compare_report(o.compare, o.input, reports, o.nallocators, &stats, err, sizeof err) < 0) {
            fprintf(stderr, "%s: %s\n", PROG, err);
            return EXIT_DATA;
        }
        fprintf(stderr, "%s: the report is %s/index.html\n", PROG, o.compare);
    }
    if (emit_report(&o, reports, NULL) < 0)
        return EXIT_DATA;
    return failures_said(&o, reports) && !o.allow_failures ? EXIT_DATA : EXIT_OK;
}
