# Sourced by the bench/*.sh entry points. $bench_name names the script in messages.

# Benchmarks that use perf -a and BPF need root.
bench_require_root() {
  if [[ $(id -u) -ne 0 ]]; then
    echo "$bench_name: must run as root (perf -a and BPF need it)" >&2
    exit 1
  fi
}

# bench_install_missing CMD=PACKAGE ...: installs the Debian package of every command not found.
bench_install_missing() {
  local missing=() pair
  for pair in "$@"; do
    command -v "${pair%%=*}" >/dev/null 2>&1 || missing+=("${pair#*=}")
  done
  ((${#missing[@]})) || return 0
  echo "$bench_name: installing ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2 ||
    { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y \
        --no-install-recommends "${missing[@]}" >&2; }
}
