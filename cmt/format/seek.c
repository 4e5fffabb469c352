/*
 * seek.c - the SEEK record and the index of seek points (seek.h).
 */
#include "seek.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* The index frame: zstd's skippable frame (one of its 16 magic numbers,
 * little endian, then the length of what follows), whose content ends
 * with a fixed footer, so that it is found from the end of the file. */
static const uint8_t SKIPPABLE_MAGIC[4] = {0x5c, 0x2a, 0x4d, 0x18};
static const uint8_t INDEX_MAGIC[4] = {'C', 'M', 'T', 'X'};
#define FRAME_HEADER 8
#define FOOTER 12 /* checksum, content length, magic */
/* An index larger than this is damage, not 2^40 events of seek points. */
#define INDEX_MAX (64u << 20)

size_t cmti_seek_encode(const cmti_seek_state *s, uint8_t *buf)
{
    size_t n = 0;
    n += cmti_varint_put(buf + n, s->events);
    n += cmti_varint_put(buf + n, s->tags);
    n += cmti_varint_put(buf + n, s->time);
    n += cmti_varint_put(buf + n, s->thread);
    for (unsigned i = 0; i < SIZE_RECENT; i++)
        n += cmti_varint_put(buf + n, s->sizes.recent[i]);
    n += cmti_varint_put(buf + n, s->access_block);
    n += cmti_varint_put(buf + n, s->access_end);
    return n;
}

int cmti_seek_decode(const uint8_t *p, size_t len, cmti_seek_state *s)
{
    const uint8_t *end = p + len;
    uint64_t *fields[4 + SIZE_RECENT + 2] = {&s->events, &s->tags, &s->time, &s->thread};
    for (unsigned i = 0; i < SIZE_RECENT; i++)
        fields[4 + i] = &s->sizes.recent[i];
    fields[4 + SIZE_RECENT] = &s->access_block;
    fields[5 + SIZE_RECENT] = &s->access_end;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (cmti_varint_get(&p, end, fields[i]) < 0)
            return -1;
    return p == end && s->thread <= UINT32_MAX ? 0 : -1;
}

int cmti_seek_index_add(cmti_seek_index *ix, const cmti_seek_point *point)
{
    if (cmti_grow((void **)&ix->points, &ix->cap, ix->n, sizeof *ix->points, 16) < 0)
        return -1;
    ix->points[ix->n++] = *point;
    return 0;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t content_checksum(const uint8_t *p, size_t len)
{
    cmti_checksum sum;
    cmti_checksum_init(&sum);
    cmti_checksum_update(&sum, p, len);
    return (uint32_t)cmti_checksum_final(&sum);
}

int cmti_seek_index_frame(const cmti_seek_index *ix, uint8_t **frame, size_t *len)
{
    size_t cap = FRAME_HEADER + CMT_VARINT_MAX + ix->n * 5 * CMT_VARINT_MAX + FOOTER;
    uint8_t *f = cmti_malloc(cap);
    if (!f)
        return -1;
    size_t n = FRAME_HEADER;
    n += cmti_varint_put(f + n, ix->n - 1);
    for (size_t i = 1; i < ix->n; i++) {
        const cmti_seek_point *p = &ix->points[i], *q = &ix->points[i - 1];
        n += cmti_varint_put(f + n, p->file - q->file);
        n += cmti_varint_put(f + n, p->stream - q->stream);
        n += cmti_varint_put(f + n, p->events - q->events);
        n += cmti_varint_put(f + n, p->tags - q->tags);
        n += cmti_varint_put(f + n, p->live); /* not a difference: it goes down as well as up */
    }
    uint32_t content = (uint32_t)(n + FOOTER - FRAME_HEADER);
    put_le32(f + n, content_checksum(f + FRAME_HEADER, n - FRAME_HEADER));
    put_le32(f + n + 4, content);
    memcpy(f + n + 8, INDEX_MAGIC, 4);
    memcpy(f, SKIPPABLE_MAGIC, 4);
    put_le32(f + 4, content);
    *frame = f;
    *len = n + FOOTER;
    return 0;
}

/* pread() of exactly LEN bytes at OFFSET; -1 with errno otherwise. */
static int read_at(int fd, void *buf, size_t len, uint64_t offset)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

static int damaged(const char *path, const char *what, char *err, size_t errlen)
{
    cmti_set_error(err, errlen, "%s: corrupt: the index of seek points %s", cmti_display_name(path, false), what);
    return -1;
}

/* Decodes the index content C (LEN bytes, its footer excluded) of a file
 * whose index frame starts at FRAME. */
static int decode_points(const char *path, const uint8_t *c, size_t len, uint64_t frame, cmti_seek_index *ix,
                         char *err, size_t errlen)
{
    const uint8_t *p = c, *end = c + len;
    uint64_t count;
    cmti_seek_point at = {CMT_HEADER_SIZE, CMT_HEADER_SIZE, 0, 0, 0};
    if (cmti_varint_get(&p, end, &count) < 0 || count > len)
        return damaged(path, "has a bad count", err, errlen);
    if (cmti_seek_index_add(ix, &at) < 0)
        goto no_memory;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t d[5];
        for (int k = 0; k < 5; k++)
            if (cmti_varint_get(&p, end, &d[k]) < 0)
                return damaged(path, "is cut short", err, errlen);
        /* Each point past the one before, in the file, the stream, the
         * events; the frames before the index. */
        if (!d[0] || !d[1] || !d[2] || d[0] > frame - at.file || d[1] > UINT64_MAX - at.stream ||
            d[2] > UINT64_MAX - at.events || d[3] > UINT64_MAX - at.tags)
            return damaged(path, "has points out of order", err, errlen);
        at = (cmti_seek_point){at.file + d[0], at.stream + d[1], at.events + d[2], at.tags + d[3], d[4]};
        if (at.live > at.tags)
            return damaged(path, "has more blocks live than made", err, errlen);
        if (cmti_seek_index_add(ix, &at) < 0)
            goto no_memory;
    }
    if (p != end)
        return damaged(path, "has bytes after its points", err, errlen);
    return 1;
no_memory:
    cmti_set_error(err, errlen, "%s: " CMT_NO_MEMORY, cmti_display_name(path, false));
    return -1;
}

int cmti_seek_index_read(const char *path, cmti_seek_index *ix, char *err, size_t errlen)
{
    *ix = (cmti_seek_index){0};
    if (!path || strcmp(path, "-") == 0)
        return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0; /* the reader that opens it says why */
    int rc = 0;
    uint8_t *content = NULL;
    uint8_t header[CMT_HEADER_SIZE], footer[FOOTER], frame[FRAME_HEADER];
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < CMT_HEADER_SIZE + FRAME_HEADER + FOOTER ||
        read_at(fd, header, sizeof header, 0) < 0 || memcmp(header, CMT_MAGIC, 4) != 0 ||
        !(header[6] & CMT_FLAG_ZSTD) || read_at(fd, footer, sizeof footer, (uint64_t)st.st_size - FOOTER) < 0 ||
        memcmp(footer + 8, INDEX_MAGIC, 4) != 0)
        goto done;
    uint64_t size = (uint64_t)st.st_size, len = get_le32(footer + 4);
    if (len < FOOTER + 1 || len > INDEX_MAX || len > size - CMT_HEADER_SIZE - FRAME_HEADER) {
        rc = damaged(path, "has a bad length", err, errlen);
        goto done;
    }
    uint64_t at = size - len - FRAME_HEADER;
    content = cmti_malloc(len);
    if (!content) {
        cmti_set_error(err, errlen, "%s: " CMT_NO_MEMORY, cmti_display_name(path, false));
        rc = -1;
        goto done;
    }
    if (read_at(fd, frame, sizeof frame, at) < 0 || read_at(fd, content, len, at + FRAME_HEADER) < 0) {
        cmti_set_error(err, errlen, "%s: read failed: %s", cmti_display_name(path, false), strerror(errno));
        rc = -1;
        goto done;
    }
    if (memcmp(frame, SKIPPABLE_MAGIC, 4) != 0 || get_le32(frame + 4) != len)
        rc = damaged(path, "has a bad frame header", err, errlen);
    else if (get_le32(content + len - FOOTER) != content_checksum(content, len - FOOTER))
        rc = damaged(path, "does not match its checksum", err, errlen);
    else
        rc = decode_points(path, content, len - FOOTER, at, ix, err, errlen);
done:
    cmti_free(content);
    close(fd);
    if (rc < 0)
        cmti_seek_index_destroy(ix);
    return rc;
}

void cmti_seek_index_destroy(cmti_seek_index *ix)
{
    cmti_free(ix->points);
    *ix = (cmti_seek_index){0};
}
