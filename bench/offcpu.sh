#!/usr/bin/env bash
# Cost of off-CPU profiling on a context-switch-heavy program (README "Off-CPU and wall-clock
# profiles"): workloads/pingpong.c, two threads on one CPU passing a byte through two pipes (about
# 300,000 context switches a second here), run under
#   baseline       nothing
#   profkit        profkit record --pid (CPU sampling only, off_cpu = false)
#   profkit-offcpu profkit record --pid --off-cpu, with the agent's defaults (1 in 100, 1 ms)
#   perf           perf record -e sched:sched_switch -g -a
# Each round runs every configuration once, in rotating order; the table gives the median elapsed
# time, the slowdown against the baseline, the workload's own CPU time (both threads; what the
# switches and the BPF program at each switch cost it, less inflated than elapsed time by other
# programs sharing the CPU) and its slowdown, and the profiler's CPU time (user + system) per
# second of the run. kernel.bpf_stats_enabled costs every program run two clock reads (about 60 ns
# here, more than the off-CPU program's unsampled path), so the timed runs have it off; one more
# profkit-offcpu run per round, "offcpu+bpf_stats", has it on and gives the time the sched_switch
# program spends per switch (its other figures include the statistics' own cost).
# Usage: sudo bench/offcpu.sh [--rounds 5] [--round-trips 300000] [--cpu N] [--profkit build/profkit]
#                             [--offcpu-flags "--off-cpu-sample-every 10"]  (profkit-offcpu's extra
#                             record flags; default: the agent's defaults, 1 in 100, 1 ms)
set -euo pipefail
bench_name=offcpu.sh
cd "$(dirname "$0")/.."
source bench/lib.sh
rounds=5 round_trips=300000 cpu=$(($(nproc) - 1)) profkit=build/profkit
# The agent's defaults ([ebpf] off_cpu_sample_every, off_cpu_min_duration); record's own default
# is every switch.
offcpu_flags="--off-cpu-sample-every 100 --off-cpu-min-ms 1"
while (($#)); do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --round-trips) round_trips=$2; shift 2 ;;
    --cpu) cpu=$2; shift 2 ;;
    --profkit) profkit=$2; shift 2 ;;
    --offcpu-flags) offcpu_flags=$2; shift 2 ;;
    -h|--help) sed -n 2,16p "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
bench_require_root
bench_install_missing perf=linux-perf gcc=gcc taskset=util-linux bpftool=bpftool
[[ -x $profkit ]] || { echo "$bench_name: needs a built $profkit (scripts/build.sh)" >&2; exit 1; }

work=$(mktemp -d /tmp/profkit-bench-offcpu-XXXXXX)
profiler_pid= workload_pid=
stats_before=$(sysctl -n kernel.bpf_stats_enabled)
cleanup() {
  for pid in $profiler_pid $workload_pid; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  sysctl -qw kernel.bpf_stats_enabled="$stats_before"
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
sysctl -qw kernel.bpf_stats_enabled=0
gcc -O2 -pthread -o "$work/pingpong" bench/workloads/pingpong.c
# The profilers' own threads (reading the ring buffer, symbolizing) run on the other CPUs: on the
# workload's CPU they would take turns with it and stretch its elapsed time by their own CPU time
# (reported apart, "profiler CPU"), which varies far more from run to run than the cost measured
# here, the work done in the workload's context at each switch.
profiler_cpus=$(python3 -c "import os; print(','.join(str(c) for c in sorted(os.sched_getaffinity(0)) if c != $cpu) or '$cpu')")

# utime + stime of a process, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" | tail -1; }
# Waits up to 30 s for a line matching $2 in file $1.
await_log() {
  for _ in $(seq 300); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "$bench_name: timed out waiting for '$2' in $1:" >&2; cat "$1" >&2; exit 1
}
# run_time_ns run_cnt of the off-CPU program.
bpf_stats() {
  bpftool prog show --json | python3 -c 'import json, sys
progs = [p for p in json.load(sys.stdin) if p.get("name", "").startswith("profkit_off_cpu")]
print(sum(p.get("run_time_ns", 0) for p in progs), sum(p.get("run_cnt", 0) for p in progs))'
}

# run CONFIG ROUND: one workload run; appends
# "config round elapsed_s switches_per_s workload_cpu_s profiler_cpu_s bpf_ns_per_run".
run() {
  local config=$1 round=$2 fifo=$work/start stats=0
  [[ $config == offcpu+bpf_stats ]] && stats=1
  sysctl -qw kernel.bpf_stats_enabled=$stats
  rm -f "$fifo" && mkfifo "$fifo"
  taskset -c "$cpu" "$work/pingpong" "$round_trips" <"$fifo" >"$work/out" &
  workload_pid=$!
  profiler_pid=
  case $config in
    profkit|profkit-offcpu|offcpu+bpf_stats)
      local flags=()
      # shellcheck disable=SC2206  # the extra flags are words
      [[ $config != profkit ]] && flags=(--off-cpu $offcpu_flags)
      taskset -c "$profiler_cpus" "$profkit" record "${flags[@]}" --pid "$workload_pid" -o "$work/p.pprof" </dev/null 2>"$work/log" &
      profiler_pid=$!
      await_log "$work/log" "recording at" ;;
    perf)
      taskset -c "$profiler_cpus" perf record -q -e sched:sched_switch -g -a -o "$work/perf.data" </dev/null 2>"$work/log" &
      profiler_pid=$!
      sleep 2 ;;  # perf prints nothing when it is ready; it is, well within this
  esac
  local ticks_before=0 bpf_before="0 0"
  [[ -n $profiler_pid ]] && ticks_before=$(cpu_ticks "$profiler_pid")
  ((stats)) && bpf_before=$(bpf_stats)
  echo x >"$fifo"
  wait "$workload_pid"
  workload_pid=
  local ticks=0 bpf_ns=0
  if [[ -n $profiler_pid ]]; then
    ticks=$(($(cpu_ticks "$profiler_pid") - ticks_before))
    if ((stats)); then
      read -r t1 c1 <<<"$(bpf_stats)"; read -r t0 c0 <<<"$bpf_before"
      bpf_ns=$(( (c1 - c0) > 0 ? (t1 - t0) / (c1 - c0) : 0 ))
    fi
    kill -INT "$profiler_pid" 2>/dev/null || true
    wait "$profiler_pid" || true
    profiler_pid=
  fi
  read -r elapsed rate workload_cpu < <(sed -E \
    's/elapsed_s=([0-9.]+) switches_per_s=([0-9]+) cpu_s=([0-9.]+)/\1 \2 \3/' "$work/out")
  echo "$config $round $elapsed $rate $workload_cpu $(awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN{print t/hz}') $bpf_ns" >>"$work/results"
}

configs=(baseline profkit profkit-offcpu perf)
echo "x" | taskset -c "$cpu" "$work/pingpong" "$round_trips" >/dev/null  # warm-up, unmeasured
for ((r = 0; r < rounds; r++)); do
  for ((i = 0; i < ${#configs[@]}; i++)); do
    run "${configs[$(((i + r) % ${#configs[@]}))]}" "$r"
  done
  run offcpu+bpf_stats "$r"
done

echo "bench/offcpu.sh: $round_trips round trips ($((2 * round_trips)) context switches) on CPU $cpu, $rounds rounds, medians; profkit-offcpu: record --off-cpu $offcpu_flags"
python3 - "$work/results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    config, rnd, elapsed, rate, wcpu, cpu, bpf_ns = line.split()
    rows.setdefault(config, {})[int(rnd)] = (float(elapsed), float(rate), float(wcpu), float(cpu),
                                             float(bpf_ns))
med = lambda config, i: statistics.median(r[i] for r in rows[config].values())
base, base_cpu = med("baseline", 0), med("baseline", 2)
print(f"{'configuration':<16}{'elapsed s':>10}{'switches/s':>12}{'slowdown':>10}{'workload CPU s':>16}"
      f"{'CPU slowdown':>14}{'profiler CPU':>14}{'BPF ns/switch':>15}")
for config in ("baseline", "profkit", "profkit-offcpu", "perf", "offcpu+bpf_stats"):
    runs = rows[config].values()
    elapsed, wcpu, bpf = med(config, 0), med(config, 2), med(config, 4)
    cpu = statistics.median(r[3] / r[0] for r in runs)
    print(f"{config:<16}{elapsed:>10.3f}{med(config, 1):>12.0f}{(elapsed / base - 1) * 100:>9.1f}%"
          f"{wcpu:>16.3f}{(wcpu / base_cpu - 1) * 100:>13.1f}%"
          f"{cpu * 100:>13.1f}%{(f'{bpf:.0f}' if bpf else '-'):>15}")
# On against off, round by round (the two ran back to back), then the medians.
for what, i in (("elapsed", 0), ("workload CPU", 2)):
    ratios = sorted((rows["profkit-offcpu"][r][i] / rows["profkit"][r][i] - 1) * 100
                    for r in rows["profkit"] if r in rows["profkit-offcpu"])
    print(f"off-CPU on vs off, {what}: {(med('profkit-offcpu', i) / med('profkit', i) - 1) * 100:+.1f}%"
          f" (rounds {ratios[0]:+.1f}% .. {ratios[-1]:+.1f}%; goal <= 3%)")
PY
