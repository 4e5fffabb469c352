/*
 * fuzz_text.c - every text reader on hostile lines: the first byte chooses
 * the format (auto, text, kdump, valgrind, dtrace, mtrace, memtrace, ops)
 * and strictness, the rest is the trace.  The events must print within
 * their bound, feed the statistics, and survive a round trip through the
 * writer.
 */
#include "fuzz.h"
#include "analysis.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    cmt_text_options options = {.format = (cmt_format)(data[0] % CMT_FORMAT_COUNT), .strict = data[0] & 0x80};
    char path[64], err[512];
    int fd = fuzz_file(data + 1, size - 1, path, sizeof path);
    cmt_text_reader *t = cmt_text_open(path, &options, err, sizeof err);
    if (t) {
        fuzz_events got = {0};
        cmt_trace_stats stats;
        bool counting = cmt_stats_init(&stats) == 0;
        cmt_event *ev;
        while ((ev = fuzz_next_slot(&got)) && cmt_text_next(t, ev) > 0) {
            char line[CMT_EVENT_TEXT_MAX];
            if (cmt_format_event(line, ev) >= CMT_EVENT_TEXT_MAX || strlen(line) >= CMT_EVENT_TEXT_MAX)
                abort();
            counting = counting && cmt_stats_add(&stats, ev) == 0;
            got.n++;
        }
        cmt_stats_finish(&stats);
        fuzz_round_trip(got.events, got.n, fuzz_level(data[0] >> 3));
        free(got.events);
        cmt_text_close(t);
    }
    close(fd);
    return 0;
}
