#!/usr/bin/env bash
# Runs every libFuzzer target (tests/fuzz/) for longer than CI does, with a random seed, and
# reports the executions of each; the goal is 1,000,000 executions per target without a finding.
#   bench/fuzz.sh [--seconds N] [--jobs J] [--build DIR] [--only "T.."]
#   default: 600 s per target, 2 at once, build-fuzz, every target
# Builds the targets first (CC=clang CXX=clang++, -DPROFKIT_SANITIZE=ON -DPROFKIT_FUZZ=ON). A
# finding stops its target and fails the run; the input is kept under the printed directory, to
# be fixed and then added to tests/fuzz/corpus/<target>/ as a regression case.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=600 jobs=2 build=build-fuzz only=()
while (($#)); do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --only) only=(--only "$2"); shift 2 ;;
    *) echo "bench/fuzz.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
CC=clang CXX=clang++ PROFKIT_TARGET=fuzz_targets scripts/build.sh "$build" -DPROFKIT_BUILD_TESTS=ON \
  -DPROFKIT_SANITIZE=ON -DPROFKIT_FUZZ=ON -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" >&2
keep=$(mktemp -d /tmp/profkit-fuzz-bench.XXXXXX)
echo "bench/fuzz.sh: $seconds s per target, $jobs at once; logs and findings in $keep" >&2
status=0
scripts/fuzz.sh "$build" --runs -1 --seconds "$seconds" --jobs "$jobs" --seed 0 --keep "$keep" \
  "${only[@]}" ||
  status=$?
printf '%-22s %12s %10s %8s\n' target executions exec/s seconds
for log in "$keep"/*/log; do
  name=$(basename "$(dirname "$log")")
  units=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  time=$(sed -n 's/.*Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log")
  printf '%-22s %12s %10s %8s\n' "$name" "${units:-crashed}" \
    "$( [[ -n $units && -n $time && $time -gt 0 ]] && echo $((units / time)) || echo -)" "${time:--}"
done
exit $status
