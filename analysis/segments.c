/*
 * segments.c - running an analysis on a .cmt file's segments at once
 * (segments.h).
 *
 * Workers take the segments in order, each into a result of its own; the
 * calling thread merges the results in order as they come.  Workers take
 * at most one segment a thread past the one being merged, so that the
 * results waiting, each holding the blocks its segment left live, stay
 * a few times the live set, whatever the length of the trace.
 */
#include "segments.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

unsigned cmt_analysis_threads(void)
{
    const char *env = getenv("CMT_THREADS");
    if (env && *env) {
        char *end;
        unsigned long n = strtoul(env, &end, 10);
        if (*end == '\0' && n >= 1 && n <= 1024)
            return (unsigned)n;
    }
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 1 ? (unsigned)(online > 1024 ? 1024 : online) : 1;
}

enum { PENDING, DONE, FAILED };

typedef struct runner {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    const char *path;
    const cmti_seek_index *index;
    const segmented_analysis *analysis;
    size_t next;   /* the next segment a worker takes */
    size_t merged; /* segments merged so far */
    size_t ahead;  /* how far past the merged a worker may take one */
    bool stop;
    struct segment {
        void *result;
        int state;
        char err[CMT_ERRLEN];
    } *segments;
} runner;

/* Segment I, read by a worker (with WORKER, its state) into its result. */
static void run_segment(runner *r, void *worker, size_t i)
{
    struct segment *s = &r->segments[i];
    const cmti_seek_point *from = &r->index->points[i], *to = i + 1 < r->index->n ? from + 1 : NULL;
    int rc = -1;
    s->result = cmti_calloc(1, r->analysis->result_size);
    if (!s->result) {
        snprintf(s->err, sizeof s->err, "%s: " CMT_NO_MEMORY, r->path);
    } else {
        cmt_reader *reader = cmti_reader_open_segment(r->path, from, to, s->err, sizeof s->err);
        if (reader) {
            rc = r->analysis->run(r->analysis->context, worker, reader, from, s->result, s->err, sizeof s->err);
            cmt_reader_close(reader);
        }
    }
    pthread_mutex_lock(&r->lock);
    s->state = rc < 0 ? FAILED : DONE;
    pthread_cond_broadcast(&r->changed);
    pthread_mutex_unlock(&r->lock);
}

typedef struct worker {
    runner *runner;
    void *state;
    pthread_t thread;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    runner *r = w->runner;
    for (;;) {
        pthread_mutex_lock(&r->lock);
        while (!r->stop && r->next < r->index->n && r->next >= r->merged + r->ahead)
            pthread_cond_wait(&r->changed, &r->lock);
        size_t i = r->next;
        bool quit = r->stop || i >= r->index->n;
        if (!quit)
            r->next++;
        pthread_mutex_unlock(&r->lock);
        if (quit)
            return NULL;
        run_segment(r, w->state, i);
    }
}

/* Merges the segments in order as the workers finish them.  Returns 0, or
 * -1 with a message in ERR. */
static int merge_all(runner *r, const cmt_progress *progress, char *err, size_t errlen)
{
    for (size_t i = 0; i < r->index->n; i++) {
        struct segment *s = &r->segments[i];
        pthread_mutex_lock(&r->lock);
        while (s->state == PENDING)
            pthread_cond_wait(&r->changed, &r->lock);
        pthread_mutex_unlock(&r->lock);
        if (s->state == FAILED) {
            snprintf(err, errlen, "%s", s->err);
            return -1;
        }
        int rc = r->analysis->merge(r->analysis->context, s->result, err, errlen);
        r->analysis->free(s->result);
        cmti_free(s->result);
        s->result = NULL;
        if (rc < 0)
            return -1;
        pthread_mutex_lock(&r->lock);
        r->merged++;
        pthread_cond_broadcast(&r->changed);
        pthread_mutex_unlock(&r->lock);
        if (progress && progress->update && i + 1 < r->index->n) /* the last's end is the reader's to know */
            progress->update(progress->context, r->index->points[i + 1].events);
    }
    return 0;
}

/* Bytes a segment takes for each block live at its start, at most: its
 * reader's live set and the analysis's table by slot (cmtstat in order
 * took 58 bytes a block at 12 M blocks live, a Python run), and its
 * result waiting to be merged (the survivors and the references, 72),
 * with room for a segment whose own blocks outnumber them. */
#define BYTES_PER_LIVE_BLOCK 160

/* THREADS, or fewer, so that the segments read at once hold at most a
 * quarter of the machine's memory: reading in order holds a block live
 * once, reading by segments once a thread and once a result waiting, and
 * a trace with 12 M blocks live on 32 cores would otherwise take 60 GB.
 * The live blocks at the seek points, from the index, say how many. */
static unsigned affordable_threads(const cmti_seek_index *index, unsigned threads)
{
    uint64_t live = 1;
    for (size_t i = 0; i < index->n; i++)
        live = index->points[i].live > live ? index->points[i].live : live;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0)
        return threads;
    uint64_t budget = (uint64_t)pages * (uint64_t)page / 4, per_thread = live * BYTES_PER_LIVE_BLOCK;
    uint64_t affordable = budget / per_thread;
    return affordable < threads ? (unsigned)affordable : threads;
}

int cmt_segments_run(cmt_source *source, const segmented_analysis *analysis, const cmt_progress *progress,
                     char *err, size_t errlen)
{
    const char *path = cmti_source_segments_path(source);
    unsigned threads = cmt_analysis_threads();
    cmti_seek_index index;
    if (!path || threads < 2)
        return 0;
    int found = cmti_seek_index_read(path, &index, err, errlen);
    if (found <= 0)
        return found;
    if (index.n < 2) {
        cmti_seek_index_destroy(&index);
        return 0;
    }
    if (threads > index.n)
        threads = (unsigned)index.n;
    threads = affordable_threads(&index, threads);
    if (threads < 2) {
        cmti_seek_index_destroy(&index);
        return 0;
    }
    runner r = {.path = path, .index = &index, .analysis = analysis, .ahead = (size_t)threads + 1};
    r.segments = cmti_calloc(index.n, sizeof *r.segments);
    worker *workers = cmti_calloc(threads, sizeof *workers);
    bool ready = r.segments && workers;
    for (unsigned t = 0; ready && t < threads; t++) {
        workers[t].runner = &r;
        ready = analysis->worker_size == 0 || (workers[t].state = cmti_calloc(1, analysis->worker_size));
    }
    unsigned started = 0;
    int rc = -1;
    if (ready && pthread_mutex_init(&r.lock, NULL) == 0) {
        pthread_cond_init(&r.changed, NULL);
        while (started < threads && pthread_create(&workers[started].thread, NULL, work, &workers[started]) == 0)
            started++;
        if (started > 0)
            rc = merge_all(&r, progress, err, errlen);
        else
            snprintf(err, errlen, "%s: can't start a thread", path);
        pthread_mutex_lock(&r.lock);
        r.stop = true;
        pthread_cond_broadcast(&r.changed);
        pthread_mutex_unlock(&r.lock);
        for (unsigned t = 0; t < started; t++)
            pthread_join(workers[t].thread, NULL);
        pthread_cond_destroy(&r.changed);
        pthread_mutex_destroy(&r.lock);
        for (unsigned t = 0; rc == 0 && analysis->merge_worker && t < started; t++)
            rc = analysis->merge_worker(analysis->context, workers[t].state, err, errlen);
    } else {
        snprintf(err, errlen, "%s: " CMT_NO_MEMORY, path);
    }
    for (size_t i = 0; r.segments && i < index.n; i++)
        if (r.segments[i].result) {
            analysis->free(r.segments[i].result);
            cmti_free(r.segments[i].result);
        }
    for (unsigned t = 0; workers && t < threads; t++)
        if (workers[t].state) {
            if (analysis->free_worker)
                analysis->free_worker(workers[t].state);
            cmti_free(workers[t].state);
        }
    cmti_free(r.segments);
    cmti_free(workers);
    cmti_seek_index_destroy(&index);
    return rc < 0 ? -1 : 1;
}

/* ---------------------------------------------------------- ranked blocks */

int ranked_blocks_init(ranked_blocks *r, live_blocks *blocks)
{
    *r = (ranked_blocks){.blocks = blocks};
    return cmti_live_init(&r->order, true);
}

void ranked_blocks_destroy(ranked_blocks *r)
{
    cmti_live_destroy(&r->order);
    cmti_slots_destroy(&r->slots);
}

live_block *ranked_blocks_find(ranked_blocks *r, uint64_t rank, size_t *pos)
{
    if (cmti_live_find_rank(&r->order, rank, pos) < 0)
        return NULL;
    return &r->blocks->by_slot[cmti_live_slot_at(&r->order, *pos)];
}

void ranked_blocks_remove(ranked_blocks *r, size_t pos, live_block *b)
{
    cmti_slots_give(&r->slots, cmti_live_slot_at(&r->order, pos));
    cmti_live_remove_at(&r->order, pos);
    live_blocks_remove(r->blocks, b);
}

/* Adds B, newer than every block there.  0, or -1 when out of memory. */
static int ranked_blocks_add(ranked_blocks *r, const live_block *b)
{
    uint32_t slot;
    if (cmti_slots_take(&r->slots, &slot) < 0)
        return -1;
    cmt_event made = {.tag = b->tag, .slot = slot};
    live_block *to = live_blocks_add(r->blocks, &made, b->born);
    if (!to || cmti_live_push(&r->order, b->tag, slot) < 0) {
        if (to)
            live_blocks_remove(r->blocks, to);
        cmti_slots_give(&r->slots, slot);
        return -1;
    }
    *to = *b;
    return 0;
}

int ranked_blocks_add_all(ranked_blocks *r, const segment_list *survivors)
{
    const live_block *b = survivors->items;
    for (size_t i = 0; i < survivors->n; i++)
        if (ranked_blocks_add(r, &b[i]) < 0)
            return -1;
    return 0;
}

int segment_list_append(segment_list *l, const void *item, size_t size)
{
    if (cmti_grow(&l->items, &l->cap, l->n, size, 256) < 0)
        return -1;
    memcpy((char *)l->items + l->n * size, item, size);
    l->n++;
    return 0;
}

int segment_survivors(const cmt_reader *segment, live_blocks *segment_blocks, segment_list *survivors)
{
    const cmti_live *set = cmti_reader_live_set(segment);
    for (size_t pos = 0; pos < set->n; pos++) {
        if (!cmti_live_is_live(set, pos))
            continue;
        live_block *b = live_blocks_find(segment_blocks, cmti_live_tag_at(set, pos), cmti_live_slot_at(set, pos));
        if (b && segment_list_append(survivors, b, sizeof *b) < 0)
            return -1;
    }
    return 0;
}
