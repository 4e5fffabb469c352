#!/bin/sh
# kdump2trace.sh - FreeBSD kdump output of jemalloc's utrace records on
# standard input, the cmt text trace on standard output, as the original
# cmt tools' script did:
#
#     MALLOC_CONF=utrace:true ktrace -t u prog; kdump | kdump2trace.sh | trace2cmt -o prog.cmt
#
# It is trace2cmt -f kdump -s: trace2cmt reads kdump output directly too.
here=$(dirname "$0")
for t2c in "$here/trace2cmt" "$here/../build/tools/trace2cmt" "$(command -v trace2cmt)"; do
  [ -x "$t2c" ] && exec "$t2c" -q -f kdump -s -
done
echo "kdump2trace.sh: trace2cmt not found beside this script or on PATH" >&2
exit 1
