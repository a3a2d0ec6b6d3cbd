#!/usr/bin/env bash
# How a large profile fares as a flame graph: a synthetic pprof with N distinct stacks
# (bench/views/make_profile.py) goes through `profkit convert` to SVG, speedscope and collapsed
# text, and Debian's headless Chromium opens the SVG (bench/views/render.js).
#   bench/views.sh [STACKS ...]      default: 10000 100000
# Needs build/profkit, Debian's python3-protobuf (/usr/bin/python3), protoc, chromium and tests/browser's npm packages
# (cd tests/browser && npm ci). No root.
set -euo pipefail
cd "$(dirname "$0")/.."
bench_name=views
profkit=${PROFKIT:-build/profkit}
[[ -x $profkit ]] || { echo "$bench_name: $profkit is not built" >&2; exit 1; }
[[ -d tests/browser/node_modules/playwright-core ]] ||
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
protoc --python_out="$tmp" --proto_path=vendor/pprof vendor/pprof/profile.proto

now_ms() { date +%s%3N; }
printf '%-8s %-11s %-10s %-9s %-9s %-9s %-9s %-8s %-8s %-9s\n' stacks pprof_KiB convert_ms \
  svg_KiB frames load_ms zoom_ms search_ms ss_KiB txt_KiB
for stacks in "${@:-10000 100000}"; do
  /usr/bin/python3 bench/views/make_profile.py "$tmp" "$stacks" "$tmp/p.pprof"
  t=$(now_ms)
  "$profkit" --log-level warn convert "$tmp/p.pprof" -o "$tmp/p.svg"
  convert_ms=$(($(now_ms) - t))
  "$profkit" --log-level warn convert "$tmp/p.pprof" -o "$tmp/p.speedscope.json"
  "$profkit" --log-level warn convert "$tmp/p.pprof" -o "$tmp/p.txt"
  seen=$(node bench/views/render.js "$tmp/p.svg")
  field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$seen" "$1"; }
  kib() { echo $(($(stat -c %s "$1") / 1024)); }
  printf '%-8s %-11s %-10s %-9s %-9s %-9s %-9s %-8s %-8s %-9s\n' "$stacks" "$(kib "$tmp/p.pprof")" \
    "$convert_ms" "$(kib "$tmp/p.svg")" "$(field frames)" "$(field load_ms)" "$(field zoom_ms)" \
    "$(field search_ms)" "$(kib "$tmp/p.speedscope.json")" "$(kib "$tmp/p.txt")"
done
