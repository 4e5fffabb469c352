#!/usr/bin/env bash
# Installs what is missing, builds, and runs the main job on a bundled
# sample: a real program's allocations (Python serialising JSON, traced
# with valgrind) encoded into .cmt and replayed against every allocator,
# with the report page (build/report/index.html) of memory over time.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
set -x
build/tools/trace2cmt -o build/python-json.cmt samples/python-json.trace
build/tools/cmtreplay --compare build/report build/python-json.cmt
