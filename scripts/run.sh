#!/usr/bin/env bash
# run.sh - install what spate needs, build it, and run spated on the embedded
# default configuration (SMTP 127.0.0.1:2525, HTTP 127.0.0.1:8025, spool in
# ./var/spool). Extra arguments go to spated (e.g. -c FILE, -o name=value).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-deps.sh --build-only
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >/dev/null
cmake --build build -j"$(nproc)"
exec build/spated "$@"
