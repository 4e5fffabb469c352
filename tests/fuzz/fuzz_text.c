/*
 * fuzz_text.c - every reader of traces made elsewhere on hostile input:
 * the first byte chooses the format (auto, text, kdump, valgrind, dtrace,
 * mtrace, memtrace, ops, and cmt0, the original tools' binary files) and
 * strictness, the rest is the trace.  The events must print within their
 * bound, feed the statistics, and survive a round trip through the
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
    /* cmt0 is read through a source; the text formats directly, so that
     * they see binary junk too, which a source refuses before them. */
    bool binary = options.format == CMT_FORMAT_CMT0;
    cmt_source *s = binary ? cmt_source_open(path, &options, err, sizeof err) : NULL;
    cmt_text_reader *t = binary ? NULL : cmt_text_open(path, &options, err, sizeof err);
    if (s || t) {
        fuzz_events got = {0};
        cmt_trace_stats stats;
        bool counting = cmt_stats_init(&stats) == 0;
        cmt_event *ev;
        while ((ev = fuzz_next_slot(&got)) && (s ? cmt_source_next(s, ev) : cmt_text_next(t, ev)) > 0) {
            char line[CMT_EVENT_TEXT_MAX];
            if (cmt_format_event(line, ev) >= CMT_EVENT_TEXT_MAX || strlen(line) >= CMT_EVENT_TEXT_MAX)
                abort();
            counting = counting && cmt_stats_add(&stats, ev) == 0;
            got.n++;
        }
        cmt_stats_finish(&stats);
        fuzz_round_trip(got.events, got.n, s ? cmt_source_sites(s) : cmt_text_sites(t), fuzz_level(data[0] >> 3));
        free(got.events);
        cmt_text_close(t);
        cmt_source_close(s);
    }
    close(fd);
    return 0;
}
