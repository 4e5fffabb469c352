/*
 * cmt_internal.h - libcmt's private interface, for the project's own
 * components (the tools, the replay engine, the analyses, the recorder
 * and the tests), which link the static cmt_internal library.  Not
 * installed; nothing here is exported from the shared libcmt.  Its names
 * start cmti_ (types and functions), so that a call site tells them from
 * the API's cmt_.
 */
#ifndef CMT_INTERNAL_INTERFACE_H
#define CMT_INTERNAL_INTERFACE_H

#include "common/internal.h" /* allocation, tables, errors, varints, checksums, input */
#include "common/live.h"     /* the live blocks by rank, as the .cmt coder keeps them */
#include "common/map.h"      /* an open-addressing map of 64-bit keys */
#include "common/ordered.h"  /* an ordered map: floors and ceilings */
#include "common/slots.h"    /* dense slot numbers for the live blocks */
#include "common/tagger.h"   /* addresses to tags, for readers of traces by address */
#include "format/seek.h"     /* seek points: decoding a .cmt file's segments apart */
#include "format/write.h"    /* the writer's calls for the commonest events */

#endif /* CMT_INTERNAL_INTERFACE_H */
