/*
 * checksum.c - the stream checksum of the .cmt trailer.
 *
 * Raw .cmt files have no zstd frame checksum to lean on, so the trailer
 * carries one of its own.  It mixes eight bytes at a time (a multiply and a
 * rotate per word, several GB/s) and folds in the length, so that a
 * truncated, extended or bit-flipped stream gives another sum.
 */
#include "internal.h"
#include "../format/codes.h"

static const uint64_t PRIME1 = 0x9E3779B185EBCA87ULL;
static const uint64_t PRIME2 = 0xC2B2AE3D27D4EB4FULL;

static inline uint64_t mix(uint64_t state, uint64_t word)
{
    state ^= word * PRIME2;
    state = (state << 31) | (state >> 33);
    return state * PRIME1;
}

/* One load (GCC did not merge the eight byte loads of a shifting loop:
 * 6 instructions a byte, twice over every byte written, a fifth of the
 * recorder's coding); the bytes swapped only where the machine is
 * big-endian. */
static inline uint64_t load_le64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

void cmti_checksum_init(cmti_checksum *c)
{
    c->state = 0x27D4EB2F165667C5ULL;
    c->total = 0;
    c->npending = 0;
}

void cmti_checksum_update(cmti_checksum *c, const void *data, size_t len)
{
    const uint8_t *p = data;
    c->total += len;
    while (len > 0 && c->npending > 0) {
        c->pending[c->npending++] = *p++;
        len--;
        if (c->npending == 8) {
            c->state = mix(c->state, load_le64(c->pending));
            c->npending = 0;
        }
    }
    for (; len >= 8; p += 8, len -= 8)
        c->state = mix(c->state, load_le64(p));
    if (len > 0) { /* then the pending bytes were used up above */
        memcpy(c->pending, p, len);
        c->npending = (unsigned)len;
    }
}

uint64_t cmti_checksum_final(const cmti_checksum *c)
{
    uint8_t tail[8] = {0};
    memcpy(tail, c->pending, c->npending);
    uint64_t h = mix(mix(c->state, load_le64(tail)), c->total);
    h ^= h >> 29;
    h *= PRIME2;
    h ^= h >> 32;
    return h;
}

uint32_t cmti_block_checksum(const uint8_t *const pieces[], const size_t lens[], size_t n)
{
    static const uint8_t zeros[CMT_BLOCK_CHECKSUM_BYTES];
    cmti_checksum c;
    cmti_checksum_init(&c);
    for (size_t i = 0; i + 1 < n; i++)
        cmti_checksum_update(&c, pieces[i], lens[i]);
    cmti_checksum_update(&c, zeros, sizeof zeros);
    cmti_checksum_update(&c, pieces[n - 1] + sizeof zeros, lens[n - 1] - sizeof zeros);
    return (uint32_t)cmti_checksum_final(&c);
}
