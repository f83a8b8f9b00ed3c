#!/usr/bin/env bash
# Installs the npm tools the tests run, at pinned versions, into a cache folder outside the
# repository, reusing what is already there:
#   stratum-pool-sha256 2.1.3  a real Stratum V1 pool in JavaScript (interop peer)
#   @foundry-rs/anvil   1.7.1  a local EVM chain (on-chain allocation tests)
#   solc                0.8.37 solc-js, compiles the Solidity test contracts offline
#   ecies-geth          1.8.0  geth-compatible ECIES, generates test-vectors/ecies
# Needs node >= 18 and npm; installs them with apt-get when missing.
#
# Cache folder: $HASHROUTER_NPM_DIR, default ~/.cache/hashrouter-npm (packages land in its
# node_modules/). Prints the cache folder on its last line.
set -euo pipefail

PACKAGES=(
    "stratum-pool-sha256@2.1.3"
    "@foundry-rs/anvil@1.7.1"
    "solc@0.8.37"
    "ecies-geth@1.8.0"
)
NPM_DIR="${HASHROUTER_NPM_DIR:-$HOME/.cache/hashrouter-npm}"
mkdir -p "$NPM_DIR"

log() { printf 'install-npm-tools: %s\n' "$*" >&2; }

# One install at a time (test binaries running in parallel all call this script).
if command -v flock >/dev/null 2>&1; then
    exec 9>"$NPM_DIR/.install.lock"
    flock 9
fi

ensure_node() {
    if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
        return
    fi
    log "installing nodejs and npm"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nodejs npm >&2
}

# The version of an installed package, empty when missing.
installed_version() {
    local manifest="$NPM_DIR/node_modules/$1/package.json"
    [ -f "$manifest" ] || return 0
    node -e 'process.stdout.write(require(process.argv[1]).version)' "$manifest" 2>/dev/null || true
}

ensure_node
missing=()
for spec in "${PACKAGES[@]}"; do
    name="${spec%@*}"
    version="${spec##*@}"
    if [ "$(installed_version "$name")" != "$version" ]; then
        missing+=("$spec")
    fi
done
if [ "${#missing[@]}" -eq 0 ]; then
    log "all tools already installed in $NPM_DIR"
else
    log "installing ${missing[*]} into $NPM_DIR"
    npm install --prefix "$NPM_DIR" --no-audit --no-fund --save-exact --loglevel=error \
        "${missing[@]}" >&2
    for spec in "${missing[@]}"; do
        name="${spec%@*}"
        version="${spec##*@}"
        if [ "$(installed_version "$name")" != "$version" ]; then
            log "npm did not leave $spec in $NPM_DIR/node_modules"
            exit 1
        fi
    done
fi
echo "$NPM_DIR"
