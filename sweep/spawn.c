/*
 * spawn.c - running another program and keeping what it says: the
 * engines read sbatch's job ID and squeue's list from its standard
 * output, a job keeps the end of cmtreplay's standard error, where the
 * message is.
 */
#define _GNU_SOURCE /* pipe2 */
#include "sweep.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int sweep_spawn(char *const argv[], char *const env[], const sweep_capture *capture)
{
    int pipefd[2] = {-1, -1};
    if (capture && pipe2(pipefd, O_CLOEXEC) < 0)
        return -1;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (capture && capture->fd == STDERR_FILENO)
        posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    if (capture)
        posix_spawn_file_actions_adddup2(&actions, pipefd[1], capture->fd);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &actions, NULL, argv, env ? env : environ);
    posix_spawn_file_actions_destroy(&actions);
    if (capture)
        close(pipefd[1]);
    if (rc != 0) {
        if (capture)
            close(pipefd[0]);
        errno = rc;
        return -1;
    }
    if (capture) {
        char *buf = capture->buf, chunk[4096];
        size_t n = 0, len = capture->len;
        for (ssize_t got; (got = read(pipefd[0], chunk, sizeof chunk)) != 0;) {
            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0)
                break;
            for (ssize_t i = 0; i < got; i++) {
                if (n + 1 == len && !capture->tail)
                    break; /* the rest is not wanted, but must be read */
                if (n + 1 == len) { /* keep the end: drop the older half */
                    memmove(buf, buf + len / 2, n - len / 2);
                    n -= len / 2;
                }
                buf[n++] = chunk[i];
            }
        }
        buf[n] = '\0';
        close(pipefd[0]);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return status;
}
