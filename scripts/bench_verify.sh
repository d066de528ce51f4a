#!/usr/bin/env bash
# What a verification costs: ms per target forward of k new tokens (k - 1 drafted tokens plus
# one) at several cache depths, as a ratio to one decode step (k = 1), for rapid and, in the same
# run, for llama.cpp (llama-bench -p k -n 0 -d depth: a k-token prompt at depth d is a
# verification of k - 1 drafts; -p 0 -n 16 -d depth for its decode step). Same GGUF file, threads.
#
# usage: scripts/bench_verify.sh [qwen1.5b|qwen0.5b|smollm2 ...]     (default: qwen1.5b qwen0.5b)
# env:   BUILD_DIR=build  THREADS="1 2"  DEPTHS=0,1024,4096,16384,32768  K=1,2,3,5,8,11,16  REPS=5
#        LLAMA_DEPTHS=0,4096 (llama-bench fills each depth with a real prefill: 32K takes ~10 min
#        per thread count on 2 cores; rapid fills its cache with zeros, which costs the same
#        attention work)  OUT=out/bench_verify
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cache="${RAPID_CACHE_DIR:-$HOME/.cache/rapid}"
threads="${THREADS:-1 2}" depths="${DEPTHS:-0,1024,4096,16384,32768}" ks="${K:-1,2,3,5,8,11,16}" reps="${REPS:-5}"
llama_depths="${LLAMA_DEPTHS:-0,4096}" out="${OUT:-out/bench_verify}" build="${BUILD_DIR:-build}"
mkdir -p "$out"
declare -A files=([smollm2]=smollm2-135m-instruct-q4_1.gguf [qwen0.5b]=qwen2.5-coder-0.5b.gguf
                  [qwen1.5b]=qwen2.5-coder-1.5b-instruct-q4_k_m.gguf)
models=("$@"); ((${#models[@]})) || models=(qwen1.5b qwen0.5b)

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DRAPID_BUILD_BENCHMARKS=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target bench_verify >/dev/null
llama_bench="$(scripts/build_llama_bench.sh)"
max_k="$(tr ',' '\n' <<<"$ks" | sort -n | tail -1)"

for name in "${models[@]}"; do
  model="$cache/models/${files[$name]:?unknown model $name}"
  # a depth plus k must fit the training context (SmolLM2: 8192, Qwen2.5: 32768)
  train="$( [[ $name == smollm2 ]] && echo 8192 || echo 32768 )"
  clamp() { tr ',' '\n' <<<"$1" | awk -v m=$((train - max_k)) '{print ($1 > m ? m : $1)}' | paste -sd,; }
  d="$(clamp "$depths")" ld="$(clamp "$llama_depths")"
  for t in $threads; do
    echo "== $name, $t thread(s)" >&2
    rm -f "$out/$name-t$t-rapid.jsonl"
    "$build"/benchmarks/bench_verify --model "$model" --threads "$t" --depths "$d" --k "$ks" --repeats "$reps" \
      --json "$out/$name-t$t-rapid.jsonl" >&2
    { "$llama_bench" -m "$model" -t "$t" -p "$ks" -n 0 -d "$ld" -r "$reps" -o jsonl
      "$llama_bench" -m "$model" -t "$t" -p 0 -n 16 -d "$ld" -r "$reps" -o jsonl; } > "$out/$name-t$t-llama.jsonl" 2>/dev/null
  done
done

python3 - "$out" "${models[@]}" <<'PY'
import json, sys, glob
out, models = sys.argv[1], sys.argv[2:]
print("| model | threads | depth | k | rapid ms | rapid k/1 | llama.cpp ms | llama.cpp k/1 | rapid / llama.cpp |")
print("|---|---|---|---|---|---|---|---|---|")
for name in models:
    for f in sorted(glob.glob(f"{out}/{name}-t*-rapid.jsonl")):
        t = f.split("-t")[-1].split("-")[0]
        ours = [json.loads(l) for l in open(f)]
        ref = [json.loads(l) for l in open(f.replace("-rapid", "-llama"))]
        def llama_ms(depth, k):
            if k == 1:  # its decode step: 1000 / tokens per second of tg16 at this depth
                m = [x for x in ref if x["n_gen"] > 0 and x.get("n_depth", 0) == depth]
            else:       # a k-token prompt at this depth
                m = [x for x in ref if x["n_prompt"] == k and x["n_gen"] == 0 and x.get("n_depth", 0) == depth]
            return 1000 * k / m[0]["avg_ts"] if k > 1 and m else (1000 / m[0]["avg_ts"] if m else None)
        for r in ours:
            lm, l1 = llama_ms(r["depth"], r["k"]), llama_ms(r["depth"], 1)
            cell = lambda v, fmt: fmt.format(v) if v is not None else "-"
            lr = lm / l1 if lm is not None and l1 else None
            print(f'| {name} | {t} | {r["depth"]} | {r["k"]} | {r["ms"]:.1f} | {r["ratio"]:.2f} | '
                  f'{cell(lm, "{:.1f}")} | {cell(lr, "{:.2f}")} | {cell(r["ms"] / lm if lm else None, "{:.2f}")} |')
PY
