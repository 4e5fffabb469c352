/*
 * output.c - files that appear whole or not at all.
 *
 * A tool that fails halfway must not leave a half-written trace where the
 * user expects a good one, nor destroy the file that was there before.  So
 * every output file is written under a temporary name in the same folder
 * and renamed over the target only when complete.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define OUTPUT_BUFFER (256 * 1024)
#define MAX_PENDING_FILES 8

static int flush(struct cmt_output *out);

struct cmt_output {
    int fd;
    bool is_stdout;
    bool in_memory; /* cmti_output_memory: buf grows, nothing is written */
    bool failed;    /* a write failed: so does the commit */
    bool terminal;
    char *path;     /* the target; NULL for stdout */
    char *tmp_path; /* what is being written */
    int slot;       /* index in pending_files, or -1 */
    uint8_t *buf;
    size_t cap, used;
    uint64_t written;
    char err[CMT_ERRLEN];
};

/* Temporary files a signal handler must remove: fixed storage, since the
 * handler may only call async-signal-safe functions.  A slot is FREE,
 * CLAIMED by a thread writing its name, or PENDING; threads opening
 * outputs at once claim slots by compare-and-swap. */
enum { FREE, CLAIMED, PENDING };
static char pending_files[MAX_PENDING_FILES][PATH_MAX];
static volatile sig_atomic_t pending_used[MAX_PENDING_FILES];

static void remove_pending_and_reraise(int sig)
{
    for (int i = 0; i < MAX_PENDING_FILES; i++)
        if (pending_used[i] == PENDING)
            unlink(pending_files[i]);
    signal(sig, SIG_DFL);
    raise(sig);
}

void cmt_output_remove_on_signals(void)
{
    const int signals[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++) {
        struct sigaction old;
        if (sigaction(signals[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
            continue; /* respect nohup and the like */
        struct sigaction sa = {0};
        sa.sa_handler = remove_pending_and_reraise;
        sigemptyset(&sa.sa_mask);
        sigaction(signals[i], &sa, NULL);
    }
}

static int claim_slot(const char *tmp_path)
{
    if (strlen(tmp_path) >= PATH_MAX)
        return -1;
    for (int i = 0; i < MAX_PENDING_FILES; i++) {
        sig_atomic_t free_slot = FREE;
        if (__atomic_compare_exchange_n(&pending_used[i], &free_slot, CLAIMED, false, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED)) {
            strcpy(pending_files[i], tmp_path);
            __atomic_store_n(&pending_used[i], PENDING, __ATOMIC_RELEASE);
            return i;
        }
    }
    return -1;
}

static void release_slot(cmt_output *out)
{
    if (out->slot >= 0)
        __atomic_store_n(&pending_used[out->slot], FREE, __ATOMIC_RELEASE);
    out->slot = -1;
}

/* Creates the temporary file beside PATH, .NAME.XXXXXX, with the
 * permissions a new file would have: created 0666 and the kernel takes the
 * umask off (mkstemp's 0600 would need the umask read, and reading it
 * means setting it, a race with the program's other threads). */
static int create_temporary(cmt_output *out, const char *path, char *err, size_t errlen)
{
    const char *slash = strrchr(path, '/');
    size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
    const char *base = slash ? slash + 1 : path;
    size_t len = dirlen + strlen(base) + 16;
    out->tmp_path = cmti_malloc(len);
    if (!out->tmp_path) {
        cmti_set_error(err, errlen, "%s: " CMT_NO_MEMORY, path);
        return -1;
    }
    static const char letters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    out->fd = -1;
    errno = EEXIST;
    for (int attempt = 0; attempt < 100 && out->fd < 0 && errno == EEXIST; attempt++) {
        uint64_t bits;
        if (getrandom(&bits, sizeof bits, 0) != (ssize_t)sizeof bits)
            bits = ((uint64_t)getpid() << 32 ^ (uint64_t)clock()) + (uint64_t)attempt * 0x9e3779b97f4a7c15u;
        char suffix[7];
        for (int i = 0; i < 6; i++, bits /= sizeof letters - 1)
            suffix[i] = letters[bits % (sizeof letters - 1)];
        suffix[6] = '\0';
        snprintf(out->tmp_path, len, "%.*s.%s.%s", (int)dirlen, path, base, suffix);
        out->fd = open(out->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    }
    if (out->fd < 0) {
        cmti_set_error(err, errlen, "%s: can't create: %s", path, strerror(errno));
        return -1;
    }
    out->slot = claim_slot(out->tmp_path);
    return 0;
}

cmt_output *cmt_output_open(const char *path, char *err, size_t errlen)
{
    cmt_output *out = cmti_calloc(1, sizeof *out);
    if (!out) {
        cmti_set_error(err, errlen, "%s: " CMT_NO_MEMORY, cmti_display_name(path, true));
        return NULL;
    }
    out->slot = -1;
    if (!path || strcmp(path, "-") == 0) {
        out->fd = STDOUT_FILENO;
        out->is_stdout = true;
    } else {
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            cmti_set_error(err, errlen, "%s: is a directory", path);
            cmti_free(out);
            return NULL;
        }
        if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
            /* /dev/null, a fifo, a terminal: write straight through. */
            out->fd = open(path, O_WRONLY | O_CLOEXEC);
            if (out->fd < 0) {
                cmti_set_error(err, errlen, "%s: can't open: %s", path, strerror(errno));
                cmti_free(out);
                return NULL;
            }
        } else if (create_temporary(out, path, err, errlen) < 0) {
            cmti_free(out->tmp_path);
            cmti_free(out);
            return NULL;
        }
        out->path = cmti_malloc(strlen(path) + 1);
        if (out->path)
            strcpy(out->path, path);
    }
    out->terminal = isatty(out->fd);
    out->cap = OUTPUT_BUFFER;
    out->buf = cmti_malloc(out->cap);
    if (!out->buf || (!out->is_stdout && !out->path)) {
        cmti_set_error(err, errlen, "%s: " CMT_NO_MEMORY, cmti_display_name(path, true));
        cmt_output_abort(out);
        return NULL;
    }
    return out;
}

cmt_output *cmt_output_open_fd(int fd, const char *name)
{
    cmt_output *out = cmti_calloc(1, sizeof *out);
    if (!out)
        return NULL;
    out->slot = -1;
    out->fd = fd;
    out->path = cmti_malloc(strlen(name) + 1);
    out->cap = OUTPUT_BUFFER;
    out->buf = cmti_malloc(out->cap);
    if (!out->path || !out->buf) {
        out->fd = -1; /* the caller's still */
        cmt_output_abort(out);
        return NULL;
    }
    strcpy(out->path, name);
    out->terminal = isatty(fd);
    return out;
}

cmt_output *cmti_output_memory(void)
{
    cmt_output *out = cmti_calloc(1, sizeof *out);
    if (!out)
        return NULL;
    out->fd = -1;
    out->slot = -1;
    out->in_memory = true;
    out->cap = 4096;
    out->buf = cmti_malloc(out->cap);
    if (!out->buf) {
        cmti_free(out);
        return NULL;
    }
    return out;
}

const char *cmti_output_text(cmt_output *out, size_t *len)
{
    out->buf[out->used] = '\0'; /* there is room: a memory output keeps a byte spare */
    *len = out->used;
    return (const char *)out->buf;
}

int cmt_output_flush(cmt_output *out)
{
    return flush(out);
}

static int write_all(cmt_output *out, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(out->fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            cmti_set_error(out->err, sizeof out->err, "%s: write failed: %s",
                          cmti_display_name(out->path, true), strerror(errno));
            out->failed = true;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int flush(cmt_output *out)
{
    if (out->in_memory)
        return 0;
    int rc = write_all(out, out->buf, out->used);
    out->used = 0;
    return rc;
}

/* -1, OUT out of memory: the message kept, and the commit to fail. */
static int fail_for_memory(cmt_output *out)
{
    cmti_set_error(out->err, sizeof out->err, CMT_NO_MEMORY);
    out->failed = true;
    return -1;
}

/* A memory output's room for NEED more bytes and a spare one; -1 when out
 * of memory. */
static int make_room(cmt_output *out, size_t need)
{
    size_t cap = out->cap;
    while (cap - out->used <= need)
        cap *= 2;
    if (cap == out->cap)
        return 0;
    uint8_t *buf = cmti_realloc(out->buf, cap);
    if (!buf)
        return fail_for_memory(out);
    out->buf = buf;
    out->cap = cap;
    return 0;
}

int cmt_output_write(cmt_output *out, const void *data, size_t len)
{
    out->written += len;
    if (out->in_memory) {
        if (make_room(out, len) < 0)
            return -1;
    } else if (out->used + len > out->cap) {
        if (flush(out) < 0)
            return -1;
        if (len > out->cap / 2)
            return write_all(out, data, len);
    }
    memcpy(out->buf + out->used, data, len);
    out->used += len;
    return 0;
}

int cmt_output_printf(cmt_output *out, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0) {
        cmti_set_error(out->err, sizeof out->err, "%s: can't format: %s", cmti_display_name(out->path, true),
                       strerror(errno));
        out->failed = true;
        return -1;
    }
    if ((size_t)n < sizeof line)
        return cmt_output_write(out, line, (size_t)n);
    char *long_text = cmti_malloc((size_t)n + 1);
    if (!long_text)
        return fail_for_memory(out);
    va_start(ap, fmt);
    vsnprintf(long_text, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = cmt_output_write(out, long_text, (size_t)n);
    cmti_free(long_text);
    return rc;
}

bool cmt_output_is_terminal(const cmt_output *out)
{
    return out->terminal;
}

const char *cmt_output_error(const cmt_output *out)
{
    return out->err;
}

uint64_t cmt_output_bytes(const cmt_output *out)
{
    return out->written;
}

static void release(cmt_output *out)
{
    release_slot(out);
    cmti_free(out->buf);
    cmti_free(out->path);
    cmti_free(out->tmp_path);
    cmti_free(out);
}

int cmt_output_commit(cmt_output *out, char *err, size_t errlen)
{
    int rc = out->failed ? -1 : flush(out);
    if (rc < 0)
        cmti_set_error(err, errlen, "%s", out->err);
    if (!out->is_stdout && out->fd >= 0 && close(out->fd) < 0 && rc == 0) {
        cmti_set_error(err, errlen, "%s: close failed: %s", out->path, strerror(errno));
        rc = -1;
    }
    if (out->tmp_path) {
        if (rc == 0 && rename(out->tmp_path, out->path) < 0) {
            cmti_set_error(err, errlen, "%s: can't rename %s into place: %s", out->path,
                          out->tmp_path, strerror(errno));
            rc = -1;
        }
        if (rc < 0)
            unlink(out->tmp_path);
    }
    release(out);
    return rc;
}

void cmt_output_abort(cmt_output *out)
{
    if (out->is_stdout) {
        if (out->buf && !out->failed)
            flush(out); /* what reached a pipe cannot be taken back anyway */
    } else if (out->fd >= 0) {
        close(out->fd);
        if (out->tmp_path)
            unlink(out->tmp_path);
    }
    release(out);
}
