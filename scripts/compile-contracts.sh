#!/usr/bin/env bash
# Compiles the Solidity test contracts (protocols/contracts/solidity/) with solc-js 0.8.37 and
# writes their artifacts to protocols/contracts/artifacts/ (CloneFactory.json,
# Implementation.json), which are committed. The compiler settings are fixed, so the output is
# byte-for-byte reproducible.
#
#   scripts/compile-contracts.sh           recompile and overwrite the committed artifacts
#   scripts/compile-contracts.sh --check   compile into a temporary folder and fail if the
#                                          committed artifacts differ from the sources
#
# Installs solc-js (and the other npm tools) with scripts/install-npm-tools.sh if missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SOLIDITY_DIR="$ROOT/protocols/contracts/solidity"
ARTIFACTS_DIR="$ROOT/protocols/contracts/artifacts"

log() { printf 'compile-contracts: %s\n' "$*" >&2; }

check=0
case "${1:-}" in
    "") ;;
    --check) check=1 ;;
    *)
        log "usage: $0 [--check]"
        exit 2
        ;;
esac

NPM_DIR="$(bash "$ROOT/scripts/install-npm-tools.sh" | tail -n 1)"

if [ "$check" -eq 0 ]; then
    node "$ROOT/scripts/js/compile_contracts.js" "$NPM_DIR" "$SOLIDITY_DIR" "$ARTIFACTS_DIR"
    log "wrote $(ls "$ARTIFACTS_DIR" | tr '\n' ' ')to $ARTIFACTS_DIR"
    exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
node "$ROOT/scripts/js/compile_contracts.js" "$NPM_DIR" "$SOLIDITY_DIR" "$tmp"
if ! diff -r "$tmp" "$ARTIFACTS_DIR" >"$tmp.diff" 2>&1; then
    log "the committed artifacts in $ARTIFACTS_DIR do not match the sources in $SOLIDITY_DIR:"
    head -n 20 "$tmp.diff" >&2
    rm -f "$tmp.diff"
    log "run scripts/compile-contracts.sh and commit the artifacts"
    exit 1
fi
rm -f "$tmp.diff"
log "artifacts match the sources"
