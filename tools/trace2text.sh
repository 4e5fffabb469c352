#!/bin/sh
# trace2text.sh FORMAT - a trace in FORMAT (kdump, dtrace, valgrind, mtrace)
# on standard input, the cmt text trace on standard output: trace2cmt -f
# FORMAT -s, with trace2cmt found beside this script, in the build tree or
# on PATH.  kdump2trace.sh and log2trace.sh keep the original tools' names.
here=$(dirname "$0")
for t2c in "$here/trace2cmt" "$here/../build/tools/trace2cmt" "$(command -v trace2cmt)"; do
  [ -x "$t2c" ] && exec "$t2c" -q -f "$1" -s -
done
echo "$(basename "$0"): trace2cmt not found beside this script or on PATH" >&2
exit 1
