/*
 * record_target.c - a program for the recorder's tests: every allocation
 * entry point, threads that free each other's blocks, a fork, and, asked
 * to, a crash.  Deterministic, so that its calls can be counted by
 * cmtrecord and by valgrind --trace-malloc=yes alike.  Writes "done" to
 * standard output and exits 0 if the recorder left errno alone.  It is
 * linked with record_early.c, a library whose constructor allocates
 * before the recorder's own constructor runs.
 */
#define _GNU_SOURCE /* reallocarray, valloc, pvalloc */
#include <errno.h>
#include <malloc.h>
#include <mcheck.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <time.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define THREADS 4
#define ROUNDS 1000

static int failures;
void *live_at_crash[100];

/* Makes P look used, so that the compiler keeps the calls around it (an
 * allocation freed unused may be left out altogether). */
static void *volatile escaped;
__attribute__((noipa)) static void *escape(void *p)
{
    escaped = p;
    return p; /* not escaped: another thread may have written it since */
}

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "record_target: %s\n", what);
        failures++;
    }
}

/* record_early.c's blocks, allocated by its constructor. */
void release_early_blocks(void);

static void every_entry_point(void)
{
    release_early_blocks();
    errno = EILSEQ;
    char *p = escape(malloc(100));
    check(errno == EILSEQ, "malloc changed errno");
    int *q = escape(calloc(10, sizeof *q));
    p = escape(realloc(p, 1000));
    p = escape(reallocarray(p, 20, 100));
    void *a = NULL;
    check(posix_memalign(&a, 64, 256) == 0, "posix_memalign");
    void *b = escape(aligned_alloc(128, 512));
    void *c = escape(memalign(32, 80));
    void *d = escape(valloc(1000));
    free(escape(NULL));
    errno = 0;
    void *huge = escape(malloc(SIZE_MAX / 2));
    check(huge == NULL && errno == ENOMEM, "a failed malloc keeps its ENOMEM");
    void *gone = escape(malloc(8));
    check(realloc(gone, 0) == NULL, "realloc(p, 0) frees p");
    free(escape(p));
    free(escape(q));
    free(escape(a));
    free(escape(b));
    free(escape(c));
    free(escape(d));
}

/* Apart: valgrind does not support pvalloc. */
static void page_rounded(void)
{
    free(escape(pvalloc(5000)));
}

static void *worker(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    for (int i = 0; i < ROUNDS; i++) {
        void *p = escape(malloc(16 + (size_t)(i % 64) + id));
        p = escape(realloc(p, 200));
        free(escape(p));
    }
    return malloc(100 + id); /* freed by the main thread */
}

static void threads(void)
{
    pthread_t t[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        check(pthread_create(&t[i], NULL, worker, (void *)i) == 0, "pthread_create");
    for (int i = 0; i < THREADS; i++) {
        void *block;
        pthread_join(t[i], &block);
        free(block);
    }
}

static void child(void)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        free(escape(malloc(4242)));
        exit(0);
    }
    int status;
    check(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child");
}

/* In a thread, so in an arena of its own: glibc finds the double free
 * holding the arena's lock, then aborts. */
static void *double_free(void *arg)
{
    char *big = malloc(4000), *guard = malloc(4000);
    escape(guard);
    void *again = escape(big); /* the compiler is not to see it is the same */
    free(big);
    free(again);
    return arg;
}

/* A vfork child shares the parent's memory, the recorder's too, and
 * execs: the parent's recording must go on untouched. */
static void vfork_exec(void)
{
    pid_t pid = vfork();
    if (pid == 0) {
        char *args[] = {"true", NULL};
        execv("/bin/true", args);
        _exit(127);
    }
    int status;
    check(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0, "the vfork child");
    for (int i = 0; i < 100; i++)
        free(escape(malloc(20)));
}

/* 200,000 blocks allocated and freed: 400,000 calls, many chunks of the
 * recorder's records.  A sixth of them reallocated on the way, at no
 * regular interval: a realloc's record takes two slots, and some come
 * where a chunk has one slot left. */
static void many(void)
{
    for (uint32_t k = 0; k < 200000; k++) {
        void *p = escape(malloc(16 + (size_t)(k % 256)));
        if ((k * 2654435761u >> 20) % 6 == 0)
            p = escape(realloc(p, 300 + (size_t)(k % 64)));
        free(p);
    }
}

/* A fork whose child and parent both end with _exit, which runs no exit
 * handlers: the child at once, the parent after the rest of the parts. */
static void fork_exit_now(void)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        for (int k = 0; k < 1000; k++)
            free(escape(malloc(32 + (size_t)k)));
        _exit(0);
    }
    int status;
    check(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child");
}

/* A forked child that frees a block its parent allocated: a block the
 * child's recording never saw allocated. */
static void child_frees_inherited(void)
{
    void *inherited = escape(malloc(77));
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        free(escape(malloc(88)));
        free(inherited);
        exit(0);
    }
    int status;
    check(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child");
    free(inherited);
}

/* Runs the parts named on the command line, in order: calls, pvalloc,
 * threads, fork, vfork, many, crash, killed, heap-abort, inherited,
 * mtrace (glibc's log from here on), and exit-now
 * (a fork child that ends with _exit, and the parent too, at the end);
 * none: the first four. */
int main(int argc, char **argv)
{
    static const char *const all[] = {"calls", "pvalloc", "threads", "fork"};
    const char *const *parts = argc > 1 ? (const char *const *)argv + 1 : all;
    int n = argc > 1 ? argc - 1 : 4;
    bool exit_now = false;
    for (int i = 0; i < n; i++) {
        if (!strcmp(parts[i], "calls"))
            every_entry_point();
        else if (!strcmp(parts[i], "pvalloc"))
            page_rounded();
        else if (!strcmp(parts[i], "threads"))
            threads();
        else if (!strcmp(parts[i], "fork"))
            child();
        else if (!strcmp(parts[i], "vfork"))
            vfork_exec();
        else if (!strcmp(parts[i], "many"))
            many();
        else if (!strcmp(parts[i], "pause")) { /* a gap of 300 ms in the calls */
            struct timespec gap = {0, 300000000};
            nanosleep(&gap, NULL);
        }
        else if (!strcmp(parts[i], "inherited"))
            child_frees_inherited();
        else if (!strcmp(parts[i], "mtrace"))
            mtrace(); /* glibc's own log, where libc_malloc_debug.so is preloaded and MALLOC_TRACE set */
        else if (!strcmp(parts[i], "exit-now")) {
            fork_exit_now();
            exit_now = true;
        }
        else if (!strcmp(parts[i], "killed")) {
            many();
            /* The recorder's thread takes the calls in a batch behind: a
             * moment for it to catch up, then no handler runs, and the file
             * is as far as it got. */
            struct timespec moment = {0, 500000000};
            nanosleep(&moment, NULL);
            raise(SIGKILL);
        } else if (!strcmp(parts[i], "heap-abort")) {
            pthread_t t;
            check(pthread_create(&t, NULL, double_free, NULL) == 0, "pthread_create");
            pthread_join(t, NULL);
        } else if (!strcmp(parts[i], "crash")) {
            for (int k = 0; k < 100; k++)
                live_at_crash[k] = escape(malloc(24)); /* kept: with LTO a global only written is not */
            raise(SIGSEGV);
        } else {
            fprintf(stderr, "record_target: no part '%s'\n", parts[i]);
            return 2;
        }
    }
    printf("done\n");
    if (exit_now) {
        fflush(stdout);
        _exit(failures ? 1 : 0);
    }
    return failures ? 1 : 0;
}
