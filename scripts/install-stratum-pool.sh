#!/usr/bin/env bash
# Installs npm `stratum-pool-sha256@2.1.3` (a real Stratum V1 pool in JavaScript, the V1 peer of
# the interop tests) with npm into a cache folder outside the repository, reused when already
# there. Needs node >= 18 and npm; installs them with apt-get when missing.
#
# Cache folder: $HASHROUTER_NPM_DIR, default ~/.cache/hashrouter-npm (the package lands in its
# node_modules/). Prints the cache folder on its last line.
set -euo pipefail

PACKAGE=stratum-pool-sha256
VERSION=2.1.3
NPM_DIR="${HASHROUTER_NPM_DIR:-$HOME/.cache/hashrouter-npm}"
mkdir -p "$NPM_DIR"

log() { printf 'install-stratum-pool: %s\n' "$*" >&2; }

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

installed_version() {
    local manifest="$NPM_DIR/node_modules/$PACKAGE/package.json"
    [ -f "$manifest" ] || return 0
    node -e 'process.stdout.write(require(process.argv[1]).version)' "$manifest" 2>/dev/null || true
}

ensure_node
if [ "$(installed_version)" = "$VERSION" ]; then
    log "$PACKAGE@$VERSION already installed in $NPM_DIR"
else
    log "installing $PACKAGE@$VERSION into $NPM_DIR"
    npm install --prefix "$NPM_DIR" --no-audit --no-fund --save-exact --loglevel=error \
        "$PACKAGE@$VERSION" >&2
    if [ "$(installed_version)" != "$VERSION" ]; then
        log "npm did not leave $PACKAGE@$VERSION in $NPM_DIR/node_modules"
        exit 1
    fi
fi
echo "$NPM_DIR"
