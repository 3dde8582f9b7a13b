#!/usr/bin/env bash
# Runs every test: installs what is missing, builds Herald three times
# (release, ASan+UBSan, and clang with libFuzzer), then runs through ctest
# the unit and end-to-end tests, the unit tests again under valgrind
# (memcheck), every bench script at its tiny size, the unit and end-to-end
# tests again under the sanitizers (the end-to-end ones at
# HERALD_E2E_SCALE=20 sizes), and every fuzz target for a short time.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
# Tests mostly wait on servers and timeouts: twice as many as there are cores
# (the timed ones run alone: tests/CMakeLists.txt, RUN_SERIAL).
tests=$((jobs * 2))

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$jobs"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DHERALD_SANITIZE=ON >/dev/null
cmake --build build-asan -j "$jobs"

status=0
ctest --test-dir build --output-on-failure -j "$tests" || status=1
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$tests" -L "unit|e2e" || status=1
# Fuzz targets (tests/fuzz): a clang build of their own, each run for a
# short fixed time over a copy of its seed corpus (scripts/fuzz.sh runs
# them for longer).
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG="-g -O1" \
  -DCMAKE_C_COMPILER=clang -DHERALD_FUZZ=ON >/dev/null
cmake --build build-fuzz -j "$jobs" --target fuzz
ctest --test-dir build-fuzz --output-on-failure -j "$jobs" -L fuzz || status=1
exit $status
