#!/usr/bin/env bash
# Runs every libFuzzer target of a PROFKIT_FUZZ build (tests/fuzz/) on its seed corpus, then on a
# bounded number of new inputs, and fails on any crash, sanitizer report, leak, input slower than
# 1 s or RSS above 512 MB. What CI runs (scripts/test.sh); bench/fuzz.sh runs the same targets
# for longer.
#   scripts/fuzz.sh BUILD_DIR [--runs N] [--seconds S] [--jobs J] [--seed N] [--keep DIR] [--only "T.."]
# --runs N     new inputs per target after the corpus (default 50000; elf_symbolize a tenth: each
#              of its inputs is a file opened and symbolized, ~400/s against thousands for the
#              others); with the fixed seed the inputs tried are the same on every run, and a
#              time cap only cuts that sequence short, so a clean run stays clean
# --seconds S  time cap per target (default 30), for slow machines; whichever comes first
# --jobs J     targets run at once (default 2)
# --seed N     libFuzzer's seed (default 1; 0 = a random one, as bench/fuzz.sh runs)
# --keep DIR   keep each target's log and new corpus entries under DIR
# --only "T.." run only these targets (names as in tests/fuzz/corpus/)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: scripts/fuzz.sh BUILD_DIR [--runs N] [--seconds S] [--jobs J] [--seed N] [--keep DIR] [--only "T.."]}
shift
runs=50000 seconds=30 jobs=2 seed=1 keep="" only=""
while (($#)); do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    --only) only=" $2 "; shift 2 ;;
    *) echo "fuzz.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -d $build/fuzz ]] || { echo "fuzz.sh: no $build/fuzz; configure with -DPROFKIT_FUZZ=ON" >&2; exit 1; }
work=${keep:-$(mktemp -d)}
mkdir -p "$work"
[[ -n $keep ]] || trap 'rm -rf "$work"' EXIT

targets=()
for corpus in tests/fuzz/corpus/*/; do
  name=$(basename "$corpus")
  [[ -z $only || $only == *" $name "* ]] || continue
  [[ -x $build/fuzz/fuzz_$name ]] || { echo "fuzz.sh: $build/fuzz/fuzz_$name is not built" >&2; exit 1; }
  targets+=("$name")
done

# One target: the seeds (including every past finding) first, then new inputs; new corpus
# entries go to the work directory, never into the repository.
run_one() {
  local name=$1 dict=() start=$SECONDS asan=detect_leaks=1:quarantine_size_mb=64 target_runs=$runs
  [[ $name == elf_symbolize && $runs -gt 0 ]] && target_runs=$((runs / 10))
  [[ -f tests/fuzz/dict/$name.dict ]] && dict=(-dict="tests/fuzz/dict/$name.dict")
  # elfutils has no frame pointers: without the slow unwinder a leak's stack stops inside libelf
  # and tests/fuzz/lsan.supp could not tell elfutils' own leaks from a missing elf_end.
  [[ $name == elf_symbolize || $name == unwind_table ]] && asan+=:fast_unwind_on_malloc=0
  mkdir -p "$work/$name/new"
  if ASAN_OPTIONS=$asan \
     LSAN_OPTIONS=suppressions=tests/fuzz/lsan.supp:print_suppressions=0 \
     UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
     "$build/fuzz/fuzz_$name" -seed="$seed" -runs="$target_runs" -max_total_time="$seconds" -timeout=1 \
       -rss_limit_mb=512 -max_len=65536 -print_final_stats=1 "${dict[@]}" \
       -artifact_prefix="$work/$name/" "$work/$name/new" "tests/fuzz/corpus/$name" \
       >"$work/$name/log" 2>&1; then
    printf 'fuzz %-22s ok  %8s runs %4ss\n' "$name" \
      "$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$name/log")" $((SECONDS - start))
  else
    echo "fuzz $name FAILED; last lines of its log:"
    tail -n 60 "$work/$name/log"
    ls "$work/$name"/crash-* "$work/$name"/leak-* "$work/$name"/timeout-* "$work/$name"/oom-* \
      "$work/$name"/slow-unit-* 2>/dev/null | sed 's/^/  finding: /'
    return 1
  fi
}
export -f run_one
export build work runs seconds seed
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one {}'
