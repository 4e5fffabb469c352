#!/usr/bin/env bash
# The recorder's overhead on a malloc-heavy real program, side by side with
# heaptrack and with no recording, in one run: Python serialising and
# parsing JSON with PYTHONMALLOC=malloc (every object through malloc).
# Best of 3 wall-clock times; file sizes as written.
# Usage: bench/record.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
script='import json
d = [{"id": i, "name": "item%d" % i, "tags": [str(j) for j in range(20)], "score": i * 0.5} for i in range(60000)]
s = json.dumps(d)
for _ in range(3):
    json.loads(s)'
export PYTHONMALLOC=malloc

best() { # best of 3 wall-clock seconds of "$@"
  local best=999999 t
  for _ in 1 2 3; do
    local start end
    start=$(date +%s.%N)
    "$@" > /dev/null 2>&1
    end=$(date +%s.%N)
    t=$(echo "$end - $start" | bc -l)
    best=$(echo "if ($t < $best) $t else $best" | bc -l)
  done
  printf '%.3f' "$best"
}

none=$(best "$python" -c "$script")
rec=$(best "$build/tools/cmtrecord" -q -o "$work/py.cmt" -- "$python" -c "$script")
events=$("$build/tools/cmtstat" --json "$work/py.cmt" | sed 's/.*"events": \([0-9]*\).*/\1/')
cmt_bytes=$(stat -c %s "$work/py.cmt")
printf '%-22s %10s %10s %14s %12s\n' "run" "seconds" "/ none" "file bytes" "bytes/event"
printf '%-22s %10s %10s %14s %12s\n' "no recording" "$none" "1.00" "" ""
printf '%-22s %10s %10.2f %14s %12.3f\n' "cmtrecord" "$rec" "$(echo "$rec / $none" | bc -l)" "$cmt_bytes" \
  "$(echo "$cmt_bytes / $events" | bc -l)"
if command -v heaptrack > /dev/null; then
  ht=$(best heaptrack -o "$work/py.heaptrack" "$python" -c "$script")
  ht_file=$(ls "$work"/py.heaptrack* | head -1)
  ht_bytes=$(stat -c %s "$ht_file")
  printf '%-22s %10s %10.2f %14s %12.3f\n' "heaptrack" "$ht" "$(echo "$ht / $none" | bc -l)" "$ht_bytes" \
    "$(echo "$ht_bytes / $events" | bc -l)"
else
  echo "(heaptrack is not installed: apt-get install heaptrack to compare)"
fi
echo "($events events; $python, PYTHONMALLOC=malloc)"
