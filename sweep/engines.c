/*
 * engines.c - who runs a sweep's jobs: GNU parallel (this host, or hosts
 * over ssh sharing the folder) or a Slurm job array.  cmtsweep only says
 * what to run; each engine schedules, retries and spreads as its users
 * have set it up to.
 */
#define _GNU_SOURCE /* strdup */
#include "sweep.h"
#include "cmt_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Slurm's MaxArraySize when scontrol does not say. */
#define DEFAULT_MAX_ARRAY 1001
/* Seconds between two looks at the queue, and the looks that may fail in
 * a row (a controller restarting) before the wait is given up. */
#define SQUEUE_EVERY 1
#define SQUEUE_PATIENCE 60

/* Runs ARGV, its standard output into OUTPUT (LEN bytes; NULL: ours). */
static int spawn(char *const argv[], char *output, size_t len)
{
    sweep_capture capture = {STDOUT_FILENO, false, output, len};
    return sweep_spawn(argv, NULL, output ? &capture : NULL);
}

/* PROGRAM could not be started (errno says why): MISSING if it is not
 * installed, else the system's reason, into ERR; -1. */
static int not_started(const char *program, const char *missing, char *err, size_t errlen)
{
    if (errno == ENOENT)
        snprintf(err, errlen, "%s", missing);
    else
        snprintf(err, errlen, "%s: %s", program, strerror(errno));
    return -1;
}

int sweep_run_parallel(const sweep_engine *e, const char *out, size_t n, char *err, size_t errlen)
{
    (void)n;
    char jobs[32], joblog[PATH_MAX], pending[PATH_MAX];
    snprintf(jobs, sizeof jobs, "%u", e->jobs);
    snprintf(joblog, sizeof joblog, "%s/parallel.log", out);
    snprintf(pending, sizeof pending, "%s/pending", out);
    const char **argv = cmti_malloc((e->nssh + 24) * sizeof *argv);
    if (!argv) {
        snprintf(err, errlen, CMT_NO_MEMORY);
        return -1;
    }
    size_t k = 0;
    argv[k++] = "parallel";
    argv[k++] = "--will-cite";
    argv[k++] = "--halt";
    argv[k++] = "never";
    argv[k++] = "-j";
    argv[k++] = jobs;
    argv[k++] = "--joblog";
    argv[k++] = joblog;
    if (isatty(STDERR_FILENO))
        argv[k++] = "--bar";
    for (size_t i = 0; i < e->nssh; i++)
        argv[k++] = e->ssh[i];
    argv[k++] = "-q"; /* each word of the command quoted, on this host or over ssh */
    argv[k++] = e->self;
    argv[k++] = "--run";
    argv[k++] = out;
    argv[k++] = "{}";
    argv[k++] = "--replay";
    argv[k++] = e->replay;
    argv[k++] = "::::";
    argv[k++] = pending;
    argv[k] = NULL;
    int status = spawn((char *const *)argv, NULL, 0);
    cmti_free(argv);
    if (status == -1)
        return not_started("parallel", "GNU parallel is not installed (apt-get install parallel; tools/setup.sh installs it)",
                           err, errlen);
    /* parallel's status counts the jobs that failed: each has said why,
     * and its result says so.  Only parallel's own failure matters here. */
    if (WIFSIGNALED(status) || WEXITSTATUS(status) == 255) {
        snprintf(err, errlen, "parallel %s", WIFSIGNALED(status) ? "was killed" : "failed (its message is above)");
        return -1;
    }
    return 0;
}

/* S single-quoted for sh. */
static void put_quoted(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++)
        *s == '\'' ? fputs("'\\''", f) : fputc(*s, f);
    fputc('\'', f);
}

/* The largest array Slurm takes, by scontrol; DEFAULT_MAX_ARRAY if it
 * will not say. */
static size_t max_array_size(void)
{
    char *argv[] = {"scontrol", "show", "config", NULL};
    static char text[1 << 16];
    int status = spawn(argv, text, sizeof text);
    const char *at = status == 0 ? strstr(text, "MaxArraySize") : NULL;
    if (!at)
        return DEFAULT_MAX_ARRAY;
    at = strchr(at, '=');
    long most = at ? strtol(at + 1, NULL, 10) : 0;
    return most > 0 ? (size_t)most : DEFAULT_MAX_ARRAY;
}

/* Waits until Slurm's queue no longer holds job ID: squeue every
 * SQUEUE_EVERY seconds (sbatch --wait's own polling backs off to half a
 * minute, which a short array then spends idle). */
static int wait_for(const char *id, char *err, size_t errlen)
{
    char *argv[] = {"squeue", "-h", "-j", (char *)id, "-o", "%i", NULL};
    char listed[4096];
    for (unsigned failures = 0;;) {
        sleep(SQUEUE_EVERY);
        int status = spawn(argv, listed, sizeof listed);
        if (status == 0 && !listed[0])
            return 0;
        if (status == 0 && listed[0]) {
            failures = 0;
            continue;
        }
        if (++failures == SQUEUE_PATIENCE) {
            snprintf(err, errlen, "squeue failed %u times in a row while waiting for job array %s "
                                  "('cmtsweep --collect' gathers what it has done)", failures, id);
            return -1;
        }
    }
}

int sweep_run_slurm(const sweep_engine *e, const char *out, size_t n, char *err, size_t errlen)
{
    char dir[PATH_MAX], list[PATH_MAX + 128], script[PATH_MAX + 128], pending[PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/slurm", out);
    if (mkdir(dir, 0777) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    /* Each submission its own list: a later sweep in the same folder may
     * be submitted before this one's array has run. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char stamp[64];
    snprintf(stamp, sizeof stamp, "%lld.%09ld.%ld", (long long)ts.tv_sec, ts.tv_nsec, (long)getpid());
    snprintf(list, sizeof list, "%s/jobs-%s.list", dir, stamp);
    snprintf(script, sizeof script, "%s/sweep-%s.sh", dir, stamp);
    snprintf(pending, sizeof pending, "%s/pending", out);
    if (rename(pending, list) < 0) {
        snprintf(err, errlen, "%s: %s", list, strerror(errno));
        return -1;
    }
    size_t tasks = max_array_size();
    if (tasks > n)
        tasks = n;
    FILE *f = fopen(script, "w");
    if (!f) {
        snprintf(err, errlen, "%s: %s", script, strerror(errno));
        return -1;
    }
    fprintf(f, "#!/bin/sh\n# cmtsweep's job array: task i runs jobs i, i + %zu, ... of the list.\nlist=", tasks);
    put_quoted(f, list);
    fprintf(f, "\nself=");
    put_quoted(f, e->self);
    fprintf(f, "\nout=");
    put_quoted(f, out);
    fprintf(f, "\nreplay=");
    put_quoted(f, e->replay);
    fprintf(f, "\ni=$SLURM_ARRAY_TASK_ID\nstatus=0\n"
               "while [ \"$i\" -lt %zu ]; do\n"
               "  id=$(sed -n \"$((i + 1))p\" \"$list\")\n"
               "  \"$self\" --run \"$out\" \"$id\" --replay \"$replay\" || status=1\n"
               "  i=$((i + %zu))\n"
               "done\n"
               "exit $status\n",
            n, tasks);
    if (fclose(f) != 0) {
        snprintf(err, errlen, "%s: %s", script, strerror(errno));
        return -1;
    }
    char array[64], output[PATH_MAX + 32], partition[256];
    snprintf(array, sizeof array, "--array=0-%zu", tasks - 1);
    snprintf(output, sizeof output, "--output=%s/%%A_%%a.log", dir);
    const char *argv[64];
    size_t k = 0;
    argv[k++] = "sbatch";
    argv[k++] = "--parsable";
    argv[k++] = "--job-name=cmtsweep";
    argv[k++] = "--ntasks=1";
    argv[k++] = array;
    argv[k++] = output;
    if (e->partition) {
        snprintf(partition, sizeof partition, "--partition=%s", e->partition);
        argv[k++] = partition;
    }
    char *extra = e->sbatch_args ? strdup(e->sbatch_args) : NULL, *save = NULL;
    for (char *w = extra ? strtok_r(extra, " \t", &save) : NULL; w && k < 60; w = strtok_r(NULL, " \t", &save))
        argv[k++] = w;
    argv[k++] = script;
    argv[k] = NULL;
    char id[256];
    int status = spawn((char *const *)argv, id, sizeof id);
    free(extra);
    if (status == -1)
        return not_started("sbatch", "sbatch is not installed: --slurm needs Slurm's commands (apt-get install slurm-client)",
                           err, errlen);
    id[strcspn(id, ";\n")] = '\0';
    if (!id[0]) {
        snprintf(err, errlen, "sbatch did not submit the job array (its message is above)");
        return -1;
    }
    if (!e->wait) {
        fprintf(stderr,
                "cmtsweep: submitted Slurm job array %s (%zu jobs in %zu tasks); once it is done, "
                "'cmtsweep --collect %s' gathers the results\n",
                id, n, tasks, out);
        return 0;
    }
    fprintf(stderr, "cmtsweep: Slurm job array %s: %zu jobs in %zu tasks; waiting for it\n", id, n, tasks);
    return wait_for(id, err, errlen);
}
