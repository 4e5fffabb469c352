/*
 * cm_estimate.c - what a context-mixing coder of our own would make of a
 * .cmt file's sections: the code length of each, not a coder (issue 17's
 * size target; docs/performance.md, session 13).
 *
 *     trace2cmt --raw -o T.raw T.cmt && build/bench/cm_estimate T.raw
 *
 * Each section (ops, heads, tails, over all blocks) is predicted a bit at
 * a time, lpaq's way: hashed contexts of the bytes before it (orders 0,
 * 1, 2, 3, 4, 6, 8), each a probability whose rate of learning slows with the
 * times it was seen; a match model (the byte after the last place the 6
 * bytes before were seen); and for the numbers, what the format knows of
 * them: the opcode whose number a byte is, which of its numbers, the
 * first byte of the same field the last time, and for continuation bytes
 * the first byte.  The predictions are mixed by weights learnt online,
 * chosen by the bit's place in its byte and whether a match is on.
 */
#include "cmt_internal.h"
#include "format/codes.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TABLE_BITS 22
#define MAX_INPUTS 10
#define ORDERS 7
static const unsigned orders[ORDERS] = {0, 1, 2, 3, 4, 6, 8};
/* Probabilities are kept off 0 and 1 by this much: a sure prediction
 * that fails costs 12 bits, not 16, and stretches stay in +-8.3. */
#define P_MIN (1.0 / 4096)
#define MATCH_MIN 6

typedef struct slot {
    uint16_t p;     /* probability of a 1, 16 bits */
    uint16_t count; /* times seen, up to a limit: the rate is 1 / (count + 1.5) */
} slot;

typedef struct model {
    slot *table[MAX_INPUTS];
    double weights[2][8][MAX_INPUTS + 1];
    uint32_t *last_at; /* match model: hash of the MATCH_MIN bytes before -> position after them */
    double bits;
} model;

static double stretch(double p)
{
    return log(p / (1 - p));
}

static double squash(double x)
{
    return 1 / (1 + exp(-x));
}

static uint64_t mix64(uint64_t h)
{
    h ^= h >> 31;
    h *= 0x9e3779b97f4a7c15u;
    h ^= h >> 29;
    return h;
}

static void model_init(model *m)
{
    memset(m, 0, sizeof *m);
    for (int i = 0; i < MAX_INPUTS; i++)
        m->table[i] = calloc((size_t)1 << TABLE_BITS, sizeof(slot));
    m->last_at = calloc((size_t)1 << TABLE_BITS, sizeof(uint32_t));
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 8; b++)
            for (int i = 0; i <= MAX_INPUTS; i++)
                m->weights[a][b][i] = 0.3;
}

/* Codes BYTE, the byte at POS of DATA, given the N context hashes CTX
 * (besides its own bytes before it); returns nothing, adds its length. */
static void code_byte(model *m, const uint8_t *data, size_t pos, const uint64_t *ctx, int n, uint32_t *match_ptr,
                      uint32_t *match_len)
{
    uint8_t byte = data[pos];
    int predicted = *match_len ? data[*match_ptr] : -1;
    unsigned node = 1;
    for (int k = 7; k >= 0; k--) {
        int bit = byte >> k & 1;
        double st[MAX_INPUTS + 1];
        slot *s[MAX_INPUTS];
        for (int i = 0; i < n; i++) {
            s[i] = &m->table[i][mix64(ctx[i] * 0x100 + node) & (((size_t)1 << TABLE_BITS) - 1)];
            if (!s[i]->count)
                s[i]->p = 32768; /* a context never seen: even */
            double p = (s[i]->p + 0.5) / 65536.0;
            st[i] = stretch(p < P_MIN ? P_MIN : p > 1 - P_MIN ? 1 - P_MIN : p);
        }
        if (predicted >= 0 && (unsigned)(predicted + 256) >> (k + 1) == node) {
            double strength = (*match_len > 32 ? 32 : *match_len) / 16.0;
            st[n] = (predicted >> k & 1) ? strength : -strength;
        } else {
            st[n] = 0;
        }
        double *w = m->weights[*match_len > 0][k], dot = 0;
        for (int i = 0; i <= n; i++)
            dot += w[i] * st[i];
        double p = squash(dot);
        p = p < P_MIN ? P_MIN : p > 1 - P_MIN ? 1 - P_MIN : p;
        m->bits -= log2(bit ? p : 1 - p);
        double err = bit - p;
        for (int i = 0; i <= n; i++)
            w[i] += 0.015 * err * st[i];
        for (int i = 0; i < n; i++) {
            double q = s[i]->p, target = bit ? 65535 : 0;
            s[i]->p = (uint16_t)(q + (target - q) / (s[i]->count + 1.5));
            if (s[i]->count < 30)
                s[i]->count++;
        }
        node = node * 2 + (unsigned)bit;
    }
    if (*match_len && predicted == byte) {
        ++*match_len;
        ++*match_ptr;
    } else {
        *match_len = 0;
    }
    if (pos + 1 >= MATCH_MIN) {
        uint64_t h = 0;
        for (size_t i = pos + 1 - MATCH_MIN; i <= pos; i++)
            h = h * 0x100000001b3u + data[i];
        uint32_t *at = &m->last_at[mix64(h) & (((size_t)1 << TABLE_BITS) - 1)];
        if (!*match_len && *at) {
            *match_ptr = *at;
            *match_len = 1;
        }
        *at = (uint32_t)pos + 1;
    }
}

/* The hashes of the ORDERS contexts of the bytes before POS, into CTX. */
static int order_contexts(const uint8_t *data, size_t pos, uint64_t *ctx)
{
    for (int o = 0; o < ORDERS; o++) {
        uint64_t h = (uint64_t)(o + 1) << 56;
        for (unsigned i = 1; i <= orders[o] && i <= pos; i++)
            h = (h + data[pos - i] + 1) * 0x100000001b3u;
        ctx[o] = h;
    }
    return ORDERS;
}

/* The numbers an opcode takes (docs/FORMAT.md, Opcodes; read.c's
 * decode_record reads them). */
static int numbers_of(unsigned op)
{
    if (op < CODE_MALLOC)
        return op == CODE_FREE + CODE_FREE_RANKS - 1;
    if (op < CODE_REALLOC)
        return op == CODE_MALLOC + SIZE_LITERAL;
    if (op < CODE_CALLOC)
        return (op == CODE_REALLOC + SIZE_LITERAL) + 1;
    if (op < CODE_POSIX_MEMALIGN)
        return (op == CODE_CALLOC + SIZE_LITERAL) + 1;
    if (op <= CODE_MEMALIGN)
        return 2;
    if (op >= CODE_ACCESS && op < CODE_ACCESS_END)
        return 2 + ((op - CODE_ACCESS) % ACCESS_WIDTHS == ACCESS_LITERAL);
    return op == CODE_EXTENSION ? 2 : 0;
}

typedef struct stream {
    uint8_t *bytes;
    uint64_t *field; /* heads and tails: the field context of each byte */
    size_t n, cap;
} stream;

static void push(stream *s, uint8_t b, uint64_t field)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 1 << 16;
        s->bytes = realloc(s->bytes, s->cap);
        s->field = realloc(s->field, s->cap * sizeof *s->field);
    }
    s->bytes[s->n] = b;
    s->field[s->n++] = field;
}

int main(int argc, char **argv)
{
    if (argc != 2 && !(argc == 3 && strcmp(argv[2], "--bytes") == 0)) {
        fprintf(stderr, "usage: cm_estimate FILE.raw (trace2cmt --raw) [--bytes: FILE as one stream of bytes]\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    size_t len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *data = malloc(len);
    if (fread(data, 1, len, f) != len) {
        perror(argv[1]);
        return 1;
    }
    if (argc == 3) { /* the bytes alone, with their order contexts and the match model */
        model m;
        model_init(&m);
        uint32_t match_ptr = 0, match_len = 0;
        for (size_t i = 0; i < len; i++) {
            uint64_t ctx[MAX_INPUTS];
            code_byte(&m, data, i, ctx, order_contexts(data, i, ctx), &match_ptr, &match_len);
        }
        printf("%zu bytes -> %.0f\n", len, m.bits / 8);
        return 0;
    }
    if (len < 8 || data[6] != 0) {
        fprintf(stderr, "%s: not a raw .cmt file (trace2cmt --raw)\n", argv[1]);
        return 1;
    }
    fclose(f);
    stream ops = {0}, heads = {0}, tails = {0};
    uint64_t last_head[256][4] = {{0}}, events = 0;
    const uint8_t *p = data + 8, *end = data + len;
    for (;;) {
        uint64_t lens[3];
        if (cmti_varint_get(&p, end, &lens[0]) < 0 || lens[0] == 0)
            break;
        if (cmti_varint_get(&p, end, &lens[1]) < 0 || cmti_varint_get(&p, end, &lens[2]) < 0 ||
            lens[0] + lens[1] + lens[2] > (uint64_t)(end - p))
            return fprintf(stderr, "%s: a block cut short\n", argv[1]), 1;
        const uint8_t *o = p, *h = o + lens[0], *t = h + lens[1];
        p = t + lens[2];
        size_t hi = 0, ti = 0;
        for (size_t i = 0; i < lens[0]; i++) {
            unsigned op = o[i];
            push(&ops, (uint8_t)op, 0);
            events += op != CODE_EXTENSION && op != CODE_NULL_RESULT;
            /* A byte's field context: opcode, which number, which byte of
             * it (0xff: the first, in heads), then the first byte of the
             * number (tails) or of the same field the time before (heads). */
            uint64_t value = 0;
            for (int field = 0; field < numbers_of(op) && hi < lens[1]; field++) {
                uint8_t head = h[hi++];
                push(&heads, head, (uint64_t)op << 40 | (uint64_t)field << 32 | 0xffu << 16 | last_head[op][field]);
                last_head[op][field] = head;
                value = head & 0x7f;
                int more = head >> 7;
                for (unsigned k = 0; more && ti < lens[2]; k++) {
                    uint8_t tail = t[ti++];
                    push(&tails, tail, (uint64_t)op << 40 | (uint64_t)field << 32 | (uint64_t)(k < 254 ? k : 254) << 16 | head);
                    value |= k < 9 ? (uint64_t)(tail & 0x7f) << (7 * (k + 1)) : 0;
                    more = tail >> 7;
                }
            }
            for (uint64_t k = 0; op == CODE_EXTENSION && k < value && ti < lens[2]; k++) /* an extension's payload: its length */
                push(&tails, t[ti++], (uint64_t)CODE_EXTENSION << 40 | 0xffull << 32 | (k < 255 ? k : 255) << 16);
        }
    }
    stream *sections[3] = {&ops, &heads, &tails};
    const char *names[3] = {"ops", "heads", "tails"};
    double total = 0;
    for (int sct = 0; sct < 3; sct++) {
        model m;
        model_init(&m);
        stream *s = sections[sct];
        uint32_t match_ptr = 0, match_len = 0;
        for (size_t i = 0; i < s->n; i++) {
            uint64_t ctx[MAX_INPUTS];
            int n = order_contexts(s->bytes, i, ctx);
            if (sct > 0) {
                ctx[n++] = mix64(s->field[i] >> 16) + 1;
                ctx[n++] = mix64(s->field[i]) + 2;
            }
            code_byte(&m, s->bytes, i, ctx, n, &match_ptr, &match_len);
        }
        printf("%-6s %10zu bytes -> %10.0f (%.4f B/event)\n", names[sct], s->n, m.bits / 8, m.bits / 8 / (double)events);
        total += m.bits / 8;
        for (int i = 0; i < MAX_INPUTS; i++)
            free(m.table[i]);
        free(m.last_at);
    }
    printf("total  %10llu events -> %10.0f (%.4f B/event)\n", (unsigned long long)events, total, total / (double)events);
    return 0;
}
