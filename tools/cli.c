/*
 * cli.c - see cli.h.
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

void cli_usage_error(const char *prog, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry '%s --help' for more information.\n", prog);
    exit(EXIT_USAGE);
}

long cli_parse_long(const char *prog, const char *option, const char *value, long min, long max)
{
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno || end == value || *end || v < min || v > max)
        cli_usage_error(prog, "%s takes a whole number from %ld to %ld, not '%s'", option, min, max,
                        value);
    return v;
}

double cli_parse_fraction(const char *prog, const char *option, const char *value)
{
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    if (errno || end == value || *end || !(v >= 0 && v <= 1))
        cli_usage_error(prog, "%s takes a fraction from 0 to 1, not '%s'", option, value);
    return v;
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void cli_progress_init(cli_progress *p, const char *prog)
{
    p->enabled = isatty(STDERR_FILENO);
    p->shown = false;
    p->prog = prog;
    p->last = cli_now();
}

void cli_progress_update(cli_progress *p, uint64_t events)
{
    if (!p->enabled)
        return;
    double now = cli_now();
    if (now - p->last < 0.25)
        return;
    p->last = now;
    p->shown = true;
    fprintf(stderr, "\r%s: %llu events...", p->prog, (unsigned long long)events);
}

void cli_progress_done(cli_progress *p)
{
    if (p->shown)
        fprintf(stderr, "\r\033[K");
}
