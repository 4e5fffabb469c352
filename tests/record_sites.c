/*
 * record_sites.c - a program for the call sites' tests: each function
 * allocates in a way of its own, for cmtstat --sites to name it for it.
 * leaks() never frees; makes_temporaries() frees every block before the
 * next allocation, in the main thread and in another; holds_the_peak()
 * holds the most bytes at once; library_allocates() is in a shared
 * library.  A forked child leaks too, into a file of its own.  Built
 * without optimisation, so that each function is a frame of its own.
 */
#include <pthread.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

void library_allocates(void);

/* Makes P look used, so that an allocation freed unused is not left out. */
static void *volatile escaped;
static void escape(void *p)
{
    escaped = p;
}

void leaks(void);
void makes_temporaries(void);
void holds_the_peak(void);

void leaks(void)
{
    for (int i = 0; i < 50; i++)
        escape(malloc(100));
}

void makes_temporaries(void)
{
    for (int i = 0; i < 1000; i++) {
        void *p = malloc(64);
        escape(p);
        free(p);
    }
}

void holds_the_peak(void)
{
    void **blocks = malloc(256 * sizeof *blocks);
    for (int i = 0; i < 256; i++)
        blocks[i] = malloc(4096);
    for (int i = 0; i < 256; i++)
        free(blocks[i]);
    free(blocks);
}

static void *thread_main(void *arg)
{
    (void)arg;
    makes_temporaries();
    return NULL;
}

int main(void)
{
    leaks();
    makes_temporaries();
    pthread_t t;
    if (pthread_create(&t, NULL, thread_main, NULL) != 0 || pthread_join(t, NULL) != 0)
        return 1;
    holds_the_peak();
    library_allocates();
    pid_t child = fork();
    if (child == 0) {
        leaks();
        _exit(0);
    }
    int status;
    return child > 0 && waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
