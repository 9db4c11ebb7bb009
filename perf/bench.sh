#!/bin/sh
# bench.sh - build spate (Release) and run the benchmark against Postfix and the
# protocol ceiling: perf/bench.sh [--quick] [bench.py options]; see perf/README.md.
# Needs root (network and mount namespaces, ports 25 and 53 inside them, cgroups)
# and the tools of scripts/setup-deps.sh (nsd, ldnsutils, postfix).
# SPATE_BUILD=DIR chooses the build directory (default /tmp/spate-bench-build);
# SPATE_BENCH_NO_BUILD=1 uses it as it is.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${SPATE_BUILD:-/tmp/spate-bench-build}
if [ "$(id -u)" != 0 ]; then
    echo "bench.sh: run as root (it uses private network/mount namespaces and cgroups)" >&2
    exit 2
fi
if [ "${SPATE_BENCH_NO_BUILD:-0}" != 1 ]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
        >"$build.cmake.log" 2>&1 ||
        { cat "$build.cmake.log" >&2; exit 2; }
    cmake --build "$build" -j"$(nproc)" --target spated spatectl spate-sink spate-inject \
        >"$build.build.log" 2>&1 || { tail -40 "$build.build.log" >&2; exit 2; }
fi
SPATE_BENCH_COMMAND="perf/bench.sh $*"
export SPATE_BENCH_COMMAND
exec python3 "$root/perf/bench.py" --build "$build" "$@"
