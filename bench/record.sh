#!/usr/bin/env bash
# The recorder's overhead on a malloc-heavy real program, with and without
# the call stacks (--stacks), side by side with heaptrack (which keeps
# them) and with no recording, in one run: Python serialising and
# parsing JSON with PYTHONMALLOC=malloc (every object through malloc).
# Best wall-clock time of ROUNDS (5) rounds; file sizes as written.
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

ROUNDS=${ROUNDS:-5}
# Wall-clock seconds of "$@".
seconds() {
  local start end
  start=$(date +%s.%N)
  "$@" > /dev/null 2>&1
  end=$(date +%s.%N)
  echo "$end - $start" | bc -l
}
smaller() { echo "if ($1 < $2) $1 else $2" | bc -l; }

# The runs take turns, round after round, and each keeps its best: the
# machine's speed drifts over a minute, and runs done one kind after the
# other would compare different machines.
have_heaptrack=false
command -v heaptrack > /dev/null && have_heaptrack=true
none=999999 rec=999999 stacks=999999 ht=999999
for _ in $(seq "$ROUNDS"); do
  none=$(smaller "$(seconds "$python" -c "$script")" "$none")
  rec=$(smaller "$(seconds "$build/tools/cmtrecord" -q -o "$work/py.cmt" -- "$python" -c "$script")" "$rec")
  stacks=$(smaller "$(seconds "$build/tools/cmtrecord" -q --stacks -o "$work/pys.cmt" -- "$python" -c "$script")" \
           "$stacks")
  if $have_heaptrack; then
    rm -f "$work"/py.heaptrack*
    ht=$(smaller "$(seconds heaptrack -o "$work/py.heaptrack" "$python" -c "$script")" "$ht")
  fi
done
none=$(printf '%.3f' "$none") rec=$(printf '%.3f' "$rec") stacks=$(printf '%.3f' "$stacks") ht=$(printf '%.3f' "$ht")
events=$("$build/tools/cmtstat" --json "$work/py.cmt" | sed 's/.*"events": \([0-9]*\).*/\1/')
cmt_bytes=$(stat -c %s "$work/py.cmt") stacks_bytes=$(stat -c %s "$work/pys.cmt")
printf '%-22s %10s %10s %14s %12s\n' "run" "seconds" "/ none" "file bytes" "bytes/event"
printf '%-22s %10s %10s %14s %12s\n' "no recording" "$none" "1.00" "" ""
printf '%-22s %10s %10.2f %14s %12.3f\n' "cmtrecord" "$rec" "$(echo "$rec / $none" | bc -l)" "$cmt_bytes" \
  "$(echo "$cmt_bytes / $events" | bc -l)"
printf '%-22s %10s %10.2f %14s %12.3f\n' "cmtrecord --stacks" "$stacks" "$(echo "$stacks / $none" | bc -l)" \
  "$stacks_bytes" "$(echo "$stacks_bytes / $events" | bc -l)"
if $have_heaptrack; then
  ht_file=$(ls "$work"/py.heaptrack* | head -1)
  ht_bytes=$(stat -c %s "$ht_file")
  printf '%-22s %10s %10.2f %14s %12.3f\n' "heaptrack" "$ht" "$(echo "$ht / $none" | bc -l)" "$ht_bytes" \
    "$(echo "$ht_bytes / $events" | bc -l)"
  printf '%-22s %10.2f\n' "--stacks / heaptrack" "$(echo "$stacks / $ht" | bc -l)"
else
  echo "(heaptrack is not installed: apt-get install heaptrack to compare)"
fi
echo "($events events; $python, PYTHONMALLOC=malloc)"
