/*
 * test_faults.c - running out of memory, SQLite's way: each operation is
 * run once to count the allocations it makes, then again with the Nth
 * failing, for every N, and with the Nth and every one after it failing.
 * Each run must end in a clean "out of memory" error, or succeed with the
 * result of the run that had all it asked for (a failure the library can
 * do without, such as a table that could not shrink); nothing may leak
 * (in the sanitizer build LeakSanitizer looks after every run: at the
 * process's end it only reports, which fails no test) and nothing may
 * abort.
 */
#include "helpers.h"
#include "allocator.h"
#include "analysis.h"
#include "cmt_internal.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif

TestSuite(faults, .fini = scratch_cleanup);

/* True if memory that nothing points to any more was found (sanitizer
 * builds; elsewhere, never). */
static bool leaked(void)
{
#ifdef __SANITIZE_ADDRESS__
    return __lsan_do_recoverable_leak_check() != 0;
#else
    return false;
#endif
}

/* An operation: 0 and a digest of its result in *DIGEST, or -1 and its
 * message in ERR. */
typedef int operation(uint64_t *digest, char *err, size_t errlen);

static void fail_each_allocation(const char *what, operation *op)
{
    char err[1024];
    uint64_t want = 0, got;
    unsigned long before = cmti_allocations_made();
    cr_assert_eq(op(&want, err, sizeof err), 0, "%s, with all the memory it asks for: %s", what, err);
    unsigned long total = cmti_allocations_made() - before;
    cr_assert_gt(total, 1, "%s allocates", what);
    for (int every_one_after = 0; every_one_after < 2; every_one_after++) {
        for (unsigned long nth = 1; nth <= total; nth++) {
            err[0] = '\0';
            got = 0;
            cmti_fail_allocation(nth, every_one_after);
            int rc = op(&got, err, sizeof err);
            cmti_fail_allocation(0, false);
            cr_assert(!leaked(), "%s: allocation %lu of %lu failed, and memory leaked", what, nth, total);
            if (rc == 0)
                cr_assert_eq(got, want, "%s: allocation %lu of %lu failed, and it went on to another result", what,
                             nth, total);
            else
                cr_assert(strstr(err, "out of memory"), "%s: allocation %lu of %lu failed: %s", what, nth, total,
                          err);
        }
    }
}

/* A digest of events: their count and every field, mixed. */
static uint64_t digest_event(uint64_t h, const cmt_event *ev)
{
    const uint64_t fields[] = {ev->op, ev->tag, ev->arg_tag, ev->size, ev->count, ev->align, ev->offset, ev->thread};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        h = (h ^ fields[i]) * 0x100000001b3ULL;
    return h;
}

/* Many blocks live at once, so that every table grows several times. */
#define EVENTS 120000

static const char *trace_cmt(int level)
{
    const char *path = scratch_path(level ? "faults.cmt" : "faults-raw.cmt");
    if (!file_exists(path)) {
        cmt_event *events = random_events(EVENTS, 7);
        encode_events(path, events, EVENTS, level);
        free(events);
    }
    return path;
}

static int encode(int level, uint64_t *digest, char *err, size_t errlen)
{
    cmt_event *events = random_events(EVENTS, 7);
    cmt_output *out = cmt_output_open(scratch_path("encoded.cmt"), err, errlen);
    cmt_writer *w = out ? cmt_writer_open(out, level, err, errlen) : NULL;
    int rc = w ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < EVENTS; i++)
        if ((rc = cmt_writer_write(w, &events[i])) < 0)
            snprintf(err, errlen, "%s", cmt_writer_error(w));
    if (rc == 0 && (rc = cmt_writer_finish(w)) < 0)
        snprintf(err, errlen, "%s", cmt_writer_error(w));
    cmt_writer_close(w);
    if (out && rc == 0)
        rc = cmt_output_commit(out, err, errlen);
    else if (out)
        cmt_output_abort(out);
    free(events);
    *digest = (uint64_t)rc;
    return rc;
}

static int encode_raw(uint64_t *digest, char *err, size_t errlen)
{
    return encode(0, digest, err, errlen);
}

static int encode_compressed(uint64_t *digest, char *err, size_t errlen)
{
    return encode(3, digest, err, errlen);
}

Test(faults, writing_a_cmt_file)
{
    fail_each_allocation("encoding, raw", encode_raw);
    fail_each_allocation("encoding, zstd", encode_compressed);
}

/* Reads PATH whole through a source. */
static int read_source(const char *path, uint64_t *digest, char *err, size_t errlen)
{
    cmt_source *s = cmt_source_open(path, NULL, err, errlen);
    if (!s)
        return -1;
    cmt_event ev;
    int rc;
    uint64_t h = 0;
    while ((rc = cmt_source_next(s, &ev)) > 0)
        h = digest_event(h, &ev);
    if (rc < 0)
        snprintf(err, errlen, "%s", cmt_source_error(s));
    cmt_source_close(s);
    *digest = h;
    return rc;
}

static int decode_raw(uint64_t *digest, char *err, size_t errlen)
{
    return read_source(trace_cmt(0), digest, err, errlen);
}

static int decode_compressed(uint64_t *digest, char *err, size_t errlen)
{
    return read_source(trace_cmt(3), digest, err, errlen);
}

Test(faults, reading_a_cmt_file)
{
    trace_cmt(0);
    trace_cmt(3);
    fail_each_allocation("decoding, raw", decode_raw);
    fail_each_allocation("decoding, zstd", decode_compressed);
}

/* A text trace with thousands of blocks live, a missed free (an address
 * handed out again while live) and an unknown free, in the text format,
 * and the same calls as a valgrind log of two processes (its busiest
 * process found in a first pass) and a memtrace (blocks ordered by
 * address, for accesses). */
static const char *text_trace(const char *name)
{
    const char *path = scratch_path(name);
    if (file_exists(path))
        return path;
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    bool valgrind = strstr(name, "valgrind") != NULL, memtrace = strstr(name, "memtrace") != NULL;
    for (unsigned i = 0; i < 6000; i++) {
        unsigned long addr = 0x10000 + 64ul * i, size = 16 + i % 40;
        if (valgrind)
            fprintf(f, "--%u-- malloc(%lu) = 0x%lx\n", i % 5 ? 100 : 200, size, addr);
        else if (memtrace)
            fprintf(f, ">>> N %lu %lu\n>>> S %lu 4\n", addr, size, addr + 4);
        else
            fprintf(f, "malloc(%lu) = 0x%lx\n", size, addr);
    }
    for (unsigned i = 0; i < 6000; i += 2) {
        unsigned long addr = 0x10000 + 64ul * i;
        if (valgrind)
            fprintf(f, "--100-- free(0x%lx)\n", addr);
        else if (memtrace)
            fprintf(f, ">>> F %lu 0\n", addr);
        else
            fprintf(f, "free(0x%lx)\n", addr);
    }
    if (!valgrind && !memtrace)
        fprintf(f, "malloc(8) = 0x10040\nfree(0x999990)\n");
    fclose(f);
    return path;
}

static int read_text(uint64_t *digest, char *err, size_t errlen)
{
    return read_source(text_trace("faults.trace"), digest, err, errlen);
}

static int read_valgrind(uint64_t *digest, char *err, size_t errlen)
{
    return read_source(text_trace("faults-valgrind.log"), digest, err, errlen);
}

static int read_memtrace(uint64_t *digest, char *err, size_t errlen)
{
    return read_source(text_trace("faults.memtrace"), digest, err, errlen);
}

Test(faults, reading_text_traces)
{
    fail_each_allocation("the text reader", read_text);
    fail_each_allocation("the valgrind reader", read_valgrind);
    fail_each_allocation("the memtrace reader", read_memtrace);
}

/* The trace with a seek point every quarter, for the analyses that read
 * segments at once; its sizes those programs ask for (random traces ask
 * for up to 2^64 bytes, which only reading in order counts). */
static const char *seeking_cmt(void)
{
    const char *path = scratch_path("faults-seeking.cmt");
    if (!file_exists(path)) {
        cmt_event *events = random_events(EVENTS, 7);
        for (size_t i = 0; i < EVENTS; i++) {
            events[i].size = events[i].size ? 1 + (events[i].size - 1) % (1u << 20) : 0; /* 0 stays 0: a realloc frees */
            events[i].count = events[i].op == CMT_OP_CALLOC ? events[i].count % 64 : events[i].count;
        }
        encode_events_seeking(path, events, EVENTS, EVENTS / 4);
        free(events);
    }
    return path;
}

static int statistics_of(const char *path, uint64_t *digest, char *err, size_t errlen)
{
    cmt_source *s = cmt_source_open(path, NULL, err, errlen);
    if (!s)
        return -1;
    cmt_trace_stats stats;
    int rc = cmt_stats_read(s, &stats, NULL, err, errlen);
    cmt_source_close(s);
    uint64_t h = stats.peak_live_bytes ^ stats.events << 32;
    const uint64_t more[] = {stats.peak_event, stats.temporary, stats.allocated_bytes, stats.peak_aligned_bytes,
                             stats.live_blocks, stats.lifetimes.count[3], stats.macro.count[0], stats.micro.count[0]};
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++)
        h = (h ^ more[i]) * 0x100000001b3u;
    *digest = h;
    return rc;
}

static int statistics(uint64_t *digest, char *err, size_t errlen)
{
    return statistics_of(trace_cmt(3), digest, err, errlen);
}

/* The annotators, writing to a file: lifetimes, and (on a text trace,
 * which has addresses) the overhead of its layout. */
static int annotate(const char *input, bool overhead, uint64_t *digest, char *err, size_t errlen)
{
    cmt_source *s = cmt_source_open(input, NULL, err, errlen);
    if (!s)
        return -1;
    cmt_output *out = cmt_output_open(scratch_path("annotated.txt"), err, errlen);
    int rc = -1;
    if (out) {
        rc = overhead ? cmt_annotate_overhead(s, out, NULL, err, errlen)
                      : cmt_annotate_lifetimes(s, out, NULL, err, errlen);
        if (rc == 0)
            rc = cmt_output_commit(out, err, errlen);
        else
            cmt_output_abort(out);
    }
    cmt_source_close(s);
    *digest = (uint64_t)rc;
    return rc;
}

static int lifetimes(uint64_t *digest, char *err, size_t errlen)
{
    return annotate(trace_cmt(3), false, digest, err, errlen);
}

static int overhead(uint64_t *digest, char *err, size_t errlen)
{
    return annotate(text_trace("faults.trace"), true, digest, err, errlen);
}

static int lifetime_summary_of(const char *path, uint64_t *digest, char *err, size_t errlen)
{
    cmt_source *s = cmt_source_open(path, NULL, err, errlen);
    if (!s)
        return -1;
    cmt_output *out = cmti_output_memory();
    int rc = out ? cmt_lifetimes_summary(s, out, false, NULL, err, errlen) : -1;
    if (!out)
        snprintf(err, errlen, "out of memory");
    cmt_source_close(s);
    if (rc < 0) {
        if (out)
            cmt_output_abort(out);
        return -1;
    }
    size_t len;
    const char *text = cmti_output_text(out, &len);
    uint64_t h = len;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)text[i]) * 0x100000001b3u;
    *digest = h;
    return cmt_output_commit(out, err, errlen); /* a print that found no memory fails here */
}

static int lifetime_summary(uint64_t *digest, char *err, size_t errlen)
{
    return lifetime_summary_of(trace_cmt(3), digest, err, errlen);
}

static int statistics_by_segments(uint64_t *digest, char *err, size_t errlen)
{
    return statistics_of(seeking_cmt(), digest, err, errlen);
}

static int lifetime_summary_by_segments(uint64_t *digest, char *err, size_t errlen)
{
    return lifetime_summary_of(seeking_cmt(), digest, err, errlen);
}

Test(faults, the_analyses)
{
    trace_cmt(3);
    text_trace("faults.trace");
    fail_each_allocation("cmtstat's statistics", statistics);
    fail_each_allocation("cmtlifetimes", lifetimes);
    fail_each_allocation("cmtlifetimes --summary", lifetime_summary);
    fail_each_allocation("cmtoverhead", overhead);
}

/* Reading segments on threads, where an allocation that fails may be any
 * thread's: the analysis falls back to reading in order, and gives the
 * same numbers or runs out of memory itself. */
Test(faults, the_analyses_by_segments)
{
    seeking_cmt();
    setenv("CMT_THREADS", "3", 1);
    fail_each_allocation("cmtstat's statistics by segments", statistics_by_segments);
    fail_each_allocation("cmtlifetimes --summary by segments", lifetime_summary_by_segments);
    unsetenv("CMT_THREADS");
}

static int replay(uint64_t *digest, char *err, size_t errlen)
{
    cmt_source *s = cmt_source_open(trace_cmt(3), NULL, err, errlen);
    if (!s)
        return -1;
    cmt_replay_options options = {.touch = true};
    cmt_replay_report report;
    int rc = cmt_replay(s, &cmt_allocator_system, &options, &report, err, errlen);
    cmt_source_close(s);
    *digest = report.peak_live_bytes ^ report.events << 32;
    return rc;
}

Test(faults, a_replay)
{
    trace_cmt(3);
    fail_each_allocation("a replay", replay);
}

/* ------------------------------------------------------------- output */

TestSuite(output, .fini = scratch_cleanup);

/* The names in the scratch folder that start with PREFIX. */
static int files_starting(const char *prefix)
{
    DIR *dir = opendir(scratch_dir());
    cr_assert_not_null(dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(dir));)
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(dir);
    return n;
}

/* A full disk (/dev/full takes no byte) is an error at the write or the
 * commit, with the device's name and the system's reason. */
Test(output, a_full_disk_is_an_error_naming_the_file)
{
    char err[512] = "";
    int fd = open("/dev/full", O_WRONLY);
    cr_assert_geq(fd, 0);
    cmt_output *out = cmt_output_open_fd(fd, "/dev/full");
    cr_assert_not_null(out);
    static char block[1 << 20];
    int rc = cmt_output_write(out, block, sizeof block);
    if (rc == 0)
        rc = cmt_output_commit(out, err, sizeof err);
    else
        snprintf(err, sizeof err, "%s", cmt_output_error(out)), cmt_output_abort(out);
    cr_assert_lt(rc, 0);
    cr_assert(strstr(err, "/dev/full") && strstr(err, strerror(ENOSPC)), "%s", err);
}

/* What was there before, at PATH. */
static void write_before(const char *path)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("before", f);
    fclose(f);
}

static void check_still_before(const char *path)
{
    char text[16] = "";
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    cr_assert_not_null(fgets(text, sizeof text, f));
    fclose(f);
    cr_assert_str_eq(text, "before", "%s was changed", path);
}

/* A file that cannot be made (its folder a file; a folder that may not be
 * written, where the tests do not run as root) is an error naming it, and
 * the file that was there stays as it was. */
Test(output, a_file_that_cannot_be_made_is_an_error_naming_it)
{
    char path[PATH_MAX + 32], err[512];
    write_before(scratch_path("plain"));
    snprintf(path, sizeof path, "%s/trace.cmt", scratch_path("plain"));
    cr_assert_null(cmt_output_open(path, err, sizeof err));
    cr_assert(strstr(err, path) && strstr(err, strerror(ENOTDIR)), "%s", err);
    if (geteuid() == 0)
        return; /* root writes into any folder */
    const char *dir = scratch_path("locked");
    cr_assert_eq(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/trace.cmt", dir);
    write_before(path);
    chmod(dir, 0500);
    cmt_output *out = cmt_output_open(path, err, sizeof err);
    chmod(dir, 0700);
    cr_assert_null(out);
    cr_assert(strstr(err, path) && strstr(err, strerror(EACCES)), "%s", err);
    check_still_before(path);
}

/* The disk fills halfway through (a file size limit, which fails a write
 * as a full disk does): the write or the commit fails naming the file,
 * the file that was there is as it was, and no temporary file is left. */
Test(output, a_disk_full_halfway_keeps_the_file_that_was_there)
{
    const char *path = scratch_path("full.out");
    write_before(path);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit limit = {64 * 1024, 64 * 1024};
        setrlimit(RLIMIT_FSIZE, &limit);
        char err[512];
        cmt_output *out = cmt_output_open(path, err, sizeof err);
        if (!out)
            _exit(3);
        static char block[16 * 1024];
        int rc = 0;
        for (int i = 0; i < 16 && rc == 0; i++)
            rc = cmt_output_write(out, block, sizeof block);
        if (rc < 0) {
            snprintf(err, sizeof err, "%s", cmt_output_error(out));
            cmt_output_abort(out);
        } else if (cmt_output_commit(out, err, sizeof err) == 0) {
            _exit(4);
        }
        _exit(strstr(err, "full.out") && strstr(err, strerror(EFBIG)) ? 0 : 5);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    check_still_before(path);
    cr_assert_eq(files_starting(".full.out."), 0, "no temporary file left");
}

/* The file appears with the permissions a new file would have: 0666 less
 * the umask, whatever it is. */
Test(output, a_committed_file_has_the_permissions_the_umask_gives)
{
    const mode_t masks[] = {022, 077, 027, 0};
    for (size_t i = 0; i < sizeof masks / sizeof masks[0]; i++) {
        umask(masks[i]);
        char err[512];
        const char *path = scratch_path("mode.out");
        cmt_output *out = cmt_output_open(path, err, sizeof err);
        cr_assert_not_null(out, "%s", err);
        cr_assert_eq(cmt_output_write(out, "x", 1), 0);
        cr_assert_eq(cmt_output_commit(out, err, sizeof err), 0, "%s", err);
        struct stat st;
        cr_assert_eq(stat(path, &st), 0);
        cr_assert_eq(st.st_mode & 0777, 0666 & ~masks[i], "umask %o: mode %o", masks[i], st.st_mode & 0777);
        unlink(path);
    }
    umask(022);
}

/* Killed with an output open: dies of the signal, and its temporary file
 * is removed only where the program asked for that (the library sets no
 * handler of its own: a program linking it keeps its signals). */
static int killed_while_writing(bool remove_on_signals)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        if (remove_on_signals)
            cmt_output_remove_on_signals();
        struct sigaction sa;
        sigaction(SIGTERM, NULL, &sa);
        if ((sa.sa_handler == SIG_DFL) == remove_on_signals)
            _exit(3);
        char err[512];
        cmt_output *out = cmt_output_open(scratch_path("killed.out"), err, sizeof err);
        if (!out)
            _exit(4);
        cmt_output_write(out, "partial", 7);
        cmt_output_flush(out);
        sigaction(SIGTERM, NULL, &sa);
        if ((sa.sa_handler == SIG_DFL) == remove_on_signals)
            _exit(5); /* opening an output installed a handler */
        raise(SIGTERM);
        _exit(6);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM, "status %d", status);
    cr_assert_eq(access(scratch_path("killed.out"), F_OK), -1, "never committed, never there");
    return files_starting(".killed.out.");
}

Test(output, a_signal_removes_the_temporary_file_where_the_program_asks)
{
    cr_assert_eq(killed_while_writing(true), 0);
    cr_assert_eq(killed_while_writing(false), 1, "the library alone leaves signals to the program");
}
