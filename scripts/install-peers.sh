#!/usr/bin/env bash
# Installs the real SRI binaries the interop tests run against, from crates.io, into a cache folder
# outside the repository (reused when already there):
#   translator_sv2 0.6.0, mining_device (integration_tests_sv2 0.6.0), pool_sv2 0.7.0 (with its
#   monitoring API).
# pool_sv2 and mining_device (through integration_tests_sv2's bitcoin-capnp-types) need capnproto's
# compiler and headers, installed with apt-get when missing.
#
# Cache folder: $HASHROUTER_PEERS_DIR, default ~/.cache/hashrouter-peers. Binaries land in its bin/.
# The three installs share one target folder so their common dependencies build once.
# Prints the bin folder on its last line.
set -euo pipefail

PEERS_DIR="${HASHROUTER_PEERS_DIR:-$HOME/.cache/hashrouter-peers}"
BIN="$PEERS_DIR/bin"
mkdir -p "$PEERS_DIR"

log() { printf 'install-peers: %s\n' "$*" >&2; }

# One install at a time (test binaries running in parallel all call this script): the others
# wait here, then find the binaries already installed.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$PEERS_DIR/.install.lock"
    flock 9
fi

ensure_capnp() {
    if command -v capnp >/dev/null 2>&1 && [ -e /usr/include/capnp/common.h ]; then
        return
    fi
    log "installing capnproto and libcapnp-dev (needed to build pool_sv2)"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq capnproto libcapnp-dev >&2
}

# install CRATE VERSION BINARY [extra cargo-install args...]
install() {
    local crate="$1" version="$2" binary="$3"
    shift 3
    local stamp="$PEERS_DIR/.installed-$crate-$version-$binary"
    if [ -x "$BIN/$binary" ] && [ -e "$stamp" ]; then
        log "$binary from $crate@$version already installed"
        return
    fi
    log "building $binary from $crate@$version (first run only; several minutes)"
    cargo install --locked --quiet --root "$PEERS_DIR" --target-dir "$PEERS_DIR/build" \
        "$crate@$version" "$@" >&2
    touch "$stamp"
}

install translator_sv2 0.6.0 translator_sv2 --no-default-features
ensure_capnp
install integration_tests_sv2 0.6.0 mining_device --bin mining_device
# Default features: keeps pool_sv2's monitoring HTTP API (per-channel accepted shares), which the
# interop tests read.
install pool_sv2 0.7.0 pool_sv2

# The shared build folder is only useful while installing; it is large.
rm -rf "$PEERS_DIR/build"
echo "$BIN"
