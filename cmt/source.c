/*
 * source.c - the top of the library: a trace of any kind behind one
 * interface (cmt_source), the one the tools read through.  The first bytes
 * say whether it is a .cmt file, a file of the original cmt tools or a
 * text trace, and the input is then handed, unread, to the reader it needs
 * (so standard input works too).
 */
#include "format/codes.h"

#include <stdlib.h>

struct cmt_source {
    cmt_reader *binary;
    cmti_cmt0_reader *original;
    cmt_text_reader *text;
    bool salvage, damaged;
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
    return s;
}

int cmt_source_next(cmt_source *s, cmt_event *ev)
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

void cmt_source_progress(const cmt_source *s, uint64_t *done, uint64_t *total)
{
    const cmti_input *in = s->binary     ? cmti_reader_input(s->binary)
                           : s->original ? cmti_cmt0_input(s->original)
                                         : cmti_text_input(s->text);
    *done = cmti_input_position(in);
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

const cmt_text_reader *cmt_source_text(const cmt_source *s)
{
    return s->text;
}

void cmt_source_close(cmt_source *s)
{
    if (!s)
        return;
    cmt_reader_close(s->binary);
    cmti_cmt0_close(s->original);
    cmt_text_close(s->text);
    cmti_free(s);
}
