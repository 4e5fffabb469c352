/*
 * times.c - when each call was made, as the sink's thread saw the calls
 * numbered: see recorder.h.
 *
 * The program's threads do not read the clock while the sink's thread
 * runs: that read, 5 ns a call, was a quarter of what recording cost a
 * short Python run (1.55 M calls in 0.1 s) on the program's side.  The
 * sink's thread reads it instead, at every tick of the coarse clock it
 * sees (it looks every few hundred records it takes, and at every nap,
 * 1 ms at most), together with how many sequence numbers have been handed
 * out, and gives each call the time of the last such note from before
 * its number.  A call is then placed within the clock's own tick (4 ms
 * here) plus the sink's nap, as before within the tick; while the sink's
 * thread waits for a core, as much earlier than it was made as the wait
 * (no note is taken meanwhile).  Without the sink's thread (or before
 * it starts) the threads stamp each call themselves (record_clock).
 */
#include "recorder.h"


void time_notes_add(time_notes *t, uint64_t issued, uint64_t ns)
{
    if (t->count == TIME_NOTES) {
        /* Every other note goes, the oldest kept: the records still to
         * come from before the next one need it. */
        size_t kept = 0;
        for (size_t i = 0; i < t->count; i += 2, kept++) {
            size_t from = (t->first + i) % TIME_NOTES, to = (t->first + kept) % TIME_NOTES;
            t->issued[to] = t->issued[from];
            t->ns[to] = t->ns[from];
        }
        t->count = kept;
    }
    size_t at = (t->first + t->count) % TIME_NOTES;
    t->issued[at] = issued;
    t->ns[at] = ns;
    t->count++;
}

uint64_t time_notes_of(time_notes *t, uint64_t seq, uint64_t *until)
{
    *until = UINT64_MAX;
    if (!t->count)
        return 0;
    for (; t->count > 1; t->first = (t->first + 1) % TIME_NOTES, t->count--) {
        uint64_t next = t->issued[(t->first + 1) % TIME_NOTES];
        if (next > seq) {
            *until = next;
            break;
        }
    }
    return t->ns[t->first];
}
