#!/usr/bin/env python3
"""llama.cpp reference logits for tests/model/test_transformer_reference.cpp.

Runs the real GGUF models through llama.cpp (llama-cpp-python, built from its sdist into the oracle
venv: see scripts/requirements-oracles.txt) with 2 threads, an F16 KV cache and no flash attention,
and writes under $RAPID_CACHE_DIR/reference/logits/<model>/:

  reference.json       token ids (llama.cpp's own tokenizer, so the C++ test does not depend on
                       rapid's) and the expected results:
    teacher            512 tokens of a Paul Graham essay fed as one block; argmax and top-1/top-2
                       gap of every row; full rows for every 16th position in teacher_logits.f32
    greedy             5 plain-text prompts, 64 greedy steps each (prompt fed as one block, then one
                       token per step; every step is taken, EOS included), with the top-1 logit
                       and the top-1/top-2 gap at every step
    perplexity         llama.cpp's perplexity tool's method: the first 4096 tokens of an essay cut
                       into windows of `ctx` (1024) tokens, BOS written over each window's first
                       token when the vocabulary adds one, each window from an empty cache in
                       batches of 512, the second half scored (-log p of token j+1 from row j for
                       j in [ctx/2, ctx-1)); ppl = exp(sum nll / count). The text of the 4096
                       tokens is in perplexity.txt, so `llama-perplexity -f perplexity.txt -c 1024
                       -b 512 -t 2` (scripts/build_llama_bench.sh) gives the same windows.
    kv_cache           the same teacher-forced pass with flash attention and an F16, then a Q8_0
                       KV cache (full rows for the saved positions in teacher_logits_fa_<type>.f32),
                       and how far the Q8_0 cache moves llama.cpp's logits (q8_0_vs_f16)
    control            the same teacher-forced pass by llama.cpp on a copy of the model with every
                       tensor dequantized to F32 (made with gguf-py in a temporary file, then
                       deleted): llama.cpp then takes no 8-bit activation shortcut, so these rows
                       are the exact forward pass of the same weights (rapid's
                       activation_mode::exact is compared to them), and their distance to the
                       quantized rows (mean/max |dlogit| after position 0, top-1 agreement) is
                       llama.cpp's own activation-quantisation noise, the scale for rapid's int8
                       bounds (the C++ test recomputes it from the two row files).
  teacher_logits.f32   little-endian float32, (len(saved_rows), n_vocab), row-major
  teacher_logits_f32.f32  the same rows from the F32 copy
  stamp.json           what the outputs were made from: this script's, the model's and the texts'
                       sha256 and the llama-cpp-python version; a model is redone only when it changed

SmolLM2-135M is always done (about 40 s on 2 idle cores). The Qwen2.5 models (0.5B and 1.5B: a few
minutes each on 2 idle cores, 10 to 17 min in all on a busy machine, plus a temporary F32 copy of
2 and 6 GB) are done only with --big or RAPID_REFERENCE_BIG=1, since CI time is short; their tests
in the C++ suite run when these files exist (RAPID_REQUIRE_BIG_MODELS=1 makes their absence fail).

usage: scripts/reference_logits.py [--big] [--force] [MODEL ...]     (MODEL: smollm2 qwen0.5b qwen1.5b)
"""
import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

MODELS = {
    "smollm2": "smollm2-135m-instruct-q4_1.gguf",
    "qwen0.5b": "qwen2.5-coder-0.5b.gguf",
    "qwen1.5b": "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
}
SMALL = ["smollm2"]
THREADS = 2
TEACHER_ESSAY, TEACHER_TOKENS, SAVE_EVERY = "avg.txt", 512, 16
PPL_ESSAY, PPL_TOKENS, PPL_CTX, PPL_BATCH = "worked.txt", 4096, 1024, 512
GREEDY_STEPS = 64
OUTPUTS = ("teacher_logits.f32", "teacher_logits_f32.f32", "teacher_logits_fa_f16.f32", "teacher_logits_fa_q8_0.f32",
           "perplexity.txt", "reference.json")
PROMPTS = [
    "The capital of France is",
    "Once upon a time, in a small village by the sea, there lived",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "The three most important things to know about photosynthesis are",
    "When Robert Morris and I started Viaweb in 1995, we",
]


def sha256_file(path, chunk=1 << 24):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def model_sha256(cache, name, path):
    """The fetch stamp's hash when its recorded size and mtime still match, else a fresh hash."""
    st = path.stat()
    try:
        entry = json.loads((cache / "stamps" / f"{name}.json").read_text())[f"models/{path.name}"]
        if entry["stat"] == [st.st_size, st.st_mtime_ns]:
            return entry["sha256"]
    except (OSError, KeyError, ValueError):
        pass
    return sha256_file(path)


def top2(row):
    """(argmax, top-1 logit, top-1 minus top-2 logit); ties go to the lowest index like np.argmax."""
    i = int(np.argmax(row))
    second = np.partition(row, -2)[-2]
    return i, float(row[i]), float(row[i] - second)


def log_softmax_at(row, token):
    row = row.astype(np.float64)
    m = row.max()
    return float(row[token] - m - np.log(np.exp(row - m).sum()))


def dequantize_to_f32(src, dst):
    """Writes a copy of the GGUF `src` with every tensor dequantized to F32 (streamed, tensor by tensor)."""
    import gguf
    from gguf.quants import dequantize
    reader = gguf.GGUFReader(src)
    writer = gguf.GGUFWriter(dst, reader.fields["general.architecture"].contents())
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, field.contents(), vtype, sub_type=sub)
    shapes = [[int(d) for d in reversed(t.shape)] for t in reader.tensors]  # numpy order: rows first
    for t, shape in zip(reader.tensors, shapes):
        writer.add_tensor_info(t.name, shape, np.dtype(np.float32), 4 * int(np.prod(shape)))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for t, shape in zip(reader.tensors, shapes):
        writer.write_tensor_data(np.asarray(dequantize(t.data, t.tensor_type), dtype=np.float32).reshape(shape))
    writer.close()


def open_llama(llama_cpp, path):
    return llama_cpp.Llama(model_path=str(path), n_ctx=PPL_CTX, n_batch=PPL_BATCH, n_ubatch=PPL_BATCH,
                           n_threads=THREADS, n_threads_batch=THREADS, logits_all=True, flash_attn=False,
                           verbose=False)


def run_model(llama_cpp, name, path, texts, out):
    t0 = time.time()
    llm = open_llama(llama_cpp, path)
    n_vocab = llm.n_vocab()
    add_bos = bool(llama_cpp.llama_vocab_get_add_bos(llama_cpp.llama_model_get_vocab(llm.model)))
    bos = llm.token_bos()
    tok = lambda s: llm.tokenize(s.encode("utf-8"), add_bos=True, special=False)  # BOS only if the vocab adds one

    # (a) teacher-forced rows
    ids = tok(texts["teacher"])
    assert len(ids) >= TEACHER_TOKENS, f"{TEACHER_ESSAY}: only {len(ids)} tokens"
    ids = ids[:TEACHER_TOKENS]
    llm.reset()
    llm.eval(ids)
    logits = np.array(llm.scores[:len(ids)], dtype=np.float32)
    rows = [top2(r) for r in logits]
    saved = list(range(0, len(ids), SAVE_EVERY))
    if saved[-1] != len(ids) - 1:
        saved.append(len(ids) - 1)
    logits[saved].astype("<f4").tofile(out / "teacher_logits.f32.tmp")
    teacher = {"source": TEACHER_ESSAY, "tokens": ids, "argmax": [r[0] for r in rows],
               "top1": [r[1] for r in rows], "gap": [r[2] for r in rows], "saved_rows": saved,
               "logits_file": "teacher_logits.f32"}
    t_teacher = time.time() - t0

    # (b) greedy generation
    greedy = []
    for prompt in PROMPTS:
        p = tok(prompt)
        llm.reset()
        llm.eval(p)
        out_tokens, top1, gap, second = [], [], [], []
        for _ in range(GREEDY_STEPS):
            row = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
            t, v, g = top2(row)
            masked = row.copy()
            masked[t] = -np.inf
            out_tokens.append(t), top1.append(v), gap.append(g), second.append(int(np.argmax(masked)))
            llm.eval([t])
        greedy.append({"prompt": prompt, "prompt_tokens": p, "tokens": out_tokens, "top1": top1, "gap": gap,
                       "second": second,
                       "text": llm.detokenize(out_tokens).decode("utf-8", errors="replace")})
    t_greedy = time.time() - t0 - t_teacher

    # (c) perplexity, as llama.cpp's perplexity tool computes it
    all_ids = tok(texts["ppl"])
    assert len(all_ids) >= PPL_TOKENS, f"{PPL_ESSAY}: only {len(all_ids)} tokens"
    all_ids = all_ids[:PPL_TOKENS]
    first = PPL_CTX // 2
    windows, nll_windows, count = [], [], 0
    for start in range(0, PPL_TOKENS - PPL_CTX + 1, PPL_CTX):
        w = list(all_ids[start:start + PPL_CTX])
        if add_bos:
            w[0] = bos
        llm.reset()
        llm.eval(w)  # in batches of n_batch = 512
        scores = llm.scores[:PPL_CTX]
        nll = -sum(log_softmax_at(scores[j], w[j + 1]) for j in range(first, PPL_CTX - 1))
        windows.append(w)
        nll_windows.append(nll)
        count += PPL_CTX - 1 - first
    ppl = float(np.exp(sum(nll_windows) / count))
    (out / "perplexity.txt.tmp").write_bytes(llm.detokenize(all_ids))
    t_ppl = time.time() - t0 - t_teacher - t_greedy
    del llm

    # (d) KV cache types: the teacher-forced pass again with flash attention (llama.cpp needs it for
    # a quantized V cache), once with an F16 and once with a Q8_0 cache (-ctk q8_0 -ctv q8_0)
    kv_rows = {}
    for kv, ggml_type in (("f16", llama_cpp.GGML_TYPE_F16), ("q8_0", llama_cpp.GGML_TYPE_Q8_0)):
        llm = llama_cpp.Llama(model_path=str(path), n_ctx=PPL_CTX, n_batch=PPL_BATCH, n_ubatch=PPL_BATCH,
                              n_threads=THREADS, n_threads_batch=THREADS, logits_all=True, flash_attn=True,
                              type_k=ggml_type, type_v=ggml_type, verbose=False)
        llm.eval(ids)
        kv_rows[kv] = np.array(llm.scores[:len(ids)], dtype=np.float32)[saved]
        del llm
        kv_rows[kv].astype("<f4").tofile(out / f"teacher_logits_fa_{kv}.f32.tmp")
    shift = np.abs(kv_rows["q8_0"].astype(np.float64) - kv_rows["f16"])
    kv_cache = {"flash_attn": True, "logits_files": {kv: f"teacher_logits_fa_{kv}.f32" for kv in kv_rows},
                "q8_0_vs_f16": {"mean_abs": float(shift[1:].mean()), "max_abs": float(shift[1:].max())}}
    t_kv = time.time() - t0 - t_teacher - t_greedy - t_ppl

    # control: the teacher-forced pass on an F32 copy of the weights
    f32_path = out / "dequantized-f32.gguf.tmp"
    try:
        dequantize_to_f32(path, f32_path)
        f32 = open_llama(llama_cpp, f32_path)
        f32.eval(ids)
        exact = np.array(f32.scores[:len(ids)], dtype=np.float32)
        del f32
    finally:
        f32_path.unlink(missing_ok=True)
    exact[saved].astype("<f4").tofile(out / "teacher_logits_f32.f32.tmp")
    exact_rows = [top2(r) for r in exact]
    # Position 0 apart: the first token's outsized "attention sink" activations make its 8-bit
    # rounding error far larger (Qwen2.5-1.5B: up to 14 logits there, 0.5 elsewhere).
    noise = np.abs(exact[saved].astype(np.float64) - logits[saved])
    control = {"logits_file": "teacher_logits_f32.f32", "argmax": [r[0] for r in exact_rows],
               "gap": [r[2] for r in exact_rows],
               "quantized_vs_f32": {"mean_abs": float(noise[1:].mean()), "max_abs": float(noise[1:].max()),
                                    "position0_max_abs": float(noise[0].max()),
                                    "top1_agreement": sum(a[0] == b[0] for a, b in zip(rows, exact_rows)) / len(ids)}}
    t_control = time.time() - t0 - t_teacher - t_greedy - t_ppl - t_kv

    reference = {
        "model": name, "file": path.name, "n_vocab": n_vocab, "add_bos": add_bos, "bos": bos,
        "engine": f"llama-cpp-python {llama_cpp.__version__} (llama.cpp vendored), CPU, {THREADS} threads, "
                  f"F16 KV cache, n_batch {PPL_BATCH}",
        "teacher": teacher,
        "control": control,
        "kv_cache": kv_cache,
        "greedy": greedy,
        "perplexity": {"source": PPL_ESSAY, "ctx": PPL_CTX, "batch": PPL_BATCH, "first": first, "windows": windows,
                       "nll": nll_windows, "count": count, "ppl": ppl, "text_file": "perplexity.txt"},
        "seconds": {"teacher": t_teacher, "greedy": t_greedy, "perplexity": t_ppl, "kv_cache": t_kv, "control": t_control},
    }
    (out / "reference.json.tmp").write_text(json.dumps(reference, allow_nan=False) + "\n")
    for f in OUTPUTS:
        os.replace(out / f"{f}.tmp", out / f)
    q = control["quantized_vs_f32"]
    print(f"{name}: {len(ids)} teacher rows, {len(PROMPTS)}x{GREEDY_STEPS} greedy, ppl {ppl:.4f} (ctx {PPL_CTX}, "
          f"{count} scored); llama.cpp quantized vs F32: |dlogit| mean {q['mean_abs']:.4f} max {q['max_abs']:.4f} "
          f"(position 0: {q['position0_max_abs']:.4f}), top-1 {q['top1_agreement']:.4f}; {t_teacher:.0f}+{t_greedy:.0f}+{t_ppl:.0f}+{t_control:.0f} s", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="*", metavar="MODEL", help=f"{' '.join(MODELS)}; default: smollm2 (all with --big)")
    ap.add_argument("--big", action="store_true", help="also the Qwen2.5 models (default: $RAPID_REFERENCE_BIG=1)")
    ap.add_argument("--force", action="store_true", help="redo even when the stamp matches")
    args = ap.parse_args()
    big = args.big or os.environ.get("RAPID_REFERENCE_BIG") == "1"
    names = args.models or (list(MODELS) if big else SMALL)
    if unknown := [n for n in names if n not in MODELS]:
        ap.error(f"unknown model {unknown[0]!r} (known: {', '.join(MODELS)})")

    cache = Path(os.environ.get("RAPID_CACHE_DIR") or Path.home() / ".cache" / "rapid")
    essays = cache / "data" / "paul_graham_essays"
    texts = {"teacher": (essays / TEACHER_ESSAY).read_text(encoding="utf-8").strip(),
             "ppl": (essays / PPL_ESSAY).read_text(encoding="utf-8").strip()}
    import llama_cpp  # after argument parsing, so --help works without it

    for name in names:
        path = cache / "models" / MODELS[name]
        if not path.exists():
            sys.exit(f"{path} is missing: run scripts/fetch_models.py {name}")
        out = cache / "reference" / "logits" / name
        stamp = {"script": sha256_file(__file__), "model": model_sha256(cache, name, path),
                 "texts": hashlib.sha256((texts["teacher"] + "\0" + texts["ppl"]).encode()).hexdigest(),
                 "llama_cpp_python": llama_cpp.__version__}
        stamp_file = out / "stamp.json"
        done = all((out / f).exists() for f in OUTPUTS)
        if not args.force and done and stamp_file.exists() and json.loads(stamp_file.read_text()) == stamp:
            print(f"{name}: up to date ({out})", file=sys.stderr)
            continue
        out.mkdir(parents=True, exist_ok=True)
        stamp_file.unlink(missing_ok=True)
        run_model(llama_cpp, name, path, texts, out)
        stamp_file.write_text(json.dumps(stamp, indent=1) + "\n")


if __name__ == "__main__":
    main()
