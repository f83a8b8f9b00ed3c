#!/usr/bin/env bash
# The split acceptance check of issue 4 on the 1000-device day, with a release build:
#   max_error_1h <= 1.0 and <= 1.5 x poisson_floor_1h, switches_per_device_hour <= 30.
# Prints the simulation's table and summary line; wall_s is reported, not asserted (timings
# belong to benchmarks).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scenario="${1:-test-vectors/split/farm-1000-24h.toml}"
output=$(cargo run --quiet --release -p hashrouter -- simulate --scenario "$scenario")
printf '%s\n' "$output"
line=$(printf '%s\n' "$output" | tail -n 1)
value() { printf '%s\n' "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
error=$(value max_error_1h)
floor=$(value poisson_floor_1h)
switches=$(value switches_per_device_hour)
awk -v e="$error" -v f="$floor" -v s="$switches" 'BEGIN {
    ok = 1
    if (e == "" || f == "" || s == "") { print "check-split: summary line not found"; exit 1 }
    if (e > 1.0) { printf "check-split: max_error_1h %s > 1.0\n", e; ok = 0 }
    if (e > 1.5 * f) { printf "check-split: max_error_1h %s > 1.5 x poisson_floor_1h %s\n", e, f; ok = 0 }
    if (s > 30) { printf "check-split: switches_per_device_hour %s > 30\n", s; ok = 0 }
    if (!ok) exit 1
    printf "check-split: ok (max_error_1h %s <= min(1.0, 1.5 x %s); switches_per_device_hour %s <= 30)\n", e, f, s
}'
