/*
 * address.c - see address.h.
 */
#include "address.h"
#include "codes.h"

enum { ADDRESS_AT, ADDRESS_BYTES };

/* The number before an address given whole: no difference codes as it. */
#define ESCAPE UINT64_MAX

int cmti_address_model_init(cmti_address_model *m)
{
    *m = (cmti_address_model){0};
    return cmti_map_init(&m->blocks, 3);
}

void cmti_address_model_destroy(cmti_address_model *m)
{
    cmti_map_destroy(&m->blocks);
}

static inline unsigned size_index(uint64_t bytes)
{
    return (unsigned)((bytes * 0x9E3779B97F4A7C15ULL) >> 52) % ADDRESS_SIZES;
}

static void predict(const cmti_address_model *m, uint64_t bytes, uint64_t passed,
                    uint64_t prediction[ADDRESS_PREDICTIONS])
{
    unsigned i = size_index(bytes);
    prediction[0] = m->freed_bytes[i] == bytes ? m->freed_at[i] : m->last_freed;
    prediction[1] = m->last_end + m->last_gap;
    prediction[2] = passed ? passed : m->last_freed;
    prediction[3] = m->last_at;
}

size_t cmti_address_encode(const cmti_address_model *m, uint64_t address, uint64_t bytes, uint64_t passed,
                           uint8_t *out)
{
    uint64_t prediction[ADDRESS_PREDICTIONS], best = UINT64_MAX;
    predict(m, bytes, passed, prediction);
    unsigned which = 0;
    for (unsigned p = 0; p < ADDRESS_PREDICTIONS; p++) {
        uint64_t cost = zigzag_encode(address - prediction[p]);
        if (cost < best) {
            best = cost;
            which = p;
        }
    }
    if (best < ESCAPE >> 2)
        return cmti_varint_put(out, best << 2 | which);
    size_t n = cmti_varint_put(out, ESCAPE);
    for (unsigned i = 0; i < 8; i++)
        out[n++] = (uint8_t)(address >> (8 * i));
    return n;
}

int cmti_address_decode(const cmti_address_model *m, const uint8_t **p, const uint8_t *end, uint64_t bytes,
                        uint64_t passed, uint64_t *address)
{
    uint64_t number;
    if (cmti_varint_get(p, end, &number) < 0)
        return -1;
    if (number == ESCAPE) {
        if (end - *p < 8)
            return -1;
        *address = 0;
        for (unsigned i = 0; i < 8; i++)
            *address |= (uint64_t)(*p)[i] << (8 * i);
        *p += 8;
        return 0;
    }
    uint64_t prediction[ADDRESS_PREDICTIONS];
    predict(m, bytes, passed, prediction);
    *address = prediction[number & 3] + zigzag_decode(number >> 2);
    return 0;
}

uint64_t cmti_address_of(const cmti_address_model *m, uint64_t tag)
{
    const cmti_map_entry *e = cmti_map_find(&m->blocks, tag);
    return e ? e->value[ADDRESS_AT] : 0;
}

static void forget(cmti_address_model *m, uint64_t tag)
{
    cmti_map_entry *e = cmti_map_find(&m->blocks, tag);
    if (!e)
        return;
    uint64_t at = e->value[ADDRESS_AT], bytes = e->value[ADDRESS_BYTES];
    unsigned i = size_index(bytes);
    m->freed_at[i] = at;
    m->freed_bytes[i] = bytes;
    m->last_freed = at;
    cmti_map_remove(&m->blocks, e);
}

static int note(cmti_address_model *m, uint64_t tag, uint64_t address, uint64_t bytes)
{
    cmti_map_entry *e = cmti_map_insert(&m->blocks, tag);
    if (!e)
        return -1;
    e->value[ADDRESS_AT] = address;
    e->value[ADDRESS_BYTES] = bytes;
    m->last_gap = address - m->last_end;
    m->last_at = address;
    m->last_end = address + bytes;
    return 0;
}

int cmti_address_follow(cmti_address_model *m, const cmt_event *ev)
{
    if (cmt_event_releases(ev))
        forget(m, ev->arg_tag);
    return ev->tag ? note(m, ev->tag, ev->addr, cmt_event_bytes(ev)) : 0;
}
