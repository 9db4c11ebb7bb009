#!/usr/bin/env bash
# test.sh - install every build and test dependency, build spate with
# AddressSanitizer + UndefinedBehaviorSanitizer and run the whole test suite
# (unit, integration and end-to-end tests against real peers on loopback),
# then build with ThreadSanitizer and run the concurrency tests again, build
# the whole tree with clang (warnings are errors there too) and run every
# libFuzzer target for 30 seconds on its seed corpus (scripts/fuzz.sh).
#
#   scripts/test.sh              everything (what CI runs)
#   scripts/test.sh -L unit      only the ASan run, only tests with that label
#
# Environment: SPATE_TEST_BUILD (default build-asan), SPATE_TSAN_BUILD
# (default build-tsan), SPATE_SKIP_TSAN=1 to skip the TSan, clang and fuzz
# runs, SPATE_FUZZ_SECONDS (default 30) per fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-deps.sh
jobs=$(nproc)
src=$(pwd)

asan=${SPATE_TEST_BUILD:-build-asan}
cmake -S . -B "$asan" -DCMAKE_BUILD_TYPE=Debug -DSPATE_SANITIZE=address,undefined >/dev/null
cmake --build "$asan" -j"$jobs"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
(cd "$asan" && ctest -j"$jobs" --output-on-failure --timeout 600 "$@")

if [ $# -gt 0 ] || [ "${SPATE_SKIP_TSAN:-0}" = 1 ]; then
    exit 0
fi
tsan=${SPATE_TSAN_BUILD:-build-tsan}
cmake -S "$src" -B "$tsan" -DCMAKE_BUILD_TYPE=Debug -DSPATE_SANITIZE=thread >/dev/null
cmake --build "$tsan" -j"$jobs"
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
(cd "$tsan" && ctest -j"$jobs" --output-on-failure --timeout 600 -L concurrency)

# The same tree with clang: it must build warning-free with both compilers.
CC=clang cmake -S "$src" -B build-clang -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-clang -j"$jobs"

# The optimised build scripts/run.sh makes (gcc's -O2 warnings differ from -O0's).
cmake -S "$src" -B build-rel -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-rel -j"$jobs"

# Every fuzz target for a short run; a crash fails the build.
scripts/fuzz.sh "${SPATE_FUZZ_SECONDS:-30}"
