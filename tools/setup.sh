#!/usr/bin/env bash
# Installs what building and testing cmt needs on Debian, if it is missing.
set -euo pipefail
packages=(build-essential cmake pkg-config libzstd-dev libjemalloc2 libcriterion-dev zstd xz-utils bzip2
          gnuplot-nox fonts-liberation valgrind clang libclang-rt-14-dev libtcmalloc-minimal4 libmimalloc2.0
          zpaq libunwind-dev libdw-dev parallel slurm-wlm munge)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "setup: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
