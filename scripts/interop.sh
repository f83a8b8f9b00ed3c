#!/usr/bin/env bash
# Interop tests: hashrouter and minesim against real peers run as subprocesses: SRI's binaries
# (pool_sv2, translator_sv2, mining_device) and npm stratum-pool-sha256 (a V1 pool, run with node).
# Installs them first (SRI's cached in ~/.cache/hashrouter-peers, the first install builds them from
# crates.io, ~25 minutes on 2 cores; the npm package cached in ~/.cache/hashrouter-npm, seconds).
# Respects CARGO_TARGET_DIR if set. Everything listens on and connects to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

step "installing the SRI peers (scripts/install-peers.sh)"
started=$SECONDS
bin_dir=$(scripts/install-peers.sh | tail -n 1)
printf 'peers in %s (%ds)\n' "$bin_dir" "$((SECONDS - started))"

step "installing the npm tools (scripts/install-npm-tools.sh)"
started=$SECONDS
npm_dir=$(scripts/install-npm-tools.sh | tail -n 1)
printf 'npm peers in %s (%ds)\n' "$npm_dir" "$((SECONDS - started))"

step "cargo test -p interop -- --test-threads=1"
# One test at a time: each runs several processes and miners on a 2-core machine.
cargo test -p interop -- --test-threads=1 "$@"

printf '\ninterop.sh: all interop tests passed\n'
