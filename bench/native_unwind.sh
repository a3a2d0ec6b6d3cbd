#!/usr/bin/env bash
# Native unwinding cost and table sizes (README "How native stacks are unwound"):
#   1. BPF time per sample for 10-, 30- and 60-deep frameless native stacks, and for 30 frameless
#      native frames under 50 Python frames (Debian's python3.11, no frame pointers either,
#      calling the native recursion through ctypes): the in-BPF counter of the native walk
#      (bpf_ktime_get_ns around it, PROFKIT_COUNTER_UNWIND_NS) that `profkit record` prints; the
#      whole sampling program's average from kernel BPF stats (kernel.bpf_stats_enabled) over
#      every sample on the host; and the program's cost per sample of the target (native walk,
#      Python walk, kernel stack, ring buffer), the other tasks' samples charged at the cost
#      measured in a window before the target starts;
#   2. table build time and size per file (libc, libpython's static python3.11, a large C++ binary).
# Usage: bench/native_unwind.sh [--profkit build/profkit] [--seconds 8] [--rate 999]
#          [--stacks "10 30 60 30+50py"] [--no-tables]   (root)
#        a stack is N (native frames) or N+Mpy (N native frames under M >= 4 Python frames)
set -euo pipefail
cd "$(dirname "$0")/.."
profkit=build/profkit seconds=8 rate=999 stacks="10 30 60 30+50py" tables=1
while (($#)); do
  case "$1" in
    --profkit) profkit=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --stacks) stacks=$2; shift 2 ;;
    --no-tables) tables=0; shift ;;
    -h|--help) sed -n 2,15p "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -x $profkit ]] || { echo "needs a built $profkit (scripts/build.sh)" >&2; exit 1; }
work=$(mktemp -d /tmp/profkit-bench-unwind-XXXXXX)
trap 'rm -rf "$work"' EXIT
flags=(-O2 -fomit-frame-pointer -fno-optimize-sibling-calls)
cc "${flags[@]}" -o "$work/native_depth" bench/workloads/native_depth.c
cc "${flags[@]}" -shared -fPIC -o "$work/libnative_depth.so" bench/workloads/native_depth_lib.c
python=/usr/bin/python3.11
[[ -x $python ]] || { echo "needs Debian's python3.11 (the 30 + 50 row)" >&2; exit 1; }

stats_before=$(sysctl -n kernel.bpf_stats_enabled)
sysctl -qw kernel.bpf_stats_enabled=1
trap 'sysctl -qw kernel.bpf_stats_enabled=$stats_before; rm -rf "$work"' EXIT
# run_time_ns run_cnt of the perf_event BPF programs (profkit_sample) the recording PID holds,
# from its fdinfo: other profilers on the host (another profkit) have programs of the same name.
prog_stats() {
  /usr/bin/python3 - "$1" <<'PY'
import re, sys
from pathlib import Path
seen = {}
for entry in Path(f"/proc/{sys.argv[1]}/fdinfo").iterdir():
    try:
        info = dict(re.findall(r"^(\w+):\s+(\d+)$", entry.read_text(), re.MULTILINE))
    except OSError:
        continue
    if info.get("prog_type") == "7" and "prog_id" in info:  # BPF_PROG_TYPE_PERF_EVENT
        seen[info["prog_id"]] = (int(info.get("run_time_ns", 0)), int(info.get("run_cnt", 0)))
if not seen:
    sys.exit(1)
print(sum(t for t, _ in seen.values()), sum(c for _, c in seen.values()))
PY
}

# Target CPU seconds (all threads) of a process, from /proc/PID/stat.
cpu_seconds() {
  /usr/bin/python3 -c 'import os,sys; f=open(f"/proc/{sys.argv[1]}/stat").read().rsplit(")",1)[1].split(); print((int(f[11])+int(f[12]))/os.sysconf("SC_CLK_TCK"))' "$1"
}

# measure LABEL COMMAND...: one recording of COMMAND, which starts after a window of background
# only (the recording starts a shell that waits for the file "go").
measure() {
  local label=$1; shift
  rm -f "$work/go"
  "$profkit" record --rate "$rate" --format collapsed --output "$work/out.txt" \
    -- sh -c 'while [ ! -e "$0" ]; do sleep 0.05; done; exec "$@"' "$work/go" "$@" >"$work/log" 2>&1 &
  local pid=$! stats="" target s0 s1 s2 s3 cpu2 cpu3
  for _ in $(seq 300); do stats=$(prog_stats "$pid" 2>/dev/null || true); [[ -n $stats ]] && break; sleep 0.1; done
  [[ -n $stats ]] || { echo "$label: no sampling program loaded:" >&2; cat "$work/log" >&2; exit 1; }
  target=$(pgrep -P "$pid" | head -1)
  s0=$(prog_stats "$pid"); sleep 1.2; s1=$(prog_stats "$pid")
  touch "$work/go"
  # The middle half of the target's run: after its start-up and table builds, before its end.
  local ended="$label: the target ended before the measuring window did: use a longer --seconds"
  sleep "$(awk -v s="$seconds" 'BEGIN { print s / 4 }')"
  s2=$(prog_stats "$pid" 2>/dev/null) && cpu2=$(cpu_seconds "$target") || { echo "$ended" >&2; exit 1; }
  sleep "$(awk -v s="$seconds" 'BEGIN { print s / 2 }')"
  s3=$(prog_stats "$pid" 2>/dev/null) && cpu3=$(cpu_seconds "$target") || { echo "$ended" >&2; exit 1; }
  wait "$pid"
  local line walked per truncated
  line=$(grep "native unwinding:" "$work/log")
  walked=$(sed -E 's/.*: ([0-9]+) stacks walked.*/\1/' <<<"$line")
  per=$(sed -E 's/.*\(([0-9.]+) us each\).*/\1/' <<<"$line")
  truncated=$(sed -E 's/.*, ([0-9]+) of them incomplete.*/\1/' <<<"$line")
  /usr/bin/python3 - "$label" "$walked" "$per" "$truncated" "$rate" "$cpu2" "$cpu3" $s0 $s1 $s2 $s3 <<'PY'
import sys
label, walked, per, truncated, rate = sys.argv[1:6]
cpu2, cpu3, t0, c0, t1, c1, t2, c2, t3, c3 = map(float, sys.argv[6:16])
if c1 == c0 or t1 == t0 or c3 == c2 or t3 == t2:
    # kernel.bpf_stats_enabled is host-wide: another benchmark restoring it stops the counting.
    print(f"{label}: BPF stats did not count in a window (kernel.bpf_stats_enabled turned off by "
          "another program?): rerun", file=sys.stderr)
background = (t1 - t0) / max(1, c1 - c0)          # ns per sample of the other tasks
runs, time_ns = c3 - c2, t3 - t2
target = (cpu3 - cpu2) * float(rate)              # the target's samples: one per 1/rate s of CPU
others = max(0.0, runs - target)
per_target = (time_ns - others * background) / max(1.0, target)
print(f"{label}  {walked}  {per}  {time_ns / max(1, runs) / 1000:.2f}  "
      f"{per_target / 1000:.2f} ({target:.0f} of {runs:.0f} samples; others {background / 1000:.2f})  "
      f"{truncated}")
PY
}

echo "stack  walked_stacks  walk_us_per_stack  program_us_per_sample(all samples)  program_us_per_target_sample(background-corrected)  truncated"
for stack in $stacks; do
  if [[ $stack =~ ^([0-9]+)\+([0-9]+)py$ ]]; then  # NATIVE+PYTHONpy
    measure "$stack" "$python" bench/workloads/python_native_depth.py "$work/libnative_depth.so" \
      "${BASH_REMATCH[2]}" "${BASH_REMATCH[1]}" "$seconds"
  else
    measure "$stack" "$work/native_depth" "$stack" "$seconds"
  fi
done
((tables)) || exit 0

echo
echo "file  text_MiB  rows  pages  rules  table_KiB  bytes_per_row  build_ms  KiB_per_MiB_text"
for file in /usr/lib/x86_64-linux-gnu/libc.so.6 /usr/bin/python3.11 "$(readlink -f "$profkit")"; do
  "$(dirname "$profkit")/bench/unwind/profkit_unwind_table_bench" "$file"
done
