/*
 * cmt0.c - the original cmt tools' binary format ("cmt0"), read.
 *
 * The original trace2cmt (CHERI's cmt, 2019) wrote a record a call, with
 * no magic number, header or end:
 *
 *     number(size) number(old) [number(new), when size is not 0]
 *
 * Numbers are base-128, least significant group first, and, unlike LEB128,
 * the LAST byte of a number has its high bit set.  OLD is 0 for none or the
 * freed block as a distance back from the newest tag (1: the newest), NEW
 * the new block's tag as a step up from the newest.  So malloc is
 * (size, 0, new), realloc (size, old, new) and free (0, old).  The first
 * record is a malloc of tag 1: size, 0x80, 0x81, which is how -f auto
 * knows such a file.
 *
 * Read as the original cmtreplay reads it, but for its one refusal of a
 * trace its own trace2cmt wrote: a free of tag 1 (a distance back equal to
 * the newest tag), which it called "oldtag >= oldnewtag".  456.hmmer frees
 * its first block at its very end.  The format has no end record, so a
 * file cut between two records reads as the shorter trace; a cut inside a
 * record, and every record that could not have been written, is an error
 * naming its byte.
 */
#include "../common/internal.h"
#include "../common/tagger.h"

#include <stdlib.h>

/* The writer took sizes and tags as 32-bit numbers: 5 bytes at most. */
#define NUMBER_BYTES 5

struct cmti_cmt0_reader {
    cmti_input in;
    cmti_tagger tagger; /* the file's tag -> ours (the same, where tags step by 1) */
    uint64_t newest;    /* the file's newest tag */
    uint64_t record;    /* offset of the record being read */
    char err[CMT_ERRLEN];
};

/* The number at P, of the N bytes there, into *V; returns its bytes, or
 * 0 if it does not end within them (or NUMBER_BYTES). */
static size_t decode_number(const uint8_t *p, size_t n, uint64_t *v)
{
    uint64_t x = 0;
    for (size_t i = 0; i < n && i < NUMBER_BYTES; i++) {
        x |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (p[i] & 0x80) {
            *v = x;
            return i + 1;
        }
    }
    return 0;
}

bool cmti_looks_like_cmt0(const uint8_t *p, size_t n)
{
    uint64_t size;
    size_t i = decode_number(p, n, &size);
    if (i == 0 || size == 0)
        return false;
    return i + 1 < n && p[i] == 0x80 && p[i + 1] > 0x80; /* no block freed; a new tag of step 1 or more */
}

static int record_error(cmti_cmt0_reader *r, const char *what)
{
    cmti_set_error(r->err, sizeof r->err, "%s: byte %llu: %s", r->in.name, (unsigned long long)r->record, what);
    return -1;
}

/* The next number into *V.  Returns 1, 0 at the end of the input before
 * its first byte, -1 on an error. */
static int get_number(cmti_cmt0_reader *r, uint64_t *v)
{
    ptrdiff_t avail = cmti_input_fill(&r->in, NUMBER_BYTES, r->err, sizeof r->err);
    if (avail < 0)
        return -1;
    if (avail == 0)
        return 0;
    size_t used = decode_number(r->in.buf + r->in.start, (size_t)avail, v);
    if (used) {
        r->in.start += used;
        return 1;
    }
    if (avail < NUMBER_BYTES)
        return record_error(r, "truncated: the file ends inside a record");
    return record_error(r, "corrupt: a number longer than 5 bytes (the format's are 32 bits)");
}

cmti_cmt0_reader *cmti_cmt0_open_input(cmti_input *in, char *err, size_t errlen)
{
    cmti_cmt0_reader *r = cmti_calloc(1, sizeof *r);
    if (!r || cmti_tagger_init(&r->tagger, 1, true, NULL, NULL) < 0) {
        cmti_set_error(err, errlen, "%s: " CMT_NO_MEMORY, in->name);
        if (r)
            cmti_tagger_destroy(&r->tagger);
        cmti_free(r);
        cmti_input_close(in);
        return NULL;
    }
    r->in = *in;
    r->tagger.strict = true; /* the writer could not name a block that was not live */
    return r;
}

int cmti_cmt0_next(cmti_cmt0_reader *r, cmt_event *ev)
{
    uint64_t size, old, step = 0;
    r->record = r->in.consumed + r->in.start;
    int rc = get_number(r, &size);
    if (rc <= 0)
        return rc;
    if ((rc = get_number(r, &old)) == 0 || (size && rc > 0 && (rc = get_number(r, &step)) == 0))
        return record_error(r, "truncated: the file ends inside a record");
    if (rc < 0)
        return -1;
    if (size == 0 && old == 0)
        return record_error(r, "corrupt: a record with neither a size nor a block to free");
    if (old > r->newest)
        return record_error(r, "corrupt: frees a block older than the first");
    if (size && step == 0)
        return record_error(r, "corrupt: an allocation without a new tag");
    if (step > UINT32_MAX)
        return record_error(r, "corrupt: a new tag past 2^32");
    cmti_zero(ev, sizeof *ev);
    ev->op = !size ? CMT_OP_FREE : old ? CMT_OP_REALLOC : CMT_OP_MALLOC;
    ev->size = size;
    ev->count = 1;
    uint64_t freed = old ? r->newest + 1 - old : 0;
    r->newest += step;
    cmti_map_entry *e;
    switch (cmti_tagger_tag(&r->tagger, ev, freed, size ? r->newest : 0, NULL, &e)) {
    case CMT_TAG_NO_MEMORY: return record_error(r, CMT_NO_MEMORY);
    case CMT_TAG_NOT_LIVE: return record_error(r, "corrupt: frees a block that is not live");
    case CMT_TAG_STILL_LIVE: return record_error(r, "corrupt: a new tag that is live already");
    default: return 1;
    }
}

const char *cmti_cmt0_error(const cmti_cmt0_reader *r)
{
    return r->err;
}

const cmti_input *cmti_cmt0_input(const cmti_cmt0_reader *r)
{
    return &r->in;
}

void cmti_cmt0_close(cmti_cmt0_reader *r)
{
    if (!r)
        return;
    cmti_input_close(&r->in);
    cmti_tagger_destroy(&r->tagger);
    cmti_free(r);
}
