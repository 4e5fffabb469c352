#!/usr/bin/env bash
# Builds the libFuzzer harnesses with clang (ASan + UBSan) and runs each for
# FUZZ_SECONDS (default 60) on a copy of its seed corpus.  A crash, a leak
# or a sanitizer report stops it with a non-zero status; the input is left
# in build-fuzz/ as crash-HARNESS-*: add it to tests/fuzz/corpus/HARNESS/,
# where every test build replays it.  Prints each harness's executions.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
CC=clang cmake -S . -B build-fuzz -DCMT_FUZZ=ON -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzz_cmt fuzz_text >/dev/null
for harness in cmt text; do
  corpus=build-fuzz/corpus-$harness
  mkdir -p "$corpus"
  cp tests/fuzz/corpus/$harness/* "$corpus"/
  log=build-fuzz/fuzz-$harness.log
  echo "== fuzz_$harness: $seconds s" >&2
  if ! build-fuzz/tests/fuzz/fuzz_$harness -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -max_len=65536 -print_final_stats=1 -artifact_prefix="build-fuzz/crash-$harness-" "$corpus" > "$log" 2>&1; then
    tail -40 "$log" >&2
    echo "fuzz_$harness failed: the input is build-fuzz/crash-$harness-*" >&2
    exit 1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
  echo "fuzz_$harness: $runs executions in $seconds s, no crash, leak or sanitizer report" >&2
done
