#!/bin/bash
# What profiling Python costs: BPF time per sample at 10/50/150 Python frames vs a native program,
# and the slowdown of a CPU-bound Python program under profkit vs perf; see README.md.
# Usage: sudo bench/python_overhead.sh [--parts cost,slowdown] [--python /usr/bin/python3] ...
#        (bench/python_overhead.sh --help lists every option)
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
  echo "python_overhead.sh: must run as root (perf -a and BPF need it)" >&2
  exit 1
fi

# Debian packages providing each command the benchmark runs; installed only when missing.
declare -A package_of=([perf]=linux-perf [gcc]=gcc [taskset]=util-linux [nice]=coreutils)
missing=()
for cmd in "${!package_of[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${package_of[$cmd]}")
done
if ((${#missing[@]})); then
  echo "python_overhead.sh: installing ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2 ||
    { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y \
        --no-install-recommends "${missing[@]}" >&2; }
fi

# The Python side owns every child process and its cleanup (Ctrl-C, SIGTERM); exec keeps
# signals going straight to it.
export PROFKIT_BENCH_INVOCATION="$0${*:+ $*}"
exec /usr/bin/python3 "$(dirname "$(readlink -f "$0")")/python_overhead.py" "$@"
