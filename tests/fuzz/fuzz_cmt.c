/*
 * fuzz_cmt.c - the .cmt decoder on hostile bytes.  Whatever it makes of
 * them, reading with salvage must give the same events up to where
 * reading without it failed, and those events must survive a round trip
 * through the writer.
 */
#include "fuzz.h"

#include <stdlib.h>
#include <unistd.h>

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
        cmt_reader_close(r);
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
    fuzz_round_trip(got.events, n, fuzz_level(size > 8 ? data[8] : 0));
    free(got.events);
    close(fd);
    return 0;
}
