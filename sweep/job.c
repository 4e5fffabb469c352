/*
 * job.c - one job of a sweep: cmtreplay against one variant, in a fresh
 * process, its JSON report turned into the job's result line, written
 * whole or not at all, so that a job killed halfway leaves nothing and is
 * run again by the next sweep.
 */
#define _GNU_SOURCE /* strsignal, gethostname */
#include "sweep.h"
#include "analysis.h"
#include "cmt_internal.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ; /* the job's environment starts from it */

/* What a job says on standard error, kept: its last bytes, where the
 * message is. */
#define MESSAGE_MOST 2048

static void result_path(char *buf, size_t len, const char *out, const sweep_job *j, const char *suffix)
{
    snprintf(buf, len, "%s/results/%s.%s", out, j->id, suffix);
}

bool sweep_job_done(const char *out, const sweep_job *j)
{
    char path[PATH_MAX];
    result_path(path, sizeof path, out, j, "json");
    return access(path, F_OK) == 0;
}

/* The environment for the job: the sweep's own, with the variant's
 * settings in place of any of the same names. */
static char **job_environment(const sweep_variant *v)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = cmti_malloc((n + v->nenv + 1) * sizeof *env);
    if (!env)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool replaced = false;
        for (size_t s = 0; s < v->nenv && !replaced; s++) {
            size_t len = strcspn(v->env[s], "=") + 1;
            replaced = strncmp(environ[i], v->env[s], len) == 0;
        }
        if (!replaced)
            env[k++] = environ[i];
    }
    for (size_t s = 0; s < v->nenv; s++)
        env[k++] = v->env[s];
    env[k] = NULL;
    return env;
}

/* MESSAGE without its trailing newlines; empty lines between kept. */
static void trim(char *message)
{
    size_t n = strlen(message);
    while (n && (message[n - 1] == '\n' || message[n - 1] == ' '))
        message[--n] = '\0';
}

/* The result line: the job, what became of it, and the report's members
 * (its "allocator", the name without the settings, as "allocator_name"). */
static int write_result(const char *out, const sweep_job *j, bool ok, int exit_status, double seconds,
                        const char *message, const sweep_object *report, char *err, size_t errlen)
{
    char path[PATH_MAX], other[PATH_MAX], host[256] = "";
    result_path(path, sizeof path, out, j, ok ? "json" : "failed");
    result_path(other, sizeof other, out, j, "failed");
    gethostname(host, sizeof host - 1);
    cmt_output *f = cmt_output_open(path, err, errlen);
    if (!f)
        return -1;
    cmt_output_printf(f, "{\"job\": ");
    cmt_json_string(f, j->id);
    cmt_output_printf(f, ", \"trace\": ");
    cmt_json_string(f, j->trace);
    cmt_output_printf(f, ", \"allocator\": ");
    cmt_json_string(f, j->variant);
    cmt_output_printf(f, ", \"repetition\": %u, \"status\": \"%s\", \"exit_status\": %d, \"job_seconds\": %.3f, "
                         "\"host\": ",
                      j->repetition, ok ? "ok" : "failed", exit_status, seconds);
    cmt_json_string(f, host);
    if (!ok) {
        cmt_output_printf(f, ", \"error\": ");
        cmt_json_string(f, message);
    }
    for (size_t i = 0; report && i < report->n; i++) {
        const sweep_member *m = &report->members[i];
        cmt_output_printf(f, ", ");
        cmt_json_string(f, strcmp(m->key, "allocator") == 0 ? "allocator_name" : m->key);
        cmt_output_printf(f, ": %s", m->value);
    }
    cmt_output_printf(f, "}\n");
    if (cmt_output_commit(f, err, errlen) < 0)
        return -1;
    /* A success ends an earlier failure; a failure never ends a success
     * (a job's stray copy, killed late, must not undo its rerun). */
    if (ok)
        unlink(other);
    return 0;
}

int sweep_run_job(const char *out, const sweep_job *j, const char *replay, char *err, size_t errlen)
{
    char results[PATH_MAX], report_path[PATH_MAX], message[MESSAGE_MOST] = "";
    snprintf(results, sizeof results, "%s/results", out);
    if (mkdir(results, 0777) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: %s", results, strerror(errno));
        return -1;
    }
    result_path(report_path, sizeof report_path, out, j, "report");
    unlink(report_path);
    sweep_variant v;
    sweep_object report = {0};
    bool have_report = false;
    int status = -1, exit_status = -1;
    double start = cmti_seconds(CLOCK_MONOTONIC);
    if (sweep_variant_parse(j->variant, &v, message, sizeof message) == 0) {
        char **env = job_environment(&v);
        const char **argv = cmti_malloc((v.nargs + 10) * sizeof *argv);
        if (env && argv) {
            size_t n = 0;
            argv[n++] = replay;
            argv[n++] = "-a";
            argv[n++] = v.allocator;
            argv[n++] = "--json";
            argv[n++] = "--report";
            argv[n++] = report_path;
            for (size_t i = 0; i < v.nargs; i++)
                argv[n++] = v.args[i];
            argv[n++] = j->trace; /* absolute: never taken for an option */
            argv[n] = NULL;
            sweep_capture capture = {STDERR_FILENO, true, message, sizeof message};
            status = sweep_spawn((char *const *)argv, env, &capture);
            if (status == -1)
                snprintf(message, sizeof message, "%s: %s", replay, strerror(errno));
        } else {
            snprintf(message, sizeof message, CMT_NO_MEMORY);
        }
        cmti_free(env);
        cmti_free(argv);
        sweep_variant_free(&v);
    }
    double seconds = cmti_seconds(CLOCK_MONOTONIC) - start;
    trim(message);
    if (status != -1 && WIFSIGNALED(status)) {
        size_t at = strlen(message);
        snprintf(message + at, sizeof message - at, "%scmtreplay died of signal %d (%s)", at ? "\n" : "",
                 WTERMSIG(status), strsignal(WTERMSIG(status)));
    } else if (status != -1) {
        exit_status = WEXITSTATUS(status);
    }
    char *text = sweep_read_text(report_path);
    if (text) {
        char why[256];
        have_report = sweep_json_parse(text, &report, why, sizeof why) == 0;
        if (!have_report && exit_status == 0)
            snprintf(message, sizeof message, "its report is not the JSON cmtsweep expects: %s", why);
        free(text);
    } else if (exit_status == 0) {
        snprintf(message, sizeof message, "cmtreplay wrote no report");
    }
    unlink(report_path);
    bool ok = exit_status == 0 && have_report;
    if (!ok && !message[0])
        snprintf(message, sizeof message, "cmtreplay exited with status %d", exit_status);
    int rc = write_result(out, j, ok, exit_status, seconds, message, have_report ? &report : NULL, err, errlen);
    sweep_json_free(&report);
    if (rc < 0)
        return -1;
    if (!ok)
        fprintf(stderr, "cmtsweep: %s (%s, %s, repetition %u) failed: %s\n", j->id, j->trace, j->variant,
                j->repetition, message);
    return ok ? 0 : 1;
}
