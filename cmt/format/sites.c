/*
 * sites.c - the table of call sites a reader or writer keeps, and the
 * payloads of the MODULE and STACK records (sites.h).
 */
#include "sites.h"

#include <stdlib.h>

uint32_t cmt_sites_stacks(const cmt_sites *s)
{
    return s ? atomic_load_explicit(&s->stacks_n, memory_order_acquire) : 0;
}

uint32_t cmt_sites_modules(const cmt_sites *s)
{
    return s ? atomic_load_explicit(&s->modules_n, memory_order_acquire) : 0;
}

const cmt_frame *cmt_sites_frame(const cmt_sites *s, uint32_t stack)
{
    if (stack == 0 || stack > cmt_sites_stacks(s))
        return NULL;
    return cmti_piece_get((void *const *)s->frames, stack - 1, sizeof(cmt_frame));
}

const cmt_module *cmt_sites_module(const cmt_sites *s, uint32_t module)
{
    if (module == 0 || module > cmt_sites_modules(s))
        return NULL;
    return cmti_piece_get((void *const *)s->modules, module - 1, sizeof(cmt_module));
}

void cmti_sites_destroy(cmt_sites *s)
{
    uint32_t n = cmt_sites_modules(s);
    for (uint32_t m = 1; m <= n; m++)
        cmti_free((void *)cmt_sites_module(s, m)->path); /* its build-id shares the allocation */
    for (unsigned k = 0; k < CMTI_PIECES; k++) {
        cmti_free(s->frames[k]);
        cmti_free(s->modules[k]);
    }
    memset(s, 0, sizeof *s);
}

int cmti_sites_add_module(cmt_sites *s, const cmti_module_record *module, char *err, size_t errlen)
{
    uint32_t n = cmt_sites_modules(s);
    if (module->number != n + 1) {
        cmti_set_error(err, errlen, "module %llu where module %lu is next", (unsigned long long)module->number,
                       (unsigned long)n + 1);
        return -1;
    }
    cmt_module *m = cmti_piece_slot((void **)s->modules, n, sizeof *m);
    char *copy = cmti_malloc(module->path_len + 1 + module->build_id_len);
    if (!m || !copy) {
        cmti_free(copy);
        cmti_set_error(err, errlen, CMT_NO_MEMORY);
        return -1;
    }
    memcpy(copy, module->path, module->path_len);
    copy[module->path_len] = 0;
    if (module->build_id_len)
        memcpy(copy + module->path_len + 1, module->build_id, module->build_id_len);
    *m = (cmt_module){module->base, copy, (const uint8_t *)copy + module->path_len + 1, module->build_id_len};
    atomic_store_explicit(&s->modules_n, n + 1, memory_order_release);
    return 0;
}

int cmti_sites_add_stack(cmt_sites *s, const cmt_frame *frame, char *err, size_t errlen)
{
    uint32_t n = cmt_sites_stacks(s);
    if (frame->caller > n || frame->module > cmt_sites_modules(s) || n == UINT32_MAX) {
        cmti_set_error(err, errlen, n == UINT32_MAX ? "more than 2^32 - 1 stacks"
                                   : frame->caller > n ? "a stack whose caller's stack comes after it"
                                                       : "a stack in a module not yet named");
        return -1;
    }
    cmt_frame *f = cmti_piece_slot((void **)s->frames, n, sizeof *f);
    if (!f) {
        cmti_set_error(err, errlen, CMT_NO_MEMORY);
        return -1;
    }
    *f = *frame;
    atomic_store_explicit(&s->stacks_n, n + 1, memory_order_release);
    return 0;
}

size_t cmti_module_encode(const cmti_module_record *module, uint8_t **payload)
{
    uint8_t *p = cmti_malloc(3 * CMT_VARINT_MAX + module->build_id_len + module->path_len);
    if (!(*payload = p))
        return 0;
    p += cmti_varint_put(p, module->number);
    p += cmti_varint_put(p, module->base);
    p += cmti_varint_put(p, module->build_id_len);
    if (module->build_id_len)
        memcpy(p, module->build_id, module->build_id_len);
    p += module->build_id_len;
    memcpy(p, module->path, module->path_len);
    return (size_t)(p + module->path_len - *payload);
}

int cmti_module_decode(const uint8_t *p, size_t len, cmti_module_record *module)
{
    const uint8_t *end = p + len;
    uint64_t id_len;
    if (cmti_varint_get(&p, end, &module->number) < 0 || cmti_varint_get(&p, end, &module->base) < 0 ||
        cmti_varint_get(&p, end, &id_len) < 0 || id_len > (uint64_t)(end - p))
        return -1;
    module->build_id = p;
    module->build_id_len = (size_t)id_len;
    module->path = (const char *)p + id_len;
    module->path_len = (size_t)(end - p) - (size_t)id_len;
    return memchr(module->path, 0, module->path_len) ? -1 : 0; /* a path has no NUL in it */
}

size_t cmti_stack_encode(const cmt_frame *frame, uint8_t *out)
{
    size_t n = cmti_varint_put(out, frame->caller);
    n += cmti_varint_put(out + n, frame->module);
    return n + cmti_varint_put(out + n, frame->offset);
}

int cmti_stack_decode(const uint8_t *p, size_t len, cmt_frame *frame)
{
    const uint8_t *end = p + len;
    uint64_t caller, module;
    if (cmti_varint_get(&p, end, &caller) < 0 || cmti_varint_get(&p, end, &module) < 0 ||
        cmti_varint_get(&p, end, &frame->offset) < 0 || p != end || caller > UINT32_MAX || module > UINT32_MAX)
        return -1;
    frame->caller = (uint32_t)caller;
    frame->module = (uint32_t)module;
    return 0;
}
