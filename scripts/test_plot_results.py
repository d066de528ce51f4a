#!/usr/bin/env python3
"""Tests scripts/plot_results.py on synthetic `rapid eval` results (stdlib only; the plotting
script itself needs matplotlib).

usage: python3 scripts/test_plot_results.py   (exit status 0 when every check passes)
"""
import json
import os
import random
import struct
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "plot_results.py")
PLOTS = ["speedup_vs_context.png", "acceptance_vs_eta.png", "quality_vs_eta.png", "tau_vs_gamma.png"]
MAX_BYTES = 60000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def record(method, rule, ctx, eta, gamma, seed, rng, drafted=True):
    accepted_frac = min(0.95, 0.5 + 0.01 * eta + 0.05 * rng.random()) if drafted else 0.0
    steps = 20
    drafted_n = steps * gamma if drafted else 0
    accepted = int(round(accepted_frac * drafted_n))
    emitted = accepted + steps if drafted else 64
    steps = steps if drafted else 64
    speedup = (0.4 + ctx / 16384 * (0.5 + accepted_frac)) if method != "lc" else 1.0
    return {
        "key": f"{method}/{ctx}/{eta}/{gamma}/{seed}",
        "task": {"id": f"needle-{seed}", "kind": "needle", "ctx_tokens": ctx, "depth": 0.5, "seed": seed},
        "config": {"method": method, "target": "qwen1.5b", "drafter": "qwen0.5b" if drafted else "", "rule": rule,
                   "eta": eta, "gamma": gamma, "temperature": 0.7, "rag_budget": 1024, "retriever": "bm25"},
        "stats": {"drafted": drafted_n, "accepted": accepted, "acceptance_rate": accepted / drafted_n if drafted_n else 0.0,
                  "tau": emitted / steps, "steps": steps, "emitted": emitted, "decode_tokens_per_s": 10 * speedup,
                  "prefill_seconds": 1.0, "decode_seconds": emitted / (10 * speedup)},
        "lc_decode_tokens_per_s": 10.0, "speedup": speedup,
        "scores": {"exact_match": float(rng.random() < 0.3), "contains": float(rng.random() < 0.6 + 0.01 * eta),
                   "f1": rng.random()},
        "answer": "Lisp",
    }


def synthetic(path):
    rng = random.Random(8)
    lines = []
    for ctx in (4096, 8192, 16384):
        for seed in range(5):
            lines.append(record("lc", "speculative_sampling", ctx, 0.0, 1, seed, rng, drafted=False))
            lines.append(record("rag", "speculative_sampling", ctx, 0.0, 1, seed, rng, drafted=False))
            for gamma in (4, 10):
                lines.append(record("sd", "speculative_sampling", ctx, 0.0, gamma, seed, rng))
                for eta in (0.0, 5.0, 10.0, 20.0):
                    lines.append(record("rapid", "retrieval_augmented", ctx, eta, gamma, seed, rng))
    with open(path, "w") as f:
        for r in lines:
            f.write(json.dumps(r) + "\n")
        f.write("\n")                              # blank line: ignored
        f.write('{"key": "truncated", "task": {')  # an interrupted sweep's last line: skipped with a warning
    return len(lines)


def run(*args):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, timeout=300)


def check_png(test, path):
    test.assertTrue(os.path.isfile(path), f"{path} was not written")
    size = os.path.getsize(path)
    test.assertLessEqual(size, MAX_BYTES, f"{path} is {size} bytes")
    with open(path, "rb") as f:
        head = f.read(33)
    test.assertEqual(head[:8], PNG_SIGNATURE, f"{path} is not a PNG")
    test.assertEqual(head[12:16], b"IHDR")
    width, height = struct.unpack(">II", head[16:24])
    test.assertTrue(100 <= width <= 2000 and 100 <= height <= 2000, f"{path}: {width} x {height}")


class PlotResultsTest(unittest.TestCase):
    def test_full_sweep_writes_four_small_pngs(self):
        with tempfile.TemporaryDirectory() as tmp:
            results = os.path.join(tmp, "results.jsonl")
            synthetic(results)
            out = os.path.join(tmp, "plots")
            p = run(results, "-o", out)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("skipped, not a JSON object", p.stderr)  # the truncated last line
            for name in PLOTS:
                check_png(self, os.path.join(out, name))

    def test_missing_groups_are_skipped_with_a_message(self):
        with tempfile.TemporaryDirectory() as tmp:
            rng = random.Random(1)
            results = os.path.join(tmp, "lc_only.jsonl")
            with open(results, "w") as f:
                for seed in range(3):
                    f.write(json.dumps(record("lc", "speculative_sampling", 4096, 0.0, 1, seed, rng, drafted=False)) + "\n")
                    # RAG records without task.ctx_tokens: nothing to place on the context axis
                    r = record("rag", "speculative_sampling", 4096, 0.0, 1, seed, rng, drafted=False)
                    del r["task"]["ctx_tokens"]
                    f.write(json.dumps(r) + "\n")
            out = os.path.join(tmp, "plots")
            p = run(results, "-o", out)
            self.assertEqual(p.returncode, 0, p.stderr)
            for name in PLOTS:
                self.assertIn(f"skipped {name}", p.stderr)
                self.assertFalse(os.path.exists(os.path.join(out, name)))

    def test_several_files_and_model_lines(self):
        with tempfile.TemporaryDirectory() as tmp:
            rng = random.Random(3)
            short, long_ = os.path.join(tmp, "short.jsonl"), os.path.join(tmp, "long.jsonl")
            sd = {}
            for path, ctxs in ((short, (1024, 2048)), (long_, (8192,))):
                with open(path, "w") as f:
                    for ctx in ctxs:
                        for seed in range(3):
                            f.write(json.dumps(record("lc", "speculative_sampling", ctx, 0.0, 1, seed, rng, drafted=False)) + "\n")
                            r = record("sd", "speculative_sampling", ctx, 0.0, 4, seed, rng)
                            sd = r["config"]
                            f.write(json.dumps(r) + "\n")
            predictions = os.path.join(tmp, "predictions.jsonl")
            with open(predictions, "w") as f:
                for ctx, extrapolated in ((1024, False), (2048, False), (8192, False), (32768, True)):
                    f.write(json.dumps({"config": sd, "ctx_tokens": ctx, "predicted": 0.9, "extrapolated": extrapolated}) + "\n")
                # a configuration without measured records still gets its line; a line without a number does not
                f.write(json.dumps({"config": dict(sd, method="rapid", rule="retrieval_augmented", eta=10.0),
                                    "ctx_tokens": 8192, "predicted": 1.1, "extrapolated": False}) + "\n")
                f.write(json.dumps({"config": sd, "ctx_tokens": 4096, "predicted": None}) + "\n")
            out = os.path.join(tmp, "plots")
            p = run(short, long_, "--predictions", predictions, "--plots", "speedup", "-o", out)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("model lines for 2 configurations", p.stderr)
            check_png(self, os.path.join(out, "speedup_vs_context.png"))
            self.assertEqual(sorted(os.listdir(out)), ["speedup_vs_context.png"])  # --plots: that one only
            p = run(short, "--plots", "speedup,bogus", "-o", out)
            self.assertEqual(p.returncode, 1)
            self.assertIn("--plots takes names from", p.stderr)
            p = run(short, "--predictions", os.path.join(tmp, "missing.jsonl"), "-o", out)
            self.assertEqual(p.returncode, 1)
            self.assertIn("cannot read", p.stderr)

    def test_empty_file_and_missing_file(self):
        with tempfile.TemporaryDirectory() as tmp:
            empty = os.path.join(tmp, "empty.jsonl")
            open(empty, "w").close()
            p = run(empty, "-o", os.path.join(tmp, "plots"))
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("no records", p.stderr)
            p = run(os.path.join(tmp, "nonexistent.jsonl"), "-o", os.path.join(tmp, "plots"))
            self.assertEqual(p.returncode, 1)
            self.assertIn("cannot read", p.stderr)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)


if __name__ == "__main__":
    unittest.main()
