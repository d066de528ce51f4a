#!/usr/bin/env python3
"""Markdown tables from bench_kernels JSON (scripts/bench_kernels.sh OUT.json).

Averages the repetitions of each benchmark over all files given (run with
--benchmark_repetitions=N, or several runs). Repetitions whose main thread got less than 80 %
of the wall time on a CPU are dropped as disturbed by other processes: a descheduled OpenMP
thread stalls the whole matvec. `% of read bw` averages each repetition's ratio to the read
bandwidth measured right after it.
Usage: scripts/bench_kernels_table.py OUT.json [OUT2.json ...]
"""
import json
import re
import sys
from collections import defaultdict

TYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 12: "Q4_K",
         13: "Q5_K", 14: "Q6_K", 30: "BF16"}


def args_of(name):
    return {k: int(v) for k, v in re.findall(r"(\w+):(\d+)", name)}


def mean(xs):
    return sum(xs) / len(xs) if xs else float("nan")


def main(paths):
    reps = defaultdict(list)
    dropped, contexts = 0, []
    for path in paths:
        data = json.load(open(path))
        contexts.append(data.get("context", {}))
        for b in data["benchmarks"]:
            if b.get("run_type") == "aggregate":
                continue
            if b["cpu_time"] < 0.8 * b["real_time"] and not b["run_name"].startswith("BM_read"):
                dropped += 1
                continue
            reps[b["run_name"]].append(b)
    c = contexts[0]
    print(f"host: {c.get('host_name')}, {c.get('num_cpus')} CPUs; runs: "
          + ", ".join(f"{x.get('date')} (load {x.get('load_avg', ['?'])[0]:.2f})" for x in contexts)
          + f"; {dropped} disturbed repetitions dropped\n")
    print("| read bandwidth | GB/s (mean of runs) |\n|---|---|")
    for key in sorted(k for k in reps if k.startswith("BM_read")):
        t = args_of(key)["threads"]
        print(f"| {t} thread{'s' if t > 1 else ''} | {mean([b['bytes_per_second'] for b in reps[key]]) / 1e9:.1f} |")
    print("\n| matvec (rows x cols) | type | threads | GB/s | read bw GB/s | % of read bw | us | reps |")
    print("|---|---|---|---|---|---|---|---|")
    rows = []
    for key, bs in reps.items():
        if key.startswith("BM_matvec"):
            a = args_of(key)
            rows.append((a["type"], a["rows"] * a["cols"], a.get("exact", 0), a["threads"], a, bs))
    for t, _, exact, th, a, bs in sorted(rows, key=lambda r: r[:4]):
        name = TYPES.get(t, str(t)) + (" exact" if exact else "")
        print(f"| {a['rows']} x {a['cols']} | {name} | {th} | {mean([b['bytes_per_second'] for b in bs]) / 1e9:.1f} | "
              f"{mean([b.get('read_bw_GBps', float('nan')) for b in bs]):.1f} | "
              f"{100 * mean([b['of_read_bw'] for b in bs]):.0f} % | {mean([b['real_time'] for b in bs]):.0f} | {len(bs)} |")
    print("\n| matmul 8960 x 1536 | batch | threads | rows/s | us per row | reps |\n|---|---|---|---|---|---|")
    mm = sorted((args_of(k)["type"], args_of(k)["batch"], k) for k in reps if k.startswith("BM_matmul"))
    for t, batch, key in mm:
        r = mean([b["rows_per_s"] for b in reps[key]])
        print(f"| {TYPES.get(t)} | {batch} | {args_of(key)['threads']} | {r:.0f} | {1e6 / r:.0f} | {len(reps[key])} |")


if __name__ == "__main__":
    main(sys.argv[1:])
