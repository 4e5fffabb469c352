/*
 * write.h - the writer's calls for the events a recorder writes most, for
 * the project's own writers that know their events well formed.
 */
#ifndef CMT_FORMAT_WRITE_H
#define CMT_FORMAT_WRITE_H

#include "../cmt.h"

/* cmt_writer_write of a malloc of SIZE bytes that returned block TAG, by
 * THREAD at TIME, with no event to build, and only the checks that can
 * fail, where it is like the event before (the same thread and time, no
 * addresses or stacks kept).  0, or -1 as cmt_writer_write. */
int cmti_writer_malloc(cmt_writer *w, uint64_t tag, uint64_t size, uint32_t thread, uint64_t time);

/* The same for a free of live block TAG. */
int cmti_writer_free(cmt_writer *w, uint64_t tag, uint32_t thread, uint64_t time);

#endif /* CMT_FORMAT_WRITE_H */
