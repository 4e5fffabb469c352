/*
 * protocol.h - what cmtrecord and the recorder it preloads say to each
 * other: environment variables, each named here once.  cmtrecord sets
 * them for the program it starts; the recorder reads them in every
 * process of that program (forks and execs too); a user preloading the
 * recorder by hand sets them the same way (docs/cmtrecord.md).
 */
#ifndef CMT_RECORD_PROTOCOL_H
#define CMT_RECORD_PROTOCOL_H

/* The file of the process cmtrecord started (-o); others name their own. */
#define CMTRECORD_OUTPUT "CMTRECORD_OUTPUT"
/* The pid of the process cmtrecord started: the one OUTPUT is for. */
#define CMTRECORD_PID "CMTRECORD_PID"
/* "PID.N": the process PID is in its Nth program since cmtrecord started
 * it (set by the recorder at each exec, so that each gets a file). */
#define CMTRECORD_IMAGE "CMTRECORD_IMAGE"
/* --stats SECONDS: live statistics that often (0 or unset: none). */
#define CMTRECORD_STATS "CMTRECORD_STATS"
/* --addresses: "1" to keep every block's address in the files. */
#define CMTRECORD_ADDRESSES "CMTRECORD_ADDRESSES"
/* --stacks[=DEPTH]: the depth of the call stacks kept (0 or unset: none),
 * STACKS_DEPTH when no depth is given, at most STACKS_DEPTH_MOST. */
#define CMTRECORD_STACKS "CMTRECORD_STACKS"
#define STACKS_DEPTH 32
#define STACKS_DEPTH_MOST 256
/* "1": every stack is unwound by the recorder's walker and by libunwind,
 * and a difference aborts (the tests' check). */
#define CMTRECORD_UNWIND_CHECK "CMTRECORD_UNWIND_CHECK"
/* The zstd level of the files (1-22). */
#define CMTRECORD_LEVEL "CMTRECORD_LEVEL"
/* "0": no thread of the recorder's own (the tests' way to drain in the
 * program's threads). */
#define CMTRECORD_THREAD "CMTRECORD_THREAD"
/* A file to which each process appends the path of its trace. */
#define CMTRECORD_MANIFEST "CMTRECORD_MANIFEST"
/* Where cmtrecord finds libcmtrecord.so, instead of beside itself. */
#define CMTRECORD_LIBRARY "CMTRECORD_LIBRARY"

#endif /* CMT_RECORD_PROTOCOL_H */
