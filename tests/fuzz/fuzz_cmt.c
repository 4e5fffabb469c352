/*
 * fuzz_cmt.c - the .cmt decoder on hostile bytes.  Whatever it makes of
 * them, reading with salvage must give the same events up to where
 * reading without it failed, reading by segments (where the bytes have an
 * index of seek points) must give none of its own, and those events must
 * survive a round trip through the writer, with the stacks they name.
 */
#include "cmt_internal.h"
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reads every segment of PATH, whose whole reading gave the N events
 * WHOLE: a segment's events must be WHOLE's, in order from the events
 * its seek point claims, with the blocks live there known by rank (LIVE,
 * oldest first, the blocks live at the seek point); a segment past what
 * the whole reading gave, or that disagrees with the index, must fail. */
static void check_segments(const char *path, const cmt_event *whole, size_t n)
{
    char err[512];
    cmti_seek_index index;
    if (cmti_seek_index_read(path, &index, err, sizeof err) <= 0)
        return;
    uint64_t *live = malloc((n + 1) * sizeof *live), *external = malloc((n + 1) * sizeof *external);
    size_t nlive = 0, at = 0;
    for (size_t k = 0; k < index.n && index.points[k].events == at; k++) {
        cmt_reader *r = cmti_reader_open_segment(path, &index.points[k], k + 1 < index.n ? &index.points[k + 1] : NULL,
                                                 err, sizeof err);
        if (!r)
            break;
        memcpy(external, live, nlive * sizeof *live);
        size_t nexternal = nlive;
        cmt_event ev;
        int rc;
        while ((rc = cmt_reader_next(r, &ev)) > 0) {
            if (at >= n)
                abort(); /* a segment read past what the whole file holds */
            const cmt_event *want = &whole[at];
            if (ev.arg_tag == CMTI_TAG_EXTERNAL) {
                if (ev.arg_addr >= nexternal)
                    break; /* a rank the merge refuses */
                size_t pos = nexternal - 1 - (size_t)ev.arg_addr;
                ev.arg_tag = external[pos];
                if (cmt_event_releases(want))
                    memmove(&external[pos], &external[pos + 1], (--nexternal - pos) * sizeof *external);
            }
            if (!cmt_event_same(&ev, want))
                abort(); /* a segment made up an event */
            if (want->arg_tag && cmt_event_releases(want)) {
                size_t pos = 0;
                while (pos < nlive && live[pos] != want->arg_tag)
                    pos++;
                if (pos < nlive)
                    memmove(&live[pos], &live[pos + 1], (--nlive - pos) * sizeof *live);
            }
            if (want->tag)
                live[nlive++] = want->tag;
            at++;
        }
        cmt_reader_close(r);
        if (rc != 0)
            break;
    }
    free(live);
    free(external);
    cmti_seek_index_destroy(&index);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64], err[512];
    int fd = fuzz_file(data, size, path, sizeof path);
    fuzz_events got = {0};
    cmt_reader *r = cmt_reader_open(path, err, sizeof err);
    cmt_event *slot;
    if (r) {
        while ((slot = fuzz_next_slot(&got)) && cmt_reader_next(r, slot) > 0)
            got.n++;
    }
    size_t n = got.n;
    cmt_source *s = cmt_source_open(path, NULL, err, sizeof err);
    if (s) {
        cmt_source_salvage(s);
        cmt_event ev;
        size_t m = 0;
        int rc;
        while ((rc = cmt_source_next(s, &ev)) > 0 && m < n)
            m++;
        if (rc < 0 || (r && m < n))
            abort(); /* salvage never fails, and keeps what a plain read gave */
        cmt_source_close(s);
    }
    if (r && n < FUZZ_EVENTS)
        check_segments(path, got.events, n);
    fuzz_round_trip(got.events, n, r ? cmt_reader_sites(r) : NULL, fuzz_level(size > 8 ? data[8] : 0));
    cmt_reader_close(r);
    free(got.events);
    close(fd);
    return 0;
}
