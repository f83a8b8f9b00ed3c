#!/usr/bin/env python3
"""Turns scripts/bench.sh's per-run JSON reports (from `minesim load --json`) into the results
table, the goals check and the final summary line.

usage: bench_table.py OUT_DIR SMOKE(true|false)
"""

import json
import os
import sys

out_dir, smoke = sys.argv[1], sys.argv[2] == "true"
SUTS = [("hashrouter", "hashrouter"), ("translator", "translator_sv2 0.6.0")]


def load(sut, scenario):
    with open(os.path.join(out_dir, f"{sut}-{scenario}.json")) as f:
        return json.load(f)


runs = {(sut, sc): load(sut, sc) for sut, _ in SUTS for sc in "abc"}


def fig(value, digits=1):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def sut_field(run, key):
    return (run.get("sut") or {}).get(key)


rows = []


def row(label, getter, digits=1, better=None):
    ours, sri = (getter(runs_of(s)) for s, _ in SUTS)
    ratio = "-"
    if isinstance(ours, (int, float)) and isinstance(sri, (int, float)) and ours and sri:
        ratio = f"{(ours / sri):.2f}x" if better == "high" else f"{(sri / ours):.2f}x"
    rows.append((label, fig(ours, digits), fig(sri, digits), ratio if better else ""))
    return ours, sri


def runs_of(sut):
    return {sc: runs[(sut, sc)] for sc in "abc"}


a_conns = runs[("hashrouter", "a")]["connections"]
b_conns = runs[("hashrouter", "b")]["idle"]
c_conns = runs[("hashrouter", "c")]["idle"]

row(f"(a) {a_conns} conns: ready", lambda r: f'{r["a"]["ready"]}/{a_conns}')
row("(a) accepted shares/s", lambda r: r["a"]["accepted_per_s"], 1)
row("(a) rejected / unanswered", lambda r: f'{r["a"]["rejected"]} / {r["a"]["unanswered"]}')
row("(a) proxy CPU s", lambda r: sut_field(r["a"], "cpu_s"), 2)
spc = row("(a) shares per proxy CPU-s", lambda r: sut_field(r["a"], "shares_per_cpu_s"), 0, "high")
row("(a) submit p50 ms", lambda r: r["a"]["submit_latency"]["p50_ms"], 2, "low")
row("(a) submit p99 ms", lambda r: r["a"]["submit_latency"]["p99_ms"], 2, "low")
row("(a) load generator CPU s", lambda r: r["a"]["generator_cpu_s"], 2)
row(f"(b) {b_conns} conns: all ready s", lambda r: r["b"]["all_ready_s"], 2, "low")
row("(b) fan-out p50 ms", lambda r: r["b"]["fanout"]["p50_ms"], 1, "low")
fan = row("(b) fan-out p99 ms", lambda r: r["b"]["fanout"]["p99_ms"], 1, "low")
row("(b) fan-out max ms", lambda r: r["b"]["fanout"]["max_ms"], 1, "low")
row("(b) blocks / missed deliveries", lambda r: f'{r["b"]["blocks"]} / {r["b"]["fanout_missing"]}')
row(f"(c) {c_conns} idle conns: all ready s", lambda r: r["c"]["all_ready_s"], 2, "low")
rss = row("(c) RSS KiB per idle conn", lambda r: sut_field(r["c"], "rss_kib_per_conn"), 1, "low")
row("(c) RSS MiB loaded", lambda r: (sut_field(r["c"], "rss_kib_loaded") or 0) / 1024, 1, "low")
row("peak RSS MiB (c)", lambda r: (sut_field(r["c"], "peak_rss_kib") or 0) / 1024, 1, "low")

title = "# hashrouter vs translator_sv2: side-by-side load" + (" (smoke scale)" if smoke else "")
print(title)
print()
print("Same minesim SV2 pool, same `minesim load` (nice 10) on 127.0.0.1, both proxies at RUST_LOG=warn.")
print("Ratio: how many times better hashrouter is (higher shares/CPU-s, lower everything else).")
print()
print("| figure | hashrouter | translator_sv2 | ratio |")
print("|---|---:|---:|---:|")
for label, ours, sri, ratio in rows:
    print(f"| {label} | {ours} | {sri} | {ratio} |")

problems = {
    sut: {k: v for sc in "abc" for k, v in runs[(sut, sc)]["problems"].items()} for sut, _ in SUTS
}
for sut, name in SUTS:
    if problems[sut]:
        print()
        print(f"{name} problems: " + ", ".join(f"{v} x {k}" for k, v in problems[sut].items()))

ours_b, ours_c = runs[("hashrouter", "b")], runs[("hashrouter", "c")]
ready_s = max(x for x in (ours_b["all_ready_s"], ours_c["all_ready_s"]) if x is not None) \
    if ours_b["all_ready_s"] is not None and ours_c["all_ready_s"] is not None else None
goals = [
    ("shares per CPU-s >= 5x translator_sv2",
     spc[0] is not None and spc[1] is not None and spc[0] >= 5 * spc[1]),
    (f"fan-out p99 to {b_conns} connections < 50 ms", fan[0] is not None and fan[0] < 50
     and ours_b["fanout_missing"] == 0),
    ("< 16 KiB RSS per idle connection", rss[0] is not None and rss[0] < 16),
    (f"{max(b_conns, c_conns)} connections subscribed and holding a job < 5 s",
     ready_s is not None and ready_s < 5),
]
print()
print("Goals (issue 8)" + (": not judged at smoke scale" if smoke else ""))
for goal, met in goals:
    mark = "-" if smoke else ("met" if met else "NOT met")
    print(f"- {goal}: {mark}")

criterion = os.path.join(out_dir, "criterion.md")
if not smoke and os.path.exists(criterion):
    print()
    with open(criterion) as f:
        print(f.read().rstrip())

print()
print(
    f"shares_per_cpu_s ours={fig(spc[0], 0)} sri={fig(spc[1], 0)} "
    f"ratio={fig(spc[0] / spc[1], 2) if spc[0] and spc[1] else '-'} "
    f"fanout_p99_ms ours={fig(fan[0], 1)} sri={fig(fan[1], 1)} "
    f"rss_kib_per_conn ours={fig(rss[0], 1)} sri={fig(rss[1], 1)}"
)
