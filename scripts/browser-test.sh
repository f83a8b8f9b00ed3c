#!/usr/bin/env bash
# The dashboard's browser test (issue 7): headless Debian Chromium, driven by npm playwright-core,
# against a running `hashrouter demo`. Installs what it needs (scripts/install-browser.sh), builds
# hashrouter in release (as the README's demo command), starts the demo with its API on a port
# chosen at run time, waits for its devices, then runs tests/browser/dashboard.mjs, which saves
# the page's screenshot. Never skips. Output folder: $HASHROUTER_BROWSER_OUT, default
# target/browser-test/ in the repository (the demo's logs go there too).
# Respects CARGO_TARGET_DIR. Everything listens on and connects to 127.0.0.1.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

OUT="${HASHROUTER_BROWSER_OUT:-target/browser-test}"
START_TIMEOUT_S=60
DEVICES_TIMEOUT_S=60
DEVICES=6

log() { printf 'browser-test: %s\n' "$*" >&2; }

NPM_DIR=$(scripts/install-browser.sh | tail -n 1)
export HASHROUTER_NPM_DIR="$NPM_DIR"

cargo build --release -p hashrouter
BIN="${CARGO_TARGET_DIR:-target}/release/hashrouter"

mkdir -p "$OUT"
rm -f "$OUT/dashboard.png"
"$BIN" demo --duration 120 --api 127.0.0.1:0 >"$OUT/demo.stdout" 2>"$OUT/demo.stderr" &
DEMO_PID=$!
on_exit() {
    local status=$?
    if kill -0 "$DEMO_PID" 2>/dev/null; then
        kill "$DEMO_PID" 2>/dev/null || true
        wait "$DEMO_PID" 2>/dev/null || true
    fi
    if [ "$status" -ne 0 ]; then
        log "FAILED; the demo's last log lines ($OUT/demo.stderr):"
        tail -n 20 "$OUT/demo.stderr" >&2 || true
    fi
    exit "$status"
}
trap on_exit EXIT

URL=""
for _ in $(seq "$START_TIMEOUT_S"); do
    URL=$(sed -n 's/^dashboard: \(http:[^ ]*\).*/\1/p' "$OUT/demo.stderr" | head -n 1)
    [ -n "$URL" ] && break
    if ! kill -0 "$DEMO_PID" 2>/dev/null; then
        log "the demo ended before printing its dashboard line"
        exit 1
    fi
    sleep 1
done
if [ -z "$URL" ]; then
    log "no 'dashboard:' line on the demo's stderr within ${START_TIMEOUT_S}s"
    exit 1
fi
log "demo dashboard at $URL"

# The page is tested once every device is connected and reported by the API.
devices_now() {
    node -e '
        fetch(process.argv[1]).then((r) => (r.ok ? r.json() : { total: 0 }))
            .then((p) => console.log(p.total), () => console.log(0));' "${URL}api/v1/devices?limit=1"
}
for _ in $(seq "$DEVICES_TIMEOUT_S"); do
    [ "$(devices_now)" -ge "$DEVICES" ] && break
    sleep 1
done
if [ "$(devices_now)" -lt "$DEVICES" ]; then
    log "the API did not report $DEVICES devices within ${DEVICES_TIMEOUT_S}s"
    exit 1
fi

status=0
node tests/browser/dashboard.mjs "$URL" "$OUT" || status=$?
log "screenshot: $(cd "$OUT" && pwd)/dashboard.png"
exit "$status"
