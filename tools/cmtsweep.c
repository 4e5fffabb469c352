/*
 * cmtsweep - every trace against every allocator, several times, each
 * replay a job of its own run by GNU parallel or a Slurm job array, the
 * results in one folder: results.jsonl and index.html.
 */
#define _GNU_SOURCE /* strdup */
#include "cli.h"
#include "sweep.h"
#include "allocator.h"
#include "cmt_internal.h"

#include <cmt.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const PROG = "cmtsweep";

static void usage(void)
{
    printf("Usage: %s [OPTION]... -o OUT TRACE|DIR...\n"
           "       %s --collect OUT\n"
           "Replay every trace (a folder: every trace under it) against every allocator,\n"
           "each replay a job of its own (one cmtreplay in a fresh process), run by GNU\n"
           "parallel here or on hosts over ssh, or by a Slurm job array.  Each job's\n"
           "result is a file in OUT/results; a job whose result is there is not run\n"
           "again, so a sweep stopped halfway is finished by running it again.  At the\n"
           "end OUT/results.jsonl holds a line a job and OUT/index.html the comparison.\n"
           "\n"
           "  -a, --allocator A  an allocator cmtreplay takes, or a comma-separated list\n"
           "                     of them, or 'all' (the default); repeat -a for more.\n"
           "                     NAME:SETTINGS is a variant, its own column: SETTINGS are\n"
           "                     VAR=VALUE for the job's environment or cmtreplay options,\n"
           "                     space-separated, and run to the end of the -a, commas\n"
           "                     included: 'jemalloc:MALLOC_CONF=narenas:1,tcache:false',\n"
           "                     'system:GLIBC_TUNABLES=glibc.malloc.arena_max=1',\n"
           "                     'rmalloc:--pinned=0.05'\n"
           "  -r, --repeat N     each trace against each allocator N times (default 3)\n"
           "  -o, --output OUT   the sweep's folder (made if missing)\n"
           "  -j, --jobs N       jobs at once on each host (default: a job a core; a\n"
           "                     replay's time is its own core's, but jobs share the\n"
           "                     memory bus: -j 1 for the steadiest times)\n"
           "      --sshlogin S   GNU parallel's: run jobs on host S too (repeatable; ':'\n"
           "                     is this host); the hosts must see OUT, the traces and\n"
           "                     cmtsweep at the same paths\n"
           "      --sshloginfile F  GNU parallel's: the hosts listed in F\n"
           "      --slurm        submit the jobs as one Slurm job array (sbatch --array)\n"
           "      --partition P  the Slurm partition\n"
           "      --sbatch-args ARGS  more sbatch options, space-separated\n"
           "      --wait         wait for the job array, then collect (the default)\n"
           "      --no-wait      return once it is submitted; collect later\n"
           "      --collect OUT  only gather OUT's results into results.jsonl and\n"
           "                     index.html (a sweep does it at its end)\n"
           "      --run OUT ID   run the one job ID of OUT (what the engines call)\n"
           "      --replay PATH  the cmtreplay to run (default: the one beside cmtsweep,\n"
           "                     else the PATH's)\n"
           "  -h, --help         show this help\n"
           "  -V, --version      show the version\n"
           "\n"
           "Exit status: 0 every job done, 1 a job failed or has no result, or an I/O\n"
           "error, 2 usage error.  See docs/cmtsweep.md.\n",
           PROG, PROG);
}

typedef struct options {
    const char *out;
    char **variants; /* as -a gave them, split */
    size_t nvariants;
    unsigned repeat;
    sweep_engine engine;
    const char *ssh[64];
    const char *collect;
    const char *run_out, *run_id;
    const char *replay;
    char **traces;
    size_t ntraces;
} options;

static void no_memory(void)
{
    fprintf(stderr, "%s: out of memory\n", PROG);
    exit(EXIT_DATA);
}

static void add_variant(options *o, const char *text)
{
    char err[512];
    sweep_variant v;
    if (sweep_variant_parse(text, &v, err, sizeof err) < 0)
        cli_usage_error(PROG, "-a %s", err);
    const char *name = v.allocator;
    bool known = cmt_allocator_find(name) || strcmp(name, cmt_allocator_null.name) == 0;
    const cmt_preload *p = cmt_preload_find(name);
    if (p && !cmt_preload_available(p))
        cli_usage_error(PROG, "%s is not installed (%s; apt-get install %s)", name, p->library, p->package);
    char absolute[PATH_MAX * 2];
    if (sweep_names_library(name)) {
        const char *library = strchr(name, ':') + 1;
        char full[PATH_MAX];
        if (access(library, R_OK) != 0 || !realpath(library, full))
            cli_usage_error(PROG, "-a %s: %s: %s", text, library, strerror(errno));
        /* The library by its whole path: the jobs may run in another
         * folder, or on another host. */
        snprintf(absolute, sizeof absolute, "%.*s%s%s", (int)(library - name), name, full,
                 text + strlen(name));
        text = absolute;
        known = true;
    }
    if (!known && !p)
        cli_usage_error(PROG, "no allocator '%s' (cmtreplay -a list shows them)", name);
    sweep_variant_free(&v);
    for (size_t i = 0; i < o->nvariants; i++)
        if (strcmp(o->variants[i], text) == 0)
            return;
    if (sweep_list_push(&o->variants, &o->nvariants, text) < 0)
        no_memory();
}

/* One -a: names split at commas until the first with settings, which
 * takes the rest ('all' is every allocator cmtreplay's 'all' is). */
static void add_allocators(options *o, const char *spec)
{
    char *copy = strdup(spec);
    if (!copy)
        no_memory();
    for (char *name = copy; name && *name;) {
        char *comma = strchr(name, ',');
        const char *settings = sweep_variant_settings(name);
        if (settings && !(comma && comma < settings)) {
            add_variant(o, name);
            break;
        }
        if (comma)
            *comma = '\0';
        if (strcmp(name, "all") == 0) {
            for (size_t i = 0; cmt_allocators[i]; i++)
                add_variant(o, cmt_allocators[i]->name);
            for (const cmt_preload *p = cmt_preloads; p->name; p++)
                if (cmt_preload_available(p))
                    add_variant(o, p->name);
        } else if (*name) {
            add_variant(o, name);
        }
        name = comma ? comma + 1 : NULL;
    }
    free(copy);
}

static options parse_options(int argc, char **argv)
{
    enum { OPT_SSH = 256, OPT_SSHFILE, OPT_SLURM, OPT_PARTITION, OPT_SBATCH, OPT_WAIT, OPT_NO_WAIT, OPT_COLLECT,
           OPT_RUN, OPT_REPLAY };
    static const struct option longopts[] = {
        {"allocator", required_argument, NULL, 'a'}, {"repeat", required_argument, NULL, 'r'},
        {"output", required_argument, NULL, 'o'},    {"jobs", required_argument, NULL, 'j'},
        {"sshlogin", required_argument, NULL, OPT_SSH}, {"sshloginfile", required_argument, NULL, OPT_SSHFILE},
        {"slurm", no_argument, NULL, OPT_SLURM},     {"partition", required_argument, NULL, OPT_PARTITION},
        {"sbatch-args", required_argument, NULL, OPT_SBATCH}, {"wait", no_argument, NULL, OPT_WAIT},
        {"no-wait", no_argument, NULL, OPT_NO_WAIT}, {"collect", required_argument, NULL, OPT_COLLECT},
        {"run", required_argument, NULL, OPT_RUN},   {"replay", required_argument, NULL, OPT_REPLAY},
        {"help", no_argument, NULL, 'h'},            {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    options o = {.repeat = 3, .engine = {.wait = true}};
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    o.engine.jobs = cores > 0 ? (unsigned)cores : 1;
    const char **allocators = NULL;
    size_t nallocators = 0;
    bool slurm_only = false;
    int c;
    while ((c = getopt_long(argc, argv, "a:r:o:j:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'a': {
            const char **grown = realloc(allocators, (nallocators + 1) * sizeof *grown);
            if (!grown)
                no_memory();
            allocators = grown;
            allocators[nallocators++] = optarg;
            break;
        }
        case 'r': o.repeat = (unsigned)cli_parse_long(PROG, "-r", optarg, 1, 100000); break;
        case 'o': o.out = optarg; break;
        case 'j': o.engine.jobs = (unsigned)cli_parse_long(PROG, "-j", optarg, 1, 100000); break;
        case OPT_SSH:
        case OPT_SSHFILE:
            if (o.engine.nssh + 2 > sizeof o.ssh / sizeof *o.ssh)
                cli_usage_error(PROG, "too many --sshlogin options (at most 32; use --sshloginfile)");
            o.ssh[o.engine.nssh++] = c == OPT_SSH ? "--sshlogin" : "--sshloginfile";
            o.ssh[o.engine.nssh++] = optarg;
            break;
        case OPT_SLURM: o.engine.slurm = true; break;
        case OPT_PARTITION: o.engine.partition = optarg; slurm_only = true; break;
        case OPT_SBATCH: o.engine.sbatch_args = optarg; slurm_only = true; break;
        case OPT_WAIT: o.engine.wait = true; break;
        case OPT_NO_WAIT: o.engine.wait = false; slurm_only = true; break;
        case OPT_COLLECT: o.collect = optarg; break;
        case OPT_RUN:
            if (optind >= argc)
                cli_usage_error(PROG, "--run takes OUT and a job's ID");
            o.run_out = optarg;
            o.run_id = argv[optind++];
            break;
        case OPT_REPLAY: o.replay = optarg; break;
        case 'h': usage(); exit(EXIT_OK);
        case 'V': printf("%s %s\n", PROG, cmt_version_string()); exit(EXIT_OK);
        default: cli_bad_option(PROG);
        }
    }
    o.engine.ssh = o.ssh;
    if (o.collect || o.run_out) {
        if (optind < argc || o.out || nallocators)
            cli_usage_error(PROG, "--collect and --run take no traces, -o or -a");
        free(allocators);
        return o;
    }
    if (!o.out)
        cli_usage_error(PROG, "-o OUT is needed: the folder the sweep's results go to");
    if (optind == argc)
        cli_usage_error(PROG, "no traces given");
    if (slurm_only && !o.engine.slurm)
        cli_usage_error(PROG, "--partition, --sbatch-args and --no-wait are for --slurm");
    if (o.engine.slurm && o.engine.nssh)
        cli_usage_error(PROG, "--sshlogin is GNU parallel's, not Slurm's: choose one");
    for (size_t i = 0; i < nallocators; i++)
        add_allocators(&o, allocators[i]);
    if (!nallocators)
        add_allocators(&o, "all");
    free(allocators);
    for (; optind < argc; optind++) {
        char err[PATH_MAX + 128];
        if (sweep_find_traces(argv[optind], &o.traces, &o.ntraces, err, sizeof err) < 0) {
            fprintf(stderr, "%s: %s\n", PROG, err);
            exit(EXIT_DATA);
        }
    }
    return o;
}

/* PATH made a folder if it is not one.  Exits on failure. */
static void make_folder(const char *path)
{
    if (mkdir(path, 0777) < 0 && errno != EEXIST) {
        fprintf(stderr, "%s: %s: %s\n", PROG, path, strerror(errno));
        exit(EXIT_DATA);
    }
}

/* True if NAME is a program on the PATH. */
static bool on_path(const char *name, char *found, size_t len)
{
    const char *path = getenv("PATH");
    for (const char *dir = path ? path : ""; *dir;) {
        size_t n = strcspn(dir, ":");
        snprintf(found, len, "%.*s/%s", (int)n, dir, name);
        if (n && access(found, X_OK) == 0)
            return true;
        dir += n + (dir[n] == ':');
    }
    return false;
}

/* This program's whole path, into BUF (PATH_MAX bytes); exits if the
 * system will not say. */
static const char *find_self(char *buf)
{
    if (!realpath("/proc/self/exe", buf)) {
        fprintf(stderr, "%s: /proc/self/exe: %s\n", PROG, strerror(errno));
        exit(EXIT_DATA);
    }
    return buf;
}

/* The cmtreplay a job runs: --replay, else beside this program (SELF),
 * else the PATH's. */
static const char *find_replay(const char *given, const char *self, char *buf, size_t len)
{
    if (given)
        return realpath(given, buf) ? buf : given; /* absolute: the jobs may run elsewhere */
    snprintf(buf, len, "%.*s/cmtreplay", (int)(strrchr(self, '/') - self), self);
    if (access(buf, X_OK) == 0)
        return buf;
    if (on_path("cmtreplay", buf, len))
        return buf;
    fprintf(stderr, "%s: can't find cmtreplay beside cmtsweep or on the PATH (--replay PATH names it)\n", PROG);
    exit(EXIT_DATA);
}

static int load_plan(sweep_plan *plan, const char *out)
{
    char err[PATH_MAX + 256];
    if (sweep_plan_read(plan, out, err, sizeof err) < 0) {
        fprintf(stderr, "%s: %s\n", PROG, err);
        return -1;
    }
    return 0;
}

/* Gathers OUT; the tool's exit status. */
static int collect(const sweep_plan *plan, const char *out)
{
    char err[PATH_MAX + 256];
    sweep_counts counts;
    if (sweep_collect(plan, out, &counts, err, sizeof err) < 0) {
        fprintf(stderr, "%s: %s\n", PROG, err);
        return EXIT_DATA;
    }
    fprintf(stderr, "%s: %zu jobs: %zu done, %zu failed, %zu without a result; %s/results.jsonl, %s/index.html\n", PROG,
            plan->njobs, counts.done, counts.failed, counts.missing, out, out);
    return counts.failed || counts.missing ? EXIT_DATA : EXIT_OK;
}

/* --collect OUT. */
static int collect_only(const char *out)
{
    sweep_plan plan = {0};
    if (load_plan(&plan, out) < 0)
        return EXIT_DATA;
    int rc = EXIT_DATA;
    if (plan.njobs)
        rc = collect(&plan, out);
    else
        fprintf(stderr, "%s: %s: no sweep there (no jobs.tsv)\n", PROG, out);
    sweep_plan_free(&plan);
    return rc;
}

/* --run OUT ID. */
static int run_one(const options *o)
{
    sweep_plan plan = {0};
    char err[PATH_MAX + 256], replay_buf[PATH_MAX], self[PATH_MAX];
    if (load_plan(&plan, o->run_out) < 0)
        return EXIT_DATA;
    const sweep_job *j = sweep_plan_find(&plan, o->run_id);
    int rc = -1;
    if (!j)
        snprintf(err, sizeof err, "%s: no job '%s' in its jobs.tsv", o->run_out, o->run_id);
    else
        rc = sweep_run_job(o->run_out, j, find_replay(o->replay, find_self(self), replay_buf, sizeof replay_buf), err,
                           sizeof err);
    if (rc < 0)
        fprintf(stderr, "%s: %s\n", PROG, err);
    sweep_plan_free(&plan);
    return rc == 0 ? EXIT_OK : EXIT_DATA;
}

static void free_options(options *o)
{
    sweep_list_free(o->variants, o->nvariants);
    sweep_list_free(o->traces, o->ntraces);
}

static int sweep(options *o);

int main(int argc, char **argv)
{
    options o = parse_options(argc, argv);
    cmt_output_remove_on_signals();
    int rc = o.collect ? collect_only(o.collect) : o.run_out ? run_one(&o) : sweep(&o);
    free_options(&o);
    return rc;
}

/* Of O's N jobs JOBS (indexes in PLAN; a trace named twice gives its
 * jobs twice), those without a result in OUT, once each: kept at the
 * front of JOBS and listed in OUT/pending.  How many, or -1. */
static long write_pending(const options *o, const sweep_plan *plan, const char *out, size_t *jobs, size_t n)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/pending", out);
    bool *seen = calloc(plan->njobs ? plan->njobs : 1, sizeof *seen);
    if (!seen)
        no_memory();
    FILE *pending = fopen(path, "w");
    if (!pending) {
        fprintf(stderr, "%s: %s: %s\n", PROG, path, strerror(errno));
        free(seen);
        return -1;
    }
    size_t asked = 0, to_run = 0;
    for (size_t i = 0; i < n; i++) {
        const sweep_job *j = &plan->jobs[jobs[i]];
        if (seen[jobs[i]])
            continue;
        seen[jobs[i]] = true;
        asked++;
        if (!sweep_job_done(out, j)) {
            fprintf(pending, "%s\n", j->id);
            jobs[to_run++] = jobs[i];
        }
    }
    free(seen);
    if (fclose(pending) != 0) {
        fprintf(stderr, "%s: %s: %s\n", PROG, path, strerror(errno));
        return -1;
    }
    fprintf(stderr, "%s: %zu traces x %zu allocators x %u: %zu jobs, %zu done before, %zu to run\n", PROG,
            o->ntraces, o->nvariants, o->repeat, asked, asked - to_run, to_run);
    return (long)to_run;
}

/* Runs the jobs MINE of PLAN by the engine O asks for; 0, or -1. */
static int run_jobs(options *o, const sweep_plan *plan, const char *out, const size_t *mine, size_t to_run)
{
    char err[PATH_MAX + 256], parallel[PATH_MAX];
    int rc = 0;
    if (o->engine.slurm) {
        rc = sweep_run_slurm(&o->engine, out, to_run, err, sizeof err);
    } else if (!on_path("parallel", parallel, sizeof parallel) && o->engine.jobs == 1 && !o->engine.nssh) {
        /* One at a time needs no engine. */
        for (size_t i = 0; i < to_run && rc == 0; i++)
            rc = sweep_run_job(out, &plan->jobs[mine[i]], o->engine.replay, err, sizeof err) < 0 ? -1 : 0;
    } else {
        rc = sweep_run_parallel(&o->engine, out, to_run, err, sizeof err);
    }
    if (rc < 0)
        fprintf(stderr, "%s: %s\n", PROG, err);
    return rc;
}

/* The sweep: plan, run what is missing, collect. */
static int sweep(options *o)
{
    char out[PATH_MAX], self[PATH_MAX], err[PATH_MAX + 256], replay[PATH_MAX];
    make_folder(o->out); /* its results/ is each job's to make: a job may run by hand (--run) */
    if (!realpath(o->out, out)) {
        fprintf(stderr, "%s: %s: %s\n", PROG, o->out, strerror(errno));
        return EXIT_DATA;
    }
    o->engine.self = find_self(self);
    o->engine.replay = find_replay(o->replay, self, replay, sizeof replay);
    /* One sweep at a time in a folder: two would rewrite each other's
     * job list and hand their engines each other's pending jobs. */
    snprintf(err, sizeof err, "%s/.lock", out);
    int lock = open(err, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB) < 0) {
        fprintf(stderr, "%s: %s: %s\n", PROG, out,
                lock >= 0 && errno == EWOULDBLOCK ? "another cmtsweep is sweeping there" : strerror(errno));
        if (lock >= 0)
            close(lock);
        return EXIT_DATA;
    }
    /* The jobs planned there before stay: their results are the folder's. */
    sweep_plan plan = {0};
    if (load_plan(&plan, out) < 0) {
        close(lock);
        return EXIT_DATA;
    }
    /* This sweep's jobs, by their indexes in the plan. */
    size_t asked = 0, *mine = calloc(o->ntraces * o->nvariants * o->repeat, sizeof *mine);
    if (!mine)
        no_memory();
    for (size_t t = 0; t < o->ntraces; t++)
        for (size_t v = 0; v < o->nvariants; v++)
            if (sweep_plan_add(&plan, o->traces[t], o->variants[v], o->repeat, mine, &asked) < 0)
                no_memory();
    int rc = EXIT_DATA;
    long to_run = -1;
    if (sweep_plan_write(&plan, out, err, sizeof err) < 0)
        fprintf(stderr, "%s: %s\n", PROG, err);
    else
        to_run = write_pending(o, &plan, out, mine, asked);
    if (to_run > 0 && run_jobs(o, &plan, out, mine, (size_t)to_run) < 0)
        to_run = -1;
    if (to_run > 0 && o->engine.slurm && !o->engine.wait)
        rc = EXIT_OK; /* collected later */
    else if (to_run >= 0)
        rc = collect(&plan, out);
    free(mine);
    sweep_plan_free(&plan);
    close(lock);
    return rc;
}
