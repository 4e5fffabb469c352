/*
 * symbols.c - the frames of a trace's stacks named: function, file and
 * line, from the modules the trace names (their files, here, with their
 * separate debug files where Debian keeps them), through elfutils'
 * libdwfl.  A module whose file is missing, or is not the one that ran
 * (its build-id differs), gives addresses only: a name from the wrong
 * file would be invented.
 */
#include "analysis.h"
#include "cmt_internal.h"

#include <elfutils/libdwfl.h>
#include <stdlib.h>
#include <string.h>

struct cmt_symbols {
    Dwfl *dwfl;
    const cmt_sites *sites;
    Dwfl_Module **modules; /* by module number - 1; NULL where it gives addresses only */
    uint32_t n;
};

static char *debuginfo_path = NULL; /* libdwfl's default search */

static const Dwfl_Callbacks callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = &debuginfo_path,
};

/* Module M of SITES, reported to S's Dwfl where its file is there and is
 * the one that ran. */
static Dwfl_Module *report(cmt_symbols *s, const cmt_module *m)
{
    Dwfl_Module *mod = dwfl_report_elf(s->dwfl, m->path, m->path, -1, m->base, true);
    if (!mod)
        return NULL;
    const unsigned char *bits;
    GElf_Addr at;
    int len = dwfl_module_build_id(mod, &bits, &at);
    if (m->build_id_len && (len != (int)m->build_id_len || memcmp(bits, m->build_id, m->build_id_len) != 0))
        return NULL; /* another build of it: its names would be wrong */
    return mod;
}

cmt_symbols *cmt_symbols_open(const cmt_sites *sites)
{
    cmt_symbols *s = cmti_calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->sites = sites;
    s->n = cmt_sites_modules(sites);
    s->modules = cmti_calloc(s->n ? s->n : 1, sizeof *s->modules);
    s->dwfl = dwfl_begin(&callbacks);
    if (!s->modules || !s->dwfl) {
        cmt_symbols_close(s);
        return NULL;
    }
    dwfl_report_begin(s->dwfl);
    for (uint32_t m = 1; m <= s->n; m++)
        s->modules[m - 1] = report(s, cmt_sites_module(sites, m));
    dwfl_report_end(s->dwfl, NULL, NULL);
    return s;
}

void cmt_symbols_close(cmt_symbols *s)
{
    if (!s)
        return;
    if (s->dwfl)
        dwfl_end(s->dwfl);
    cmti_free(s->modules);
    cmti_free(s);
}

/* The last part of PATH. */
static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

void cmt_symbols_frame(cmt_symbols *s, const cmt_frame *f, cmt_symbol *out)
{
    const cmt_module *m = cmt_sites_module(s->sites, f->module);
    *out = (cmt_symbol){.module = m ? base_name(m->path) : NULL, .offset = f->offset};
    Dwfl_Module *mod = f->module && f->module <= s->n ? s->modules[f->module - 1] : NULL;
    if (!mod)
        return;
    /* The call is the instruction before the return address. */
    Dwarf_Addr at = m->base + f->offset - 1;
    GElf_Off offset;
    GElf_Sym sym;
    out->function = dwfl_module_addrinfo(mod, at, &offset, &sym, NULL, NULL, NULL);
    Dwfl_Line *line = dwfl_module_getsrc(mod, at);
    int lineno = 0;
    const char *file = line ? dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL) : NULL;
    if (file) {
        out->file = file;
        out->line = (unsigned)lineno;
    }
}
