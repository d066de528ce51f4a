#!/usr/bin/env bash
# Tokenizer speed: builds and runs benchmarks/bench_tokenizer (rapid, one thread), then times the HF
# `tokenizers` reference (built from the same GGUF vocabulary, merges and pre-tokenizer, one thread:
# RAYON_NUM_THREADS=1) on the very same inputs in the same run, and prints MB/s and the ratio.
# Inputs: the Paul Graham essays, and the adversarial 1 MB inputs (one repeated character, the
# essays without whitespace, random bytes; HF gets the random bytes as UTF-8 with U+FFFD
# replacements, since it takes only valid text).
# Usage: scripts/bench_tokenizer.sh [OUT.json]    Env: BUILD_DIR (default build-bench), MIN_TIME (0.5)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build-bench}"
out="${1:-$(mktemp -d)/bench_tokenizer.json}"
inputs="$(mktemp -d)"
trap 'rm -rf "$inputs"' EXIT

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DRAPID_BUILD_TESTS=OFF -DRAPID_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build" -j2 --target bench_tokenizer >/dev/null
PY="$("$root/scripts/python_env.sh")"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

RAPID_BENCH_DUMP_DIR="$inputs" "$build/benchmarks/bench_tokenizer" --benchmark_min_time="${MIN_TIME:-0.5}" \
  --benchmark_out="$out" --benchmark_out_format=json

RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false "$PY" - "$out" "$inputs" "$root/scripts" <<'EOF'
import importlib.util, json, os, statistics, sys, time
from pathlib import Path
out, inputs, scripts = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
spec = importlib.util.spec_from_file_location("reference_tokenizer", scripts / "reference_tokenizer.py")
ref = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ref)

rapid = {b["name"]: b for b in json.load(open(out))["benchmarks"] if b.get("run_type", "iteration") == "iteration"}
files = {"essays": "essays.txt", "repeat_1MB": "repeat.txt", "nospace_1MB": "nospace.txt", "random_1MB": "random.bin"}
texts = {k: (inputs / f).read_bytes().decode("utf-8", "replace") for k, f in files.items()}
nbytes = {k: (inputs / f).stat().st_size for k, f in files.items()}
rows = []
for vocab, model in (("qwen2", ref.QWEN), ("smollm", ref.SMOL)):
    v = ref.read_gguf_vocab(ref.MODELS / model)
    tk = ref.build_hf(v, v["pre"])
    tk.encode_special_tokens = True
    for name, text in texts.items():
        tk.encode(text[:1000], add_special_tokens=False)  # warm-up
        wall, cpu = [], []
        for _ in range(3 if name == "essays" else 1):
            w0, c0 = time.perf_counter(), time.process_time()
            tk.encode(text, add_special_tokens=False)
            wall.append(time.perf_counter() - w0)
            cpu.append(time.process_time() - c0)
        b = rapid.get(f"BM_encode_{name}_{vocab}")
        r_wall = b["real_time"] / 1e3 if b else float("nan")  # ms -> s
        r_cpu = b["cpu_time"] / 1e3 if b else float("nan")
        rows.append((name, vocab, nbytes[name], r_cpu, min(cpu), r_wall, min(wall)))

print(f"\n{'input':<13}{'vocab':<8}{'MB':>6}{'rapid s':>9}{'MB/s':>8}{'HF s':>8}{'MB/s':>7}{'ratio':>7}   {'wall: rapid s':>13}{'HF s':>8}{'ratio':>7}")
for name, vocab, n, rc, hc, rw, hw in rows:
    print(f"{name:<13}{vocab:<8}{n / 1e6:>6.2f}{rc:>9.3f}{n / rc / 1e6:>8.1f}{hc:>8.3f}{n / hc / 1e6:>7.2f}{hc / rc:>6.1f}x"
          f"   {rw:>13.3f}{hw:>8.3f}{hw / rw:>6.1f}x")
print("\nCPU time of one thread (rapid: Google Benchmark cpu_time per encode call, a fresh pre-token cache"
      "\neach call; HF: process_time of Tokenizer.encode with RAYON_NUM_THREADS=1, best of 3 on the essays);"
      "\nwall-clock times alongside. ratio = HF time / rapid time.")
EOF
