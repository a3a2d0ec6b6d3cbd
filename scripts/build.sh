#!/usr/bin/env bash
# Configures and builds profkit into build/ (or the directory given), e.g.
#   scripts/build.sh                                  → build/profkit and everything else
#   PROFKIT_TARGET=unit_tests scripts/build.sh build-asan -DPROFKIT_SANITIZE=ON
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-build}"
shift || true
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
ninja -C "$dir" ${PROFKIT_TARGET:-}
