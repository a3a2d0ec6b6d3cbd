#!/bin/bash
# What profiling Python costs: BPF time per sample at 10/50/150 Python frames vs a native program,
# and the slowdown of a CPU-bound Python program under profkit vs perf; see README.md.
# Usage: sudo bench/python_overhead.sh [--parts cost,slowdown] [--python /usr/bin/python3] ...
#        (bench/python_overhead.sh --help lists every option)
set -euo pipefail

bench_name=python_overhead.sh
source "$(dirname "$(readlink -f "$0")")/lib.sh"
bench_require_root
# The Debian package of each command the benchmark runs, installed only when missing.
bench_install_missing perf=linux-perf gcc=gcc taskset=util-linux nice=coreutils

# The Python side owns every child process and its cleanup (Ctrl-C, SIGTERM); exec keeps
# signals going straight to it.
export PROFKIT_BENCH_INVOCATION="$0${*:+ $*}"
exec /usr/bin/python3 "$(dirname "$(readlink -f "$0")")/python_overhead.py" "$@"
