#!/usr/bin/env bash
# Installs the build into a scratch prefix and builds a program of a user's
# own against it through pkg-config and through CMake's find_package: the
# install rules, cmt.pc and the CMake package work, and the shared libcmt
# exports cmt.h's functions and nothing else.
set -euo pipefail
build=$1 samples=$2 user_cflags=${3:-}
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
for f in bin/trace2cmt bin/cmtreplay bin/cmtrecord bin/cmtstat bin/cmtlifetimes bin/cmtoverhead bin/cmtsweep include/cmt.h; do
  [ -e "$prefix/$f" ] || { echo "install_test: $f was not installed" >&2; exit 1; }
done
for tool in trace2cmt cmtreplay cmtrecord cmtstat cmtlifetimes cmtoverhead cmtsweep; do
  page=$(find "$prefix" -path "*/man1/$tool.1")
  [ -n "$page" ] && head -1 "$page" | grep -q "^\.TH ${tool^^} 1 " ||
    { echo "install_test: no man page for $tool" >&2; exit 1; }
done
# The installed cmtsweep finds the installed cmtreplay beside it.
"$prefix/bin/cmtsweep" -a system -r 1 -j 1 -o "$prefix/sweep" "$samples/python-json.trace" 2>/dev/null ||
  { echo "install_test: the installed cmtsweep failed" >&2; exit 1; }
[ "$(wc -l < "$prefix/sweep/results.jsonl")" -eq 1 ] ||
  { echo "install_test: the installed cmtsweep wrote no result" >&2; exit 1; }
cat > "$prefix/count.c" <<'C'
#include <cmt.h>
#include <stdio.h>
int main(int argc, char **argv)
{
    char err[512];
    if (cmt_version_number() != CMT_VERSION_NUMBER) {
        fprintf(stderr, "libcmt %s, cmt.h %s\n", cmt_version_string(), CMT_VERSION_STRING);
        return 1;
    }
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
libdir=$(pkg-config --variable=libdir cmt)
check_count() { # PROGRAM: it counts the sample's events, with the library it was linked with
  local out
  out=$(LD_LIBRARY_PATH=$libdir "$1" "$prefix/s.cmt")
  [ "$out" = "17 events" ] || { echo "install_test: $1 said '$out'" >&2; exit 1; }
}
"$prefix/bin/trace2cmt" -q -o "$prefix/s.cmt" "$samples/every-call.trace"
cc $user_cflags "$prefix/count.c" $(pkg-config --cflags --libs cmt) -o "$prefix/count"
check_count "$prefix/count"
# Whether PROGRAM loads the shared libcmt.  grep reads all of ldd's output:
# `ldd | grep -q` under pipefail failed now and then, ldd killed by SIGPIPE
# when grep had its match and left.
links_shared_libcmt() { [ "$(ldd "$1" | grep -c 'libcmt\.so')" != 0 ]; }
links_shared_libcmt "$prefix/count" || { echo "install_test: pkg-config did not link the shared libcmt" >&2; exit 1; }

api=$(grep -oE '^CMT_API [^(]*\bcmt_[a-z0-9_]+\(' "$prefix/include/cmt.h" | grep -oE 'cmt_[a-z0-9_]+\(' | tr -d '(' | sort)
exported=$(nm -D --defined-only "$libdir/libcmt.so" | awk '$2 == "T" || $2 == "i" || $2 == "D" || $2 == "B" {print $3}' | sort)
[ -n "$api" ] && [ "$api" = "$exported" ] ||
  { echo "install_test: libcmt.so exports other than cmt.h's functions:" >&2; diff <(echo "$api") <(echo "$exported") >&2; exit 1; }

# librmalloc, through its own .pc.
cat > "$prefix/rm.c" <<'C'
#include <rmalloc.h>
#include <string.h>
int main(void)
{
    rm_handle_t h = rmalloc(100);
    char *p = rmlock(&h);
    strcpy(p, "moved or not");
    rmunlock(&h);
    rmcompact();
    int same = strcmp(rmlock(&h), "moved or not") == 0;
    rmunlock(&h);
    rmfree(&h);
    return same ? 0 : 1;
}
C
cc $user_cflags "$prefix/rm.c" $(pkg-config --cflags --libs rmalloc) -o "$prefix/rm"
"$prefix/rm" || { echo "install_test: rmalloc's program failed" >&2; exit 1; }

mkdir "$prefix/user"
cat > "$prefix/user/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.25)
project(count C)
find_package(cmt 0.4 REQUIRED)
add_executable(count ../count.c)
target_link_libraries(count PRIVATE cmt::cmt)
add_executable(count_static ../count.c)
target_link_libraries(count_static PRIVATE cmt::cmt_static)
CMAKE
cmake -S "$prefix/user" -B "$prefix/user/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_FLAGS="$user_cflags" >/dev/null
cmake --build "$prefix/user/build" >/dev/null
check_count "$prefix/user/build/count"
check_count "$prefix/user/build/count_static"
links_shared_libcmt "$prefix/user/build/count_static" && { echo "install_test: cmt::cmt_static is shared" >&2; exit 1; }

# The installed cmtrecord finds the installed library, wherever the prefix.
"$prefix/bin/cmtrecord" -q -o "$prefix/sort.cmt" -- sort "$samples/every-call.trace" > /dev/null
"$prefix/bin/cmtstat" "$prefix/sort.cmt" > /dev/null
echo "install_test: 1 passed, 0 failed"
