#!/bin/sh
# log2trace.sh - a CHERI memory-alloc-tracing dtrace log (call-trace lines)
# on standard input, the cmt text trace on standard output, as the original
# cmt tools' script did:  log2trace.sh < app.log | trace2cmt -o app.cmt
exec "$(dirname "$0")/trace2text.sh" dtrace
