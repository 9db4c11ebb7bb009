#!/usr/bin/env bash
# fuzz.sh - build the libFuzzer targets with clang (ASan + UBSan, every object
# instrumented for coverage) and run each one on a scratch copy of its seed
# corpus (tests/fuzz/corpus/<target>/). Any crash, leak, sanitizer report or
# timeout fails the run; the input that caused it is left in the scratch
# directory, whose path is printed.
#
#   scripts/fuzz.sh              every target, 300 s each
#   scripts/fuzz.sh 30           every target, 30 s each (what CI runs)
#   scripts/fuzz.sh 600 fuzz_smtp_frame fuzz_config   chosen targets
#
# Environment: SPATE_FUZZ_BUILD (default build-fuzz), SPATE_FUZZ_DIR (scratch,
# default a new directory under /tmp), SPATE_FUZZ_JOBS (parallel targets,
# default nproc).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-300}
shift || true
build=${SPATE_FUZZ_BUILD:-build-fuzz}
scratch=${SPATE_FUZZ_DIR:-$(mktemp -d /tmp/spate-fuzz.XXXXXX)}
jobs=${SPATE_FUZZ_JOBS:-$(nproc)}

CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DSPATE_FUZZ=ON \
    -DSPATE_SANITIZE=address,undefined >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for src in tests/fuzz/fuzz_*.c; do
        n=$(basename "$src" .c)
        targets+=("$n")
    done
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# run_one NAME - fuzz one target for $secs seconds; exit status of libFuzzer
run_one() {
    local name=$1 dir="$scratch/$1"
    mkdir -p "$dir/corpus" "$dir/crashes"
    if [ -d "tests/fuzz/corpus/$name" ]; then
        cp -r "tests/fuzz/corpus/$name/." "$dir/corpus/"
    fi
    "$build/tests/$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$dir/crashes/" "$dir/corpus" \
        >"$dir/log" 2>&1
}

fail=0
pids=()
names=()
for name in "${targets[@]}"; do
    [ -x "$build/tests/$name" ] || { echo "fuzz: no target $name"; exit 2; }
    run_one "$name" &
    pids+=($!)
    names+=("$name")
    if [ ${#pids[@]} -ge "$jobs" ]; then
        if ! wait "${pids[0]}"; then fail=1; echo "fuzz: ${names[0]} FAILED"; fi
        pids=("${pids[@]:1}")
        names=("${names[@]:1}")
    fi
done
for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}"; then fail=1; echo "fuzz: ${names[$i]} FAILED"; fi
done

for name in "${targets[@]}"; do
    log="$scratch/$name/log"
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
    crashes=$(find "$scratch/$name/crashes" -type f | wc -l)
    echo "fuzz: $name ${secs}s runs=${runs:-?} ${cov:-cov: ?} artifacts=$crashes"
    if [ "$crashes" -gt 0 ]; then
        fail=1
        tail -40 "$log"
    fi
done
echo "fuzz: scratch directory $scratch"
if [ "$fail" -ne 0 ]; then
    echo "fuzz: FAILED"
    exit 1
fi
echo "fuzz: ${#targets[@]} passed, 0 failed"
