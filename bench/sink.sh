#!/usr/bin/env bash
# What the recorder's sink spends a record on, in instructions: callgrind
# counts them in its thread (drain_to and all it calls), for a short
# Python run (4,570 dicts dumped and parsed three times, 1.55 M calls)
# and a C++ compiler's (cc1plus on a file that includes <regex>), with
# the top functions.  Counts do not drift with the machine's speed as the
# wall clock does (tens of percent from one minute to the next here), so
# they show a change of a few percent that timings cannot.  Give a second
# libcmtrecord.so to compare: its counts are printed beside.
# Usage: bench/sink.sh BUILD_DIR [OTHER_LIBCMTRECORD.so]
set -euo pipefail
build=$(cd "$1" && pwd)
other=${2:-}
command -v valgrind > /dev/null || { echo "sink.sh: needs valgrind" >&2; exit 1; }
python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PYTHONMALLOC=malloc
cat > "$work/cxx.cpp" <<'CPP'
#include <iostream>
#include <map>
#include <regex>
int main() {
  std::map<std::string, int> m;
  std::regex r("([a-z]+)=([0-9]+)");
  std::smatch s;
  std::string t = "a=1 b=2";
  if (std::regex_search(t, s, r)) m[s[1]] = std::stoi(s[2]);
  std::cout << m.size() << "\n";
}
CPP
cc1plus=$(g++ -print-prog-name=cc1plus 2>/dev/null || true)

# Instructions a record in the sink's thread when LIB records "$@"; the
# top functions with TOP (their own instructions a record).
per_record() {
  local lib=$1 top=$2; shift 2
  rm -f "$work"/run.*
  if ! LD_PRELOAD=$lib CMTRECORD_OUTPUT="$work/run.cmt" valgrind --tool=callgrind --collect-atstart=no \
    --toggle-collect='drain_to*' --callgrind-out-file="$work/cg.out" "$@" > "$work/out.txt" 2>&1; then
    echo "sink.sh: $1 failed:" >&2
    tail -5 "$work/out.txt" >&2
    exit 1
  fi
  local trace events
  trace=$(ls -S "$work"/run.*cmt | head -1)
  events=$("$build/tools/cmtstat" "$trace" | awk '/^events/ {print $2}')
  callgrind_annotate --inclusive=no "$work/cg.out" > "$work/cg.txt" 2> /dev/null
  grep -E '^ *[0-9,]+ \(' "$work/cg.txt" | sed -n "1,$((top + 1))p" |
    awk -v n="$events" '{ir = $1; gsub(",", "", ir); name = $NF; if (name ~ /^\[/) name = $(NF - 1);
                        sub(".*/", "", name); printf "  %7.1f  %s\n", ir / n, name == "TOTALS" ? "a record, in all" : name}'
}

run() {
  local label=$1; shift
  echo "$label"
  per_record "$build/record/libcmtrecord.so" 8 "$@"
  [ -n "$other" ] && { echo " $other:"; per_record "$other" 0 "$@"; }
  return 0
}
run "short Python run (instructions a record, this build):" "$python" -c 'import json
d = [{"id": i, "name": "item%d" % i, "tags": [str(j) for j in range(20)], "score": i * 0.5} for i in range(4570)]
s = json.dumps(d)
for _ in range(3):
    json.loads(s)'
if [ -n "$cc1plus" ] && [ -x "$cc1plus" ]; then
  run "cc1plus (instructions a record, this build):" "$cc1plus" -quiet -imultiarch "$(g++ -print-multiarch)" -O1 \
    "$work/cxx.cpp" -o "$work/cxx.s"
fi
