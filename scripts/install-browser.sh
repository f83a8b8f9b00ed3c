#!/usr/bin/env bash
# Installs what the dashboard's browser test (scripts/browser-test.sh) needs, reusing what is
# already there:
#   chromium               Debian's package, /usr/bin/chromium (apt-get when missing)
#   playwright-core 1.64.1 npm, drives that chromium; never downloads a browser of its own
# playwright-core goes into the npm tools' cache folder (scripts/install-npm-tools.sh):
# $HASHROUTER_NPM_DIR, default ~/.cache/hashrouter-npm, in its node_modules/. Node and npm come
# from apt-get when missing. Prints the cache folder on its last line.
set -euo pipefail

PLAYWRIGHT="playwright-core@1.64.1"
CHROMIUM=/usr/bin/chromium
NPM_DIR="${HASHROUTER_NPM_DIR:-$HOME/.cache/hashrouter-npm}"
mkdir -p "$NPM_DIR"

log() { printf 'install-browser: %s\n' "$*" >&2; }

# One install at a time, sharing install-npm-tools.sh's lock: both write the same node_modules.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$NPM_DIR/.install.lock"
    flock 9
fi

apt_install() {
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >&2
}

if [ ! -x "$CHROMIUM" ]; then
    log "installing Debian chromium (first run only)"
    apt_install chromium
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    log "installing nodejs and npm"
    apt_install nodejs npm
fi

installed_version() {
    local manifest="$NPM_DIR/node_modules/$1/package.json"
    [ -f "$manifest" ] || return 0
    node -e 'process.stdout.write(require(process.argv[1]).version)' "$manifest" 2>/dev/null || true
}

name="${PLAYWRIGHT%@*}"
version="${PLAYWRIGHT##*@}"
if [ "$(installed_version "$name")" = "$version" ]; then
    log "$PLAYWRIGHT already installed in $NPM_DIR"
else
    log "installing $PLAYWRIGHT into $NPM_DIR"
    # playwright-core has no install script that fetches a browser (that is the `playwright`
    # package); the variable makes sure of it.
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$NPM_DIR" --no-audit --no-fund \
        --save-exact --loglevel=error "$PLAYWRIGHT" >&2
    if [ "$(installed_version "$name")" != "$version" ]; then
        log "npm did not leave $PLAYWRIGHT in $NPM_DIR/node_modules"
        exit 1
    fi
fi
"$CHROMIUM" --version >&2
echo "$NPM_DIR"
