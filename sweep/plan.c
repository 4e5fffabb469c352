/*
 * plan.c - what a sweep is to run: the allocator variants, the traces a
 * folder holds, and the jobs, kept in OUT/jobs.tsv so that any host can
 * run any of them by its ID, and a rerun finds what is already done.
 */
#define _GNU_SOURCE /* strdup, realpath */
#include "sweep.h"
#include "cmt_internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int no_memory(char *err, size_t errlen)
{
    snprintf(err, errlen, CMT_NO_MEMORY);
    return -1;
}

int sweep_list_push(char ***list, size_t *n, const char *s)
{
    char **grown = cmti_realloc(*list, (*n + 1) * sizeof *grown);
    if (!grown)
        return -1;
    *list = grown;
    if (!(grown[*n] = strdup(s)))
        return -1;
    ++*n;
    return 0;
}

void sweep_list_free(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    cmti_free(list);
}

/* True if S is an environment variable's name. */
static bool is_name(const char *s, size_t len)
{
    if (!len || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 1; i < len; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
            return false;
    return true;
}

/* cmtreplay options the sweep sets itself, or that would make a job
 * write elsewhere than its result. */
static bool reserved_option(const char *arg)
{
    static const char *const reserved[] = {"-a", "--allocator", "--report", "--json", "--compare", "-v",
                                           "--verbose", "-o", "--output", "-r", "--repeat", "--timeline",
                                           "--maxmem", "-h", "--help", "-V", "--version"};
    size_t len = strcspn(arg, "=");
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
        if (strlen(reserved[i]) == len && strncmp(arg, reserved[i], len) == 0)
            return true;
    return arg[1] && arg[1] != '-' && strchr("avorhV", arg[1]); /* -aX, -ofile... */
}

bool sweep_names_library(const char *text)
{
    return strncmp(text, "preload:", 8) == 0 || strncmp(text, "plugin:", 7) == 0;
}

const char *sweep_variant_settings(const char *text)
{
    const char *colon = strchr(text, ':');
    return colon && sweep_names_library(text) ? strchr(colon + 1, ':') : colon;
}

int sweep_variant_parse(const char *text, sweep_variant *v, char *err, size_t errlen)
{
    *v = (sweep_variant){0};
    const char *colon = sweep_variant_settings(text);
    size_t name_len = colon ? (size_t)(colon - text) : strlen(text);
    if (!(v->allocator = strndup(text, name_len)))
        goto out_of_memory;
    if (!name_len || strchr(v->allocator, ',') || strchr(v->allocator, ' ')) {
        snprintf(err, errlen, "'%s': no allocator name before the settings", text);
        goto fail;
    }
    for (const char *s = colon ? colon + 1 : ""; *s;) {
        s += strspn(s, " ");
        size_t len = strcspn(s, " ");
        if (!len)
            break;
        char *word = strndup(s, len);
        if (!word)
            goto out_of_memory;
        const char *eq = strchr(word, '=');
        int rc;
        if (word[0] == '-' && word[1]) {
            if (reserved_option(word)) {
                snprintf(err, errlen, "'%s': %s is cmtsweep's to set, not a variant's", text, word);
                free(word);
                goto fail;
            }
            rc = sweep_list_push(&v->args, &v->nargs, word);
        } else if (eq && is_name(word, (size_t)(eq - word))) {
            rc = sweep_list_push(&v->env, &v->nenv, word);
        } else {
            snprintf(err, errlen,
                     "'%s': '%s' is neither VAR=VALUE (for the environment) nor a cmtreplay option (--pinned=0.05)",
                     text, word);
            free(word);
            goto fail;
        }
        free(word);
        if (rc < 0)
            goto out_of_memory;
        s += len;
    }
    if (colon && !v->nenv && !v->nargs) {
        snprintf(err, errlen, "'%s': nothing after the ':'", text);
        goto fail;
    }
    return 0;
out_of_memory:
    no_memory(err, errlen);
fail:
    sweep_variant_free(v);
    return -1;
}

void sweep_variant_free(sweep_variant *v)
{
    sweep_list_free(v->env, v->nenv);
    sweep_list_free(v->args, v->nargs);
    free(v->allocator);
    *v = (sweep_variant){0};
}

/* S with every character a file name should not hold as '_', at most
 * MOST of them, appended to BUF at *AT. */
static void put_slug(char *buf, size_t len, size_t *at, const char *s, size_t most)
{
    for (size_t i = 0; s[i] && i < most && *at + 1 < len; i++) {
        char c = s[i];
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                     c == '-' || c == '_';
        buf[(*at)++] = plain ? c : '_';
    }
    buf[*at] = '\0';
}

/* The ID of a job: the trace's file name and the variant, readable, then
 * the repetition and a hash of the trace's whole path and the variant, so
 * that two traces of one name in different folders differ. */
static char *job_id(const char *trace, const char *variant, unsigned repetition)
{
    char id[160];
    size_t at = 0;
    put_slug(id, sizeof id, &at, cmti_base_name(trace), 48);
    put_slug(id, sizeof id, &at, "--", 2);
    /* A library's variant by the library's file name, not its folders. */
    const char *shown = variant;
    char short_name[128];
    if (sweep_names_library(variant)) {
        const char *library = strchr(variant, ':') + 1, *settings = sweep_variant_settings(variant);
        const char *slash = memrchr(library, '/', (size_t)((settings ? settings : library + strlen(library)) - library));
        if (slash) {
            snprintf(short_name, sizeof short_name, "%.*s%s", (int)(library - variant), variant, slash + 1);
            shown = short_name;
        }
    }
    put_slug(id, sizeof id, &at, shown, 40);
    uint64_t h = cmti_hash_string(cmti_hash_string(CMTI_HASH_START, trace), "\t");
    h = cmti_hash_string(h, variant);
    snprintf(id + at, sizeof id - at, "--r%u-%08x", repetition, (unsigned)(h ^ h >> 32));
    return strdup(id);
}

static uint64_t id_key(const char *id)
{
    uint64_t h = cmti_hash_string(CMTI_HASH_START, id);
    return h ? h : 1; /* the map's keys are not 0 */
}

const sweep_job *sweep_plan_find(const sweep_plan *plan, const char *id)
{
    const cmti_map_entry *e = plan->index ? cmti_map_find(plan->index, id_key(id)) : NULL;
    if (!e)
        return NULL;
    if (strcmp(plan->jobs[e->value[0] - 1].id, id) == 0)
        return &plan->jobs[e->value[0] - 1];
    /* Another ID of the same hash holds the entry: look at every job. */
    for (size_t i = 0; i < plan->njobs; i++)
        if (strcmp(plan->jobs[i].id, id) == 0)
            return &plan->jobs[i];
    return NULL;
}

/* Adds a job as it is (from jobs.tsv, or made here), taking ID: the
 * index in PLAN of the job of that ID, or -1 when out of memory. */
static long add_job(sweep_plan *plan, char *id, const char *trace, const char *variant, unsigned repetition)
{
    if (!id)
        return -1;
    const sweep_job *had = sweep_plan_find(plan, id);
    if (had) {
        free(id);
        return had - plan->jobs;
    }
    if (!plan->index && (plan->index = cmti_calloc(1, sizeof *plan->index)) && cmti_map_init(plan->index, 1) < 0)
        cmti_map_destroy(plan->index);
    if (plan->njobs == plan->cap) {
        size_t cap = plan->cap ? 2 * plan->cap : 64;
        sweep_job *grown = cmti_realloc(plan->jobs, cap * sizeof *grown);
        if (grown) {
            plan->jobs = grown;
            plan->cap = cap;
        }
    }
    cmti_map_entry *e = NULL;
    sweep_job *j = plan->njobs < plan->cap ? &plan->jobs[plan->njobs] : NULL;
    if (j)
        *j = (sweep_job){id, strdup(trace), strdup(variant), repetition};
    if (!j || !j->trace || !j->variant || !plan->index || !plan->index->slots ||
        !(e = cmti_map_insert(plan->index, id_key(id)))) {
        if (j) {
            free(j->trace);
            free(j->variant);
        }
        free(id);
        return -1; /* out of memory: the plan is only to be freed */
    }
    if (!e->value[0])
        e->value[0] = plan->njobs + 1; /* else another ID of its hash has it, and find looks further */
    return (long)plan->njobs++;
}

int sweep_plan_add(sweep_plan *plan, const char *trace, const char *variant, unsigned repetitions, size_t *jobs,
                   size_t *n)
{
    for (unsigned r = 1; r <= repetitions; r++) {
        long at = add_job(plan, job_id(trace, variant, r), trace, variant, r);
        if (at < 0)
            return -1;
        jobs[(*n)++] = (size_t)at;
    }
    return 0;
}

void sweep_plan_free(sweep_plan *plan)
{
    for (size_t i = 0; i < plan->njobs; i++) {
        free(plan->jobs[i].id);
        free(plan->jobs[i].trace);
        free(plan->jobs[i].variant);
    }
    cmti_free(plan->jobs);
    if (plan->index)
        cmti_map_destroy(plan->index); /* a map whose making failed too */
    cmti_free(plan->index);
    *plan = (sweep_plan){0};
}

int sweep_plan_read(sweep_plan *plan, const char *out, char *err, size_t errlen)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/jobs.tsv", out);
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    unsigned number = 0;
    int rc = 0;
    while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
        number++;
        if (len && line[len - 1] == '\n')
            line[--len] = '\0';
        if (number == 1 && strncmp(line, "id\t", 3) == 0)
            continue; /* the header */
        char *id = line, *rep = strchr(id, '\t'), *variant = rep ? strchr(rep + 1, '\t') : NULL,
             *trace = variant ? strchr(variant + 1, '\t') : NULL;
        char *end = NULL;
        unsigned long r = rep ? strtoul(rep + 1, &end, 10) : 0;
        if (!trace || end != variant || r == 0 || r > UINT32_MAX || trace[1] != '/') {
            snprintf(err, errlen, "%s:%u: not a job (ID, repetition, variant, absolute trace path, tab-separated)", path,
                     number);
            rc = -1;
            break;
        }
        *rep = *variant = *trace = '\0';
        if (add_job(plan, strdup(id), trace + 1, variant + 1, (unsigned)r) < 0)
            rc = no_memory(err, errlen);
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        rc = -1;
    }
    free(line);
    fclose(f);
    return rc;
}

int sweep_plan_write(const sweep_plan *plan, const char *out, char *err, size_t errlen)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/jobs.tsv", out);
    cmt_output *f = cmt_output_open(path, err, errlen);
    if (!f)
        return -1;
    cmt_output_printf(f, "id\trepetition\tallocator\ttrace\n");
    for (size_t i = 0; i < plan->njobs; i++) {
        const sweep_job *j = &plan->jobs[i];
        cmt_output_printf(f, "%s\t%u\t%s\t%s\n", j->id, j->repetition, j->variant, j->trace);
    }
    return cmt_output_commit(f, err, errlen);
}

/* A trace by its name: a .cmt, or a text trace, perhaps compressed with
 * zstd (what cmtreplay reads as it is). */
static bool looks_like_trace(const char *name)
{
    static const char *const kinds[] = {".cmt", ".trace", ".txt", ".log", ".ops"};
    char base[NAME_MAX + 1];
    snprintf(base, sizeof base, "%s", name);
    if (cmti_has_suffix(base, ".zst"))
        base[strlen(base) - 4] = '\0';
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++)
        if (cmti_has_suffix(base, kinds[k]))
            return true;
    return false;
}

/* Appends trace PATH to *LIST; 0, or -1 with a message. */
static int add_trace(char ***list, size_t *n, const char *path, char *err, size_t errlen)
{
    if (strpbrk(path, "\t\n")) {
        snprintf(err, errlen, "%s: a tab or newline in the path (the job list is tab-separated)", path);
        return -1;
    }
    return sweep_list_push(list, n, path) < 0 ? no_memory(err, errlen) : 0;
}

static int visible(const struct dirent *e)
{
    return e->d_name[0] != '.';
}

/* Every trace under folder DIR (absolute), into LIST, sorted. */
static int walk(const char *dir, char ***list, size_t *n, char *err, size_t errlen)
{
    struct dirent **names;
    int count = scandir(dir, &names, visible, alphasort);
    if (count < 0) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < count && rc == 0; i++) {
        char path[PATH_MAX];
        struct stat st;
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name) >= sizeof path || stat(path, &st) < 0)
            continue; /* a dangling link, or a name too long to hand on */
        if (S_ISDIR(st.st_mode))
            rc = walk(path, list, n, err, errlen);
        else if (S_ISREG(st.st_mode) && looks_like_trace(names[i]->d_name))
            rc = add_trace(list, n, path, err, errlen);
    }
    for (int i = 0; i < count; i++)
        free(names[i]);
    free(names);
    return rc;
}

int sweep_find_traces(const char *path, char ***list, size_t *n, char *err, size_t errlen)
{
    char full[PATH_MAX];
    struct stat st;
    if (!realpath(path, full) || stat(full, &st) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return add_trace(list, n, full, err, errlen);
    size_t before = *n;
    if (walk(full, list, n, err, errlen) < 0)
        return -1;
    if (*n == before) {
        snprintf(err, errlen, "%s: no traces in it (.cmt, .trace, .txt, .log, .ops, perhaps .zst)", path);
        return -1;
    }
    return 0;
}
