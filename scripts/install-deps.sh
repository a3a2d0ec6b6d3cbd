#!/usr/bin/env bash
# Installs every Debian 12 package profkit needs to build, run and test. Idempotent: when nothing is
# missing it does nothing (no apt-get update either).
#   scripts/install-deps.sh          build + run dependencies
#   scripts/install-deps.sh --test   also the test and benchmark tools
set -euo pipefail

build_packages=(
  cmake ninja-build g++ pkg-config
  clang llvm bpftool libbpf-dev libelf-dev libdw-dev zlib1g-dev libzstd-dev liblz4-dev
  libprotobuf-dev protobuf-compiler libcurl4-openssl-dev
  liblzma-dev libdebuginfod-dev  # MiniDebugInfo (.gnu_debugdata) and debuginfod lookups
  libtomlplusplus-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev libcpp-httplib-dev
)
test_packages=(
  libgtest-dev libgmock-dev
  libclang-rt-14-dev   # libFuzzer and the sanitizer runtimes of clang 14 (tests/fuzz/, -DPROFKIT_FUZZ=ON)
  golang-go            # go tool pprof reads every profile the tests produce
  python3 python3-pytest python3-protobuf
  linux-perf bpftrace  # peers in bench/
  wrk nginx-light      # bench/ingest.sh: load generator and the 200-answering upper bound
  clang-format clang-tidy  # scripts/check-format.sh, .clang-tidy
  debuginfod           # the symbolize tests serve debug files from a loopback debuginfod
  patchelf             # scripts/install-sid-pythons.sh: Debian sid's interpreters on sid's libc
  python3-prometheus-client openssl  # tests/integration/test_kubernetes.py: /metrics parser, test CA
  chromium             # tests/browser: headless Chromium opens flame graph SVGs (playwright-core)
  xz-utils binutils    # tests/integration/test_native_unwind.py (Debian's xz), unwind_test (readelf)
  redis-server redis-tools python3-numpy libopenblas0-pthread  # test_native_unwind.py: redis, numpy + OpenBLAS
)

packages=("${build_packages[@]}")
if [[ "${1:-}" == "--test" ]]; then
  packages+=("${test_packages[@]}")
  # A real dd-trace-js pushes to the ingest endpoint (tests/clients/). A Node.js from elsewhere
  # (e.g. NodeSource, which bundles npm and conflicts with Debian's npm) is fine as it is.
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then packages+=(nodejs npm); fi
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then exit 0; fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing packages (${missing[*]}); run as root" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
