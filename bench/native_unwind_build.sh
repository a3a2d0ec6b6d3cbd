#!/usr/bin/env bash
# The agent with native unwinding while a C++ build keeps both CPUs busy with thousands of
# short-lived compiler processes (README "How native stacks are unwound"): the agent's CPU (% of
# one core), its peak RSS, the BPF map memory of its programs and the unwind counters; then the
# same build under `perf record -a --call-graph dwarf` (perf's CPU and data) and alone (the
# build's own time, for the slowdown). The build is profkit's own userspace, from scratch, without
# ccache, cut off after --seconds (twice that with the agent: its start, then its steady state).
# Usage: bench/native_unwind_build.sh [--profkit build/profkit] [--seconds 120] [--rate 99]  (root)
set -euo pipefail
bench_name=native_unwind_build.sh
source "$(dirname "$(readlink -f "$0")")/lib.sh"
bench_require_root
bench_install_missing perf=linux-perf bpftool=bpftool ninja=ninja-build cmake=cmake
cd "$(dirname "$0")/.."
profkit=build/profkit seconds=120 rate=99
while (($#)); do
  case "$1" in
    --profkit) profkit=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    -h|--help) sed -n 2,8p "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -x $profkit ]] || { echo "needs a built $profkit (scripts/build.sh)" >&2; exit 1; }
work=$(mktemp -d /tmp/profkit-bench-build-XXXXXX)
# The agent as deployed (deploy/Dockerfile, README "Running under systemd"): without its own DWARF.
cp "$profkit" "$work/profkit.bin"
strip --strip-debug "$work/profkit.bin"
profkit=$work/profkit.bin
agent=""
cleanup() {
  [[ -n $agent ]] && kill -INT "$agent" 2>/dev/null && wait "$agent" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# One build of the userspace libraries from an empty tree, stopped after $seconds; prints the
# number of compile steps finished.
build() {
  rm -rf "$work/tree"
  cmake -S . -B "$work/tree" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPROFKIT_BUILD_BPF=OFF \
    -DPROFKIT_BUILD_TESTS=OFF >/dev/null
  timeout "$seconds" ninja -C "$work/tree" -j2 >"$work/ninja.log" 2>&1 || true
  grep -c '^\[' "$work/ninja.log" || true
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# The BPF maps of the agent's programs (all programs whose name starts with profkit_), in bytes.
bpf_map_bytes() {
  bpftool prog show -j | python3 -c '
import json, subprocess, sys
ids = set()
for prog in json.load(sys.stdin):
    if prog.get("name", "").startswith("profkit_"):
        ids.update(prog.get("map_ids", []))
maps = json.loads(subprocess.run(["bpftool", "map", "show", "-j"], capture_output=True,
                                 text=True, check=True).stdout)
print(sum(m.get("bytes_memlock", 0) for m in maps if m["id"] in ids))'
}

echo "== build alone"
steps_alone=$(build)
echo "compile steps in ${seconds}s: $steps_alone"

echo "== build with profkit run ($rate Hz, native unwinding on)"
cat >"$work/profkit.toml" <<EOF
[agent]
data_dir = "$work/data"
[local]
dir = "$work/profiles"
[http]
listen = "127.0.0.1:$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
[ebpf]
sample_rate = $rate
EOF
"$profkit" run --config "$work/profkit.toml" >"$work/agent.log" 2>&1 &
agent=$!
for _ in $(seq 300); do grep -q "eBPF sampling started" "$work/agent.log" && break; sleep 0.1; done
grep -q "eBPF sampling started" "$work/agent.log" || { cat "$work/agent.log" >&2; exit 1; }
# Two windows of one build: the first includes the agent's start (the tables of every process
# running on the host are built then), the second is the steady state of a long-running agent.
ticks0=$(cpu_ticks "$agent") t0=$(date +%s.%N)
seconds_total=$((2 * seconds))
(seconds=$seconds_total; build >/dev/null) &
build_job=$!
sleep "$seconds"
ticks1=$(cpu_ticks "$agent") t1=$(date +%s.%N)
steps_profkit=$(grep -c '^\[' "$work/ninja.log" || true)
wait "$build_job" || true
ticks2=$(cpu_ticks "$agent") t2=$(date +%s.%N)
maps=$(bpf_map_bytes)
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$agent/status")
anon=$(awk '/RssAnon/ {print $2}' "/proc/$agent/status")
shmem=$(awk '/RssShmem/ {print $2}' "/proc/$agent/status")
kill -INT "$agent"; wait "$agent" || true; agent=""
hz=$(getconf CLK_TCK)
python3 -c "print(f'agent CPU: {100 * ($ticks1 - $ticks0) / $hz / ($t1 - $t0):.2f}% of a core in the first ${seconds}s (agent start), {100 * ($ticks2 - $ticks1) / $hz / ($t2 - $t1):.2f}% in the next (steady)')"
echo "agent peak RSS: $((hwm / 1024)) MiB; at the end: anonymous $((anon / 1024)) MiB, shared $((shmem / 1024)) MiB"
echo "BPF map memory: $(($maps / 1048576)) MiB"
echo "compile steps in the first ${seconds}s: $steps_profkit (alone: $steps_alone)"
grep -E "native unwinding counters" "$work/agent.log" | tail -1 | sed -E 's/.*counters: //'

echo "== build with perf record -a -F $rate --call-graph dwarf"
perf record -a -F "$rate" --call-graph dwarf -o "$work/perf.data" -q -- sleep 1000000 \
  >"$work/perf.log" 2>&1 &
perf_pid=$!
sleep 2
pticks0=$(cpu_ticks "$perf_pid") t0=$(date +%s.%N)
steps_perf=$(build)
pticks1=$(cpu_ticks "$perf_pid") t1=$(date +%s.%N)
kill -INT "$perf_pid"; wait "$perf_pid" || true
python3 -c "print(f'perf record CPU: {100 * ($pticks1 - $pticks0) / $hz / ($t1 - $t0):.2f}% of a core')"
echo "perf.data: $(($(stat -c %s "$work/perf.data") / 1048576)) MiB"
echo "compile steps in ${seconds}s: $steps_perf (alone: $steps_alone)"
