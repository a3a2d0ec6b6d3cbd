#!/usr/bin/env bash
# Second command of the README (and what CI runs): install what is missing, build, and run every
# test: unit tests (normal, ASan+UBSan, and TSan without BPF builds), then the root/BPF tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
echo "== format (clang-format, .clang-format)"
scripts/check-format.sh
# CPython 3.14 and 3.15 for the Python tests: Debian 12 has only 3.11.
scripts/install-sid-pythons.sh

echo "== build"
scripts/build.sh build -DPROFKIT_BUILD_TESTS=ON
echo "== build (ASan+UBSan, clang, with the fuzz targets)"
# -O1, the sanitizers' usual level: it compiles in about two thirds of -O2's time, and asserts stay on.
# clang, so that the same tree also builds the libFuzzer targets (-DPROFKIT_FUZZ=ON: libraries get
# -fsanitize=fuzzer-no-link coverage too) and the fuzz step below costs no build of its own.
# A tree configured with gcc before this cannot switch compilers in place: start it afresh.
if [[ -f build-asan/CMakeCache.txt ]] &&
  ! grep -q '^CMAKE_CXX_COMPILER:[A-Z]*=.*clang++' build-asan/CMakeCache.txt; then
  rm -rf build-asan
fi
PROFKIT_TARGET="unit_tests fuzz_targets" scripts/build.sh build-asan -DPROFKIT_BUILD_TESTS=ON \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DPROFKIT_SANITIZE=ON -DPROFKIT_FUZZ=ON \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g"
# One tree serves two checks: ThreadSanitizer on the unit tests, and a build without the BPF
# programs (no clang/bpftool needed; profkit and every unit test still build and pass).
echo "== build (TSan, without BPF)"
PROFKIT_TARGET="profkit unit_tests" scripts/build.sh build-tsan -DPROFKIT_BUILD_TESTS=ON \
  -DPROFKIT_BUILD_BPF=OFF -DPROFKIT_SANITIZE_THREAD=ON \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g"

# ctest labels (cmake/ProfkitHelpers.cmake): unit needs nothing but the build, needs_toolchain
# compiles or runs interpreters at run time, requires_bpf needs root and BPF.
echo "== unit tests"
ctest --test-dir build -L 'unit|needs_toolchain' --output-on-failure -j2
echo "== unit tests (ASan+UBSan)"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan -L 'unit|needs_toolchain' --output-on-failure -j2
echo "== fuzz (every decoder: its corpus, then a fixed number of new inputs; tests/fuzz/)"
scripts/fuzz.sh build-asan
echo "== unit tests (TSan, without BPF)"
# Left out under TSan only: PyroscopeServerTest.PushOverConnect crashes (SEGV) inside Debian's
# uninstrumented libprotobuf, in ReflectionOps::FindInitializationErrors called from
# SerializeAsString on the test's own request; it passes in the normal and ASan+UBSan builds.
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 GTEST_FILTER=-PyroscopeServerTest.PushOverConnect \
  ctest --test-dir build-tsan -L unit --output-on-failure -j2

echo "== BPF sampler check (root)"
ctest --test-dir build -L requires_bpf --output-on-failure
echo "== integration tests (root, BPF, real processes)"
/usr/bin/python3 -m pytest -v -p no:cacheprovider tests/integration
