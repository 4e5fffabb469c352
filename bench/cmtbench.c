/*
 * cmtbench - size and speed of the .cmt format, side by side with zstd -3,
 * zstd -19, xz -9 and zpaq -m5 of the same text, for every trace in the
 * folders it is given.
 *
 *     cmtbench TRACE2CMT FOLDER...
 *
 * For each trace: bytes per event of the text, of zstd -3, zstd -19, xz -9
 * and zpaq -m5 (context mixing, the smallest a general coder gets: of the
 * text, or of the raw .cmt, whichever is smaller; "-" without Debian's
 * zpaq), and of .cmt raw, at -3, at the default level (-9), at -19, and at
 * the default level keeping the text's addresses (--addresses, beside xz -9
 * of the text, which has them too); then the speed
 * of trace2cmt against zstd -3 on the same text file (whole commands, best
 * of five runs), and the speed of decoding .cmt against zstd -d.  Then,
 * for each trace, a second table: every allocator's footprint over the peak
 * of live bytes and its time per event, rmalloc with and without
 * compaction, from cmtreplay (beside TRACE2CMT) in the same run.
 */
#include <cmt.h>
#include "cmt_internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define RUNS 5

static char scratch[256];

static double now(void)
{
    return cmti_seconds(CLOCK_MONOTONIC);
}

/* Runs ARGV with stdout to OUT (or /dev/null); returns the wall time in
 * seconds, or -1 if it failed. */
static double timed_run(char *const argv[], const char *out)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out ? out : "/dev/null",
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    double t0 = now();
    pid_t pid;
    int status = -1;
    if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) == 0)
        waitpid(pid, &status, 0);
    double t = now() - t0;
    posix_spawn_file_actions_destroy(&fa);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? t : -1;
}

static double best_run(char *const argv[], const char *out)
{
    double best = -1;
    for (int i = 0; i < RUNS; i++) {
        double t = timed_run(argv, out);
        if (t < 0)
            return -1;
        if (best < 0 || t < best)
            best = t;
    }
    return best;
}

static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* Bytes of PATH through zpaq -m5 (its archive, headers and all, as a user
 * would keep it), or -1 without zpaq. */
static long long zpaq_size(const char *path)
{
    char archive[512];
    snprintf(archive, sizeof archive, "%s/zpaq.zpaq", scratch);
    unlink(archive);
    char *zpaq[] = {"zpaq", "a", archive, (char *)path, "-m5", NULL};
    return timed_run(zpaq, NULL) < 0 ? -1 : file_size(archive);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The trace as plain text in the scratch folder. */
static const char *plain_text(const char *path)
{
    static char text[512];
    snprintf(text, sizeof text, "%s/trace.txt", scratch);
    char *cat[] = {"cat", (char *)path, NULL};
    char *bz[] = {"bzip2", "-dc", (char *)path, NULL};
    char *zs[] = {"zstd", "-dc", (char *)path, NULL};
    char **argv = ends_with(path, ".bz2") ? bz : ends_with(path, ".zst") ? zs : cat;
    return timed_run(argv, text) < 0 ? NULL : text;
}

/* Decodes a .cmt file; returns events per second, best of RUNS. */
static double decode_rate(const char *path, unsigned long long *events)
{
    double best = 0;
    for (int i = 0; i < RUNS; i++) {
        char err[512];
        cmt_reader *r = cmt_reader_open(path, err, sizeof err);
        if (!r)
            return 0;
        cmt_event ev;
        unsigned long long n = 0;
        double t0 = now();
        while (cmt_reader_next(r, &ev) > 0)
            n++;
        double rate = n / (now() - t0);
        cmt_reader_close(r);
        *events = n;
        if (rate > best)
            best = rate;
    }
    return best;
}

/* FIELD's number in the JSON object that starts at OBJECT, or -1. */
static double json_number(const char *object, const char *field)
{
    char key[64];
    snprintf(key, sizeof key, "\"%s\": ", field);
    const char *at = strstr(object, key);
    return at ? strtod(at + strlen(key), NULL) : -1;
}

typedef struct replay_row {
    char name[64];
    double overhead[4], ns[4];
    double at_peak[4], over_time[4]; /* the footprint over the live bytes at its peak, and over the replay */
    double aligned_floor, handle_floor; /* cmtstat's aligned peak over the peak live; with 4 bytes a block more */
    double harness_ns, untouched_ns; /* the null replay's and glibc's, --serial --no-touch */
} replay_row;

static replay_row replay_rows[64];
static int nreplay_rows;

/* What the shell command CMD prints, the first LEN - 1 bytes, in OUT
 * ("" if it could not be run). */
static void command_output(const char *cmd, char *out, size_t len)
{
    FILE *p = popen(cmd, "r");
    size_t n = p ? fread(out, 1, len - 1, p) : 0;
    out[n] = '\0';
    if (p)
        pclose(p);
}

/* The floors of the trace at CMT (cmtstat --json): every live block
 * rounded up to 16 bytes, and that with a 4-byte handle a block, as a
 * handle-based allocator of 16-byte alignment needs at the least, each
 * over the peak of live bytes. */
static void read_floors(const char *dir, const char *cmt, replay_row *row)
{
    char cmd[2048], out[8192];
    snprintf(cmd, sizeof cmd, "%scmtstat --json '%s'", dir, cmt);
    command_output(cmd, out, sizeof out);
    double live = json_number(out, "peak_live_bytes"), aligned = json_number(out, "peak_aligned_bytes"),
           blocks = json_number(out, "peak_aligned_blocks");
    row->aligned_floor = live > 0 ? aligned / live : 0;
    row->handle_floor = live > 0 ? (aligned + 4 * blocks) / live : 0;
}

/* Replays the default-level file under every allocator, and rmalloc
 * without compaction, through cmtreplay --json; then the replayer's own
 * cost (the null allocator's) beside glibc's, serial and writing no
 * bytes, for which the target is 10 ns. */
static void bench_replays(const char *trace2cmt, const char *cmt, const char *name)
{
    if (nreplay_rows == 64)
        return;
    replay_row *row = &replay_rows[nreplay_rows++];
    snprintf(row->name, sizeof row->name, "%s", name);
    char dir[512];
    snprintf(dir, sizeof dir, "%s", trace2cmt);
    char *slash = strrchr(dir, '/');
    *(slash ? slash + 1 : dir) = '\0';
    read_floors(dir, cmt, row);
    const char *runs[3] = {"-a system,jemalloc,rmalloc", "-a rmalloc --no-compact",
                           "-a null,system --serial --no-touch -r 3"};
    int column = 0;
    for (int i = 0; i < 3; i++) {
        char cmd[2048], out[8192];
        snprintf(cmd, sizeof cmd, "%scmtreplay --json %s '%s'", dir, runs[i], cmt);
        command_output(cmd, out, sizeof out);
        for (const char *obj = strstr(out, "{"); obj; obj = strstr(obj + 1, "{\"allocator")) {
            if (i == 2) {
                row->harness_ns = json_number(obj, "harness_ns_per_event");
                const char *glibc = "{\"allocator\": \"system\"";
                if (strncmp(obj, glibc, strlen(glibc)) == 0)
                    row->untouched_ns = json_number(obj, "ns_per_event");
            } else if (column < 4) {
                row->overhead[column] = json_number(obj, "overhead");
                row->at_peak[column] = json_number(obj, "overhead_at_peak_footprint");
                row->over_time[column] = json_number(obj, "mean_overhead");
                row->ns[column] = json_number(obj, "ns_per_event");
                column++;
            }
        }
    }
}

/* A ratio for a table, "-" where the report has none (null: nothing was
 * live). */
static const char *ratio_cell(double x)
{
    static char buf[32];
    if (x <= 0)
        return "-";
    snprintf(buf, sizeof buf, "%.3f", x);
    return buf;
}

static void print_replays(void)
{
    printf("\nreplays: peak footprint / peak live bytes, and ns per event (cmtreplay, same run)\n\n");
    printf("%-26s %9s %9s %9s %9s   %9s %9s %9s %9s\n", "", "system", "jemalloc", "rmalloc",
           "rmalloc", "system", "jemalloc", "rmalloc", "rmalloc");
    printf("%-26s %9s %9s %9s %9s   %9s %9s %9s %9s\n", "trace", "overhead", "overhead", "overhead",
           "no-comp.", "ns/ev", "ns/ev", "ns/ev", "no-comp.");
    for (int i = 0; i < nreplay_rows; i++) {
        replay_row *r = &replay_rows[i];
        printf("%-26s %9.3f %9.3f %9.3f %9.3f   %9.1f %9.1f %9.1f %9.1f\n", r->name, r->overhead[0],
               r->overhead[1], r->overhead[2], r->overhead[3], r->ns[0], r->ns[1], r->ns[2], r->ns[3]);
    }
    printf("\nthe overhead three ways (Johnstone and Wilson): peak footprint / peak live, the footprint over\n"
           "what was live at its peak, and mean footprint / mean live over the replay; rmalloc beside the\n"
           "floor of an allocator aligning to 16 bytes, and of one with a 4-byte handle a block too\n\n");
    printf("%-26s %7s %7s   %7s %7s %7s   %7s %7s %7s   %7s %7s\n", "", "floor", "floor", "rmalloc", "rmalloc",
           "rmalloc", "system", "system", "system", "jemal.", "jemal.");
    printf("%-26s %7s %7s   %7s %7s %7s   %7s %7s %7s   %7s %7s\n", "trace", "align16", "+handle", "peaks", "at peak",
           "mean", "peaks", "at peak", "mean", "at peak", "mean");
    for (int i = 0; i < nreplay_rows; i++) {
        replay_row *r = &replay_rows[i];
        const double cells[] = {r->aligned_floor, r->handle_floor, r->overhead[2], r->at_peak[2], r->over_time[2],
                                r->overhead[0], r->at_peak[0], r->over_time[0], r->at_peak[1], r->over_time[1]};
        printf("%-26s", r->name);
        for (size_t c = 0; c < sizeof cells / sizeof cells[0]; c++)
            printf(c == 2 || c == 5 || c == 8 ? "   %7s" : " %7s", ratio_cell(cells[c]));
        printf("\n");
    }
    printf("\nthe replayer's own cost: the null replay beside glibc's, serial, --no-touch, median of 3 "
           "(target: 10 ns)\n\n");
    printf("%-26s %9s %9s %9s\n", "trace", "null ns", "glibc ns", "null/glibc");
    for (int i = 0; i < nreplay_rows; i++) {
        replay_row *r = &replay_rows[i];
        printf("%-26s %9.1f %9.1f %9.2f\n", r->name, r->harness_ns, r->untouched_ns,
               r->untouched_ns > 0 ? r->harness_ns / r->untouched_ns : 0);
    }
}

static void bench_trace(const char *trace2cmt, const char *path, const char *name)
{
    const char *text = plain_text(path);
    long long text_bytes = text ? file_size(text) : -1;
    char raw[512], three[512], dflt[512], max[512], addressed[512], zst[512], zst19[512], xz[512];
    snprintf(three, sizeof three, "%s/three.cmt", scratch);
    snprintf(addressed, sizeof addressed, "%s/addresses.cmt", scratch);
    snprintf(raw, sizeof raw, "%s/raw.cmt", scratch);
    snprintf(zst19, sizeof zst19, "%s/text.19.zst", scratch);
    snprintf(dflt, sizeof dflt, "%s/default.cmt", scratch);
    snprintf(max, sizeof max, "%s/max.cmt", scratch);
    snprintf(zst, sizeof zst, "%s/text.zst", scratch);
    snprintf(xz, sizeof xz, "%s/text.xz", scratch);
    char *to_raw[] = {(char *)trace2cmt, "-q", "--raw", "-o", raw, (char *)text, NULL};
    char *to_dflt[] = {(char *)trace2cmt, "-q", "-o", dflt, (char *)text, NULL};
    char *to_max[] = {(char *)trace2cmt, "-q", "-l", "19", "-o", max, (char *)text, NULL};
    if (!text || timed_run(to_raw, NULL) < 0) {
        printf("%-26s not a text trace: its reader is still to come\n", name);
        return;
    }
    double t_cmt = best_run(to_dflt, NULL);
    timed_run(to_max, NULL);
    char *to_three[] = {(char *)trace2cmt, "-q", "-l", "3", "-o", three, (char *)text, NULL};
    timed_run(to_three, NULL);
    char *to_addressed[] = {(char *)trace2cmt, "-q", "--addresses", "-o", addressed, (char *)text, NULL};
    timed_run(to_addressed, NULL);
    char *zstd3[] = {"zstd", "-3", "-q", "-f", "-o", zst, (char *)text, NULL};
    char *xz9[] = {"xz", "-9", "-c", (char *)text, NULL};
    char *unzstd[] = {"zstd", "-d", "-q", "-c", zst, NULL};
    char *zstd19[] = {"zstd", "-19", "-q", "-f", "-o", zst19, (char *)text, NULL};
    double t_zstd = best_run(zstd3, NULL);
    timed_run(zstd19, NULL);
    timed_run(xz9, xz);
    long long zpaq_text = zpaq_size(text), zpaq_raw = zpaq_size(raw);
    long long zpaq = zpaq_text < 0 || (zpaq_raw >= 0 && zpaq_raw < zpaq_text) ? zpaq_raw : zpaq_text;
    double t_unzstd = best_run(unzstd, NULL);
    unsigned long long events = 0;
    double cmt_rate = decode_rate(dflt, &events);
    double n = events ? (double)events : 1;
    double mb = (double)text_bytes / 1e6;
    bench_replays(trace2cmt, dflt, name);
    char zpaq_cell[16] = "-";
    if (zpaq >= 0)
        snprintf(zpaq_cell, sizeof zpaq_cell, "%.3f", zpaq / n);
    printf("%-26s %9llu %7.2f %7.3f %7.3f %7.3f %7s %7.3f %7.3f %7.3f %7.3f %7.3f %8.0f %8.0f %8.1f %8.1f\n", name,
           events, text_bytes / n, file_size(zst) / n, file_size(zst19) / n, file_size(xz) / n, zpaq_cell,
           file_size(raw) / n, file_size(three) / n, file_size(dflt) / n, file_size(max) / n, file_size(addressed) / n,
           mb / t_cmt, mb / t_zstd,
           cmt_rate / 1e6, n / t_unzstd / 1e6);
}

/* Analysis on every core: cmtstat on TRACE's text repeated COPIES times
 * (a seek point every 2^20 events), in order and by segments, against
 * `zstd -dc` of the same text at level 3, the runs taken in turn so that
 * the machine's drift falls on all three alike; best of RUNS. */
#define COPIES 100
static void bench_analysis(const char *trace2cmt, const char *path)
{
    const char *text = plain_text(path);
    size_t len;
    FILE *in = text ? fopen(text, "rb") : NULL;
    char *bytes = NULL;
    if (in && fseek(in, 0, SEEK_END) == 0 && (len = (size_t)ftell(in)) > 0 && (bytes = malloc(len)) &&
        fseek(in, 0, SEEK_SET) == 0 && fread(bytes, 1, len, in) != len) {
        free(bytes);
        bytes = NULL;
    }
    if (in)
        fclose(in);
    if (!bytes)
        return;
    char longtext[512], zst[512], cmt[512], cmtstat[512];
    snprintf(longtext, sizeof longtext, "%s/long.txt", scratch);
    snprintf(zst, sizeof zst, "%s/long.txt.zst", scratch);
    snprintf(cmt, sizeof cmt, "%s/long.cmt", scratch);
    snprintf(cmtstat, sizeof cmtstat, "%.*scmtstat", (int)(strrchr(trace2cmt, '/') ? strrchr(trace2cmt, '/') - trace2cmt + 1 : 0),
             trace2cmt);
    FILE *out = fopen(longtext, "wb");
    for (int i = 0; out && i < COPIES; i++)
        fwrite(bytes, 1, len, out);
    free(bytes);
    if (!out || fclose(out) != 0)
        return;
    char *compress[] = {"zstd", "-3", "-q", "-f", longtext, "-o", zst, NULL};
    char *convert[] = {(char *)trace2cmt, "-q", "--seek-every", "1048576", "-o", cmt, longtext, NULL};
    if (timed_run(compress, NULL) < 0 || timed_run(convert, NULL) < 0)
        return;
    unlink(longtext);
    char *unzstd[] = {"zstd", "-dc", zst, NULL};
    char *stat[] = {cmtstat, cmt, NULL};
    double best[3] = {-1, -1, -1};
    for (int r = 0; r < RUNS; r++)
        for (int k = 0; k < 3; k++) {
            if (k == 1)
                setenv("CMT_THREADS", "1", 1);
            double t = timed_run(k == 0 ? unzstd : stat, NULL);
            unsetenv("CMT_THREADS");
            if (t >= 0 && (best[k] < 0 || t < best[k]))
                best[k] = t;
        }
    unsigned long long events = 0;
    decode_rate(cmt, &events);
    printf("\nanalysis on every core (%ld online): cmtstat of %s x %d (%llu events, a seek point every 2^20),\n"
           "in order (CMT_THREADS=1) and by segments, against zstd -dc of its text; seconds, best of %d\n\n",
           sysconf(_SC_NPROCESSORS_ONLN), path, COPIES, events, RUNS);
    printf("%12s %12s %12s %14s %14s\n", "zstd -dc", "in order", "segments", "in order/zstd", "segments/zstd");
    printf("%12.2f %12.2f %12.2f %14.2f %14.2f\n", best[0], best[1], best[2], best[1] / best[0], best[2] / best[0]);
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: cmtbench TRACE2CMT FOLDER...\n");
        return 2;
    }
    snprintf(scratch, sizeof scratch, "/tmp/cmtbench-XXXXXX");
    if (!mkdtemp(scratch)) {
        perror("cmtbench: mkdtemp");
        return 1;
    }
    printf("bytes per event (B/ev) and speed; encode = MB of text per second, whole command, best of %d;\n"
           "decode = million events per second (cmt: library, default level; zstd -d: whole command)\n\n",
           RUNS);
    printf("%-26s %9s %7s %7s %7s %7s %7s %7s %7s %7s %7s %7s %8s %8s %8s %8s\n", "", "", "text", "zstd-3",
           "zstd-19", "xz-9", "zpaq-m5", "cmt", "cmt", "cmt", "cmt", "cmt", "encode", "encode", "decode", "decode");
    printf("%-26s %9s %7s %7s %7s %7s %7s %7s %7s %7s %7s %7s %8s %8s %8s %8s\n", "trace", "events", "B/ev", "B/ev",
           "B/ev", "B/ev", "B/ev", "raw", "-3", "dflt -9", "-19", "+addr", "cmt", "zstd-3", "cmt", "zstd -d");
    for (int i = 2; i < argc; i++) {
        struct dirent **entries;
        int n = scandir(argv[i], &entries, NULL, by_name);
        if (n < 0) {
            printf("%s: not here, skipped\n", argv[i]);
            continue;
        }
        for (int j = 0; j < n; j++) {
            const char *name = entries[j]->d_name;
            if (name[0] != '.' && !ends_with(name, ".md")) {
                char path[1024];
                snprintf(path, sizeof path, "%s/%s", argv[i], name);
                bench_trace(argv[1], path, name);
            }
            free(entries[j]);
        }
        free(entries);
    }
    print_replays();
    char hmmer[1024];
    snprintf(hmmer, sizeof hmmer, "%s/456.hmmer.test.txt.bz2", argv[2]);
    if (access(hmmer, R_OK) == 0)
        bench_analysis(argv[1], hmmer);
    char *rm[] = {"rm", "-rf", scratch, NULL};
    timed_run(rm, NULL);
    return 0;
}
