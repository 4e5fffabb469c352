/*
 * input.c - buffered reading of a trace file or standard input, through
 * zstd when the input starts with zstd's magic number, and from any point
 * a reader asks (a .cmt file's body): one buffer, one decoder a stage.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#define INPUT_CHUNK (256 * 1024)

static const uint8_t ZSTD_MAGIC_BYTES[4] = {0x28, 0xb5, 0x2f, 0xfd};

/* Compressors whose output is not read directly, known by their first
 * bytes, for a message better than "can't parse" on line 1. */
static const struct {
    const char *name, *magic, *cat;
} other_compressors[] = {
    {"gzip", "\x1f\x8b", "zcat"},
    {"bzip2", "BZh", "bzcat"},
    {"xz", "\xfd" "7zXZ", "xzcat"},
};

/* Bytes looked at before deciding what the input is: the longest magic
 * number above ("\xfd7zXZ"). */
#define SNIFF_BYTES 6

/* -1 with a message if IN starts as another compressor's output. */
static int refuse_other_compressors(const cmti_input *in, char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof other_compressors / sizeof other_compressors[0]; i++) {
        size_t n = strlen(other_compressors[i].magic);
        if (in->end >= n && memcmp(in->buf, other_compressors[i].magic, n) == 0) {
            cmti_set_error(err, errlen, "%s: %s-compressed; only zstd is read directly (%s %s | ... -)", in->name,
                          other_compressors[i].name, other_compressors[i].cat, in->name);
            return -1;
        }
    }
    return 0;
}

/* read(), retried on EINTR; the bytes read, 0 at the end, -1 on an error. */
static ssize_t read_some(cmti_input *in, void *dst, size_t cap, char *err, size_t errlen)
{
    for (;;) {
        ssize_t n = read(in->fd, dst, cap);
        if (n >= 0)
            return n;
        if (errno != EINTR) {
            cmti_set_error(err, errlen, "%s: read failed: %s", in->name, strerror(errno));
            return -1;
        }
    }
}

/* What stage N (0: the file itself) gives, into DST; 0 at its end, -1 on
 * an error.  A stage's errors name the byte of what it reads: the file's
 * for the first, the decompressed file's for a second. */
static ssize_t read_stage(cmti_input *in, unsigned n, uint8_t *dst, size_t cap, char *err, size_t errlen)
{
    if (n == 0)
        return read_some(in, dst, cap, err, errlen);
    cmti_zstd_stage *s = &in->stages[n - 1];
    for (;;) {
        if (s->packed_start == s->packed_end) {
            ssize_t got = read_stage(in, n - 1, s->packed, s->packed_cap, err, errlen);
            if (got < 0)
                return -1;
            if (got == 0) {
                if (!s->frame_done) {
                    cmti_set_error(err, errlen, "%s: byte %llu: truncated: the zstd data ends in the middle of a frame",
                                   in->name, (unsigned long long)(s->packed_read + s->packed_end));
                    return -1;
                }
                return 0;
            }
            s->packed_read += s->packed_end;
            s->packed_start = 0;
            s->packed_end = (size_t)got;
        }
        ZSTD_inBuffer zin = {s->packed + s->packed_start, s->packed_end - s->packed_start, 0};
        ZSTD_outBuffer zout = {dst, cap, 0};
        size_t rc = ZSTD_decompressStream(s->dctx, &zout, &zin);
        if (ZSTD_isError(rc) && cmti_zstd_out_of_memory(rc)) {
            cmti_set_error(err, errlen, "%s: " CMT_NO_MEMORY, in->name);
            return -1;
        }
        if (ZSTD_isError(rc)) {
            cmti_set_error(err, errlen, "%s: byte %llu: corrupt: zstd data: %s", in->name,
                           (unsigned long long)(s->packed_read + s->packed_start + zin.pos), ZSTD_getErrorName(rc));
            return -1;
        }
        s->packed_start += zin.pos;
        /* Another frame may follow (zstd allows them one after another):
         * the stream ends well only where a frame does. */
        s->frame_done = rc == 0;
        if (zout.pos > 0)
            return (ssize_t)zout.pos;
    }
}

int cmti_input_decompress_rest(cmti_input *in, char *err, size_t errlen)
{
    if (in->nstages == CMTI_ZSTD_STAGES) {
        cmti_set_error(err, errlen, "%s: zstd data within zstd data within zstd data", in->name);
        return -1;
    }
    cmti_zstd_stage *s = &in->stages[in->nstages];
    size_t held = in->end - in->start;
    s->packed_cap = held > INPUT_CHUNK ? held : INPUT_CHUNK;
    s->dctx = cmti_zstd_dctx();
    s->packed = cmti_malloc(s->packed_cap);
    if (!s->dctx || !s->packed) {
        cmti_set_error(err, errlen, "%s: " CMT_NO_MEMORY, in->name);
        return -1;
    }
    memcpy(s->packed, in->buf + in->start, held);
    s->packed_end = held;
    s->packed_read = in->consumed + in->start;
    in->nstages++;
    in->consumed += in->start;
    in->start = in->end = 0;
    in->eof = false;
    return 0;
}

int cmti_input_open(cmti_input *in, const char *path, char *err, size_t errlen)
{
    memset(in, 0, sizeof *in);
    snprintf(in->name, sizeof in->name, "%s", cmti_display_name(path, false));
    if (!path || strcmp(path, "-") == 0) {
        in->fd = STDIN_FILENO;
    } else {
        in->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (in->fd < 0) {
            cmti_set_error(err, errlen, "%s: can't open: %s", path, strerror(errno));
            return -1;
        }
        in->owns_fd = true;
    }
    struct stat st;
    bool stated = fstat(in->fd, &st) == 0;
    if (stated && S_ISDIR(st.st_mode)) {
        cmti_set_error(err, errlen, "%s: is a directory", in->name);
        if (in->owns_fd)
            close(in->fd);
        return -1;
    }
    if (stated && S_ISREG(st.st_mode))
        in->size = (uint64_t)st.st_size; /* standard input too, when it is a file */
    in->cap = INPUT_CHUNK * 2;
    in->buf = cmti_malloc(in->cap);
    if (!in->buf) {
        cmti_set_error(err, errlen, "%s: " CMT_NO_MEMORY, in->name);
        cmti_input_close(in);
        return -1;
    }
    /* Look at the first bytes: zstd's magic number means compressed input. */
    while (in->end < SNIFF_BYTES) {
        ssize_t n = read_some(in, in->buf + in->end, SNIFF_BYTES - in->end, err, errlen);
        if (n < 0) {
            cmti_input_close(in);
            return -1;
        }
        if (n == 0) {
            in->eof = true;
            break;
        }
        in->end += (size_t)n;
    }
    if (refuse_other_compressors(in, err, errlen) < 0) {
        cmti_input_close(in);
        return -1;
    }
    if (in->end >= sizeof ZSTD_MAGIC_BYTES && memcmp(in->buf, ZSTD_MAGIC_BYTES, 4) == 0 &&
        cmti_input_decompress_rest(in, err, errlen) < 0) {
        cmti_input_close(in);
        return -1;
    }
    return 0;
}

ptrdiff_t cmti_input_fill(cmti_input *in, size_t want, char *err, size_t errlen)
{
    while (in->end - in->start < want && !in->eof) {
        if (in->cap - in->end < INPUT_CHUNK && in->start > 0) {
            memmove(in->buf, in->buf + in->start, in->end - in->start);
            in->consumed += in->start;
            in->end -= in->start;
            in->start = 0;
        }
        if (in->cap - in->end < INPUT_CHUNK) {
            size_t cap = in->cap;
            while (cap - in->end < INPUT_CHUNK)
                cap *= 2;
            uint8_t *buf = cmti_realloc(in->buf, cap);
            if (!buf) {
                cmti_set_error(err, errlen, "%s: " CMT_NO_MEMORY, in->name);
                return -1;
            }
            in->buf = buf;
            in->cap = cap;
        }
        ssize_t n = read_stage(in, in->nstages, in->buf + in->end, in->cap - in->end, err, errlen);
        if (n < 0)
            return -1;
        if (n == 0)
            in->eof = true;
        in->end += (size_t)n;
    }
    return (ptrdiff_t)(in->end - in->start);
}

int cmti_input_line(cmti_input *in, const char **line, size_t *len, char *err, size_t errlen)
{
    size_t scanned = 0;
    for (;;) {
        const char *start = (const char *)in->buf + in->start;
        size_t avail = in->end - in->start;
        const char *nl = memchr(start + scanned, '\n', avail - scanned);
        *line = start;
        /* A longer line is refused wherever it ends: in the buffer, which
         * holds megabytes, at the end of the input, or past the limit. */
        *len = nl ? (size_t)(nl - start) : avail;
        if (*len > CMT_MAX_LINE)
            return -2;
        if (nl) {
            in->start += *len + 1;
            return 1;
        }
        if (in->eof) {
            in->start += avail;
            return avail > 0;
        }
        scanned = avail;
        if (cmti_input_fill(in, avail + 1, err, errlen) < 0)
            return -1;
    }
}

int cmti_input_peek_line(cmti_input *in, const char **line, size_t *len)
{
    const char *start = (const char *)in->buf + in->start;
    size_t avail = in->end - in->start;
    const char *nl = memchr(start, '\n', avail < CMT_MAX_LINE + 1 ? avail : CMT_MAX_LINE + 1);
    if (!nl)
        return 0;
    *line = start;
    *len = (size_t)(nl - start);
    in->start += *len + 1;
    return 1;
}

int cmti_input_restart_at(cmti_input *in, uint64_t file, uint64_t stream, char *err, size_t errlen)
{
    if (in->nstages != 1 || lseek(in->fd, (off_t)file, SEEK_SET) < 0) {
        cmti_set_error(err, errlen, "%s: can't seek: %s", in->name, in->nstages != 1 ? "not one zstd stream" : strerror(errno));
        return -1;
    }
    cmti_zstd_stage *s = &in->stages[0];
    ZSTD_DCtx_reset(s->dctx, ZSTD_reset_session_only);
    s->packed_start = s->packed_end = 0;
    s->packed_read = file;
    s->frame_done = false;
    in->start = in->end = 0;
    in->consumed = stream;
    in->eof = false;
    return 0;
}

uint64_t cmti_input_position(const cmti_input *in)
{
    if (in->nstages)
        return in->stages[0].packed_read + in->stages[0].packed_start;
    return in->consumed + in->start;
}

void cmti_input_close(cmti_input *in)
{
    if (in->owns_fd)
        close(in->fd);
    for (unsigned i = 0; i < in->nstages + (in->nstages < CMTI_ZSTD_STAGES); i++) {
        ZSTD_freeDCtx(in->stages[i].dctx);
        cmti_free(in->stages[i].packed);
        in->stages[i] = (cmti_zstd_stage){0};
    }
    in->nstages = 0;
    cmti_free(in->buf);
    in->buf = NULL;
}
