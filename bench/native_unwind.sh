#!/usr/bin/env bash
# Native unwinding cost and table sizes (README "How native stacks are unwound"):
#   1. BPF time per walked stack for 10-, 30- and 60-deep frameless native stacks: the in-BPF
#      counter of the walk (bpf_ktime_get_ns around it, PROFKIT_COUNTER_UNWIND_NS) that
#      `profkit record` prints, and the whole sampling program's average from kernel BPF stats
#      (kernel.bpf_stats_enabled; every sample on the host, walked or not);
#   2. table build time and size per file (libc, libpython's static python3.11, a large C++ binary).
# Usage: bench/native_unwind.sh [--profkit build/profkit] [--seconds 8] [--rate 999]   (root)
set -euo pipefail
cd "$(dirname "$0")/.."
profkit=build/profkit seconds=8 rate=999
while (($#)); do
  case "$1" in
    --profkit) profkit=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    -h|--help) sed -n 2,9p "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -x $profkit ]] || { echo "needs a built $profkit (scripts/build.sh)" >&2; exit 1; }
work=$(mktemp -d /tmp/profkit-bench-unwind-XXXXXX)
trap 'rm -rf "$work"' EXIT
cc -O2 -fomit-frame-pointer -fno-optimize-sibling-calls -o "$work/native_depth" \
  bench/workloads/native_depth.c

stats_before=$(sysctl -n kernel.bpf_stats_enabled)
sysctl -qw kernel.bpf_stats_enabled=1
trap 'sysctl -qw kernel.bpf_stats_enabled=$stats_before; rm -rf "$work"' EXIT
prog_stats() {
  local json
  json=$(bpftool prog show name profkit_sample -j 2>/dev/null) || return 1
  [[ -n $json ]] || return 1
  python3 -c 'import json,sys; p=json.loads(sys.argv[1]); p=p[0] if isinstance(p,list) else p; print(p.get("run_time_ns",0), p.get("run_cnt",0))' "$json"
}

echo "depth  walked_stacks  walk_us_per_stack  program_us_per_sample(all samples)  truncated"
for depth in 10 30 60; do
  "$profkit" record --rate "$rate" --format collapsed --output "$work/out.txt" \
    -- "$work/native_depth" "$depth" "$seconds" >"$work/log" 2>&1 &
  pid=$!
  # Sample the program's stats once it is loaded, and again before the recording ends.
  for _ in $(seq 50); do stats=$(prog_stats || true); [[ -n $stats ]] && break; sleep 0.1; done
  sleep $((seconds / 2)); first=$(prog_stats); sleep $((seconds / 4)); second=$(prog_stats)
  wait "$pid"
  line=$(grep "native unwinding:" "$work/log")
  walked=$(sed -E 's/.*: ([0-9]+) stacks walked.*/\1/' <<<"$line")
  per=$(sed -E 's/.*\(([0-9.]+) us each\).*/\1/' <<<"$line")
  truncated=$(sed -E 's/.*, ([0-9]+) of them incomplete.*/\1/' <<<"$line")
  read -r t1 c1 <<<"$first"; read -r t2 c2 <<<"$second"
  program=$(python3 -c "print(f'{($t2-$t1)/max(1,$c2-$c1)/1000:.2f}')")
  echo "$depth  $walked  $per  $program  $truncated"
done

echo
echo "file  text_MiB  rows  pages  rules  table_KiB  bytes_per_row  build_ms  KiB_per_MiB_text"
for file in /usr/lib/x86_64-linux-gnu/libc.so.6 /usr/bin/python3.11 "$(readlink -f "$profkit")"; do
  "$(dirname "$profkit")/bench/unwind/profkit_unwind_table_bench" "$file"
done
