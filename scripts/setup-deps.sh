#!/usr/bin/env bash
# setup-deps.sh - install every build and test dependency of spate on Debian 12.
#
# Usage: scripts/setup-deps.sh [--build-only]
#   --build-only   only what is needed to build and run spated (no test peers)
# Runs apt-get as root (or through sudo when not root). Idempotent.
set -euo pipefail

build_pkgs=(
    build-essential cmake pkg-config clang libclang-rt-14-dev
    libssl-dev libc-ares-dev libunbound-dev libhiredis-dev liblmdb-dev
    libjemalloc-dev liburcu-dev libmicrohttpd-dev libjansson-dev libpcre2-dev libidn2-dev
    libcmocka-dev libevent-dev libcrypt-dev
)
test_pkgs=(
    nsd ldnsutils swaks postfix lmdb-utils redis-server curl python3 openssl
    procps iproute2 unbound-host libnet-ssleay-perl
)

pkgs=("${build_pkgs[@]}")
if [ "${1:-}" != "--build-only" ]; then
    pkgs+=("${test_pkgs[@]}")
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "setup-deps: all ${#pkgs[@]} packages present"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
# postfix asks which kind of mail system this is; we only use its tools (smtp-sink).
echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
echo "postfix postfix/mailname string spate.invalid" | $SUDO debconf-set-selections
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
# Package post-install scripts may start system daemons; the tests start their own
# instances on high loopback ports, so stop the system ones to keep the machine quiet.
for svc in nsd redis-server postfix; do
    $SUDO service "$svc" stop >/dev/null 2>&1 || true
done
echo "setup-deps: installed ${missing[*]}"
