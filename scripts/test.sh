#!/usr/bin/env bash
# The project's test command (see README.md): formatting, lints, every test of the workspace, then
# the interop tests against SRI's real binaries. Needs only the Rust toolchain: rustfmt and clippy
# are added through rustup if missing, and scripts/interop.sh installs the SRI binaries (and the
# capnproto package they build with) into ~/.cache/hashrouter-peers and npm stratum-pool-sha256
# (with node and npm from apt if missing) into ~/.cache/hashrouter-npm on first use;
# scripts/browser-test.sh installs Debian chromium (apt) and npm playwright-core there too.
# Respects CARGO_TARGET_DIR if set. Tests bind to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    step "installing rustfmt and clippy"
    rustup component add rustfmt clippy
fi

step "cargo fmt --all --check"
cargo fmt --all --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

# The interop crate needs SRI's binaries, which scripts/interop.sh installs first; it runs there.
step "cargo test --workspace --exclude interop"
cargo test --workspace --exclude interop

# Criterion benches run once each as tests, so their checked inputs cannot rot.
step "cargo test --workspace --exclude interop --benches (each micro-benchmark once)"
cargo test --workspace --exclude interop --benches

step "dashboard in headless Chromium against the demo (scripts/browser-test.sh, release build)"
scripts/browser-test.sh

step "split acceptance on the 1000-device day (scripts/check-split.sh, release build)"
scripts/check-split.sh

# Tests against real peers, one script each, each installing its peers into a cache folder
# outside the repository (the first run builds them; later runs reuse them).
step "interop with SRI's binaries and a real V1 pool (scripts/interop.sh)"
scripts/interop.sh

# The side-by-side benchmark at a tiny scale (100-200 connections, a few seconds per proxy),
# so the harness keeps working; its figures are printed, never judged here.
step "benchmark harness smoke run against translator_sv2 (scripts/bench.sh --smoke)"
scripts/bench.sh --smoke

printf '\ntest.sh: all checks passed (fmt, clippy, tests, browser, interop, bench smoke)\n'
