#!/usr/bin/env python3
"""llama.cpp's decode speed at a deep KV cache, with the prefill paid once.

llama-bench fills `-d depth` with a real prefill on every run, untimed but not free: at 32K
positions that is more than half an hour of two cores here, per cache type. This script runs the
same llama.cpp (llama-cpp-python, built as scripts/requirements-oracles.txt says: native ISA,
no AMX) through its state files: the first run prefills `depth` tokens and saves the context
(KV cache included) under the cache folder; every later run loads it and times only the
single-token decode steps, as llama-bench's `-n` does (one token per llama_decode, fresh state
per repeat). Prints one JSON line per repeat and a summary line.

usage: ~/.cache/rapid/venv/bin/python scripts/llama_decode_depth.py --model M.gguf --depth 32752 \\
         --cache-type q8_0 --threads 2 [--decode-tokens 16] [--repeats 3] [--prefill-only]
The prefill can run at idle priority in the background (`chrt -i 0 ... --prefill-only`).
"""
import argparse
import ctypes
import json
import os
import random
import sys
import time

import llama_cpp

TYPES = {"f16": llama_cpp.GGML_TYPE_F16, "q8_0": llama_cpp.GGML_TYPE_Q8_0, "q4_0": llama_cpp.GGML_TYPE_Q4_0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--depth", type=int, required=True, help="positions in the cache before decoding")
    ap.add_argument("--cache-type", choices=sorted(TYPES), default="f16", help="K and V cache type (-ctk/-ctv)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--decode-tokens", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--prefill-only", action="store_true", help="make the state file and stop")
    ap.add_argument("--state-dir", default=os.path.join(os.environ.get("RAPID_CACHE_DIR", os.path.expanduser("~/.cache/rapid")), "llama_state"))
    a = ap.parse_args()

    n_ctx = a.depth + a.decode_tokens
    llm = llama_cpp.Llama(model_path=a.model, n_ctx=n_ctx, n_batch=512, n_ubatch=512, n_threads=a.threads,
                          n_threads_batch=a.threads, flash_attn=True, type_k=TYPES[a.cache_type],
                          type_v=TYPES[a.cache_type], verbose=False)
    # Tokens as llama-bench draws them: uniform over the vocabulary, fixed seed so a state file is
    # reproducible. Attention's cost at a depth does not depend on which tokens fill it.
    rng = random.Random(1234)
    vocab = llm.n_vocab()
    prompt = [rng.randrange(vocab) for _ in range(a.depth)]
    os.makedirs(a.state_dir, exist_ok=True)
    path = os.path.join(a.state_dir, f"{os.path.basename(a.model)}.d{a.depth}.{a.cache_type}.ctx{n_ctx}.llama{llama_cpp.__version__}.state")

    if not os.path.exists(path):
        t0 = time.perf_counter()
        llm.eval(prompt)
        elapsed = time.perf_counter() - t0
        arr = (llama_cpp.llama_token * a.depth)(*prompt)
        if not llama_cpp.llama_state_save_file(llm.ctx, (path + ".part").encode(), arr, a.depth):
            print(f"saving the state to {path} failed", file=sys.stderr)
            return 1
        os.replace(path + ".part", path)
        print(json.dumps({"prefill_s": round(elapsed, 1), "depth": a.depth, "cache_type": a.cache_type, "state": path}), flush=True)
    if a.prefill_only:
        return 0

    rates = []
    for rep in range(a.repeats):
        arr = (llama_cpp.llama_token * n_ctx)()
        n_out = ctypes.c_size_t(0)
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(llm.ctx), True)
        if not llama_cpp.llama_state_load_file(llm.ctx, path.encode(), arr, n_ctx, ctypes.byref(n_out)) or n_out.value != a.depth:
            print(f"loading the state from {path} failed (delete it to prefill again)", file=sys.stderr)
            return 1
        llm.n_tokens = a.depth
        llm.input_ids[: a.depth] = prompt
        token = rng.randrange(vocab)
        t0 = time.perf_counter()
        for _ in range(a.decode_tokens):
            llm.eval([token])  # one llama_decode of one token at the next position
        elapsed = time.perf_counter() - t0
        rates.append(a.decode_tokens / elapsed)
        print(json.dumps({"test": f"tg{a.decode_tokens}", "depth": a.depth, "cache_type": a.cache_type, "threads": a.threads,
                          "repeat": rep, "tokens_per_s": round(rates[-1], 3)}), flush=True)
    rates.sort()
    print(json.dumps({"summary": True, "depth": a.depth, "cache_type": a.cache_type, "threads": a.threads,
                      "median_tokens_per_s": round(rates[len(rates) // 2], 3)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
