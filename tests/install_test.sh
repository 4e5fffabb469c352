#!/usr/bin/env bash
# Installs the build into a scratch prefix and builds a program of a user's
# own against it through pkg-config: the install rules and cmt.pc work.
set -euo pipefail
build=$1 samples=$2 user_cflags=${3:-}
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
for f in bin/trace2cmt bin/cmtreplay bin/cmtrecord bin/cmtstat bin/cmtlifetimes bin/cmtoverhead include/cmt.h; do
  [ -e "$prefix/$f" ] || { echo "install_test: $f was not installed" >&2; exit 1; }
done
for tool in trace2cmt cmtreplay cmtrecord cmtstat cmtlifetimes cmtoverhead; do
  page=$(find "$prefix" -path "*/man1/$tool.1")
  [ -n "$page" ] && head -1 "$page" | grep -q "^\.TH ${tool^^} 1 " ||
    { echo "install_test: no man page for $tool" >&2; exit 1; }
done
cat > "$prefix/count.c" <<'C'
#include <cmt.h>
#include <stdio.h>
int main(int argc, char **argv)
{
    char err[512];
    cmt_reader *r = cmt_reader_open(argc > 1 ? argv[1] : "-", err, sizeof err);
    if (!r) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    cmt_event ev;
    unsigned long n = 0;
    while (cmt_reader_next(r, &ev) > 0)
        n++;
    printf("%lu events\n", n);
    cmt_reader_close(r);
    return 0;
}
C
export PKG_CONFIG_PATH=$(dirname "$(find "$prefix" -name cmt.pc)")
cc $user_cflags "$prefix/count.c" $(pkg-config --cflags --libs cmt) -o "$prefix/count"
"$prefix/bin/trace2cmt" -q -o "$prefix/s.cmt" "$samples/every-call.trace"
out=$("$prefix/count" "$prefix/s.cmt")
[ "$out" = "17 events" ] || { echo "install_test: got '$out'" >&2; exit 1; }
# The installed cmtrecord finds the installed library, wherever the prefix.
"$prefix/bin/cmtrecord" -q -o "$prefix/sort.cmt" -- sort "$samples/every-call.trace" > /dev/null
"$prefix/bin/cmtstat" "$prefix/sort.cmt" > /dev/null
echo "install_test: 1 passed, 0 failed"
