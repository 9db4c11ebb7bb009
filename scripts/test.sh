#!/usr/bin/env bash
# test.sh - install every build and test dependency, build spate with
# AddressSanitizer + UndefinedBehaviorSanitizer, and run the whole test suite
# (unit, integration and end-to-end tests against real peers on loopback).
#
#   scripts/test.sh              everything
#   scripts/test.sh -L unit      only tests with that ctest label (unit, e2e, ...)
#
# Environment: SPATE_TEST_BUILD (default build-asan), SPATE_SANITIZE
# (default address,undefined; "thread" for a TSan build, "" for none).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-deps.sh
build=${SPATE_TEST_BUILD:-build-asan}
san=${SPATE_SANITIZE-address,undefined}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DSPATE_SANITIZE="$san" >/dev/null
cmake --build "$build" -j"$(nproc)"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$build"
ctest -j"$(nproc)" --output-on-failure --timeout 600 "$@"
