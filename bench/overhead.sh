#!/bin/bash
# Overhead of profkit vs perf vs bpftrace on a CPU-bound workload; see README.md.
# Usage: sudo bench/overhead.sh [--rounds N] [--configs baseline,profkit,perf,bpftrace] ...
#        (bench/overhead.sh --help lists every option)
set -euo pipefail

bench_name=overhead.sh
source "$(dirname "$(readlink -f "$0")")/lib.sh"
bench_require_root
# The Debian package of each command the benchmark runs, installed only when missing.
bench_install_missing perf=linux-perf bpftrace=bpftrace gcc=gcc taskset=util-linux

# The Python side owns every child process and its cleanup (Ctrl-C, SIGTERM); exec keeps
# signals going straight to it.
export PROFKIT_BENCH_INVOCATION="$0${*:+ $*}"
exec /usr/bin/python3 "$(dirname "$(readlink -f "$0")")/overhead.py" "$@"
