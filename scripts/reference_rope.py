#!/usr/bin/env python3
"""llama.cpp reference logits for RoPE scaling (tests/model/test_rope_scaling_reference.cpp).

The fixture GGUFs (random F32 weights, Llama-3 shapes in miniature; see tests/model/rope_fixtures.hpp)
are written by the repository's own GGUF writer, the `rapid_rope_fixtures` program of the test
build ($RAPID_BUILD_DIR, default build/; scripts/test.sh builds before it runs this script). Each
fixture is run through llama.cpp (llama-cpp-python, the oracle venv of scripts/python_env.sh) with
2 threads, an F16 KV cache, no flash attention, n_ctx 1024 and batches of 512, on 1024 random
token ids, and written under $RAPID_CACHE_DIR/reference/rope/:

  <name>.gguf          the fixture llama.cpp ran (the C++ test loads this very file)
  <name>.logits.f32    little-endian float32, (1024, n_vocab), every position's row
  reference.json       per fixture: file, n_vocab, token ids, logits file, sha256 of the fixture
  stamp.json           this script's, the fixtures' and llama-cpp-python's identity; redone only
                       when one changed

About 10 s on 2 cores.

usage: scripts/reference_rope.py [--force]
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

THREADS, N_CTX, N_BATCH, N_TOKENS, SEED = 2, 1024, 512, 1024, 23
REPO = Path(__file__).resolve().parent.parent


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 24):
            h.update(block)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--force", action="store_true", help="redo even when the stamp matches")
    args = ap.parse_args()
    build = Path(os.environ.get("RAPID_BUILD_DIR") or REPO / "build")
    writer = build / "tests" / "rapid_rope_fixtures"
    if not writer.exists():
        sys.exit(f"{writer} is missing: build it first (cmake --build {build} --target rapid_rope_fixtures)")
    cache = Path(os.environ.get("RAPID_CACHE_DIR") or Path.home() / ".cache" / "rapid")
    out = cache / "reference" / "rope"
    fresh = out / "fixtures.tmp"
    shutil.rmtree(fresh, ignore_errors=True)
    subprocess.run([str(writer), str(fresh)], check=True)
    fixtures = sorted(p.stem for p in fresh.glob("*.gguf"))
    import llama_cpp  # after argument parsing, so --help works without it

    stamp = {"script": sha256_file(__file__), "llama_cpp_python": llama_cpp.__version__,
             "fixtures": {name: sha256_file(fresh / f"{name}.gguf") for name in fixtures}}
    stamp_file = out / "stamp.json"
    outputs = ["reference.json"] + [f"{n}.gguf" for n in fixtures] + [f"{n}.logits.f32" for n in fixtures]
    if (not args.force and stamp_file.exists() and json.loads(stamp_file.read_text()) == stamp
            and all((out / f).exists() for f in outputs)):
        shutil.rmtree(fresh)
        print(f"rope: up to date ({out})", file=sys.stderr)
        return
    stamp_file.unlink(missing_ok=True)

    reference = {"engine": f"llama-cpp-python {llama_cpp.__version__} (llama.cpp vendored), CPU, {THREADS} threads, "
                           f"F16 KV cache, n_ctx {N_CTX}, n_batch {N_BATCH}", "fixtures": {}}
    for name in fixtures:
        path = fresh / f"{name}.gguf"
        llm = llama_cpp.Llama(model_path=str(path), n_ctx=N_CTX, n_batch=N_BATCH, n_ubatch=N_BATCH,
                              n_threads=THREADS, n_threads_batch=THREADS, logits_all=True, flash_attn=False,
                              verbose=False)
        n_vocab = llm.n_vocab()
        tokens = [int(t) for t in np.random.default_rng(SEED).integers(0, n_vocab, N_TOKENS)]
        llm.eval(tokens)
        logits = np.array(llm.scores[:N_TOKENS], dtype=np.float32)
        del llm
        logits.astype("<f4").tofile(fresh / f"{name}.logits.f32")
        reference["fixtures"][name] = {"file": f"{name}.gguf", "sha256": stamp["fixtures"][name], "n_vocab": n_vocab,
                                       "tokens": tokens, "logits_file": f"{name}.logits.f32"}
        print(f"rope: {name}: {N_TOKENS} rows of {n_vocab} logits", file=sys.stderr)
    (fresh / "reference.json").write_text(json.dumps(reference) + "\n")
    out.mkdir(parents=True, exist_ok=True)
    for f in outputs:
        os.replace(fresh / f, out / f)
    shutil.rmtree(fresh)
    stamp_file.write_text(json.dumps(stamp, indent=1) + "\n")


if __name__ == "__main__":
    main()
