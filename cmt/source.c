/*
 * source.c - the top of the library: a trace of any kind behind one
 * interface (cmt_source), the one the tools read through.  The first bytes
 * say whether it is a .cmt file, a file of the original cmt tools or a
 * text trace, and the input is then handed, unread, to the reader it needs
 * (so standard input works too).
 */
#include "format/codes.h"
#include "format/seek.h"

#include <pthread.h>
#include <stdlib.h>

/* Reading ahead (cmt_source_read_ahead): a thread of the source's own
 * decodes into batches that cmt_source_next hands out, a batch at a time
 * under the lock, so that what the reader thread wrote is the caller's to
 * read once it has the batch. */
#define AHEAD_BATCHES 4
#define AHEAD_EVENTS 4096

typedef struct batch {
    cmt_event events[AHEAD_EVENTS];
    size_t n;
    int end;           /* after the events: 1 more to come, 0 the end, -1 an error */
    uint64_t done;     /* cmt_source_progress's, when the batch was full */
} batch;

typedef struct ahead {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t filled, emptied;
    batch *batches;
    size_t full;       /* batches filled and not yet taken back */
    size_t fill, take; /* the next batch the thread fills, and the caller reads */
    size_t at;         /* the next event of batch take */
    bool holding;      /* the caller has batch take */
    bool stop;         /* cmt_source_close: the thread is to end */
    uint64_t done;     /* the progress of the last batch taken */
} ahead;

struct cmt_source {
    cmt_reader *binary;
    cmti_cmt0_reader *original;
    cmt_text_reader *text;
    bool salvage, damaged;
    ahead *ahead; /* NULL unless reading ahead */
    bool started;  /* an event has been asked for */
    char *path;    /* a .cmt file's, for readers of its segments */
    char name[256];
};

/* Bytes looked at to tell a file that is no trace at all from a text trace
 * with a bad line: a text trace's first line has no NUL in it. */
#define SNIFF 64

/* -1 with a message naming what the N bytes at P look like, if they are
 * no trace: a program, a .cmt file whose magic number is damaged, binary
 * data; else 0 (a text trace, or text that its reader will judge line by
 * line). */
static int refuse_non_traces(const char *name, const uint8_t *p, size_t n, char *err, size_t errlen)
{
    if (n >= 4 && memcmp(p, "\x7f" "ELF", 4) == 0) {
        cmti_set_error(err, errlen, "%s: an ELF file (a program or library), not a trace", name);
        return -1;
    }
    int same = 0;
    for (size_t i = 0; i < sizeof CMT_MAGIC && i < n; i++)
        same += p[i] == CMT_MAGIC[i];
    if (same == 3) {
        cmti_set_error(err, errlen, "%s: not a .cmt trace (bad magic number: a .cmt file whose header is "
                                   "damaged, or another format)", name);
        return -1;
    }
    const uint8_t *nl = memchr(p, '\n', n);
    if (memchr(p, '\0', nl ? (size_t)(nl - p) : n)) {
        cmti_set_error(err, errlen, "%s: binary data, neither a .cmt file nor a text trace", name);
        return -1;
    }
    return 0;
}

cmt_source *cmt_source_open(const char *path, const cmt_text_options *options, char *err,
                            size_t errlen)
{
    cmti_input in;
    if (cmti_input_open(&in, path, err, errlen) < 0)
        return NULL;
    ptrdiff_t got = cmti_input_fill(&in, SNIFF, err, errlen);
    if (got <= 0) {
        if (got == 0)
            cmti_set_error(err, errlen, "%s: empty file, not a trace", in.name);
        cmti_input_close(&in);
        return NULL;
    }
    const uint8_t *first = in.buf + in.start;
    cmt_format format = options ? options->format : CMT_FORMAT_AUTO;
    bool binary = got >= (ptrdiff_t)sizeof CMT_MAGIC && memcmp(first, CMT_MAGIC, sizeof CMT_MAGIC) == 0;
    bool original = format == CMT_FORMAT_CMT0 ||
                    (format == CMT_FORMAT_AUTO && !binary && cmti_looks_like_cmt0(first, (size_t)got));
    if (!binary && !original && refuse_non_traces(in.name, first, (size_t)got, err, errlen) < 0) {
        cmti_input_close(&in);
        return NULL;
    }
    cmt_source *s = cmti_calloc(1, sizeof *s);
    if (!s) {
        cmti_set_error(err, errlen, "%s: " CMT_NO_MEMORY, in.name);
        cmti_input_close(&in);
        return NULL;
    }
    snprintf(s->name, sizeof s->name, "%s", in.name);
    if (original)
        s->original = cmti_cmt0_open_input(&in, err, errlen);
    else if (binary)
        s->binary = cmti_reader_open_input(&in, err, errlen);
    else
        s->text = cmti_text_open_input(&in, path, options, err, errlen);
    if (!s->binary && !s->original && !s->text) {
        cmti_free(s);
        return NULL;
    }
    size_t path_bytes = path ? strlen(path) + 1 : 0;
    if (s->binary && path && strcmp(path, "-") != 0 && (s->path = cmti_malloc(path_bytes)))
        memcpy(s->path, path, path_bytes); /* without it, the file is read in order */
    return s;
}

static const cmti_input *input_of(const cmt_source *s)
{
    return s->binary ? cmti_reader_input(s->binary) : s->original ? cmti_cmt0_input(s->original) : cmti_text_input(s->text);
}

/* The next event from the reader itself. */
static int read_next(cmt_source *s, cmt_event *ev)
{
    int rc = s->binary     ? cmt_reader_next(s->binary, ev)
             : s->original ? cmti_cmt0_next(s->original, ev)
                           : cmt_text_next(s->text, ev);
    if (rc < 0 && s->salvage) {
        s->damaged = true;
        return 0; /* the events before the damage are the trace */
    }
    return rc;
}

/* The reading-ahead thread: fills batches until the end, an error, or
 * cmt_source_close. */
static void *read_ahead(void *arg)
{
    cmt_source *s = arg;
    ahead *a = s->ahead;
    for (int rc = 1; rc > 0;) {
        pthread_mutex_lock(&a->lock);
        while (a->full == AHEAD_BATCHES && !a->stop)
            pthread_cond_wait(&a->emptied, &a->lock);
        bool stop = a->stop;
        pthread_mutex_unlock(&a->lock);
        if (stop)
            break;
        batch *b = &a->batches[a->fill];
        b->n = 0;
        while (b->n < AHEAD_EVENTS && (rc = read_next(s, &b->events[b->n])) > 0)
            b->n++;
        b->end = rc;
        b->done = cmti_input_position(input_of(s));
        pthread_mutex_lock(&a->lock);
        a->fill = (a->fill + 1) % AHEAD_BATCHES;
        a->full++;
        pthread_cond_signal(&a->filled);
        pthread_mutex_unlock(&a->lock);
    }
    return NULL;
}

/* Frees A, whose thread is not running. */
static void free_ahead(ahead *a)
{
    pthread_cond_destroy(&a->filled);
    pthread_cond_destroy(&a->emptied);
    pthread_mutex_destroy(&a->lock);
    cmti_free(a->batches);
    cmti_free(a);
}

int cmt_source_read_ahead(cmt_source *s)
{
    if (s->ahead)
        return 0;
    ahead *a = cmti_calloc(1, sizeof *a);
    if (!a)
        return -1;
    a->batches = cmti_malloc(AHEAD_BATCHES * sizeof *a->batches);
    if (!a->batches || pthread_mutex_init(&a->lock, NULL) != 0) {
        cmti_free(a->batches);
        cmti_free(a);
        return -1;
    }
    pthread_cond_init(&a->filled, NULL);
    pthread_cond_init(&a->emptied, NULL);
    s->ahead = a;
    if (pthread_create(&a->thread, NULL, read_ahead, s) != 0) {
        s->ahead = NULL;
        free_ahead(a);
        return -1;
    }
    return 0;
}

/* The next event from the batches: the thread's, in order.  A batch is
 * taken and given back under the lock; its events are read without it. */
static int next_ahead(ahead *a, cmt_event *ev)
{
    for (;;) {
        if (!a->holding) {
            pthread_mutex_lock(&a->lock);
            while (a->full == 0)
                pthread_cond_wait(&a->filled, &a->lock);
            pthread_mutex_unlock(&a->lock);
            a->holding = true;
            a->done = a->batches[a->take].done;
        }
        batch *b = &a->batches[a->take];
        if (a->at < b->n) {
            *ev = b->events[a->at++];
            return 1;
        }
        if (b->end <= 0)
            return b->end; /* the same again at every call after */
        a->at = 0;
        a->take = (a->take + 1) % AHEAD_BATCHES;
        a->holding = false;
        pthread_mutex_lock(&a->lock);
        a->full--;
        pthread_cond_signal(&a->emptied);
        pthread_mutex_unlock(&a->lock);
    }
}

int cmt_source_next(cmt_source *s, cmt_event *ev)
{
    s->started = true;
    return s->ahead ? next_ahead(s->ahead, ev) : read_next(s, ev);
}

void cmt_source_progress(const cmt_source *s, uint64_t *done, uint64_t *total)
{
    const cmti_input *in = input_of(s);
    *done = s->ahead ? s->ahead->done : cmti_input_position(in);
    *total = in->size;
}

void cmt_source_salvage(cmt_source *s)
{
    s->salvage = true;
}

bool cmt_source_damaged(const cmt_source *s)
{
    return s->damaged;
}

const char *cmt_source_error(const cmt_source *s)
{
    return s->binary     ? cmt_reader_error(s->binary)
           : s->original ? cmti_cmt0_error(s->original)
                         : cmt_text_error(s->text);
}

const char *cmt_source_format_name(const cmt_source *s)
{
    return s->binary ? ".cmt" : s->original ? cmt_format_name(CMT_FORMAT_CMT0)
                                            : cmt_format_name(cmt_text_stats_of(s->text)->format);
}

const char *cmt_source_name(const cmt_source *s)
{
    return s->name;
}

bool cmt_source_has_addresses(const cmt_source *s)
{
    return s->text != NULL || (s->binary && cmt_reader_has_addresses(s->binary));
}

const char *cmti_source_segments_path(const cmt_source *s)
{
    return s->binary && s->path && !s->salvage && !s->ahead && !s->started ? s->path : NULL;
}

const cmt_sites *cmt_source_sites(const cmt_source *s)
{
    return s->binary ? cmt_reader_sites(s->binary) : s->text ? cmt_text_sites(s->text) : NULL;
}

const cmt_text_reader *cmt_source_text(const cmt_source *s)
{
    return s->text;
}

/* Ends the reading-ahead thread, wherever it is. */
static void stop_reading_ahead(ahead *a)
{
    pthread_mutex_lock(&a->lock);
    a->stop = true;
    pthread_cond_signal(&a->emptied);
    pthread_mutex_unlock(&a->lock);
    pthread_join(a->thread, NULL);
    free_ahead(a);
}

void cmt_source_close(cmt_source *s)
{
    if (!s)
        return;
    if (s->ahead)
        stop_reading_ahead(s->ahead);
    cmt_reader_close(s->binary);
    cmti_cmt0_close(s->original);
    cmt_text_close(s->text);
    cmti_free(s->path);
    cmti_free(s);
}
