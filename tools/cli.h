/*
 * cli.h - what the command-line tools share: exit codes, number options,
 * and a progress line on stderr (only when stderr is a terminal).
 */
#ifndef CMT_CLI_H
#define CMT_CLI_H

#include <stdbool.h>
#include <stdint.h>

enum { EXIT_OK = 0, EXIT_DATA = 1, EXIT_USAGE = 2 };

/* Prints "PROG: MESSAGE" and the hint to try --help; exits with 2. */
void cli_usage_error(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

/* Parses an integer option value in [MIN, MAX] or exits with a usage error. */
long cli_parse_long(const char *prog, const char *option, const char *value, long min, long max);

/* Parses a fraction in [0, 1] or exits with a usage error. */
double cli_parse_fraction(const char *prog, const char *option, const char *value);

/* A progress line that redraws itself at most a few times a second. */
typedef struct cli_progress {
    bool enabled;
    bool shown;
    const char *prog;
    double last;
} cli_progress;

void cli_progress_init(cli_progress *p, const char *prog);

/* Called often (every few thousand events): redraws when due. */
void cli_progress_update(cli_progress *p, uint64_t events);

/* Clears the line. */
void cli_progress_done(cli_progress *p);

/* Seconds on a monotonic clock. */
double cli_now(void);

#endif /* CMT_CLI_H */
