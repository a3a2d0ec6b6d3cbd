#!/usr/bin/env bash
# Makes runnable CPython 3.14 and 3.15 interpreters from Debian sid's binary packages, for the
# Python tests and bench/ (Debian 12 has only 3.11). The packages are downloaded and unpacked,
# never installed: a private apt configuration (its own sources list, state and cache) leaves the
# system's apt untouched. sid's binaries need a newer glibc than Debian 12's, so they run with sid's
# libc6 from the same root: patchelf points each at the root's loader and sets its DT_RPATH (which,
# unlike DT_RUNPATH, also serves the extension modules the interpreter dlopens).
#
# Three flavours per version, each a prefix <base>/<version>-<flavour>/bin/python<version>:
#   static  Debian's /usr/bin/pythonX (libpython linked in, non-PIE)
#   nopie   the binary of Debian's pythonX-nopie package
#   shared  a Py_BytesMain launcher linked to Debian's libpythonX.so.1.0 (as pyenv and python.org
#           builds are)
# <base>/interpreters.txt lists them, one "version flavour path full-version" per line.
#
#   scripts/install-sid-pythons.sh        idempotent: does nothing when sid has the same packages
#   PROFKIT_SID_PYTHON_ROOT=<dir>         another base than /var/cache/profkit/sid-python
#
# Whatever versions sid has are taken; every interpreter must import zlib, threading, asyncio and
# ssl, or the script fails.
set -euo pipefail

base=$(realpath -m "${PROFKIT_SID_PYTHON_ROOT:-/var/cache/profkit/sid-python}")
versions=(3.14 3.15)
flavours=(static nopie shared)
triplet=x86_64-linux-gnu
# Dependencies that are never needed to run an interpreter: debconf is only for maintainer scripts,
# which are never run here.
not_needed='^(debconf|cdebconf|debconf-2.0)$'
smoke_test='import zlib, threading, asyncio, ssl, sys; print(sys.version.split()[0], ssl.OPENSSL_VERSION)'

fail() {
  echo "install-sid-pythons: $*" >&2
  exit 1
}

need_tools() {
  command -v patchelf >/dev/null || {
    [[ $(id -u) -eq 0 ]] || fail "patchelf is missing: run scripts/install-deps.sh --test as root"
    echo "install-sid-pythons: installing patchelf"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends patchelf
  }
  local tool
  for tool in apt-get apt-cache dpkg-deb gcc readelf; do
    command -v "$tool" >/dev/null || fail "$tool is missing: run scripts/install-deps.sh --test"
  done
}

# The Debian mirror this machine already uses (deb.debian.org unless its sources say otherwise).
debian_mirror() {
  local mirror
  mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
             2>/dev/null | grep -v '^[[:space:]]*#' | grep -oE 'https?://[^ ]+/debian/?( |$)' | grep -v -- '-security' | head -n1 |
             tr -d ' ' || true)
  echo "${mirror:-http://deb.debian.org/debian}"
}

apt_dir=$base/apt
apt_options=()
setup_private_apt() {
  mkdir -p "$apt_dir"/state/lists/partial "$apt_dir"/cache/archives/partial "$apt_dir"/etc/{sources.list.d,preferences.d}
  local keyring=/usr/share/keyrings/debian-archive-keyring.gpg signed_by=
  [[ -f $keyring ]] && signed_by="[signed-by=$keyring] "
  echo "deb $signed_by$(debian_mirror) sid main" >"$apt_dir/etc/sources.list"
  # An empty dpkg status: apt treats nothing as installed, so the dependency closure is complete.
  : >"$apt_dir/state/status"
  apt_options=(-o "Dir::Etc::SourceList=$apt_dir/etc/sources.list" -o "Dir::Etc::SourceParts=$apt_dir/etc/sources.list.d"
               -o "Dir::Etc::Preferences=$apt_dir/etc/preferences" -o "Dir::Etc::PreferencesParts=$apt_dir/etc/preferences.d"
               -o "Dir::State=$apt_dir/state" -o "Dir::State::status=$apt_dir/state/status"
               -o "Dir::Cache=$apt_dir/cache" -o APT::Architecture=amd64
               -o APT::Architectures::=amd64)
}

# The packages named for each version, then everything they depend on (Depends and Pre-Depends,
# every alternative that is a real package), found level by level.
package_closure() {
  local -a level=() next=()
  local -A seen=()
  local v p
  for v in "${versions[@]}"; do
    level+=("python$v" "python$v-minimal" "libpython$v" "libpython$v-minimal" "libpython$v-stdlib"
            "libpython$v-dev" "python$v-dev" "python$v-nopie")
  done
  level+=(libc6)
  while ((${#level[@]})); do
    next=()
    for p in "${level[@]}"; do seen[$p]=1; done
    while read -r p; do
      [[ -z "${seen[$p]:-}" && ! "$p" =~ $not_needed ]] && { next+=("$p"); seen[$p]=1; }
    done < <(apt-cache "${apt_options[@]}" depends --no-recommends --no-suggests --no-conflicts \
               --no-breaks --no-replaces --no-enhances "${level[@]}" |
             awk '$1 ~ /^\|?(Pre)?Depends:$/ && $2 !~ /^</ { print $2 }' | sort -u)
    level=("${next[@]}")
  done
  printf '%s\n' "${!seen[@]}" | sort
}

# "package version" for each package of the closure: what sid has now.
candidate_versions() {
  apt-cache "${apt_options[@]}" show --no-all-versions "$@" | awk '
    /^Package:/ { p = $2 } /^Version:/ { print p, $2 }'
}

flavour_binary() {  # <root> <version> <flavour>: the interpreter binary a flavour starts from
  case $3 in
    static) echo "$1/usr/bin/python$2" ;;
    nopie) echo "$1/nopie/usr/bin/python$2" ;;
  esac
}

# Points a binary at the root's loader and libraries.
relocate() {  # <binary> <root> <extra rpath directories before the root's>
  local libdir=$2/usr/lib/$triplet
  patchelf --set-interpreter "$libdir/ld-linux-x86-64.so.2" --force-rpath \
    --set-rpath "${3:+$3:}$libdir" "$1"
}

make_prefix() {  # <stage> <version> <flavour>
  local stage=$1 v=$2 flavour=$3
  local root=$stage/root prefix=$stage/$v-$flavour
  local final_root=$base/root final_prefix=$base/$v-$flavour
  mkdir -p "$prefix/bin" "$prefix/lib" "$prefix/include"
  # getpath finds the standard library from the executable's directory: <prefix>/lib/pythonX.
  ln -sfn "$final_root/usr/lib/python$v" "$prefix/lib/python$v"
  ln -sfn "$final_root/usr/include/python$v" "$prefix/include/python$v"
  if [[ $flavour == shared ]]; then
    cp "$root/usr/lib/$triplet/libpython$v.so.1.0" "$prefix/lib/"
    ln -sfn "libpython$v.so.1.0" "$prefix/lib/libpython$v.so.1"
    printf '%s\n' '#include <Python.h>' \
      'int main(int argc, char **argv) { return Py_BytesMain(argc, argv); }' >"$stage/launcher.c"
    # Debian 12's C library headers and start files (sid's libpython needs a newer glibc at run
    # time only): sid's include directory comes after the system's, for Python's own headers.
    gcc -O2 -I"$root/usr/include/python$v" -idirafter "$root/usr/include" "$stage/launcher.c" \
      -o "$prefix/bin/python$v" -L"$prefix/lib" -l:"libpython$v.so.1.0" -Wl,--allow-shlib-undefined
  else
    cp "$(flavour_binary "$root" "$v" "$flavour")" "$prefix/bin/python$v"
  fi
  relocate "$prefix/bin/python$v" "$final_root" "$([[ $flavour == shared ]] && echo "$final_prefix/lib")"
}

# Every shared library an ELF file of the root needs must be in the root: a missing one would be
# taken from Debian 12, or not found at all when an extension module is imported.
check_libraries() {  # <root>
  local libdir=$1/usr/lib/$triplet missing=() file lib
  while read -r file; do
    while read -r lib; do
      [[ -e "$libdir/$lib" || -e "$1/usr/lib/$lib" ]] || missing+=("$lib (needed by ${file#"$1"})")
    done < <(readelf -d "$file" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  done < <(find "$1/usr/bin" "$1/usr/lib/python3."*/lib-dynload -type f \( -name 'python3.*' -o -name '*.so' \))
  ((${#missing[@]} == 0)) || fail "libraries missing from sid's root: ${missing[*]}; add their package"
}

# Runs an interpreter and checks it is what its flavour claims: libpython linked in or loaded.
check_interpreter() {  # <path> <version> <flavour>
  local out maps
  out=$("$1" -c "$smoke_test" 2>&1) || fail "$1 cannot import zlib, threading, asyncio, ssl: $out"
  [[ $out == "$2".* ]] || fail "$1 is not Python $2: $out"
  maps=$("$1" -c 'print(open("/proc/self/maps").read())')
  if [[ $3 == shared ]]; then
    grep -q "libpython$2.so" <<<"$maps" || fail "$1 has not loaded libpython$2.so"
  else
    ! grep -q "libpython" <<<"$maps" || fail "$1 loaded a libpython; the $3 flavour links it in"
  fi
  grep -q "$base/root/usr/lib/$triplet/libc.so.6" <<<"$maps" || fail "$1 does not run on sid's libc"
  echo "${out%% *}"
}

installed_ok() {
  [[ -f "$base/packages.txt" && -f "$base/interpreters.txt" ]] || return 1
  local v flavour path full
  while read -r v flavour path full; do
    [[ "$(check_interpreter "$path" "$v" "$flavour" 2>/dev/null)" == "$full" ]] || return 1
  done <"$base/interpreters.txt"
}

build() {  # <file with "package version" lines>
  local stage=$base/stage v flavour path full
  rm -rf "$stage"
  mkdir -p "$stage/root/nopie"
  (cd "$apt_dir/cache/archives" && apt-get "${apt_options[@]}" download -q $(tr ' ' '=' <"$1")) \
    >"$stage/download.log" 2>&1 || fail "apt-get download failed: $(tail -n5 "$stage/download.log")"
  while read -r p v; do
    local deb=("$apt_dir/cache/archives/${p}_${v/:/%3a}_"*.deb)
    [[ -f "${deb[0]}" ]] || fail "no .deb of $p $v in $apt_dir/cache/archives"
    # The -nopie packages ship a /usr/bin/pythonX of their own: a root of their own.
    if [[ $p == python3.*-nopie ]]; then dpkg-deb -x "${deb[0]}" "$stage/root/nopie"
    else dpkg-deb -x "${deb[0]}" "$stage/root"; fi
  done <"$1"
  check_libraries "$stage/root"
  for v in "${versions[@]}"; do
    for flavour in "${flavours[@]}"; do make_prefix "$stage" "$v" "$flavour"; done
  done
  # The prefixes name their final paths: move the stage into place, then check from there.
  rm -rf "$base/root" "$base/packages.txt" "$base/interpreters.txt"
  for v in "${versions[@]}"; do
    for flavour in "${flavours[@]}"; do rm -rf "${base:?}/$v-$flavour"; mv "$stage/$v-$flavour" "$base/"; done
  done
  mv "$stage/root" "$base/root"
  rm -rf "$stage"
  local list=$base/interpreters.txt.new
  : >"$list"
  for v in "${versions[@]}"; do
    for flavour in "${flavours[@]}"; do
      path=$base/$v-$flavour/bin/python$v
      full=$(check_interpreter "$path" "$v" "$flavour")
      echo "$v $flavour $path $full" >>"$list"
    done
  done
  cp "$1" "$base/packages.txt"
  mv "$list" "$base/interpreters.txt"
  # Old versions' packages: sid keeps only the newest, so these are never asked for again.
  find "$apt_dir/cache/archives" -maxdepth 1 -name '*.deb' -print0 |
    while IFS= read -r -d '' deb; do
      grep -qxF "$(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version)" "$1" || rm -f "$deb"
    done
}

main() {
  need_tools
  mkdir -p "$base"
  setup_private_apt
  if ! apt-get "${apt_options[@]}" update -qq >"$apt_dir/update.log" 2>&1; then
    # Offline with a working set: keep it rather than fail the tests.
    installed_ok && { echo "install-sid-pythons: apt-get update failed; keeping the interpreters in $base" >&2
                      cat "$base/interpreters.txt"; return; }
    fail "apt-get update of Debian sid failed: $(tail -n3 "$apt_dir/update.log")"
  fi
  local wanted=$apt_dir/wanted.txt
  # shellcheck disable=SC2046  # one package name per word
  candidate_versions $(package_closure) | sort >"$wanted"
  for v in "${versions[@]}"; do
    grep -q "^python$v " "$wanted" || fail "Debian sid has no python$v package"
  done
  if cmp -s "$wanted" "$base/packages.txt" && installed_ok; then
    echo "install-sid-pythons: up to date in $base"
  else
    echo "install-sid-pythons: unpacking $(wc -l <"$wanted") packages of Debian sid into $base/root"
    build "$wanted"
  fi
  cat "$base/interpreters.txt"
}

main "$@"
