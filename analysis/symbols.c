/*
 * symbols.c - the frames of a trace's stacks named: function, file and
 * line, from the modules the trace names (their files, here, with their
 * separate debug files where Debian keeps them), through elfutils'
 * libdwfl.  A module whose file is missing, or is not the one that ran
 * (its build-id differs), gives addresses only: a name from the wrong
 * file would be invented.  C++ names are demangled by libstdc++'s
 * __cxa_demangle where the library is installed (loaded when first
 * needed: the analysis is C), as heaptrack_print shows them.
 */
#include "analysis.h"
#include "cmt_internal.h"

#include <dlfcn.h>
#include <elfutils/libdwfl.h>
#include <stdlib.h>
#include <string.h>

/* A module's functions, sorted by address: libdwfl's own lookup
 * (dwfl_module_addrinfo) goes through the whole symbol table each time,
 * which took cmtstat --sites 36 s on a g++ trace of 550,000 stacks. */
typedef struct function {
    GElf_Addr start, end;
    const char *name; /* libdwfl's, good until dwfl_end, or a copy */
    bool copied;      /* without the symbol version ("memcpy@GLIBC_2.14"), or demangled */
    bool demangled;   /* looked at for demangling */
} function;

typedef struct module_symbols {
    Dwfl_Module *mod; /* NULL where the module gives addresses only */
    function *functions;
    size_t n;
    bool sorted;      /* functions read (once, on its first frame) */
} module_symbols;

struct cmt_symbols {
    Dwfl *dwfl;
    const cmt_sites *sites;
    module_symbols *modules; /* by module number - 1 */
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
        s->modules[m - 1].mod = report(s, cmt_sites_module(sites, m));
    dwfl_report_end(s->dwfl, NULL, NULL);
    return s;
}

void cmt_symbols_close(cmt_symbols *s)
{
    if (!s)
        return;
    if (s->dwfl)
        dwfl_end(s->dwfl);
    for (uint32_t m = 0; s->modules && m < s->n; m++) {
        for (size_t i = 0; i < s->modules[m].n; i++)
            if (s->modules[m].functions[i].copied)
                cmti_free((char *)s->modules[m].functions[i].name);
        cmti_free(s->modules[m].functions);
    }
    cmti_free(s->modules);
    cmti_free(s);
}

static int by_start(const void *a, const void *b)
{
    GElf_Addr x = ((const function *)a)->start, y = ((const function *)b)->start;
    return x < y ? -1 : x > y;
}

/* M's functions, read and sorted; false when out of memory (then the
 * module gives addresses only). */
static bool read_functions(module_symbols *m)
{
    m->sorted = true;
    int n = dwfl_module_getsymtab(m->mod);
    if (n <= 0)
        return true;
    if (!(m->functions = cmti_malloc((size_t)n * sizeof *m->functions)))
        return false;
    for (int i = 0; i < n; i++) {
        GElf_Sym sym;
        GElf_Addr at;
        const char *name = dwfl_module_getsym_info(m->mod, i, &sym, &at, NULL, NULL, NULL);
        int type = GELF_ST_TYPE(sym.st_info);
        if (!name || !*name || (type != STT_FUNC && type != STT_GNU_IFUNC) || sym.st_shndx == SHN_UNDEF)
            continue;
        const char *version = strchr(name, '@');
        char *copy = version ? cmti_malloc((size_t)(version - name) + 1) : NULL;
        if (copy) {
            memcpy(copy, name, (size_t)(version - name));
            copy[version - name] = 0;
        }
        m->functions[m->n++] = (function){at, at + sym.st_size, copy ? copy : name, copy != NULL, false};
    }
    qsort(m->functions, m->n, sizeof *m->functions, by_start);
    for (size_t i = 0; i < m->n; i++) /* a symbol without a size runs to the next */
        if (m->functions[i].end == m->functions[i].start)
            m->functions[i].end = i + 1 < m->n ? m->functions[i + 1].start : m->functions[i].start + 1;
    return true;
}

/* libstdc++'s demangler, NULL where it is not installed. */
typedef char *demangler(const char *mangled, char *buf, size_t *len, int *status);

static demangler *find_demangler(void)
{
    static demangler *found;
    static bool looked;
    if (!looked) {
        looked = true;
        void *lib = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_LOCAL);
        if (lib)
            *(void **)&found = dlsym(lib, "__cxa_demangle");
    }
    return found;
}

/* F's name demangled, once, where it is a C++ name and the demangler is
 * there; as it was otherwise (out of memory too). */
static void demangle(function *f)
{
    f->demangled = true;
    demangler *d = f->name[0] == '_' && f->name[1] == 'Z' ? find_demangler() : NULL;
    int status;
    char *readable = d ? d(f->name, NULL, NULL, &status) : NULL;
    char *copy = readable && status == 0 ? cmti_malloc(strlen(readable) + 1) : NULL;
    if (copy) {
        strcpy(copy, readable);
        if (f->copied)
            cmti_free((char *)f->name);
        f->name = copy;
        f->copied = true;
    }
    free(readable); /* the demangler's own malloc */
}

/* The function of M at AT; NULL for none. */
static const char *function_at(module_symbols *m, GElf_Addr at)
{
    if (!m->sorted && !read_functions(m)) {
        m->mod = NULL;
        return NULL;
    }
    size_t lo = 0, hi = m->n; /* the last that starts at or before AT */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->functions[mid].start <= at)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return NULL;
    function *f = &m->functions[lo - 1];
    if (at >= f->end)
        return NULL;
    if (!f->demangled)
        demangle(f);
    return f->name;
}

void cmt_symbols_frame(cmt_symbols *s, const cmt_frame *f, cmt_symbol *out)
{
    const cmt_module *m = cmt_sites_module(s->sites, f->module);
    *out = (cmt_symbol){.module = m ? cmti_base_name(m->path) : NULL, .offset = f->offset};
    module_symbols *ms = f->module && f->module <= s->n ? &s->modules[f->module - 1] : NULL;
    if (!ms || !ms->mod)
        return;
    /* The call is the instruction before the return address. */
    Dwarf_Addr at = m->base + f->offset - 1;
    out->function = function_at(ms, at);
    if (!ms->mod)
        return;
    Dwfl_Line *line = dwfl_module_getsrc(ms->mod, at);
    int lineno = 0;
    const char *file = line ? dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL) : NULL;
    if (file) {
        out->file = file;
        out->line = (unsigned)lineno;
    }
}
