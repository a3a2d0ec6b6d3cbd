#!/usr/bin/env bash
# Symbolization cost per frame from a split debug file against the unstripped binary (issue 12):
# splits FILE the way distributions do (objcopy --only-keep-debug, --strip-all, the debug file at
# its build-id path) and runs build/bench/symbolize/profkit_symbolize_bench on both.
#   bench/symbolize_split.sh [FILE [ADDRESSES]]   (default: build/profkit, 20000 addresses)
set -euo pipefail
cd "$(dirname "$0")/.."
file=${1:-build/profkit}
count=${2:-20000}
bench=build/bench/symbolize/profkit_symbolize_bench
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

build_id=$(readelf -n "$file" | sed -n 's/.*Build ID: \([0-9a-f]*\).*/\1/p' | head -1)
[[ -n "$build_id" ]] || { echo "$file has no build id" >&2; exit 1; }
mkdir -p "$work/debug/.build-id/${build_id:0:2}"
objcopy --only-keep-debug "$file" "$work/debug/.build-id/${build_id:0:2}/${build_id:2}.debug"
objcopy --strip-all "$file" "$work/stripped"

echo "== unstripped $file"
"$bench" "$file" "$count"
echo "== stripped, named from its debug file at the build-id path"
"$bench" "$work/stripped" "$count" --debug-dir "$work/debug"
