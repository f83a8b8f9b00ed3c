#!/usr/bin/env bash
# Criterion micro-benchmarks of the hot paths (SV1 parse/frame/encode next to SRI's sv1_api,
# proof-of-work primitives, share validation, job construction, SV2 frame encrypt/decrypt), with
# short warm-up and measurement times, then a markdown table of the means printed to stdout and
# written to <target dir>/bench/criterion.md. The target dir is cargo's (CARGO_TARGET_DIR
# respected). Extra arguments go to criterion, e.g. a filter: scripts/criterion.sh v1_parse
# Takes about 2.5 minutes after the build on 2 cores.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

target_dir=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
out_dir="$target_dir/bench"
mkdir -p "$out_dir"
# Criterion keeps results of earlier runs (its baseline); the table shows only this run's.
stamp="$out_dir/.criterion-start"
touch "$stamp"

cargo bench \
    -p sv1 --bench sv1_codec \
    -p work --bench work \
    -p sv2-conn --bench frames \
    -p hashrouter --bench hot_paths \
    -- --warm-up-time 1 --measurement-time 3 "$@"

python3 - "$target_dir/criterion" "$stamp" "$out_dir/criterion.md" <<'EOF'
import json, platform, subprocess, sys
from pathlib import Path

root, stamp, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
since = stamp.stat().st_mtime

def fmt(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"

rows = {}
# <group>/<function>/new/estimates.json; a lone function has no group level.
for estimates in sorted(root.rglob("new/estimates.json")):
    if estimates.stat().st_mtime < since:
        continue
    bench = json.loads((estimates.parent / "benchmark.json").read_text())
    mean = json.loads(estimates.read_text())["mean"]
    rows[bench["full_id"]] = (bench["group_id"], bench["function_id"], mean)
if not rows:
    sys.exit("criterion.sh: no results from this run under " + str(root))

def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()

means = {(g, f): m["point_estimate"] for g, f, m in rows.values()}
cpu = cpu_model()
rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
lines = [
    "# Criterion micro-benchmarks",
    "",
    f"{cpu}; {rustc}. Mean time per iteration with its 95% confidence interval; "
    "`sv1_api / ours` is how many times longer SRI's sv1_api takes than our codec for the same input.",
    "",
    "| bench | mean | 95% CI | sv1_api / ours |",
    "|---|---:|---:|---:|",
]
# In the order of the hot path: device lines in, share checks, jobs out, SV2 frames.
order = ["v1_parse", "v1_frame", "v1_encode", "work", "share", "job", "sv2_frame"]
def position(full_id):
    prefix = full_id.split("/", 1)[0]
    return (order.index(prefix) if prefix in order else len(order), full_id)

for full_id, (group, function, mean) in sorted(rows.items(), key=lambda r: position(r[0])):
    ci = mean["confidence_interval"]
    ratio = ""
    if function == "sv1_api" and (group, "ours") in means:
        ratio = f"{mean['point_estimate'] / means[(group, 'ours')]:.2f}×"
    lines.append(
        f"| `{full_id}` | {fmt(mean['point_estimate'])} | "
        f"{fmt(ci['lower_bound'])} – {fmt(ci['upper_bound'])} | {ratio} |"
    )
text = "\n".join(lines) + "\n"
out.write_text(text)
print()
print(text, end="")
print(f"\n(written to {out})")
EOF
