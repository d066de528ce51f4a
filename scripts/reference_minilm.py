#!/usr/bin/env python3
"""Reference data for the MiniLM encoder tests (tests/model/test_wordpiece.cpp, test_encoder.cpp).

  wordpiece.ids   HF `tokenizers` ids (the model's own tokenizer.json: BertNormalizer, BertPreTokenizer,
                  WordPiece; truncation, padding and [CLS]/[SEP] off; special tokens written in the text
                  are plain text, encode_special_tokens=True) of every document of the
                  tokenizer corpus (scripts/make_tokenizer_corpus.py; its invalid-UTF-8 part excluded,
                  HF takes only valid strings). Format as reference_tokenizer.py's .ids, one list per doc.
  sentences.json  100 texts: sentences of the Paul Graham essays (short to long, three longer than
                  256 tokens so truncation is exercised) and a few written to hit accents, CJK, digits
                  and punctuation.
  embeddings.f32  (100, 384) little-endian f32: sentence-transformers all-MiniLM-L6-v2 embeddings of
                  sentences.json computed with numpy (no torch): HF tokenizer with [CLS]/[SEP] and
                  truncation at MAX_TOKENS, BERT forward in float64 from model.safetensors, mean pooling
                  over the tokens, L2 normalisation.

MAX_TOKENS = 256 is sentence-transformers' max_seq_length for this model (its
sentence_bert_config.json, not fetched here); the tokenizer.json's 128 is not what the library uses.

Outputs under $RAPID_CACHE_DIR/reference/minilm/ (default ~/.cache/rapid); skipped when the stamp of
the inputs is unchanged.

usage: $(scripts/python_env.sh) scripts/reference_minilm.py [--force]
"""
import hashlib
import importlib.util
import json
import math
import os
import re
import struct
import sys
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

CACHE = Path(os.environ.get("RAPID_CACHE_DIR") or Path.home() / ".cache" / "rapid")
MODEL = CACHE / "models" / "all-minilm-l6-v2"
CORPUS = CACHE / "data" / "tokenizer_corpus" / "corpus.bin"
ESSAYS = CACHE / "data" / "paul_graham_essays"
OUT = CACHE / "reference" / "minilm"
MAX_TOKENS = 256
EXTRA = [
    "Café society in São Paulo: naïve résumés, façades and Ångström units.",
    "東京は日本の首都です。北京是中国的首都。",
    "The 3.14159 approximation (and 2,718 others!) were listed on 2024-05-17 at 09:30.",
    "ΣΊΣΥΦΟΣ was a king; Ελληνικά κείμενα are lower-cased too.",
    "Don't split can't, won't; e-mail co-operate well-known -- dashes... and quotes \"like this\".",
    "   leading and trailing whitespace\tand\ttabs\n\nand newlines   ",
    "x",
]


def read_docs(path):
    blob = path.read_bytes()
    assert blob[:4] == b"RTKC", path
    (n,) = struct.unpack_from("<I", blob, 4)
    at, docs = 8, []
    for _ in range(n):
        (k,) = struct.unpack_from("<I", blob, at)
        at += 4 + k
        (m,) = struct.unpack_from("<I", blob, at)
        docs.append(blob[at + 4:at + 4 + m])
        at += 4 + m
    return docs


def write_ids(path, lists):
    blob = bytearray(b"RTKI") + struct.pack("<I", len(lists))
    for ids in lists:
        blob += struct.pack("<I", len(ids)) + struct.pack(f"<{len(ids)}I", *ids)
    path.write_bytes(bytes(blob))


def sentences():
    text = " ".join(p.read_text(encoding="utf-8") for p in sorted(ESSAYS.glob("*.txt")))
    text = re.sub(r"\s+", " ", text)
    parts = [s.strip() for s in re.split(r"(?<=[.!?]) ", text) if len(s.strip()) > 3]
    picked = [parts[i] for i in range(0, len(parts), max(1, len(parts) // 90))][:90]
    # three long passages (> 256 wordpieces) for truncation
    long = [" ".join(parts[i:i + 25]) for i in (100, 2000, 4000)]
    return picked + long + EXTRA


def load_weights():
    raw = (MODEL / "model.safetensors").read_bytes()
    (n,) = struct.unpack_from("<Q", raw, 0)
    header = json.loads(raw[8:8 + n])
    w = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] != "F32":
            continue
        a, b = info["data_offsets"]
        w[name] = np.frombuffer(raw, dtype="<f4", count=(b - a) // 4, offset=8 + n + a).reshape(info["shape"]).astype(np.float64)
    return w


def layer_norm(x, g, b, eps=1e-12):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def gelu(x):
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def embed(w, ids, heads=12, layers=6):
    n = len(ids)
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n] \
        + w["embeddings.token_type_embeddings.weight"][0]
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
    d = x.shape[1]
    hd = d // heads
    for i in range(layers):
        p = f"encoder.layer.{i}."
        lin = lambda t, name: t @ w[p + name + ".weight"].T + w[p + name + ".bias"]
        q = lin(x, "attention.self.query").reshape(n, heads, hd).transpose(1, 0, 2)
        k = lin(x, "attention.self.key").reshape(n, heads, hd).transpose(1, 0, 2)
        v = lin(x, "attention.self.value").reshape(n, heads, hd).transpose(1, 0, 2)
        s = q @ k.transpose(0, 2, 1) / math.sqrt(hd)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        ctx = (s @ v).transpose(1, 0, 2).reshape(n, d)
        h = layer_norm(lin(ctx, "attention.output.dense") + x, w[p + "attention.output.LayerNorm.weight"],
                       w[p + "attention.output.LayerNorm.bias"])
        f = lin(gelu(lin(h, "intermediate.dense")), "output.dense")
        x = layer_norm(f + h, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
    e = x.mean(0)
    return e / np.linalg.norm(e)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def build_corpus():
    """(Re)builds the tokenizer corpus exactly as reference_tokenizer.py does (seeded, idempotent),
    so this script never reads a missing or stale corpus whatever order the scripts run in."""
    here = Path(__file__).resolve().parent
    spec = importlib.util.spec_from_file_location("make_tokenizer_corpus", here / "make_tokenizer_corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--quiet"])


def main(argv):
    build_corpus()
    inputs = {"script": sha256(__file__), "model": sha256(MODEL / "model.safetensors"),
              "tokenizer": sha256(MODEL / "tokenizer.json"), "corpus": sha256(CORPUS),
              "essays": sorted(p.name for p in ESSAYS.glob("*.txt")), "max_tokens": MAX_TOKENS}
    OUT.mkdir(parents=True, exist_ok=True)
    stamp = OUT / "stamp.json"
    outputs = [OUT / "wordpiece.ids", OUT / "sentences.json", OUT / "embeddings.f32"]
    if "--force" not in argv and stamp.exists() and all(p.exists() for p in outputs):
        if json.loads(stamp.read_text()) == inputs:
            print("minilm reference up to date", file=sys.stderr)
            return
    stamp.unlink(missing_ok=True)

    tk = Tokenizer.from_file(str(MODEL / "tokenizer.json"))
    tk.no_truncation()
    tk.no_padding()
    tk.encode_special_tokens = True  # "[PAD]" written in a text is text, as in rapid's wordpiece
    docs = [d.decode("utf-8") for d in read_docs(CORPUS)]
    write_ids(OUT / "wordpiece.ids", [tk.encode(d, add_special_tokens=False).ids for d in docs])

    tk.enable_truncation(MAX_TOKENS)
    texts = sentences()
    assert len(texts) == 100, len(texts)
    w = load_weights()
    vecs = np.stack([embed(w, tk.encode(t).ids) for t in texts]).astype("<f4")
    (OUT / "sentences.json").write_text(json.dumps(texts, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    (OUT / "embeddings.f32").write_bytes(vecs.tobytes())
    stamp.write_text(json.dumps(inputs, indent=1) + "\n")
    print(f"wrote {OUT}: {len(docs)} corpus documents, {len(texts)} embeddings", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv)
