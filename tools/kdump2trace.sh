#!/bin/sh
# kdump2trace.sh - FreeBSD kdump output of jemalloc's utrace records on
# standard input, the cmt text trace on standard output, as the original
# cmt tools' script did:
#
#     MALLOC_CONF=utrace:true ktrace -t u prog; kdump | kdump2trace.sh | trace2cmt -o prog.cmt
exec "$(dirname "$0")/trace2text.sh" kdump
