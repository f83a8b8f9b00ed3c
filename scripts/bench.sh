#!/usr/bin/env bash
# Side-by-side benchmark: hashrouter and SRI's translator_sv2 0.6.0 as Stratum V1 proxies in front
# of the same minesim SV2 pool, loaded by `minesim load`, in one run:
#   (a) 1,000 connections submitting 1 share/s each for 30 s: shares per proxy CPU-second,
#       submit round trip;
#   (b) 10,000 connections, 10 new prev hashes 1 s apart: fan-out to every connection, and how
#       long until all 10,000 are subscribed and holding a job;
#   (c) 10,000 idle connections: resident memory per connection.
# Then the criterion micro-benchmarks (scripts/criterion.sh).
#
# Prints a table, writes it to target/bench/results.md (per-run JSON and logs beside it), and
# ends with the line
#   shares_per_cpu_s ours=.. sri=.. ratio=.. fanout_p99_ms ours=.. sri=.. rss_kib_per_conn ours=.. sri=..
#
#   scripts/bench.sh           the full run (about 10 minutes after the builds)
#   scripts/bench.sh --smoke   100/200 connections for a few seconds, no criterion: keeps the
#                              harness working (scripts/test.sh runs it)
#   BENCH_CRITERION=0 scripts/bench.sh   the load scenarios only
#   BENCH_PROFILE=1 scripts/bench.sh     also samples hashrouter under scenario (a) with perf
#                                        (Debian's linux-perf) into target/bench/profile-a.txt
#
# Both proxies run with RUST_LOG=warn (the translator logs every share at info) and their file
# limits raised, on 127.0.0.1; every connection comes from loopback addresses; the load
# generator runs under `nice -n 10`.
# Respects CARGO_TARGET_DIR and HASHROUTER_PEERS_DIR (the interop tests' peer cache).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

smoke=false
case "${1:-}" in
    --smoke) smoke=true ;;
    "") ;;
    *) echo "usage: scripts/bench.sh [--smoke]" >&2; exit 2 ;;
esac

if $smoke; then
    A_CONNS=100; A_DURATION=3
    B_CONNS=200; B_BLOCKS=2
    C_CONNS=200; C_DURATION=2
else
    A_CONNS=1000; A_DURATION=30
    B_CONNS=10000; B_BLOCKS=10
    C_CONNS=10000; C_DURATION=5
fi
A_RATE=1
B_SPACING_MS=1000
# Every device's difficulty: 500 expected hashes per share, cheap for the load generator.
HASHES_PER_SHARE=500
DEVICE_DIFFICULTY=$(python3 -c "print($HASHES_PER_SHARE / 2**32)")
# The pool's difficulty is ~8.6x higher: the proxies forward about one share in nine.
POOL_DIFFICULTY=0.000001

step() { printf '\n==> %s\n' "$*"; }

target_dir="${CARGO_TARGET_DIR:-target}"
out_dir="$target_dir/bench"
mkdir -p "$out_dir"
out_dir="$(cd "$out_dir" && pwd)"
# Nothing from an earlier run may end up in this run's table.
rm -f "$out_dir"/*.json "$out_dir"/*.log "$out_dir"/perf-a.data* "$out_dir/profile-a.txt" \
    "$out_dir/criterion.md" "$out_dir/results.md"
work=$(mktemp -d "${TMPDIR:-/tmp}/hashrouter-bench.XXXXXX")
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

step "building release binaries (hashrouter, minesim)"
cargo build --release --locked -p hashrouter -p minesim
hashrouter_bin="$(cd "$target_dir/release" && pwd)/hashrouter"
minesim_bin="$(cd "$target_dir/release" && pwd)/minesim"

step "installing SRI translator_sv2 (scripts/install-peers.sh)"
peers_bin=$(scripts/install-peers.sh | tail -n 1)
translator_bin="$peers_bin/translator_sv2"
[ -x "$translator_bin" ] || { echo "bench: no translator_sv2 in $peers_bin" >&2; exit 1; }

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until $1 has printed a line matching $2 (a minesim log), prints the match.
wait_for_line() {
    local file=$1 pattern=$2
    for _ in $(seq 1 200); do
        if grep -m1 -oE "$pattern" "$file" 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "bench: timed out waiting for '$pattern' in $file" >&2
    cat "$file" >&2
    return 1
}

wait_for_port() {
    local port=$1
    for _ in $(seq 1 300); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "bench: nothing listens on 127.0.0.1:$port" >&2
    return 1
}

hashrouter_config() { # port pool_port
    cat <<EOF
[sv1]
listen = "127.0.0.1:$1"

[difficulty]
initial = $DEVICE_DIFFICULTY
minimum = 0.000000001
shares_per_minute = $((60 * A_RATE))

[upstream]
address = "127.0.0.1:$2"
authority_pubkey = "9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72"
user_identity = "bench"
EOF
}

# No [miner_telemetry]: it scans LAN ranges (REFERENCES.md, network safety).
translator_config() { # port pool_port
    cat <<EOF
downstream_address = "127.0.0.1"
downstream_port = $1
max_supported_version = 2
min_supported_version = 2
downstream_extranonce2_size = 4
aggregate_channels = true

[downstream_difficulty_config]
min_individual_miner_hashrate = $((HASHES_PER_SHARE * A_RATE)).0
shares_per_minute = $((60 * A_RATE)).0
enable_vardiff = false
job_keepalive_interval_secs = 60

[[upstreams]]
address = "127.0.0.1"
port = $2
authority_pubkey = "9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72"
user_identity = "bench"
EOF
}

run_index=0
# run_scenario SUT SCENARIO: a fresh pool and proxy, one `minesim load`, its JSON in $out_dir.
run_scenario() {
    local sut=$1 scenario=$2
    run_index=$((run_index + 1))
    local dir="$work/$sut-$scenario"
    mkdir -p "$dir"
    "$minesim_bin" pool --listen 127.0.0.1:0 --control 127.0.0.1:0 \
        --fixed-difficulty "$POOL_DIFFICULTY" --no-vardiff >"$dir/pool.log" 2>&1 &
    local pool_pid=$!
    pids+=("$pool_pid")
    local pool_addr control_addr
    pool_addr=$(wait_for_line "$dir/pool.log" 'pool listening on [0-9.:]+' | awk '{print $4}')
    control_addr=$(wait_for_line "$dir/pool.log" 'pool control on [0-9.:]+' | awk '{print $4}')
    local port
    port=$(free_port)
    case $sut in
        hashrouter)
            hashrouter_config "$port" "${pool_addr##*:}" >"$dir/hashrouter.toml"
            (cd "$dir" && ulimit -n "$(ulimit -Hn)" && RUST_LOG=warn exec "$hashrouter_bin" run --config hashrouter.toml) \
                >"$dir/proxy.log" 2>&1 &
            ;;
        translator)
            translator_config "$port" "${pool_addr##*:}" >"$dir/tproxy.toml"
            (cd "$dir" && ulimit -n "$(ulimit -Hn)" && RUST_LOG=warn exec "$translator_bin" -c tproxy.toml) \
                >"$dir/proxy.log" 2>&1 &
            ;;
    esac
    local proxy_pid=$!
    pids+=("$proxy_pid")
    if ! wait_for_port "$port"; then
        echo "bench: $sut did not come up; its log:" >&2
        tail -n 40 "$dir/proxy.log" >&2
        exit 1
    fi
    local args=(--connect "127.0.0.1:$port" --pid "$proxy_pid" --json "$out_dir/$sut-$scenario.json"
        --source-ip "127.1.$run_index.1" --source-ip "127.1.$run_index.2")
    case $scenario in
        a) args+=(--connections "$A_CONNS" --share-rate "$A_RATE" --duration "$A_DURATION") ;;
        b) args+=(--connections 0 --idle "$B_CONNS" --duration "$((B_BLOCKS + 1))"
                  --pool-control "$control_addr" --new-blocks "$B_BLOCKS" --block-spacing-ms "$B_SPACING_MS") ;;
        c) args+=(--connections 0 --idle "$C_CONNS" --duration "$C_DURATION") ;;
    esac
    printf -- '--- %s, scenario %s\n' "$sut" "$scenario"
    local status=0
    local perf_pid=""
    if [ "${BENCH_PROFILE:-0}" = 1 ] && [ "$sut-$scenario" = hashrouter-a ]; then
        # Sampled over the measuring window (the connections are ready within a second).
        (sleep 2 && exec perf record -F 4999 -g -p "$proxy_pid" -o "$out_dir/perf-a.data" \
            -- sleep "$((A_DURATION - 2))") >"$dir/perf.log" 2>&1 &
        perf_pid=$!
    fi
    # The load generator runs at a lower priority: in a farm the devices are other machines,
    # not a process taking the proxy's cores while it writes a new block's jobs. Latencies are
    # taken from the kernel's receive timestamps, so its own slower reading does not count.
    (ulimit -n "$(ulimit -Hn)" && exec nice -n 10 "$minesim_bin" load "${args[@]}") || status=$?
    if [ -n "$perf_pid" ]; then
        wait "$perf_pid" || { echo "bench: perf record failed:" >&2; cat "$dir/perf.log" >&2; }
        perf report -i "$out_dir/perf-a.data" --no-children --percent-limit 0.8 --stdio -g none \
            2>/dev/null | grep -E '^ +[0-9]' >"$out_dir/profile-a.txt" || true
        printf 'profile of hashrouter under scenario (a): %s\n' "$out_dir/profile-a.txt"
        head -n 15 "$out_dir/profile-a.txt"
    fi
    kill "$proxy_pid" "$pool_pid" 2>/dev/null || true
    wait "$proxy_pid" "$pool_pid" 2>/dev/null || true
    cp "$dir/proxy.log" "$out_dir/$sut-$scenario.log"
    if [ "$status" -ne 0 ]; then
        echo "bench: minesim load failed against $sut (scenario $scenario); proxy log:" >&2
        tail -n 40 "$dir/proxy.log" >&2
        exit 1
    fi
}

for sut in hashrouter translator; do
    for scenario in a b c; do
        step "$sut: scenario $scenario"
        run_scenario "$sut" "$scenario"
    done
done

if ! $smoke && [ "${BENCH_CRITERION:-1}" != 0 ]; then
    step "criterion micro-benchmarks (scripts/criterion.sh)"
    scripts/criterion.sh
fi

step "results"
python3 scripts/bench_table.py "$out_dir" "$smoke" | tee "$out_dir/results.md"
