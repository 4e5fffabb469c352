#!/usr/bin/env bash
# Installs what is missing, then builds and runs the whole test suite twice:
# as released, and under AddressSanitizer and UndefinedBehaviorSanitizer;
# then fuzzes the .cmt decoder and the text readers for FUZZ_SECONDS each
# (default 60; 0 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
jobs=$(nproc)
for build in build build-asan; do
  options=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
  [ "$build" = build-asan ] && options=(-DCMAKE_BUILD_TYPE=Debug -DCMT_SANITIZE=ON)
  echo "== $build: ${options[*]}" >&2
  cmake -S . -B "$build" -DCMAKE_COMPILE_WARNING_AS_ERROR=ON "${options[@]}" >/dev/null
  cmake --build "$build" -j"$jobs" >/dev/null
  ctest --test-dir "$build" --output-on-failure
done
[ "${FUZZ_SECONDS:-60}" = 0 ] || tools/fuzz.sh
