#!/usr/bin/env bash
# Regenerates test-vectors/ecies/vectors.json with npm ecies-geth (the version pinned in
# install-npm-tools.sh) through scripts/js/gen_ecies_vectors.js. The output is deterministic, so
# a regenerated file should not differ from the committed one unless ecies-geth changed.
#
#   scripts/gen-ecies-vectors.sh            write the vectors
#   scripts/gen-ecies-vectors.sh --check    exit non-zero if the committed vectors differ
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/test-vectors/ecies/vectors.json"

NPM_DIR="$(bash "$ROOT/scripts/install-npm-tools.sh" | tail -n 1)"
export ECIES_GETH_DIR="$NPM_DIR/node_modules/ecies-geth"

tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
node "$ROOT/scripts/js/gen_ecies_vectors.js" generate >"$tmp"

if [ "${1:-}" = "--check" ]; then
    if diff -u "$OUT" "$tmp"; then
        echo "gen-ecies-vectors: $OUT is up to date" >&2
    else
        echo "gen-ecies-vectors: $OUT differs from what ecies-geth generates now" >&2
        exit 1
    fi
else
    mkdir -p "$(dirname "$OUT")"
    cp "$tmp" "$OUT"
    echo "gen-ecies-vectors: wrote $OUT" >&2
fi
