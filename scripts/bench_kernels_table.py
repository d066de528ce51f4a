#!/usr/bin/env python3
"""Markdown tables from bench_kernels JSON (scripts/bench_kernels.sh OUT.json).

With --benchmark_repetitions=N the best repetition of each benchmark is kept (the highest
bytes/s): on a shared machine the best run is the one least disturbed by other processes.
Usage: scripts/bench_kernels_table.py OUT.json [OUT2.json ...]
"""
import json
import re
import sys

TYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 12: "Q4_K",
         13: "Q5_K", 14: "Q6_K", 30: "BF16"}


def args_of(name):
    return {k: int(v) for k, v in re.findall(r"(\w+):(\d+)", name)}


def main(paths):
    best = {}
    context = None
    for path in paths:
        data = json.load(open(path))
        context = context or data.get("context", {})
        for b in data["benchmarks"]:
            if b.get("run_type") == "aggregate":
                continue
            key = b["run_name"]
            if key not in best or b.get("bytes_per_second", 0) > best[key].get("bytes_per_second", 0):
                best[key] = b
    print(f"host: {context.get('host_name')}, {context.get('num_cpus')} CPUs @ {context.get('mhz_per_cpu')} MHz, "
          f"load average at start {context.get('load_avg')}\n")
    bw = {}
    print("| read bandwidth | GB/s |\n|---|---|")
    for key, b in sorted(best.items()):
        if key.startswith("BM_read_bandwidth"):
            t = args_of(key)["threads"]
            bw[t] = b["bytes_per_second"] / 1e9
            print(f"| {t} thread{'s' if t > 1 else ''} | {bw[t]:.1f} |")
    print("\n| matvec (rows x cols) | type | threads | GB/s | read bw GB/s | % of read bw | us |\n|---|---|---|---|---|---|---|")
    rows = []
    for key, b in best.items():
        if not key.startswith("BM_matvec"):
            continue
        a = args_of(key)
        rows.append((a["rows"] * a["cols"], a["type"], a["threads"], a.get("exact", 0), a, b))
    for _, t, th, exact, a, b in sorted(rows, key=lambda r: (r[1], r[0], r[3], r[2])):
        name = TYPES.get(t, str(t)) + (" exact" if exact else "")
        print(f"| {a['rows']} x {a['cols']} | {name} | {th} | {b['bytes_per_second'] / 1e9:.1f} | "
              f"{b.get('read_bw_GBps', float('nan')):.1f} | {100 * b['of_read_bw']:.0f} % | {b['real_time']:.0f} |")
    print("\n| matmul 8960 x 1536 | type | batch | threads | rows/s | us per row |\n|---|---|---|---|---|---|")
    for key, b in sorted(best.items(), key=lambda kv: (args_of(kv[0]).get("type", 0), args_of(kv[0]).get("batch", 0))):
        if not key.startswith("BM_matmul"):
            continue
        a = args_of(key)
        print(f"| | {TYPES.get(a['type'])} | {a['batch']} | {a['threads']} | {b['rows_per_s']:.0f} | "
              f"{1e6 / b['rows_per_s']:.0f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
