/*
 * sweep.h - cmtsweep's pieces: a matrix of traces x allocator variants x
 * repetitions, each cell one job (one cmtreplay in a fresh process), run
 * by an engine the user already has (GNU parallel, Slurm), collected into
 * results.jsonl and index.html.
 *
 * A sweep's folder OUT holds everything, so that any host sharing it can
 * run any job and a sweep can be resumed or collected later:
 *   OUT/jobs.tsv          every job planned there: ID, repetition, variant, trace
 *   OUT/results/ID.json   a job that ran: one JSON line (status "ok")
 *   OUT/results/ID.failed a job that failed: the same line, status "failed"
 *   OUT/pending           the jobs the current run hands its engine
 *   OUT/slurm/            the job array's script and its logs
 *   OUT/results.jsonl     every job's line, in the matrix's order
 *   OUT/index.html        the page
 */
#ifndef CMT_SWEEP_H
#define CMT_SWEEP_H

#include <stdbool.h>
#include <stddef.h>

/* An allocator and its settings, as -a names it: NAME[:SETTING...], where
 * NAME is what cmtreplay -a takes (preload:LIB.so and plugin:LIB.so
 * included) and each SETTING, space-separated, is VAR=VALUE (put in the
 * job's environment: GLIBC_TUNABLES, MALLOC_CONF...) or a cmtreplay
 * option (--pinned=0.05).  The text as given names the column. */
typedef struct sweep_variant {
    char *allocator;
    char **env;  /* VAR=VALUE */
    char **args; /* cmtreplay options */
    size_t nenv, nargs;
} sweep_variant;

/* Parses TEXT into *V; 0, or -1 with a message in ERR. */
int sweep_variant_parse(const char *text, sweep_variant *v, char *err, size_t errlen);
/* True if TEXT's allocator is a library named by its path: preload:LIB.so
 * or plugin:LIB.so. */
bool sweep_names_library(const char *text);
/* Where TEXT's settings begin: the ':' after the allocator's name (the
 * second ':' for a library's), or NULL if it has none. */
const char *sweep_variant_settings(const char *text);
void sweep_variant_free(sweep_variant *v);

/* One job: a trace against a variant, the REPETITIONth time (from 1). */
typedef struct sweep_job {
    char *id; /* names its files: readable, and unique to its trace, variant and repetition */
    char *trace;
    char *variant;
    unsigned repetition;
} sweep_job;

typedef struct sweep_plan {
    sweep_job *jobs;
    size_t njobs, cap;
    struct cmti_map *index; /* a job's ID's hash -> its index + 1: a study of 10^5 jobs plans in a lookup a job */
} sweep_plan;

/* Adds to PLAN the jobs of TRACE (an absolute path) against VARIANT,
 * repetitions 1 to REPETITIONS, those it does not hold already, and
 * appends the index in PLAN of each of the REPETITIONS jobs to JOBS at
 * *N.  0, or -1 when out of memory. */
int sweep_plan_add(sweep_plan *plan, const char *trace, const char *variant, unsigned repetitions, size_t *jobs,
                   size_t *n);
void sweep_plan_free(sweep_plan *plan);

/* OUT/jobs.tsv into PLAN (nothing if there is none yet); 0, or -1 with a
 * message naming the file and line. */
int sweep_plan_read(sweep_plan *plan, const char *out, char *err, size_t errlen);
/* PLAN as OUT/jobs.tsv, written whole or not at all. */
int sweep_plan_write(const sweep_plan *plan, const char *out, char *err, size_t errlen);
/* The job called ID, or NULL. */
const sweep_job *sweep_plan_find(const sweep_plan *plan, const char *id);

/* The traces PATH names: itself if a file, else every trace file under it
 * (.cmt, and text traces: .trace .txt .log .ops, each perhaps .zst),
 * sorted, as absolute paths appended to *LIST.  0, or -1 with a message. */
int sweep_find_traces(const char *path, char ***list, size_t *n, char *err, size_t errlen);

/* The state of job J in OUT: 1 done, 0 failed or not run. */
bool sweep_job_done(const char *out, const sweep_job *j);

/* Runs job J now, in this process's child: cmtreplay (REPLAY, a path)
 * with J's variant, its report turned into OUT/results/J.json (or
 * .failed).  Returns 0 when the job succeeded, 1 when it failed (its
 * line says why, and so does standard error), -1 when its result could
 * not be written (a message in ERR). */
int sweep_run_job(const char *out, const sweep_job *j, const char *replay, char *err, size_t errlen);

/* The engines: each runs the jobs listed in OUT/pending (one ID a line,
 * N of them) by calling SELF --run OUT ID --replay REPLAY, and returns once they are done
 * (or, for Slurm without waiting, submitted).  0, or -1 with a message. */
typedef struct sweep_engine {
    const char *self;          /* this program, absolute: what every job runs */
    const char *replay;        /* the cmtreplay the jobs run (--replay) */
    unsigned jobs;             /* -j: jobs at once (parallel) */
    const char *const *ssh;    /* --sshlogin/--sshloginfile, as parallel takes them: option, value, ... */
    size_t nssh;
    bool slurm;
    const char *partition;     /* --partition */
    const char *sbatch_args;   /* --sbatch-args, split on spaces */
    bool wait;                 /* Slurm: wait for the array (--wait, the default) */
} sweep_engine;

int sweep_run_parallel(const sweep_engine *e, const char *out, size_t n, char *err, size_t errlen);
int sweep_run_slurm(const sweep_engine *e, const char *out, size_t n, char *err, size_t errlen);

/* Collects OUT: results.jsonl and index.html from PLAN and whatever
 * results are there.  Counts the jobs done, failed and missing; lists the
 * failures (and their messages) on standard error.  0, or -1 with a
 * message. */
typedef struct sweep_counts {
    size_t done, failed, missing;
} sweep_counts;
int sweep_collect(const sweep_plan *plan, const char *out, sweep_counts *counts, char *err, size_t errlen);

/* ------------------------------------------------------------ internals */

/* Appends a copy of S to *LIST of *N strings; 0, or -1 when out of memory. */
int sweep_list_push(char ***list, size_t *n, const char *s);
/* Frees LIST of N strings made by sweep_list_push. */
void sweep_list_free(char **list, size_t n);

/* The text of the file at PATH (a result, a report), its last newline
 * dropped: malloc's, or NULL if it cannot be read. */
char *sweep_read_text(const char *path);

/* What a spawned program writes to descriptor FD (STDOUT_FILENO, or
 * STDERR_FILENO with its standard output thrown away), kept in BUF (LEN
 * bytes, NUL-terminated): its first LEN - 1 bytes, or with TAIL its last. */
typedef struct sweep_capture {
    int fd;
    bool tail;
    char *buf;
    size_t len;
} sweep_capture;

/* Runs ARGV (searched on the PATH) with ENV (NULL: ours), keeping what
 * CAPTURE asks for (NULL: its output is ours).  Its wait status, or -1
 * with errno set if it could not be started. */
int sweep_spawn(char *const argv[], char *const env[], const sweep_capture *capture);

/* A job's result line, its members as the JSON text of each value. */
typedef struct sweep_member {
    char *key;
    char *value; /* JSON text: "a string", 12.5, {...}, null */
} sweep_member;

typedef struct sweep_object {
    sweep_member *members;
    size_t n;
} sweep_object;

/* Parses TEXT, one JSON object, into *O (its members at the top level);
 * 0, or -1 with a message giving the byte offset of what is wrong. */
int sweep_json_parse(const char *text, sweep_object *o, char *err, size_t errlen);
void sweep_json_free(sweep_object *o);
/* Member KEY's text, or NULL. */
const char *sweep_json_get(const sweep_object *o, const char *key);
/* Member KEY as a number; NAN if it is missing or not a number. */
double sweep_json_number(const sweep_object *o, const char *key);
/* Member KEY as a string (its escapes undone), into BUF; false if missing. */
bool sweep_json_string(const sweep_object *o, const char *key, char *buf, size_t len);

/* The figures of the jobs of one trace against one variant. */
typedef struct sweep_cell {
    double *seconds, *footprint, *rss, *mean_footprint;
    size_t n, failed;
    double peak_live, mean_live; /* the trace's: the optimum */
    char *error;                 /* the first failure's message */
} sweep_cell;

/* Writes OUT/index.html from CELLS[trace][variant]. */
int sweep_write_page(const char *out, char *const *traces, size_t ntraces, char *const *variants,
                     size_t nvariants, sweep_cell *const *cells, const sweep_counts *counts, char *err,
                     size_t errlen);

/* The median of the N values at V (sorted in place); NAN for none. */
double sweep_median(double *v, size_t n);

#endif /* CMT_SWEEP_H */
