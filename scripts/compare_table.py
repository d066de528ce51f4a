#!/usr/bin/env python3
"""Turns `rapid compare --json` records into a markdown table (stdlib only).

usage: scripts/compare_table.py RECORD.json [...]
"""
import json
import sys


def table(record):
    ctx = record["context"]
    out = [f"target prompt {ctx['target_prompt_tokens']} tokens (document {ctx['document_tokens']}), "
           f"drafter prompt {ctx['drafter_prompt_tokens']} tokens ({ctx['chunks_kept']} of {ctx['chunks']} chunks), "
           f"retrieval {ctx['seconds']['retrieval']:.2f} s, target prefill {ctx['seconds']['target_prefill']:.1f} s, "
           f"peak RSS {ctx['peak_rss_bytes'] / 1e6:.0f} MB", "",
           "| method | answer | decode tok/s | speedup vs LC | acceptance | tau | prefill s (drafter / own) |",
           "|---|---|---|---|---|---|---|"]
    for r in record["results"]:
        s = r["stats"]
        answer = " ".join(r["answer"].split())
        answer = answer if len(answer) <= 70 else answer[:67] + "..."
        speed = f"{r['speedup_vs_lc']:.2f}x" if "speedup_vs_lc" in r else "-"
        acc = f"{100 * s['acceptance_rate']:.1f} %" if s["drafted"] else "-"
        out.append(f"| {r['method']} | {answer.replace('|', '/')} | {s['decode_tokens_per_second']:.2f} | {speed} | "
                   f"{acc} | {s['tau']:.2f} | {r['prefill_seconds']:.1f} |")
    return "\n".join(out)


for path in sys.argv[1:]:
    with open(path) as f:
        print(table(json.load(f)))
        print()
