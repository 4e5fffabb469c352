#!/usr/bin/env bash
# What recording costs short runs, whose fixed costs and final catch-up
# are not spread over seconds: three programs of a tenth of a second to
# a few tenths, of three shapes, each run bare and recorded (and recorded
# with a second libcmtrecord.so, if given) taking turns, ROUNDS (30) times.
# Prints the median times and the median of each round's ratio to the
# bare run: a round's runs are seconds apart, so the ratio holds while
# the machine's speed drifts (tens of percent from minute to minute here).
#   python    the Python JSON run of bench/sink.sh: 1.55 M calls, 0.1 s
#   threads   Python, four threads making and dropping dicts at once
#   cc1plus   GCC's C++ compiler on a file that includes <map> and <string>
# Usage: bench/short.sh BUILD_DIR [OTHER_LIBCMTRECORD.so]
set -euo pipefail
build=$(cd "$1" && pwd)
other=${2:-}
python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3)
ROUNDS=${ROUNDS:-30}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PYTHONMALLOC=malloc
# (not json.py: the script would import itself as json)
cat > "$work/json_run.py" <<'PY'
import json
d = [{"id": i, "name": "item%d" % i, "tags": [str(j) for j in range(20)], "score": i * 0.5} for i in range(4570)]
s = json.dumps(d)
for _ in range(3):
    json.loads(s)
PY
cat > "$work/threads.py" <<'PY'
import threading
def work(k):
    for r in range(40):
        d = {("k%d" % i): [i, str(i), (i, k)] for i in range(2000)}
        del d
ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
for t in ts: t.start()
for t in ts: t.join()
PY
cat > "$work/cxx.cpp" <<'CPP'
#include <map>
#include <string>
int main() {
  std::map<std::string, int> m;
  m["a"] = 1;
  return (int)m.size();
}
CPP
cc1plus=$(g++ -print-prog-name=cc1plus 2>/dev/null || true)

now() { date +%s%N; }
# Milliseconds "$@" took.
ms() {
  local start
  start=$(now)
  "$@" > /dev/null 2>&1
  echo $((($(now) - start) / 1000))
}
median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)}'; }

# One program, "$@": ROUNDS rounds of bare, recorded, and recorded with
# the other library.
bench() {
  local label=$1; shift
  : > "$work/bare" && : > "$work/rec" && : > "$work/other" && : > "$work/ratio" && : > "$work/ratio_other"
  for _ in $(seq "$ROUNDS"); do
    local b r o
    b=$(ms "$@")
    r=$(ms "$build/tools/cmtrecord" -q -o "$work/run.cmt" -- "$@")
    echo "$b" >> "$work/bare"
    echo "$r" >> "$work/rec"
    echo "$r / $b" | bc -l >> "$work/ratio"
    if [ -n "$other" ]; then
      o=$(CMTRECORD_LIBRARY=$other ms "$build/tools/cmtrecord" -q -o "$work/run.cmt" -- "$@")
      echo "$o" >> "$work/other"
      echo "$o / $b" | bc -l >> "$work/ratio_other"
    fi
  done
  printf '%-8s bare %6.1f ms   recorded %6.1f ms  %.2fx' "$label" "$(median < "$work/bare" | awk '{print $1 / 1000}')" \
    "$(median < "$work/rec" | awk '{print $1 / 1000}')" "$(median < "$work/ratio")"
  if [ -n "$other" ]; then
    printf '   other %6.1f ms  %.2fx' "$(median < "$work/other" | awk '{print $1 / 1000}')" "$(median < "$work/ratio_other")"
  fi
  printf '\n'
}

echo "short runs, median of $ROUNDS rounds (the ratio: the median of each round's recorded / bare):"
bench python "$python" "$work/json_run.py"
bench threads "$python" "$work/threads.py"
if [ -n "$cc1plus" ] && [ -x "$cc1plus" ]; then
  bench cc1plus "$cc1plus" -quiet -imultiarch "$(g++ -print-multiarch)" -O0 "$work/cxx.cpp" -o "$work/cxx.s"
fi
