#!/usr/bin/env bash
# Does the replay predict the real run?  Each program runs natively under
# every allocator installed (LD_PRELOAD; GNU time's max RSS, the median of
# ROUNDS runs), is recorded once with cmtrecord, and the recording is
# replayed under each allocator (cmtreplay -r ROUNDS: each in a fresh
# process, the kernel's max RSS of the median run).  Prints native and
# replayed peak RSS side by side, and the replayed less the replayer's own
# resident memory (its tables of live blocks and the decoder's, as the
# null allocator's replay of the same recording measures them: the part
# of a replay's RSS the program did not have), their ratio to the native,
# and both rankings.
# Usage: bench/fidelity.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
ROUNDS=${ROUNDS:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tools=$build/tools
lib=/usr/lib/x86_64-linux-gnu

if [ ! -x /usr/bin/time ]; then
  echo "bench-fidelity: needs GNU time for the native runs' max RSS (apt-get install time)" >&2
  exit 1
fi
allocators=(system)
declare -A preload=([system]="")
for a in jemalloc:libjemalloc.so.2 tcmalloc:libtcmalloc_minimal.so.4 mimalloc:libmimalloc.so.2; do
  name=${a%%:*} file=$lib/${a#*:}
  if [ -r "$file" ]; then
    allocators+=("$name")
    preload[$name]=$file
  else
    echo "bench-fidelity: ${a#*:} is not installed: $name left out" >&2
  fi
done
list=$(IFS=,; echo "${allocators[*]}")

# The programs, as NAME|COMMAND.  Debian's own where installed: Python
# with PYTHONMALLOC=malloc (every object through malloc) in four threads,
# and pbzip2 compressing on four threads.  The Python threads meet at a
# barrier holding what they made, so that the peak is theirs together
# however the GIL took turns: without it one run's peak of live bytes was
# 239 MiB and the next one's 162, and a recording spoke for no other run.
python=/usr/bin/python3
script='import json, threading
meet = threading.Barrier(4)
def work(k):
    d = [{"id": i, "name": "item%d" % i, "tags": [str(j) for j in range(k % 7 + 10)]} for i in range(50000)]
    s = json.dumps(d)
    keep = [json.loads(s) for _ in range(2)]
    meet.wait()
    del d
    return len(keep)
ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
for t in ts: t.start()
for t in ts: t.join()'
printf '%s\n' "$script" > "$work/threads.py"
export PYTHONMALLOC=malloc
programs=("workload|$build/bench/fidelity_workload 4 256")
if [ -x "$python" ]; then
  programs+=("python-4-threads|$python $work/threads.py")
else
  echo "bench-fidelity: no $python: the Python program left out" >&2
fi
if command -v pbzip2 > /dev/null; then
  seq 1 6000000 | awk '{ print $1, $1 * 7 % 1000, "line", $1 % 97 }' > "$work/data.txt"
  programs+=("pbzip2-4-threads|pbzip2 -p4 -c -9 $work/data.txt")
else
  echo "bench-fidelity: pbzip2 is not installed (apt-get install pbzip2): left out" >&2
fi

# The median, least and most of the numbers on standard input.
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)], v[1], v[NR] }'; }

# The native max RSS of COMMAND under allocator A, in bytes: the median of
# ROUNDS runs, and the least and most.
native_rss() {
  local a=$1 command=$2
  for _ in $(seq "$ROUNDS"); do
    # shellcheck disable=SC2086 # the command's words
    LD_PRELOAD=${preload[$a]} /usr/bin/time -f %M -o "$work/time" $command > /dev/null 2>&1
    echo $(( $(tail -1 "$work/time") * 1024 ))
  done | median
}

# The allocators from least to most of column COL of the table rows.
ranking() { sort -k"$1" -n "$work/rows" | awk '{ printf "%s%s", sep, $1; sep = " < " } END { print "" }'; }

same=0 total=0 all_agree=0 all_pairs=0
for entry in "${programs[@]}"; do
  name=${entry%%|*} command=${entry#*|}
  # shellcheck disable=SC2086
  "$tools/cmtrecord" -q -o "$work/$name.cmt" -- $command > /dev/null
  "$tools/cmtreplay" -r "$ROUNDS" -a "$list" --json "$work/$name.cmt" > "$work/$name.json"
  threads=$(grep -o '"threads": [0-9]*' "$work/$name.json" | head -1 | cut -d' ' -f2)
  cross=$(grep -o '"cross_thread_frees": [0-9]*' "$work/$name.json" | head -1 | cut -d' ' -f2)
  live=$(grep -o '"peak_live_bytes": [0-9]*' "$work/$name.json" | head -1 | cut -d' ' -f2)
  "$tools/cmtreplay" -a null --touch=none --json "$work/$name.cmt" > "$work/null.json"
  own=$(( $(grep -o '"peak_rss": [0-9]*' "$work/null.json" | cut -d' ' -f2) -
          $(grep -o '"start_rss": [0-9]*' "$work/null.json" | cut -d' ' -f2) ))
  : > "$work/rows"
  for a in "${allocators[@]}"; do
    read -r native least most < <(native_rss "$a" "$command")
    replayed=$(sed 's/{"allocator"/\n&/g' "$work/$name.json" | grep "\"allocator\": \"$a\"" |
               grep -o '"peak_rss": [0-9]*' | cut -d' ' -f2)
    echo "$a $native $replayed $((replayed - own)) $least $most" >> "$work/rows"
  done
  printf '\n%s: %s threads, %s cross-thread frees, peak live %.1f MiB, the replayer'"'"'s own %.1f MiB\n' \
    "$name" "$threads" "$cross" "$(echo "$live / 1048576" | bc -l)" "$(echo "$own / 1048576" | bc -l)"
  printf '%-10s %11s %15s %13s %13s %10s\n' allocator "native MiB" "(least-most)" "replayed MiB" "less own MiB" \
    "/ native"
  awk '{ printf "%-10s %11.1f %15s %13.1f %13.1f %10.3f\n", $1, $2 / 1048576,
                sprintf("(%.1f-%.1f)", $5 / 1048576, $6 / 1048576), $3 / 1048576, $4 / 1048576, $4 / $2 }' \
    "$work/rows"
  native_rank=$(ranking 2) replay_rank=$(ranking 3)
  echo "native order:   $native_rank"
  echo "replayed order: $replay_rank"
  awk '{ n++; r = $4 / $2; if (r >= 0.85 && r <= 1.15) k++ } END { printf "within 15%% of native: %d of %d\n", k, n }' \
    "$work/rows"
  # Pairs whose native peaks differ by more than 5% (closer than that, a
  # native run's own noise orders them): does the replay order them so?
  read -r agree pairs < <(awk '{ a[NR] = $1; n[NR] = $2; r[NR] = $3 }
    END { for (i = 1; i <= NR; i++) for (j = i + 1; j <= NR; j++) {
            if (n[i] > 1.05 * n[j] || n[j] > 1.05 * n[i]) { p++; if ((n[i] < n[j]) == (r[i] < r[j])) k++ } }
          print k + 0, p + 0 }' "$work/rows")
  echo "pairs more than 5% apart natively, ordered the same by the replay: $agree of $pairs"
  total=$((total + 1)) all_agree=$((all_agree + agree)) all_pairs=$((all_pairs + pairs))
  [ "$native_rank" = "$replay_rank" ] && same=$((same + 1))
done
echo
echo "the same order on $same of $total programs; of the pairs more than 5% apart natively, $all_agree of $all_pairs" \
  "ordered the same (ROUNDS=$ROUNDS)"
