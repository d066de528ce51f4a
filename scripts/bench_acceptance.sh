#!/usr/bin/env bash
# Builds bench_acceptance (Release, -march=native), runs it and prints a markdown table: one
# verify step of each acceptance rule, SIMD beside its scalar twin, as GB/s of logits, as a
# fraction of read bandwidth and as a fraction of one Qwen2.5-Coder-0.5B decode step.
# Usage: scripts/bench_acceptance.sh [OUT.json] [extra Google Benchmark flags]
# Env:   BUILD_DIR (default build-bacc), MIN_TIME (seconds per benchmark, default 0.2),
#        REPS (repetitions; the table takes the fastest, default 3).
# Times: verify steps in CPU time at 1 thread and wall time at 2 threads; the decode step in wall time at 2 threads and
# CPU time at 1 thread, the smaller of (2-thread wall, 1-thread CPU / 2) being the reference.
# GB/s nominal: (gamma+1) logit rows + gamma q rows (gamma+1 for the exact rule, none for greedy)
# per step; GB/s read: the rows the step actually streamed; % of bandwidth uses the latter.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/out/bench_acceptance.json}"
[ $# -gt 0 ] && shift
build="${BUILD_DIR:-$root/build-bacc}"
mkdir -p "$(dirname "$out")"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DRAPID_BUILD_BENCHMARKS=ON >/dev/null
cmake --build "$build" -j2 --target bench_acceptance >&2
load="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "load average before: $load" >&2
"$build/benchmarks/bench_acceptance" --benchmark_min_time="${MIN_TIME:-0.2}" --benchmark_repetitions="${REPS:-3}" \
  --benchmark_format=json --benchmark_out="$out" --benchmark_out_format=json "$@" >/dev/null
LOAD_BEFORE="$load" LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)" python3 - "$out" <<'PY'
import json, os, sys
from collections import defaultdict

data = json.load(open(sys.argv[1]))
scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
best = {}      # run name -> fastest repetition (entry, ns)
runs = defaultdict(int)
for b in data["benchmarks"]:
    if b.get("run_type") != "iteration":
        continue
    name = b["run_name"]
    if b.get("error_occurred"):
        best[name] = (b, None)
        continue
    # Verify steps: CPU time at 1 thread, wall time at 2. Decode step: wall time at 2 threads, CPU at 1.
    use_real = name.startswith("BM_decode_step_qwen05b/threads:2") or (name.startswith("verify/") and name.endswith("threads:2"))
    ns = (b["real_time"] if use_real else b["cpu_time"]) * scale[b["time_unit"]]
    runs[name] += 1
    if name not in best or best[name][1] is None or ns < best[name][1]:
        best[name] = (b, ns)

def decode(threads):
    for name, (b, ns) in best.items():
        if name.startswith(f"BM_decode_step_qwen05b/threads:{threads}"):
            return b, ns
    return None, None

d2, d2_ns = decode(2)
d1, d1_ns = decode(1)
ctx = data["context"]
print(f"- machine: {ctx.get('num_cpus')} CPUs at {ctx.get('mhz_per_cpu')} MHz, host {ctx.get('host_name')}, {ctx.get('date')}")
print(f"- load average (1/5/15 min): before {os.environ.get('LOAD_BEFORE')}, after {os.environ.get('LOAD_AFTER')}")
bw = None
for name, (b, ns) in best.items():
    if name.startswith("verify/") and ns is not None:
        bw = b["read_bw_GBps"]
        break
if bw:
    print(f"- single-thread read bandwidth (best of 7 passes over 1 GiB): {bw:.1f} GB/s")
# The reference step: the faster of the 2-thread wall time and half the 1-thread CPU time (an
# ideal 2-thread step). On a loaded machine the 2-thread wall time is inflated by preempted
# OpenMP barriers; taking the smaller one keeps "% of decode step" conservative.
cands = [x for x in (d2_ns, d1_ns / 2 if d1_ns else None) if x]
ref_ns = min(cands) if cands else None
if ref_ns:
    parts = []
    if d2_ns: parts.append(f"{d2_ns/1e3:,.0f} us wall at 2 threads")
    if d1_ns: parts.append(f"{d1_ns/1e3:,.0f} us CPU at 1 thread")
    depth = int((d2 or d1)["final_depth"])
    print(f"- one Qwen2.5-Coder-0.5B decode step (n_ctx 1024, 64-token prefill, depth up to {depth}): "
          + "; ".join(parts) + f"; reference step for the last column: {ref_ns/1e3:,.1f} us")
else:
    msg = d2["error_message"] if d2 else "not run"
    print(f"- Qwen2.5-Coder-0.5B decode step: {msg}")
print(f"- fastest of {max(runs.values()) if runs else 0} repetitions per row\n")

print("| rule | vocab | gamma | regime | accepted | ns/step scalar (1 thread) | ns/step SIMD (1 thread) | speedup | ns/step SIMD (2 threads, wall) | GB/s read (1 thread) | % of bandwidth (1 thread) | % of 0.5B decode step (1 thread) | % of 0.5B decode step (2 threads) |")
print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
rows = {}
for name, (b, ns) in best.items():
    if not name.startswith("verify/") or ns is None:
        continue
    _, rule, impl, vocab, gamma, regime, threads = name.split("/")[:7]
    key = (rule, int(vocab.split(":")[1]), int(gamma.split(":")[1]), regime)
    rows.setdefault(key, {})[impl + "/" + threads.split(":")[1]] = (b, ns)
order = ["greedy_match", "speculative_sampling", "retrieval_augmented", "retrieval_augmented_exact"]
for key in sorted(rows, key=lambda k: (-k[1], k[2], k[3], order.index(k[0]))):
    rule, vocab, gamma, regime = key
    simd, simd2, scalar = rows[key].get("simd/1"), rows[key].get("simd/2"), rows[key].get("scalar/1")
    if not simd:
        continue
    b, ns = simd
    read_gbps = b["read_bytes_per_second"] / 1e9
    sc = f"{scalar[1]:,.0f}" if scalar else "-"
    speed = f"{scalar[1] / ns:.1f}x" if scalar else "-"
    of_step = f"{100 * ns / ref_ns:.2f} %" if ref_ns else "n/a"
    two = f"{simd2[1]:,.0f}" if simd2 else "-"
    of_step2 = f"{100 * simd2[1] / ref_ns:.2f} %" if (simd2 and ref_ns) else "n/a"
    print(f"| {rule} | {vocab:,} | {gamma} | {regime} | {b['accepted']:.2f} | {sc} | {ns:,.0f} | {speed} | {two} | "
          f"{read_gbps:.1f} | {100 * read_gbps / b['read_bw_GBps']:.0f} % | {of_step} | {of_step2} |")
PY
