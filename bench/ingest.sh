#!/usr/bin/env bash
# Ingest throughput and latency of the dd-trace-js fixture upload (16.8 kB multipart):
#   nginx answering 200 to the same POST (the upper bound of this machine and load generator)
#   profkit /profiling/v1/input, forwarding every upload through its disk queue to a local fake
#   Dataway (nginx answering 200), and checking that every accepted upload was delivered.
# Usage: bench/ingest.sh [--duration 15] [--connections 16] [--profkit build/profkit]
#                        [--queue-dir DIR]   (default: a temporary directory under /tmp)
set -euo pipefail
cd "$(dirname "$0")/.."
duration=15 connections=16 profkit=build/profkit queue_dir=
while (($#)); do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --profkit) profkit=$2; shift 2 ;;
    --queue-dir) queue_dir=$2; shift 2 ;;
    -h|--help) sed -n 2,8p "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
for tool in wrk nginx; do
  command -v "$tool" >/dev/null || { echo "needs $tool (scripts/install-deps.sh --test)" >&2; exit 1; }
done
[[ -x $profkit ]] || { echo "needs a built $profkit (scripts/build.sh)" >&2; exit 1; }

work=$(mktemp -d /tmp/profkit-bench-ingest-XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [[ -f $work/nginx.pid ]] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
nginx_port=$(free_port) dataway_port=$(free_port) profkit_port=$(free_port)
# One nginx, two ports: the baseline, and the fake Dataway that counts what profkit delivers.
cat >"$work/nginx.conf" <<CONF
daemon on;
pid $work/nginx.pid;
worker_processes 1;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
  client_body_temp_path $work/body;
  client_max_body_size 64m;
  client_body_buffer_size 1m;
  keepalive_requests 1000000;
  log_format path \$request_uri;
  server { listen 127.0.0.1:$nginx_port; access_log off; location / { return 200 '{}'; } }
  server { listen 127.0.0.1:$dataway_port; access_log $work/dataway.log path;
           location / { return 200 '{}'; } }
}
CONF
nginx -c "$work/nginx.conf" -p "$work"

export UPLOAD_BODY=$PWD/tests/data/ingest/ddtrace-js-5.132-push.multipart
run_wrk() {  # url → "requests/s p50 p99 non2xx"
  wrk -t2 -c"$connections" -d"${duration}s" --latency -s bench/ingest/upload.lua "$1" >"$work/wrk.out"
  awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
       /Non-2xx/ {bad=$5} / requests in / {total=$1}
       END {printf "%s %s %s %s %s\n", rps, p50, p99, bad+0, total}' "$work/wrk.out"
}

read -r n_rps n_p50 n_p99 n_bad n_total < <(run_wrk "http://127.0.0.1:$nginx_port/profiling/v1/input")

data_dir=${queue_dir:-$work/data}
mkdir -p "$data_dir"
cat >"$work/profkit.toml" <<CONF
[agent]
data_dir = "$data_dir"
[http]
listen = "127.0.0.1:$profkit_port"
[dataway]
url = "http://127.0.0.1:$dataway_port/?token=tkn_bench"
[local]
dir = ""
[ebpf]
enabled = false
[[inputs.profile]]
  [inputs.profile.io_config]
    clear_cache_on_start = true
CONF
"$profkit" run --config "$work/profkit.toml" >"$work/profkit.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "receiving profiles on" "$work/profkit.log" && break; sleep 0.1; done
read -r p_rps p_p50 p_p99 p_bad p_total < <(run_wrk "http://127.0.0.1:$profkit_port/profiling/v1/input")
accepted=$((p_total - p_bad))
# Every accepted upload must reach the fake Dataway (wrk may count a few requests it cut off at
# the end as sent; they are neither accepted nor lost).
for _ in $(seq 600); do
  delivered=$(grep -c '^/v1/upload/profiling' "$work/dataway.log" || true)
  ((delivered >= accepted)) && break
  sleep 0.1
done

printf '\n%-52s %10s %9s %9s %8s\n' "target (wrk -t2 -c$connections -d${duration}s)" "uploads/s" "p50" "p99" "non-2xx"
printf '%-52s %10s %9s %9s %8s\n' "nginx return 200 (upper bound)" "$n_rps" "$n_p50" "$n_p99" "$n_bad"
printf '%-52s %10s %9s %9s %8s\n' "profkit /profiling/v1/input → disk queue → Dataway" "$p_rps" "$p_p50" "$p_p99" "$p_bad"
printf '\nprofkit accepted %s uploads; the fake Dataway received %s.\n' "$accepted" "$delivered"
((delivered >= accepted)) || { echo "LOST $((accepted - delivered)) uploads" >&2; exit 1; }
