/*
 * input.c - buffered reading of a trace file or standard input.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define INPUT_CHUNK (256 * 1024)

int cmt_input_open(cmt_input *in, const char *path, char *err, size_t errlen)
{
    memset(in, 0, sizeof *in);
    snprintf(in->name, sizeof in->name, "%s", cmt_display_name(path, false));
    if (!path || strcmp(path, "-") == 0) {
        in->fd = STDIN_FILENO;
    } else {
        in->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (in->fd < 0) {
            cmt_set_error(err, errlen, "%s: can't open: %s", path, strerror(errno));
            return -1;
        }
        in->owns_fd = true;
        struct stat st;
        if (fstat(in->fd, &st) == 0 && S_ISDIR(st.st_mode)) {
            cmt_set_error(err, errlen, "%s: is a directory", path);
            close(in->fd);
            return -1;
        }
    }
    in->cap = INPUT_CHUNK * 2;
    in->buf = cmt_xmalloc(in->cap);
    return 0;
}

ptrdiff_t cmt_input_fill(cmt_input *in, size_t want, char *err, size_t errlen)
{
    while (in->end - in->start < want && !in->eof) {
        if (in->cap - in->end < INPUT_CHUNK && in->start > 0) {
            memmove(in->buf, in->buf + in->start, in->end - in->start);
            in->consumed += in->start;
            in->end -= in->start;
            in->start = 0;
        }
        if (in->cap - in->end < INPUT_CHUNK) {
            while (in->cap - in->end < INPUT_CHUNK)
                in->cap *= 2;
            in->buf = cmt_xrealloc(in->buf, in->cap);
        }
        ssize_t n = read(in->fd, in->buf + in->end, in->cap - in->end);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            cmt_set_error(err, errlen, "%s: read failed: %s", in->name, strerror(errno));
            return -1;
        }
        if (n == 0)
            in->eof = true;
        in->end += (size_t)n;
    }
    return (ptrdiff_t)(in->end - in->start);
}

void cmt_input_close(cmt_input *in)
{
    if (in->owns_fd)
        close(in->fd);
    free(in->buf);
    in->buf = NULL;
}
