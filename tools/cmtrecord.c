/*
 * cmtrecord - run a program with libcmtrecord.so preloaded, so that its
 * allocations are written to a .cmt file as it runs.
 */
#include "cli.h"

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
           "  -o, --output FILE   the file (default: PROGRAM.PID.cmt); children the\n"
           "                      program forks write FILE's name with .PID added, and\n"
           "                      programs it execs .PID.N\n"
           "      --stats SECONDS print live statistics to standard error that often:\n"
           "                      current allocations and bytes, totals, allocations by\n"
           "                      age (preloading by hand: CMTRECORD_STATS=SECONDS)\n"
           "  -l, --level N       zstd level, 1 to 22 (default %d)\n"
           "  -q, --quiet         no summary line at the end\n"
           "  -h, --help          show this help\n"
           "  -V, --version       show the version\n"
           "\n"
           "By hand: LD_PRELOAD=/path/to/libcmtrecord.so [CMTRECORD_OUTPUT=FILE] PROGRAM.\n"
           "Exit status: PROGRAM's (128 + N if it died of signal N); 126 or 127 if it\n"
           "could not be run, 2 on a usage error.  See docs/cmtrecord.md.\n",
           PROG, CMT_DEFAULT_LEVEL);
}

typedef struct options {
    const char *output;
    const char *stats;
    int level;
    bool quiet;
    char **command;
} options;

static options parse_options(int argc, char **argv)
{
    enum { OPT_STATS = 256 };
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'}, {"stats", required_argument, NULL, OPT_STATS},
        {"level", required_argument, NULL, 'l'},  {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},         {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    options o = {.level = CMT_DEFAULT_LEVEL};
    int c;
    /* "+": stop at the program's name, its options are its own. */
    while ((c = getopt_long(argc, argv, "+o:l:qhV", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': o.output = optarg; break;
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
        case 'h': usage(); exit(EXIT_OK);
        case 'V': printf("%s %s\n", PROG, CMT_VERSION_STRING); exit(EXIT_OK);
        default: cli_usage_error(PROG, "unknown option");
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
    const char *env = getenv("CMTRECORD_LIBRARY");
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
    setenv("CMTRECORD_OUTPUT", file, 1);
    setenv("CMTRECORD_PID", pid, 1);
    unsetenv("CMTRECORD_IMAGE");
    if (o->stats)
        setenv("CMTRECORD_STATS", o->stats, 1);
    char level[16];
    snprintf(level, sizeof level, "%d", o->level);
    setenv("CMTRECORD_LEVEL", level, 1);
    prepend_preload(library);
    execvp(o->command[0], o->command);
    int err = errno;
    fprintf(stderr, "%s: %s: %s\n", PROG, o->command[0], strerror(err));
    _exit(err == ENOENT ? 127 : 126);
}

/* "FILE: N events, B bytes" for the summary, or why not. */
static void describe(const char *file)
{
    char err[512];
    struct stat st;
    if (stat(file, &st) < 0) {
        fprintf(stderr, "%s: no %s: the program made no allocation, or could not create it\n", PROG, file);
        return;
    }
    cmt_reader *r = cmt_reader_open(file, err, sizeof err);
    uint64_t events = 0;
    if (!r || cmt_reader_skim(r, &events) < 0)
        fprintf(stderr, "%s: %s\n", PROG, r ? cmt_reader_error(r) : err);
    else
        fprintf(stderr, "%s: %s: %llu events, %lld bytes, %.3f bytes/event\n", PROG, file,
                (unsigned long long)events, (long long)st.st_size,
                events ? (double)st.st_size / (double)events : 0.0);
    cmt_reader_close(r);
}

int main(int argc, char **argv)
{
    options o = parse_options(argc, argv);
    char library[PATH_MAX];
    if (!find_library(library, sizeof library)) {
        fprintf(stderr, "%s: can't find libcmtrecord.so (tried %s; set CMTRECORD_LIBRARY)\n", PROG, library);
        return EXIT_DATA;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "%s: fork: %s\n", PROG, strerror(errno));
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
    if (pid == 0)
        run_program(&o, library, file);
    /* Like time(1): the terminal's ^C is the program's to handle. */
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "%s: waitpid: %s\n", PROG, strerror(errno));
            return EXIT_DATA;
        }
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (!o.quiet && !(WIFEXITED(status) && (code == 126 || code == 127)))
        describe(file);
    return code;
}
