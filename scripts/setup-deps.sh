#!/usr/bin/env bash
# setup-deps.sh - install every build and test dependency of spate on Debian 12.
#
# Usage: scripts/setup-deps.sh [--build-only | --exim-only]
#   --build-only   only what is needed to build and run spated (no test peers)
#   --exim-only    only the private Exim of the interop tests (see fetch_exim)
# Runs apt-get as root (or through sudo when not root). Idempotent.
set -euo pipefail

build_pkgs=(
    build-essential cmake pkg-config clang libclang-rt-14-dev
    libssl-dev libc-ares-dev libunbound-dev libhiredis-dev liblmdb-dev
    libjemalloc-dev liburcu-dev libmicrohttpd-dev libjansson-dev libpcre2-dev libidn2-dev
    libcmocka-dev libevent-dev libcrypt-dev
)
build_pkgs+=(libpsl-dev publicsuffix) # DMARC: the public suffix list (mailauth/dmarc*)
build_pkgs+=(libsystemd-dev) # sd_notify readiness (cmd/notify.c has a fallback without it)
test_pkgs=(
    nsd ldnsutils swaks postfix lmdb-utils redis-server curl python3 openssl
    procps iproute2 unbound-host libnet-ssleay-perl
    python3-dkim python3-nacl # DKIM interop (test_dkim_interop.py): dkimpy, Ed25519 through PyNaCl
)
test_pkgs+=(python3-authheaders) # an independent DMARC evaluator (dmarc_xcheck.py)
test_pkgs+=(haproxy) # the PROXY protocol sender in front of the SMTP listener (test_inbound_proxy)
# the shared libraries of Debian's exim4-daemon-light (see fetch_exim below); the binary
# itself is not installed. They must be system libraries: Exim re-executes itself for
# delivery with privileges changed, and the loader then ignores LD_LIBRARY_PATH.
exim_lib_pkgs=(libidn12 libgnutls-dane0 libgnutls30 libdb5.3 libnsl2 libpcre2-8-0 libcrypt1)
test_pkgs+=("${exim_lib_pkgs[@]}")
# the SPF conformance suites are YAML (tests/conform/spf_suite.py reads them)
test_pkgs+=(python3-yaml)
# the dashboard in a headless browser, driven over the DevTools protocol (test_dashboard.py)
test_pkgs+=(chromium python3-websocket)
test_pkgs+=(python3-jsonschema) # JSON delivery log records checked against docs/json-log.schema.json

pkgs=("${build_pkgs[@]}")
case "${1:-}" in
    --build-only) ;;
    --exim-only) pkgs=("${exim_lib_pkgs[@]}") ;;
    *) pkgs+=("${test_pkgs[@]}") ;;
esac

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

install_missing() {
    if [ ${#missing[@]} -eq 0 ]; then
        echo "setup-deps: all ${#pkgs[@]} packages present"
        return 0
    fi
    export DEBIAN_FRONTEND=noninteractive
    # postfix asks which kind of mail system this is; we only use its tools (smtp-sink).
    echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
    echo "postfix postfix/mailname string spate.invalid" | $SUDO debconf-set-selections
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
    # Package post-install scripts may start system daemons; the tests start their own
    # instances on high loopback ports, so stop the system ones to keep the machine quiet.
    for svc in nsd redis-server postfix haproxy; do
        $SUDO service "$svc" stop >/dev/null 2>&1 || true
    done
    echo "setup-deps: installed ${missing[*]}"
}
install_missing

# ---- a private Exim for tests/e2e/test_inbound_interop.py
# Debian's exim4 packages conflict with postfix (each is the system MTA), so Exim is not
# installed: its .debs are fetched with apt-get download into $SPATE_PEERS_DIR/exim
# (default /var/cache/spate-peers/exim) and unpacked there under root/; its libraries
# come from exim_lib_pkgs above. The binary looks up the Debian-exim user when it
# starts, so that system user is created. tests/e2e/spatetest_peers.py runs
# root/usr/sbin/exim4 with its own -C configuration.
fetch_exim() {
    local dir="${SPATE_PEERS_DIR:-/var/cache/spate-peers}/exim"
    local bin="$dir/root/usr/sbin/exim4" d
    if [ ! -x "$bin" ]; then
        $SUDO mkdir -p "$dir/debs" "$dir/root"
        (cd "$dir/debs" && $SUDO apt-get download -q exim4-daemon-light exim4-base)
        for d in "$dir"/debs/exim4-*.deb; do $SUDO dpkg-deb -x "$d" "$dir/root"; done
    fi
    if ldd "$bin" | grep "not found"; then
        echo "setup-deps: $bin lacks the libraries above: add their packages to exim_lib_pkgs" >&2
        return 1
    fi
    if ! getent passwd Debian-exim >/dev/null; then
        $SUDO useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin Debian-exim
    fi
    "$bin" -C /dev/null -bV >/dev/null 2>&1
    echo "setup-deps: exim ready in $dir/root"
}
if [ "${1:-}" != "--build-only" ]; then
    fetch_exim
fi
