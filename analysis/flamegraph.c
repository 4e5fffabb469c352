/*
 * flamegraph.c - a flame graph as SVG, from stacks and their weights:
 * each frame a box as wide as the weight of the stacks through it, on top
 * of its caller's, frames of the same name under the same caller merged
 * (as flamegraph.pl draws folded stacks), so that the page of cmtreplay
 * --compare and cmtstat --flamegraph FILE.svg need no other tool.
 */
#include "analysis.h"
#include "cmt_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

typedef struct flame_node {
    char *name;
    uint64_t weight;
    uint32_t first_child, next_sibling; /* indices + 1; 0: none */
} flame_node;

struct cmt_flame {
    flame_node *nodes; /* nodes[0] is the root, of all stacks */
    size_t n, cap;
    unsigned depth;    /* the deepest stack added */
};

cmt_flame *cmt_flame_new(void)
{
    cmt_flame *f = cmti_calloc(1, sizeof *f);
    if (f && cmti_grow((void **)&f->nodes, &f->cap, 0, sizeof *f->nodes, 1024) == 0) {
        f->nodes[0] = (flame_node){0};
        f->n = 1;
        return f;
    }
    cmti_free(f);
    return NULL;
}

void cmt_flame_free(cmt_flame *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++)
        cmti_free(f->nodes[i].name);
    cmti_free(f->nodes);
    cmti_free(f);
}

/* The child of node AT called NAME, added if new; 0 when out of memory. */
static uint32_t child(cmt_flame *f, uint32_t at, const char *name)
{
    uint32_t c = f->nodes[at].first_child;
    for (; c; c = f->nodes[c - 1].next_sibling)
        if (strcmp(f->nodes[c - 1].name, name) == 0)
            return c - 1;
    char *copy = cmti_malloc(strlen(name) + 1);
    if (!copy || cmti_grow((void **)&f->nodes, &f->cap, f->n, sizeof *f->nodes, 1024) < 0) {
        cmti_free(copy);
        return 0;
    }
    strcpy(copy, name);
    f->nodes[f->n] = (flame_node){copy, 0, 0, f->nodes[at].first_child};
    f->nodes[at].first_child = (uint32_t)++f->n;
    return (uint32_t)f->n - 1;
}

int cmt_flame_add(cmt_flame *f, const char *const *frames, size_t n, uint64_t weight)
{
    if (n > CMT_FLAME_DEPTH) { /* the innermost: drawing recurses a frame a level */
        frames += n - CMT_FLAME_DEPTH;
        n = CMT_FLAME_DEPTH;
    }
    uint32_t at = 0;
    f->nodes[0].weight += weight;
    for (size_t i = 0; i < n; i++) {
        if (!(at = child(f, at, frames[i])))
            return -1;
        f->nodes[at].weight += weight;
    }
    f->depth = n > f->depth ? (unsigned)n : f->depth;
    return 0;
}

#define FLAME_WIDTH 1000.0
#define FRAME_HEIGHT 16
#define FLAME_TOP 24 /* the title's */

/* A warm colour of its own for NAME, as flamegraph.pl's palette. */
static void colour(const char *name, unsigned *r, unsigned *g, unsigned *b)
{
    uint64_t h = cmti_hash_string(CMTI_HASH_START, name);
    *r = 205 + h % 50;
    *g = (h >> 8) % 230;
    *b = (h >> 16) % 55;
}

/* Node AT and those above it, AT's box from X, DEPTH frames up. */
static void draw(const cmt_flame *f, cmt_output *out, uint32_t at, double x, unsigned depth, const char *unit,
                 unsigned height)
{
    const flame_node *node = &f->nodes[at];
    double total = (double)f->nodes[0].weight, width = FLAME_WIDTH * (double)node->weight / total;
    if (width < 0.3) /* narrower than a pixel's third: left out, with what is above it */
        return;
    if (at) {
        unsigned r, g, b, y = height - (depth + 1) * FRAME_HEIGHT;
        colour(node->name, &r, &g, &b);
        cmt_output_printf(out, "<g><title>");
        cmt_html_string(out, node->name, SIZE_MAX);
        cmt_output_printf(out, " (%" PRIu64 " %s, %.2f%%)</title><rect x=\"%.1f\" y=\"%u\" width=\"%.1f\" "
                               "height=\"%u\" fill=\"rgb(%u,%u,%u)\" rx=\"2\"/>",
                          node->weight, unit, 100.0 * (double)node->weight / total, x, y, width, FRAME_HEIGHT - 1,
                          r, g, b);
        size_t fits = (size_t)(width / 7); /* characters of 11 px type, about */
        if (fits >= 3) {
            cmt_output_printf(out, "<text x=\"%.1f\" y=\"%u\">", x + 3, y + FRAME_HEIGHT - 4);
            size_t len = strlen(node->name);
            cmt_html_string(out, node->name, len <= fits ? len : fits - 2);
            cmt_output_printf(out, len <= fits ? "</text>" : "..</text>");
        }
        cmt_output_printf(out, "</g>\n");
    }
    for (uint32_t c = node->first_child; c; c = f->nodes[c - 1].next_sibling) {
        draw(f, out, c - 1, x, at ? depth + 1 : depth, unit, height);
        x += FLAME_WIDTH * (double)f->nodes[c - 1].weight / total;
    }
}

void cmt_flame_svg(const cmt_flame *f, cmt_output *out, const char *title, const char *unit)
{
    unsigned height = FLAME_TOP + (f->depth + 1) * FRAME_HEIGHT;
    cmt_output_printf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%u\" "
                           "viewBox=\"0 0 %.0f %u\" font-family=\"sans-serif\" font-size=\"11\">\n"
                           "<text x=\"%.0f\" y=\"16\" text-anchor=\"middle\" font-size=\"14\">",
                      FLAME_WIDTH, height, FLAME_WIDTH, height, FLAME_WIDTH / 2);
    cmt_html_string(out, title, SIZE_MAX);
    cmt_output_printf(out, "</text>\n");
    if (f->nodes[0].weight)
        draw(f, out, 0, 0, 0, unit, height);
    cmt_output_printf(out, "</svg>\n");
}
