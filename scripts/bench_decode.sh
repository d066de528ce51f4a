#!/usr/bin/env bash
# Decode and prefill speed of rapid beside llama.cpp's llama-bench: same GGUF file, same thread
# count, same depths, in one run, with the ratio rapid / llama.cpp.
#
# usage: scripts/bench_decode.sh [smollm2|qwen0.5b|qwen1.5b ...]     (default: all three)
# env:   BUILD_DIR=build  THREADS="1 2"  DEPTHS=0,1024,4096,8192  TG=32  PP=512  REPS=3  OUT=out/bench_decode
# llama-bench fills the depth with a real (untimed) prefill; rapid fills its cache with zeros,
# which costs the same attention work (bench_decode.cpp explains why).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cache="${RAPID_CACHE_DIR:-$HOME/.cache/rapid}"
threads="${THREADS:-1 2}" depths="${DEPTHS:-0,1024,4096,8192}" tg="${TG:-32}" pp="${PP:-512}" reps="${REPS:-3}"
out="${OUT:-out/bench_decode}" build="${BUILD_DIR:-build}"
mkdir -p "$out"
declare -A files=([smollm2]=smollm2-135m-instruct-q4_1.gguf [qwen0.5b]=qwen2.5-coder-0.5b.gguf
                  [qwen1.5b]=qwen2.5-coder-1.5b-instruct-q4_k_m.gguf)
models=("$@"); ((${#models[@]})) || models=(smollm2 qwen0.5b qwen1.5b)

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DRAPID_BUILD_BENCHMARKS=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target bench_decode >/dev/null
llama_bench="$(scripts/build_llama_bench.sh)"

for name in "${models[@]}"; do
  model="$cache/models/${files[$name]:?unknown model $name}"
  # rapid refuses a context beyond the training length: SmolLM2 (8192) measures "8K" at 8192 - TG.
  d="$depths"
  [[ $name == smollm2 ]] && d="$(tr ',' '\n' <<<"$depths" | awk -v m=$((8192 - tg)) '{print ($1 > m ? m : $1)}' | paste -sd,)"
  for t in $threads; do
    echo "== $name, $t thread(s)" >&2
    rm -f "$out/$name-t$t-rapid.jsonl"
    "$build"/benchmarks/bench_decode --model "$model" --threads "$t" --depths "$d" --decode-tokens "$tg" \
      --prefill "$pp" --repeats "$reps" --json "$out/$name-t$t-rapid.jsonl" >&2
    { "$llama_bench" -m "$model" -t "$t" -p "$pp" -n 0 -r "$reps" -o jsonl
      "$llama_bench" -m "$model" -t "$t" -p 0 -n "$tg" -d "$d" -r "$reps" -o jsonl; } > "$out/$name-t$t-llama.jsonl" 2>/dev/null
  done
done

python3 - "$out" "${models[@]}" <<'PY'
import json, sys, glob, os
out, models = sys.argv[1], sys.argv[2:]
print("| model | threads | test | depth | rapid tok/s | llama.cpp tok/s | ratio | rapid of bandwidth ceiling |")
print("|---|---|---|---|---|---|---|---|")
for name in models:
    for f in sorted(glob.glob(f"{out}/{name}-t*-rapid.jsonl")):
        t = f.split("-t")[-1].split("-")[0]
        ours = [json.loads(l) for l in open(f)]
        ref = [json.loads(l) for l in open(f.replace("-rapid", "-llama"))]
        for r in ours:
            if r["test"].startswith("pp"):
                m = [x for x in ref if x["n_prompt"] > 0 and x["n_gen"] == 0]
            else:
                m = [x for x in ref if x["n_gen"] > 0 and x.get("n_depth", 0) == r["depth"]]
            theirs = m[0]["avg_ts"] if m else float("nan")
            ceil = f'{100 * r["tokens_per_s"] / r["ceiling_tokens_per_s"]:.0f} %' if "ceiling_tokens_per_s" in r else "-"
            print(f'| {name} | {t} | {r["test"]} | {r["depth"]} | {r["tokens_per_s"]:.2f} | {theirs:.2f} | '
                  f'{r["tokens_per_s"] / theirs:.2f} | {ceil} |')
PY
