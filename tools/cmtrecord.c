/*
 * cmtrecord - run a program with libcmtrecord.so preloaded, so that its
 * allocations are written to a .cmt file as it runs.
 */
#include "cli.h"
#include "protocol.h"
#include "cmt_internal.h"

#include <cmt.h>

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const PROG = "cmtrecord";

static void usage(void)
{
    printf("Usage: %s [OPTION]... [--] PROGRAM [ARG]...\n"
           "Run PROGRAM and record every allocation it makes (malloc, calloc, realloc,\n"
           "reallocarray, free, posix_memalign, aligned_alloc, memalign, valloc,\n"
           "pvalloc; C++ new and delete through them), with the thread of each, into\n"
           "a .cmt file that cmtreplay and the other tools read as it is.\n"
           "\n"
           "  -o, --output FILE   the file (default: PROGRAM.PID.cmt); every other\n"
           "                      process of the run writes FILE's name with .PID\n"
           "                      added, and .PID.N for what it runs after its Nth\n"
           "                      exec (FILE cannot be -: the program's standard\n"
           "                      output is its own)\n"
           "      --stats SECONDS print live statistics to standard error that often:\n"
           "                      current allocations and bytes, totals, allocations by\n"
           "                      age (preloading by hand: CMTRECORD_STATS=SECONDS)\n"
           "      --addresses     keep every block's address in the file (for\n"
           "                      cmtoverhead: the layout of the allocator it ran on)\n"
           "      --stacks[=DEPTH] keep the call stack of every allocation, DEPTH\n"
           "                      frames deep (default %d, at most %d), and the\n"
           "                      programs and libraries they ran in (cmtstat --sites)\n"
           "  -l, --level N       zstd level, 1 to 22 (default %d)\n"
           "  -q, --quiet         no summary line at the end\n"
           "  -h, --help          show this help\n"
           "  -V, --version       show the version\n"
           "\n"
           "By hand: LD_PRELOAD=/path/to/libcmtrecord.so [CMTRECORD_OUTPUT=FILE] PROGRAM.\n"
           "Exit status: PROGRAM's (128 + N if it died of signal N); 126 or 127 if it\n"
           "could not be run, 2 on a usage error.  See docs/cmtrecord.md.\n",
           PROG, STACKS_DEPTH, STACKS_DEPTH_MOST, CMT_DEFAULT_LEVEL);
}

typedef struct options {
    const char *output;
    const char *stats;
    bool addresses;
    long stacks; /* depth; 0: none */
    int level;
    bool quiet;
    char **command;
} options;

static options parse_options(int argc, char **argv)
{
    enum { OPT_STATS = 256, OPT_ADDRESSES, OPT_STACKS };
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'}, {"stats", required_argument, NULL, OPT_STATS},
        {"level", required_argument, NULL, 'l'},  {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},         {"version", no_argument, NULL, 'V'},
        {"addresses", no_argument, NULL, OPT_ADDRESSES}, {"stacks", optional_argument, NULL, OPT_STACKS},
        {NULL, 0, NULL, 0},
    };
    options o = {.level = CMT_DEFAULT_LEVEL};
    int c;
    /* "+": stop at the program's name, its options are its own. */
    while ((c = getopt_long(argc, argv, "+o:l:qhV", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            if (strcmp(optarg, "-") == 0)
                cli_usage_error(PROG, "-o -: the recording is written from inside the program, whose standard "
                                      "output is its own; name a file");
            o.output = optarg;
            break;
        case OPT_STATS: {
            char *end;
            double s = strtod(optarg, &end);
            if (end == optarg || *end || !(s > 0 && s < 1e6))
                cli_usage_error(PROG, "--stats takes a number of seconds, not '%s'", optarg);
            o.stats = optarg;
            break;
        }
        case 'l': o.level = (int)cli_parse_long(PROG, "--level", optarg, 1, 22); break;
        case 'q': o.quiet = true; break;
        case OPT_ADDRESSES: o.addresses = true; break;
        case OPT_STACKS:
            o.stacks = optarg ? cli_parse_long(PROG, "--stacks", optarg, 1, STACKS_DEPTH_MOST) : STACKS_DEPTH;
            break;
        case 'h': usage(); exit(EXIT_OK);
        case 'V': printf("%s %s\n", PROG, cmt_version_string()); exit(EXIT_OK);
        default: cli_bad_option(PROG);
        }
    }
    if (optind == argc)
        cli_usage_error(PROG, "no program to run");
    o.command = argv + optind;
    return o;
}

/* libcmtrecord.so: CMTRECORD_LIBRARY, else beside this program in the
 * build tree or in the installed tree it is part of (wherever that was
 * installed), else where it was to be installed. */
static bool find_library(char *path, size_t len)
{
    const char *env = getenv(CMTRECORD_LIBRARY);
    if (env) {
        snprintf(path, len, "%s", env);
        return access(path, R_OK) == 0;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        const char *dir = dirname(self);
        static const char *const beside[] = {"../record/libcmtrecord.so",
                                             "../" CMT_INSTALL_LIBDIR "/cmt/libcmtrecord.so"};
        for (size_t i = 0; i < sizeof beside / sizeof beside[0]; i++) {
            snprintf(path, len, "%s/%s", dir, beside[i]);
            if (access(path, R_OK) == 0)
                return true;
        }
    }
    snprintf(path, len, "%s", CMT_RECORD_LIBRARY_INSTALLED);
    return access(path, R_OK) == 0;
}

/* NAME as an absolute path, so that a program that changes folder still
 * writes where it was asked to. */
static void absolute(const char *name, char *out, size_t len)
{
    char cwd[PATH_MAX];
    if (name[0] == '/' || !getcwd(cwd, sizeof cwd))
        snprintf(out, len, "%s", name);
    else if ((size_t)snprintf(out, len, "%s/%s", cwd, name) >= len)
        snprintf(out, len, "%s", name); /* too long to make absolute: as given */
}

static void prepend_preload(const char *library)
{
    const char *old = getenv("LD_PRELOAD");
    char value[8192];
    snprintf(value, sizeof value, old && *old ? "%s:%s" : "%s", library, old);
    setenv("LD_PRELOAD", value, 1);
}

/* In the child: the environment the recorder reads, then the program. */
static void run_program(const options *o, const char *library, const char *file)
{
    char pid[32];
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    setenv(CMTRECORD_OUTPUT, file, 1);
    setenv(CMTRECORD_PID, pid, 1);
    unsetenv(CMTRECORD_IMAGE);
    if (o->stats)
        setenv(CMTRECORD_STATS, o->stats, 1);
    if (o->addresses)
        setenv(CMTRECORD_ADDRESSES, "1", 1);
    else
        unsetenv(CMTRECORD_ADDRESSES);
    char stacks[16];
    snprintf(stacks, sizeof stacks, "%ld", o->stacks);
    setenv(CMTRECORD_STACKS, stacks, 1);
    char level[16];
    snprintf(level, sizeof level, "%d", o->level);
    setenv(CMTRECORD_LEVEL, level, 1);
    prepend_preload(library);
    execvp(o->command[0], o->command);
    int err = errno;
    fprintf(stderr, "%s: %s: %s\n", PROG, o->command[0], strerror(err));
    _exit(err == ENOENT ? 127 : 126);
}

/* A file for the recorder in each process of the run to list its file in
 * (CMTRECORD_MANIFEST), so that the summary names them all. */
static bool make_manifest(char *path, size_t len)
{
    const char *dir = getenv("TMPDIR");
    snprintf(path, len, "%s/cmtrecord.XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

/* A file of the run, as the summary tells it. */
typedef struct recorded {
    char *path;
    uint64_t events, bytes;
    bool whole;
    char error[512];
    uint64_t unknown_frees, unknown_reallocs, reused_live;
} recorded;

/* R's events and size, or why it cannot be read. */
static void look_at(recorded *r)
{
    struct stat st;
    if (stat(r->path, &st) < 0) {
        snprintf(r->error, sizeof r->error, "%s: %s", r->path, strerror(errno));
        return;
    }
    r->bytes = (uint64_t)st.st_size;
    cmt_reader *reader = cmt_reader_open(r->path, r->error, sizeof r->error);
    if (reader && cmt_reader_skim(reader, &r->events) == 0)
        r->whole = true;
    else if (reader)
        snprintf(r->error, sizeof r->error, "%s", cmt_reader_error(reader));
    cmt_reader_close(reader);
}

/* The files the manifest lists, each once, with the counts its ending
 * line gives; FILE first if it is not listed (the recorder never started).
 * Returns how many, in *OUT (to be freed). */
static size_t read_manifest(const char *manifest, recorded **out)
{
    recorded *files = NULL;
    size_t n = 0;
    FILE *f = manifest ? fopen(manifest, "r") : NULL;
    char line[PATH_MAX + 100];
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *tab = strchr(line, '\t');
        if (tab)
            *tab++ = '\0';
        size_t i = 0;
        while (i < n && strcmp(files[i].path, line) != 0)
            i++;
        if (i == n) {
            recorded *grown = realloc(files, (n + 1) * sizeof *files);
            if (!grown)
                break;
            files = grown;
            files[n++] = (recorded){.path = strdup(line)};
        }
        unsigned long long counts[3] = {0};
        if (tab && sscanf(tab, "%llu\t%llu\t%llu", &counts[0], &counts[1], &counts[2]) == 3) {
            files[i].unknown_frees = counts[0];
            files[i].unknown_reallocs = counts[1];
            files[i].reused_live = counts[2];
        }
    }
    if (f)
        fclose(f);
    *out = files;
    return n;
}

static int by_events_descending(const void *a, const void *b)
{
    const recorded *x = a, *y = b;
    return (x->events < y->events) - (x->events > y->events);
}

/* True if the executable PROGRAM (found on PATH as execvp would) is
 * linked statically: an ELF file without an interpreter, which LD_PRELOAD
 * does not reach. */
static bool statically_linked(const char *program)
{
    char path[PATH_MAX];
    const char *search = getenv("PATH");
    bool found = strchr(program, '/') != NULL;
    if (found)
        snprintf(path, sizeof path, "%s", program);
    for (const char *p = search; !found && p && *p;) {
        size_t len = strcspn(p, ":");
        snprintf(path, sizeof path, "%.*s/%s", (int)len, len ? p : ".", program);
        found = access(path, X_OK) == 0;
        p += len + (p[len] == ':');
    }
    FILE *f = found ? fopen(path, "rb") : NULL;
    if (!f)
        return false;
    unsigned char header[64];
    bool is_static = false;
    if (fread(header, 1, sizeof header, f) == sizeof header && memcmp(header, "\177ELF\2\1", 6) == 0) {
        uint64_t phoff;
        uint16_t phentsize, phnum;
        memcpy(&phoff, header + 32, 8);
        memcpy(&phentsize, header + 54, 2);
        memcpy(&phnum, header + 56, 2);
        is_static = phentsize >= 4;
        for (uint16_t i = 0; is_static && i < phnum; i++) {
            uint32_t type;
            if (fseek(f, (long)(phoff + (uint64_t)i * phentsize), SEEK_SET) != 0 || fread(&type, 4, 1, f) != 1)
                is_static = false;
            else if (type == 3) /* PT_INTERP */
                is_static = false;
        }
    }
    fclose(f);
    return is_static;
}

/* What the tagger counted in the N files at FILES, if anything, summed:
 * NAME is the file's name when there is one. */
static void say_counts(const recorded *files, size_t n, const char *name)
{
    unsigned long long frees = 0, reallocs = 0, reused = 0;
    size_t with = 0;
    for (size_t i = 0; i < n; i++) {
        frees += files[i].unknown_frees;
        reallocs += files[i].unknown_reallocs;
        reused += files[i].reused_live;
        with += files[i].unknown_frees || files[i].unknown_reallocs || files[i].reused_live;
    }
    char where[4200];
    if (name)
        snprintf(where, sizeof where, "%s", name);
    else
        snprintf(where, sizeof where, "in %zu of the files", with);
    if (frees || reallocs)
        fprintf(stderr, "%s: %s: %llu frees and %llu reallocs of blocks never seen allocated (from before the "
                        "recording or the fork began: frees dropped, reallocs kept as allocations)\n",
                PROG, where, frees, reallocs);
    if (reused)
        fprintf(stderr, "%s: %s: %llu blocks returned while still live (their frees raced the allocation in "
                        "another thread): each freed just before\n",
                PROG, where, reused);
}

/* FILE without its .cmt, the stem of the other files' names (in a static
 * buffer). */
static const char *stem_of(const char *file)
{
    static char stem[PATH_MAX];
    size_t len = strlen(file);
    if (cmti_has_suffix(file, ".cmt"))
        len -= 4;
    snprintf(stem, sizeof stem, "%.*s", (int)len, file);
    return stem;
}

/* Files the summary names one by one; the rest are counted. */
#define FILES_LISTED 10

/* The closing lines: the files the run wrote, the largest first, with
 * their events and size, or why one is not whole; or why there is none. */
static void summarise(const char *file, const char *manifest, const char *program)
{
    recorded *files;
    size_t n = read_manifest(manifest, &files);
    if (!manifest && access(file, F_OK) == 0 && (files = malloc(sizeof *files))) {
        files[0] = (recorded){.path = strdup(file)}; /* no list to read: the one file named */
        n = 1;
    }
    if (n == 0) {
        if (statically_linked(program))
            fprintf(stderr, "%s: %s is linked statically: LD_PRELOAD cannot reach its allocations, and "
                            "nothing was recorded\n", PROG, program);
        else
            fprintf(stderr, "%s: no %s: the program made no allocation, or could not create it\n", PROG, file);
        free(files);
        return;
    }
    uint64_t total = 0, rest = 0;
    size_t unlisted = 0;
    for (size_t i = 0; i < n; i++) {
        look_at(&files[i]);
        total += files[i].events;
    }
    qsort(files, n, sizeof *files, by_events_descending);
    if (n > 1)
        fprintf(stderr, "%s: %zu files, %llu events:\n", PROG, n, (unsigned long long)total);
    for (size_t i = 0; i < n; i++) {
        const recorded *r = &files[i];
        if (i >= FILES_LISTED && r->whole) {
            unlisted++;
            rest += r->events;
            continue;
        }
        if (r->whole)
            fprintf(stderr, "%s: %s: %llu events, %llu bytes, %.3f bytes/event\n", PROG, r->path,
                    (unsigned long long)r->events, (unsigned long long)r->bytes,
                    r->events ? (double)r->bytes / (double)r->events : 0.0);
        else
            fprintf(stderr, "%s: %s; its process ended before it could end the file (killed?): "
                            "--salvage reads every whole block it has (cmtstat --salvage %s)\n",
                    PROG, r->error, r->path);
    }
    if (unlisted)
        fprintf(stderr, "%s: and %zu smaller files, %llu events (ls %s.*.cmt)\n", PROG, unlisted,
                (unsigned long long)rest, stem_of(file));
    say_counts(files, n, n == 1 ? files[0].path : NULL);
    for (size_t i = 0; i < n; i++)
        free(files[i].path);
    free(files);
}

int main(int argc, char **argv)
{
    options o = parse_options(argc, argv);
    char library[PATH_MAX];
    if (!find_library(library, sizeof library)) {
        fprintf(stderr, "%s: can't find libcmtrecord.so (tried %s; set CMTRECORD_LIBRARY)\n", PROG, library);
        return EXIT_DATA;
    }
    char manifest[PATH_MAX];
    bool listed = make_manifest(manifest, sizeof manifest);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "%s: fork: %s\n", PROG, strerror(errno));
        if (listed)
            unlink(manifest);
        return EXIT_DATA;
    }
    char name[PATH_MAX], file[PATH_MAX];
    if (o.output) {
        snprintf(name, sizeof name, "%s", o.output);
    } else {
        char *copy = strdup(o.command[0]);
        snprintf(name, sizeof name, "%s.%ld.cmt", basename(copy), (long)(pid ? pid : getpid()));
        free(copy);
    }
    absolute(name, file, sizeof file);
    if (pid == 0) {
        if (listed)
            setenv(CMTRECORD_MANIFEST, manifest, 1);
        run_program(&o, library, file);
    }
    /* Like time(1): the terminal's ^C is the program's to handle. */
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "%s: waitpid: %s\n", PROG, strerror(errno));
            if (listed)
                unlink(manifest);
            return EXIT_DATA;
        }
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (!o.quiet && !(WIFEXITED(status) && (code == 126 || code == 127)))
        summarise(file, listed ? manifest : NULL, o.command[0]);
    if (listed)
        unlink(manifest);
    return code;
}
