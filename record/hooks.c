/*
 * hooks.c - the allocator functions libcmtrecord.so puts in front of the
 * C library's.
 *
 * Each goes to the real function (found with dlsym(RTLD_NEXT), whose own
 * allocations are served from a small static arena while it runs) and
 * leaves a record in its thread's ring: no lock, no system call.  A call
 * the recorder makes itself, or one made inside another hook (a signal
 * handler's malloc), is not recorded.  errno is left as the real function
 * left it.
 *
 * The sequence number that orders the threads' calls is taken after the
 * call for the calls that return a block and before it for free, so that
 * a block freed by one thread and handed out again to another is freed
 * first in the trace too.
 *
 * The process's end ends the file: exit (through atexit), _exit, _Exit
 * and syscall(SYS_exit_group) (which run no exit handlers), a fatal
 * signal, an exec.  A fork starts one for the child.
 */
#define _GNU_SOURCE /* RTLD_NEXT, execvpe */
#include "recorder.h"

#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))
#define THREAD_LOCAL __thread __attribute__((tls_model("initial-exec")))

static struct {
    void *(*malloc)(size_t);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void (*free)(void *);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    void *(*memalign)(size_t, size_t);
    void *(*valloc)(size_t);
    void *(*pvalloc)(size_t);
    int (*execve)(const char *, char *const[], char *const[]);
    int (*execvpe)(const char *, char *const[], char *const[]);
    void (*exit_now)(int); /* _exit */
    long (*syscall)(long, ...);
} real;

enum { UNINITIALISED, STARTING, READY };
static _Atomic int state;
static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t ring_key;

/* What the recorder keeps for each thread, in one variable: a hook finds
 * it all with one look-up of the thread's block, and asks one word whether
 * anything keeps the call from being recorded. */
enum {
    OFF_BUSY = 1,      /* inside a hook, or a thread of the recorder's */
    OFF_RESOLVING = 2, /* in dlsym: allocate from the arena */
    OFF_STARTING = 4,  /* this thread is starting the recorder */
    OFF_GONE = 8,      /* the thread is exiting: its ring is closed */
};
static THREAD_LOCAL struct {
    ring *ring;   /* made at its first recorded call */
    unsigned off; /* why its calls go unrecorded now: 0 if they do not */
} me;

/* ------------------------------------------------------ the boot arena */

/* dlsym allocates (a little) before the real functions are known. */
static _Alignas(16) unsigned char arena[64 * 1024];
static size_t arena_used;

static void *arena_alloc(size_t size)
{
    size_t need = (size + 15) & ~(size_t)15;
    if (need < size || arena_used + 16 + need > sizeof arena)
        return NULL;
    unsigned char *p = arena + arena_used + 16;
    memcpy(p - sizeof size, &size, sizeof size);
    arena_used += 16 + need;
    return p;
}

static bool in_arena(const void *p)
{
    return (const unsigned char *)p >= arena && (const unsigned char *)p < arena + sizeof arena;
}

static size_t arena_size(const void *p)
{
    size_t size;
    memcpy(&size, (const unsigned char *)p - sizeof size, sizeof size);
    return size;
}

/* ----------------------------------------------------------- starting */

static void ring_closed(void *r)
{
    stacks_thread_gone();
    atomic_store(&((ring *)r)->closed, true);
    me.ring = NULL;
    me.off |= OFF_GONE;
}

/* The normal end, after the program's exit handlers and every library's
 * destructor, which free what they hold (a C++ program's static objects
 * and the libraries' caches: a third of its frees).  The loader runs this
 * library's destructor among the first (it comes early in the list and
 * nothing depends on it), so the destructor only registers the real end
 * as an exit handler: exit runs handlers registered while it runs, and
 * the loader's destructors are one of its handlers, the first registered,
 * so the last to run before this one.  Registered for no library (atexit
 * would tie it to this one, and the loader would run it at once). */
int __cxa_atexit(void (*function)(void *), void *arg, void *library);

static void finish_at_exit(void *unused)
{
    (void)unused;
    me.off |= OFF_BUSY;
    sink_finish(false);
}

__attribute__((destructor)) static void finish_after_the_destructors(void)
{
    if (atomic_load(&state) != READY || !sink_is_ours())
        return;
    if (__cxa_atexit(finish_at_exit, NULL, NULL) != 0)
        finish_at_exit(NULL);
}

static volatile sig_atomic_t dying_of;

/* Dies of the signal being handled, now: SIG_DFL, and unblocked. */
static void die_of_it(int sig)
{
    signal(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);
}

/* The file could not be ended in time (a program that aborts inside malloc
 * holds malloc's lock, which ending the file needs): die as the program
 * would have, without it. */
static void give_up(int sig)
{
    (void)sig;
    die_of_it(dying_of);
}

static void finish_on_signal(int sig)
{
    me.off |= OFF_BUSY;
    dying_of = sig;
    signal(SIGALRM, give_up);
    alarm(2);
    sink_finish(true);
    alarm(0);
    die_of_it(sig);
}

/* The fork handlers free and allocate the recorder's own memory: not the
 * program's calls, and not to be recorded under the sink's lock. */
static void before_fork(void)
{
    me.off |= OFF_BUSY;
    stacks_before_fork();
    sink_before_fork();
}

static void after_fork_parent(void)
{
    sink_after_fork_parent();
    stacks_after_fork();
    me.off &= ~OFF_BUSY;
}

static void after_fork_child(void)
{
    sink_after_fork_child(me.ring);
    stacks_after_fork();
    sink_start_thread();
    me.off &= ~OFF_BUSY;
}

/* Fatal signals the program leaves at their default: the file is ended
 * before the program dies of them. */
static void catch_fatal_signals(void)
{
    static const int fatal[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTERM,
                                SIGINT,  SIGHUP, SIGQUIT, SIGPIPE, SIGXCPU, SIGXFSZ};
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++) {
        struct sigaction old;
        if (sigaction(fatal[i], NULL, &old) < 0 || old.sa_handler != SIG_DFL)
            continue;
        struct sigaction sa = {0};
        sa.sa_handler = finish_on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(fatal[i], &sa, NULL);
    }
}

static void resolve(void)
{
    me.off |= OFF_RESOLVING;
    real.malloc = dlsym(RTLD_NEXT, "malloc");
    real.calloc = dlsym(RTLD_NEXT, "calloc");
    real.realloc = dlsym(RTLD_NEXT, "realloc");
    real.free = dlsym(RTLD_NEXT, "free");
    real.posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
    real.aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
    real.memalign = dlsym(RTLD_NEXT, "memalign");
    real.valloc = dlsym(RTLD_NEXT, "valloc");
    real.pvalloc = dlsym(RTLD_NEXT, "pvalloc");
    real.execve = dlsym(RTLD_NEXT, "execve");
    real.execvpe = dlsym(RTLD_NEXT, "execvpe");
    real.exit_now = dlsym(RTLD_NEXT, "_exit");
    real.syscall = dlsym(RTLD_NEXT, "syscall");
    me.off &= ~OFF_RESOLVING;
}

/* Starts the recorder, or waits for the thread that is starting it; the
 * starting thread's own calls meanwhile go straight through. */
static void start(void)
{
    if (me.off & OFF_STARTING)
        return;
    pthread_mutex_lock(&start_lock);
    if (atomic_load(&state) == UNINITIALISED) {
        me.off |= OFF_STARTING;
        atomic_store(&state, STARTING);
        resolve();
        me.off |= OFF_BUSY; /* what starting allocates is not the program's */
        const char *stats = getenv(CMTRECORD_STATS), *level = getenv(CMTRECORD_LEVEL),
                   *thread = getenv(CMTRECORD_THREAD), *addresses = getenv(CMTRECORD_ADDRESSES),
                   *stacks = getenv(CMTRECORD_STACKS);
        sink_options options = {.output = getenv(CMTRECORD_OUTPUT),
                                .stats_seconds = stats ? atof(stats) : 0,
                                .level = level ? atoi(level) : CMT_DEFAULT_LEVEL,
                                .own_thread = !thread || strcmp(thread, "0") != 0,
                                .addresses = addresses && strcmp(addresses, "1") == 0,
                                .stacks = stacks ? atoi(stacks) : 0};
        if (options.level < 1 || options.level > 22)
            options.level = CMT_DEFAULT_LEVEL;
        stacks_start(options.stacks);
        ring_keep(stacks_wanted());
        sink_start(&options);
        pthread_key_create(&ring_key, ring_closed);
        pthread_atfork(before_fork, after_fork_parent, after_fork_child);
        catch_fatal_signals();
        me.off &= ~(OFF_BUSY | OFF_STARTING);
        atomic_store(&state, READY);
    }
    pthread_mutex_unlock(&start_lock);
}

/* The sink's thread is started here, with the program's libraries all
 * set up and none of their locks held, rather than from whichever hook
 * happens to come first. */
__attribute__((constructor)) static void start_with_the_program(void)
{
    if (atomic_load(&state) == UNINITIALISED)
        start();
    unsigned was_busy = me.off & OFF_BUSY;
    me.off |= OFF_BUSY;
    sink_start_thread();
    me.off = (me.off & ~OFF_BUSY) | was_busy;
}

void hooks_ignore_this_thread(void)
{
    me.off |= OFF_BUSY;
}

/* --------------------------------------------------------- recording */

/* The first call starts the recorder, and is recorded like any other:
 * it is the program's (a library's constructor may make it before ours
 * runs).  False if the recorder is not ready: the starting thread's own
 * calls, and dlsym's while it resolves the real functions. */
static __attribute__((noinline)) bool ready_after_start(void)
{
    if (me.off & (OFF_RESOLVING | OFF_STARTING))
        return false;
    start();
    return atomic_load(&state) == READY;
}

/* The calling thread's ring, made on its first call; NULL if out of
 * memory (the thread's calls then go unrecorded). */
static ring *first_ring(void)
{
    int saved = errno;
    me.ring = sink_add_ring();
    if (me.ring)
        pthread_setspecific(ring_key, me.ring);
    errno = saved;
    return me.ring;
}

/* True if the calling thread's call is to be recorded; then OFF_BUSY is
 * set, the thread has its ring, and note() must follow. */
static __attribute__((noinline)) bool begin(void)
{
    if (atomic_load_explicit(&state, memory_order_acquire) != READY && !ready_after_start())
        return false;
    if (me.off || sink_finished())
        return false;
    me.off = OFF_BUSY; /* before its ring is made: that allocates */
    if (!me.ring && !first_ring()) {
        me.off = 0;
        return false;
    }
    return true;
}

/* Records call C, begun with begin(), and ends it.  What runs at every
 * call touches no errno (making room does, and keeps it). */
static __attribute__((noinline)) void note(cmt_op op, uint64_t addr, uint64_t arg, uint64_t size)
{
    hooked_call c = {.op = op, .addr = addr, .arg = arg, .size = size};
    ring *r = me.ring;
    unsigned slots = record_slots_for(c.op, c.addr, c.size);
    uint32_t *time, *stack;
    record *rec = ring_claim(r, slots, &time, &stack);
    if (rec) {
        unsigned mode = sink_mode();
        record_put(rec, slots, sink_next_seq(), &c, mode & SINK_STAMPING);
        if (mode & SINK_STAMPING)
            *time = record_clock(); /* a few ms: all pacing and ages in seconds need */
        if ((mode & SINK_STACKS) && c.op != CMT_OP_FREE)
            *stack = stacks_capture();
        ring_publish(r, slots);
    }
    me.off &= ~OFF_BUSY;
}

/* The plain way of a hook, for most calls: the thread has its ring and is
 * in no hook, and the sink wants neither stamps nor stacks nor has ended
 * (a thread has a ring only once the recorder is ready).  The mode is
 * read here, before the call's number is taken. */
static inline __attribute__((always_inline)) bool plain(void)
{
    return me.off == 0 && me.ring && sink_mode() == 0;
}

/* Writes plain call C if the ring has room for it as it is; false if it
 * has not (nothing written: note() makes room), and for a malloc of two
 * slots (64 KiB or more: rare, and malloc's way is shorter by 8
 * instructions with one slot known). */
static inline __attribute__((always_inline)) bool note_plainly(hooked_call c)
{
    ring *r = me.ring;
    unsigned slots = record_slots_for(c.op, c.addr, c.size);
    if (c.op == CMT_OP_MALLOC && slots != 1)
        return false;
    record *rec = ring_claim_in_room(r, slots);
    if (__builtin_expect(!rec, 0))
        return false;
    record_put(rec, slots, sink_next_seq(), &c, false);
    ring_publish(r, slots);
    return true;
}

/* Ends plain call C (begun with OFF_BUSY set), recorded. */
static inline __attribute__((always_inline)) void end_plainly(hooked_call c)
{
    if (__builtin_expect(note_plainly(c), 1))
        me.off &= ~OFF_BUSY;
    else
        note(c.op, c.addr, c.arg, c.size); /* the ring is to grow */
}

/* ------------------------------------------------------------- hooks */

/* Each hook the program calls most has two ways: the plain way, inline,
 * which calls nothing but the real function (and the thread's block is
 * looked up once), and the careful way, HOOK_slowly, for the rest: the
 * recorder to start, a thread's first call, stamps, stacks, a ring full,
 * a call not to be recorded. */

static __attribute__((noinline)) void *malloc_slowly(size_t size)
{
    if (me.off & OFF_RESOLVING)
        return arena_alloc(size);
    bool rec = begin();
    void *p = real.malloc(size);
    if (rec)
        note(CMT_OP_MALLOC, (uintptr_t)p, 0, size);
    return p;
}

EXPORT void *malloc(size_t size)
{
    if (__builtin_expect(!plain(), 0))
        return malloc_slowly(size);
    me.off = OFF_BUSY;
    void *p = real.malloc(size);
    hooked_call c = {.op = CMT_OP_MALLOC, .addr = (uintptr_t)p, .size = size};
    end_plainly(c);
    return p;
}

static __attribute__((noinline)) void *calloc_slowly(size_t count, size_t size)
{
    if (me.off & OFF_RESOLVING) {
        size_t bytes;
        return __builtin_mul_overflow(count, size, &bytes) ? NULL : arena_alloc(bytes); /* static: zeroed */
    }
    bool rec = begin();
    void *p = real.calloc(count, size);
    if (rec)
        note(CMT_OP_CALLOC, (uintptr_t)p, count, size);
    return p;
}

EXPORT void *calloc(size_t count, size_t size)
{
    if (__builtin_expect(!plain(), 0))
        return calloc_slowly(count, size);
    me.off = OFF_BUSY;
    void *p = real.calloc(count, size);
    hooked_call c = {.op = CMT_OP_CALLOC, .addr = (uintptr_t)p, .arg = count, .size = size};
    end_plainly(c);
    return p;
}

static __attribute__((noinline)) void free_slowly(void *p)
{
    if (in_arena(p))
        return;
    if (begin())
        note(CMT_OP_FREE, 0, (uintptr_t)p, 0);
    real.free(p);
}

EXPORT void free(void *p)
{
    if (__builtin_expect(!plain() || in_arena(p), 0)) {
        free_slowly(p);
        return;
    }
    me.off = OFF_BUSY; /* a signal handler's malloc meanwhile is not recorded: it would write where this call does */
    end_plainly((hooked_call){.op = CMT_OP_FREE, .arg = (uintptr_t)p});
    real.free(p);
}

static __attribute__((noinline)) void *realloc_slowly(void *p, size_t size)
{
    bool resolving = me.off & OFF_RESOLVING;
    if (resolving || in_arena(p)) {
        void *q = resolving ? arena_alloc(size) : malloc(size);
        if (q && p)
            memcpy(q, p, arena_size(p) < size ? arena_size(p) : size);
        return q;
    }
    bool rec = begin();
    void *q = real.realloc(p, size);
    if (rec)
        note(CMT_OP_REALLOC, (uintptr_t)q, (uintptr_t)p, size);
    return q;
}

EXPORT void *realloc(void *p, size_t size)
{
    if (__builtin_expect(!plain() || in_arena(p), 0))
        return realloc_slowly(p, size);
    me.off = OFF_BUSY;
    void *q = real.realloc(p, size);
    hooked_call c = {.op = CMT_OP_REALLOC, .addr = (uintptr_t)q, .arg = (uintptr_t)p, .size = size};
    end_plainly(c);
    return q;
}

EXPORT void *reallocarray(void *p, size_t count, size_t size)
{
    size_t bytes;
    if (__builtin_mul_overflow(count, size, &bytes)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(p, bytes);
}

EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
    bool rec = begin();
    int rc = real.posix_memalign(out, align, size);
    if (rec)
        note(CMT_OP_POSIX_MEMALIGN, rc == 0 ? (uintptr_t)*out : 0, align, size);
    return rc;
}

EXPORT void *aligned_alloc(size_t align, size_t size)
{
    bool rec = begin();
    void *p = real.aligned_alloc(align, size);
    if (rec)
        note(CMT_OP_ALIGNED_ALLOC, (uintptr_t)p, align, size);
    return p;
}

EXPORT void *memalign(size_t align, size_t size)
{
    if (me.off & OFF_RESOLVING)
        return arena_alloc(size);
    bool rec = begin();
    void *p = real.memalign(align, size);
    if (rec)
        note(CMT_OP_MEMALIGN, (uintptr_t)p, align, size);
    return p;
}

/* valloc and pvalloc: page-aligned memaligns, as the text readers read
 * them (pvalloc's size rounded up to whole pages, as it allocates). */
EXPORT void *valloc(size_t size)
{
    bool rec = begin();
    void *p = real.valloc(size);
    if (rec)
        note(CMT_OP_MEMALIGN, (uintptr_t)p, (uint64_t)sysconf(_SC_PAGESIZE), size);
    return p;
}

EXPORT void *pvalloc(size_t size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    bool rec = begin();
    void *p = real.pvalloc(size);
    if (rec)
        note(CMT_OP_MEMALIGN, (uintptr_t)p, page, size ? (size + page - 1) & ~(page - 1) : page);
    return p;
}

/* -------------------------------------------------------------- exit */

/* _exit and its spellings end the process without exit handlers, so the
 * file is ended first: a forked child that ends with _exit (Python's
 * os._exit, multiprocessing's workers) writes its whole file.  A vfork
 * child's sink is its parent's, which goes on. */
static void finish_before_exit(void)
{
    if (atomic_load(&state) != READY || !sink_is_ours() || (me.off & OFF_BUSY))
        return;
    me.off |= OFF_BUSY;
    sink_finish(false);
}

/* The real function NAME, found on its own where the recorder has not
 * started: these hooks may run anywhere (in a signal handler, before any
 * constructor), where starting the recorder would be out of place.  dlsym's
 * own allocations come from the arena meanwhile. */
static void *real_function(void *known, const char *name)
{
    if (known)
        return known;
    unsigned was = me.off & OFF_RESOLVING;
    me.off |= OFF_RESOLVING;
    void *f = dlsym(RTLD_NEXT, name);
    me.off = (me.off & ~OFF_RESOLVING) | was;
    return f;
}

EXPORT void _exit(int status)
{
    finish_before_exit();
    void (*exit_now)(int);
    *(void **)&exit_now = real_function(*(void **)&real.exit_now, "_exit");
    exit_now(status);
    __builtin_unreachable();
}

EXPORT void _Exit(int status)
{
    _exit(status);
}

/* syscall(SYS_exit_group, ...) is the last way to leave that passes
 * through a function: the arguments are passed on as the six registers
 * a system call takes, whatever the number. */
EXPORT long syscall(long number, ...)
{
    va_list ap;
    va_start(ap, number);
    long a[6];
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    if (number == SYS_exit_group)
        finish_before_exit();
    long (*call)(long, ...);
    *(void **)&call = real_function(*(void **)&real.syscall, "syscall");
    return call(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

/* -------------------------------------------------------------- exec */

/* An exec replaces the program without running exit handlers: the file is
 * ended first, and the new program (preloaded again through the
 * environment) told that it is a later image of this process, so that it
 * writes a file of its own.  If the exec fails, the rest of this image's
 * calls go unrecorded. */
static char *next_image_variable(char *buf, size_t len)
{
    snprintf(buf, len, CMTRECORD_IMAGE "=%ld.%ld", (long)getpid(), sink_image() + 1);
    return buf;
}

/* ENVP with CMTRECORD_IMAGE replaced by VARIABLE, in OUT (room for all of
 * ENVP and two more). */
static char **with_image(char *const envp[], char *variable, char **out)
{
    size_t n = 0;
    for (size_t i = 0; envp && envp[i]; i++)
        if (strncmp(envp[i], CMTRECORD_IMAGE "=", sizeof CMTRECORD_IMAGE) != 0)
            out[n++] = envp[i];
    out[n++] = variable;
    out[n] = NULL;
    return out;
}

static size_t count_strings(char *const v[])
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

static int exec_with(const char *file, char *const argv[], char *const envp[], bool search)
{
    if (atomic_load(&state) != READY)
        start();
    if (!sink_is_ours()) /* a vfork child: the sink is its parent's, and it is a new process */
        return search ? real.execvpe(file, argv, envp) : real.execve(file, argv, envp);
    me.off |= OFF_BUSY;
    sink_finish(false);
    char variable[64];
    char **env = __builtin_alloca((count_strings(envp) + 2) * sizeof *env);
    with_image(envp, next_image_variable(variable, sizeof variable), env);
    int rc = search ? real.execvpe(file, argv, env) : real.execve(file, argv, env);
    me.off &= ~OFF_BUSY;
    return rc;
}

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    return exec_with(path, argv, envp, false);
}

EXPORT int execv(const char *path, char *const argv[])
{
    return exec_with(path, argv, environ, false);
}

EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    return exec_with(file, argv, envp, true);
}

EXPORT int execvp(const char *file, char *const argv[])
{
    return exec_with(file, argv, environ, true);
}

/* The execl family: the arguments after ARG, up to and with their NULL,
 * gathered into an array, execle's environment after them. */
static int exec_listed(const char *file, const char *arg, va_list *ap, bool search, bool with_env)
{
    size_t n = 1;
    va_list count;
    va_copy(count, *ap);
    while (va_arg(count, char *))
        n++;
    va_end(count);
    char **argv = __builtin_alloca((n + 1) * sizeof *argv);
    argv[0] = (char *)arg;
    for (size_t i = 1; i <= n; i++)
        argv[i] = va_arg(*ap, char *);
    char **envp = with_env ? va_arg(*ap, char **) : environ;
    return exec_with(file, argv, envp, search);
}

EXPORT int execl(const char *path, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    int rc = exec_listed(path, arg, &ap, false, false);
    va_end(ap);
    return rc;
}

EXPORT int execlp(const char *file, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    int rc = exec_listed(file, arg, &ap, true, false);
    va_end(ap);
    return rc;
}

EXPORT int execle(const char *path, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    int rc = exec_listed(path, arg, &ap, false, true);
    va_end(ap);
    return rc;
}
