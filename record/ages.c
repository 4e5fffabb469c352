/*
 * ages.c - live statistics with the seed's bucket-shifting scheme
 * (seed 003, dmalloc): allocations are counted in one-second slices of
 * age, the whole row shifted on as seconds pass, and each block keeps the
 * second it was allocated in so that its free finds its slice again.
 * Nothing per live block beyond that one number, which the sink keeps
 * with the block's tag anyway.
 */
#include "recorder.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The slice a block allocated at SECOND is in now. */
static size_t slice_of(const age_stats *a, uint64_t second)
{
    uint64_t age = a->now > second ? a->now - second : 0;
    return age < AGE_SLICES ? (size_t)age : AGE_SLICES;
}

void ages_advance(age_stats *a, uint64_t second)
{
    if (second <= a->now)
        return;
    uint64_t by = second - a->now;
    a->now = second;
    if (by >= AGE_SLICES) {
        for (size_t i = 0; i < AGE_SLICES; i++) {
            a->slice[AGE_SLICES] += a->slice[i];
            a->slice[i] = 0;
        }
        return;
    }
    for (size_t i = AGE_SLICES - (size_t)by; i < AGE_SLICES; i++)
        a->slice[AGE_SLICES] += a->slice[i];
    memmove(a->slice + by, a->slice, (AGE_SLICES - (size_t)by) * sizeof a->slice[0]);
    memset(a->slice, 0, (size_t)by * sizeof a->slice[0]);
}

void ages_add(age_stats *a, uint64_t second, uint64_t bytes)
{
    ages_advance(a, second);
    a->slice[slice_of(a, second)]++;
    a->current_blocks++;
    a->current_bytes += bytes;
    a->total_allocations++;
    a->total_bytes += bytes;
}

void ages_remove(age_stats *a, uint64_t second, uint64_t bytes)
{
    size_t s = slice_of(a, second);
    /* Shifting is exact, so the block is where its age says; a neighbour
     * is looked at only in case a clock stepped back. */
    if (!a->slice[s] && s > 0 && a->slice[s - 1])
        s--;
    else if (!a->slice[s] && s < AGE_SLICES && a->slice[s + 1])
        s++;
    if (a->slice[s])
        a->slice[s]--;
    a->current_blocks--;
    a->current_bytes -= bytes;
    a->total_frees++;
}

void ages_resize(age_stats *a, uint64_t old_bytes, uint64_t new_bytes)
{
    a->current_bytes += new_bytes - old_bytes;
    a->total_bytes += new_bytes > old_bytes ? new_bytes - old_bytes : 0;
    a->in_place_reallocs++;
}

void ages_print(const age_stats *a, int fd, const char *program, long pid)
{
    static const struct {
        const char *name;
        size_t from, to; /* slices [from, to) */
    } rows[] = {
        {"< 1 s", 0, 1}, {"1-10 s", 1, 10}, {"10-100 s", 10, 100},
        {"100-1000 s", 100, AGE_SLICES}, {"> 1000 s", AGE_SLICES, AGE_SLICES + 1},
    };
    char text[2048];
    int n = snprintf(text, sizeof text,
                     "cmtrecord: %s[%ld]: %llu current allocations, %llu bytes; totals: %llu allocations "
                     "(%llu bytes), %llu frees, %llu reallocs in place\n"
                     "cmtrecord: Current allocations by age: (50 # = all %llu current allocations)\n",
                     program, pid, (unsigned long long)a->current_blocks, (unsigned long long)a->current_bytes,
                     (unsigned long long)a->total_allocations, (unsigned long long)a->total_bytes,
                     (unsigned long long)a->total_frees, (unsigned long long)a->in_place_reallocs,
                     (unsigned long long)a->current_blocks);
    for (size_t r = 0; r < sizeof rows / sizeof rows[0] && n > 0 && (size_t)n < sizeof text; r++) {
        uint64_t count = 0;
        for (size_t s = rows[r].from; s < rows[r].to; s++)
            count += a->slice[s];
        int bar = a->current_blocks ? (int)(count * 50 / a->current_blocks) : 0;
        n += snprintf(text + n, sizeof text - (size_t)n, "cmtrecord:   %-10s %12llu %.*s\n", rows[r].name,
                      (unsigned long long)count, bar, "##################################################");
    }
    if (n > 0)
        (void)!write(fd, text, (size_t)n < sizeof text ? (size_t)n : sizeof text - 1);
}
