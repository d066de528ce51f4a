#!/usr/bin/env python3
"""Print verified facts about the cached models (source of docs/models.md).

Run with the oracle venv:  $(scripts/python_env.sh) scripts/describe_models.py [--cache DIR]
It reads the files placed by scripts/fetch_models.py (cache: --cache, else
$RAPID_CACHE_DIR, else ~/.cache/rapid) and prints Markdown. Nothing is executed
from the model packages; GGUF files are parsed by gguf-py, safetensors by hand.
"""
import argparse
import collections
import glob
import json
import os
import re
import struct

from gguf import GGUFReader


def field(r, key, default="(absent)"):
    f = r.fields.get(key)
    return default if f is None else f.contents()


def table(rows):
    print("| key | value |\n|---|---|")
    for k, v in rows:
        print(f"| {k} | {v} |")
    print()


def describe_gguf(path):
    r = GGUFReader(path)
    arch = field(r, "general.architecture")
    a = lambda key: field(r, f"{arch}.{key}")
    n_embd, n_head = a("embedding_length"), a("attention.head_count")
    tensors = {t.name: t for t in r.tensors}
    out = tensors.get("output.weight")
    template = field(r, "tokenizer.chat_template", None)
    data_end = max(int(t.data_offset) + int(t.n_bytes) for t in r.tensors)
    print(f"### {os.path.basename(path)}\n")
    table([
        ("file size (bytes)", os.path.getsize(path)),
        ("GGUF version / tensors / kv pairs",
         f"{field(r, 'GGUF.version')} / {len(r.tensors)} / {field(r, 'GGUF.kv_count')}"),
        ("tensor data offset / last tensor ends at",
         f"{r.data_offset} / {data_end}" + (" (= file size)" if data_end == os.path.getsize(path)
                                            else " (NOT the file size)")),
        ("general.architecture", arch),
        ("general.name", field(r, "general.name")),
        ("general.finetune / size_label",
         f"{field(r, 'general.finetune')} / {field(r, 'general.size_label')}"),
        ("general.file_type", field(r, "general.file_type")),
        ("general.quantization_version", field(r, "general.quantization_version")),
        ("general.alignment", field(r, "general.alignment", "(absent: 32)")),
        ("block_count", a("block_count")),
        ("embedding_length", n_embd),
        ("feed_forward_length", a("feed_forward_length")),
        ("head_count / head_count_kv", f"{n_head} / {a('attention.head_count_kv')}"),
        ("head_dim (embedding_length / head_count)", n_embd // n_head),
        ("rope.dimension_count", a("rope.dimension_count")),
        ("context_length", a("context_length")),
        ("rope.freq_base", a("rope.freq_base")),
        ("attention.layer_norm_rms_epsilon", f"{a('attention.layer_norm_rms_epsilon'):.3g}"),
        ("vocab size (tokens array)", len(r.fields["tokenizer.ggml.tokens"].data)),
        ("merges", len(r.fields["tokenizer.ggml.merges"].data)),
        ("tokenizer.ggml.model / pre",
         f"{field(r, 'tokenizer.ggml.model')} / {field(r, 'tokenizer.ggml.pre')}"),
        ("bos / eos / pad / unk ids",
         " / ".join(str(field(r, f"tokenizer.ggml.{k}_token_id"))
                    for k in ("bos", "eos", "padding", "unknown"))),
        ("add_bos_token / add_eos_token",
         f"{field(r, 'tokenizer.ggml.add_bos_token')} / {field(r, 'tokenizer.ggml.add_eos_token')}"),
        ("chat_template", "present" + (" (ChatML <\\|im_start\\|>)" if "<|im_start|>" in template
                                       else "") if template else "absent"),
        ("token_embd.weight type / shape (ne)",
         f"{tensors['token_embd.weight'].tensor_type.name} / {list(tensors['token_embd.weight'].shape)}"),
        ("output.weight", f"present, untied, {out.tensor_type.name}" if out
         else "absent (tied to token_embd)"),
    ])
    # Count and bytes per ggml type.
    hist = collections.defaultdict(lambda: [0, 0])
    for t in r.tensors:
        hist[t.tensor_type.name][0] += 1
        hist[t.tensor_type.name][1] += int(t.n_bytes)
    print("| tensor type | count | bytes |\n|---|---|---|")
    for name, (n, b) in sorted(hist.items(), key=lambda kv: -kv[1][1]):
        print(f"| {name} | {n} | {b} |")
    print()
    # Which types each tensor role uses across layers (K-quant mixes vary by layer).
    roles = collections.defaultdict(collections.Counter)
    for t in r.tensors:
        roles[re.sub(r"^blk\.\d+\.", "blk.N.", t.name)][t.tensor_type.name] += 1
    print("| tensor (per layer: blk.N) | types (count) |\n|---|---|")
    for name, c in sorted(roles.items()):
        print(f"| {name} | {', '.join(f'{k} x{v}' for k, v in sorted(c.items()))} |")
    print()
    return r


def compare_tokenizers(a_path, ra, b_path, rb):
    print(f"### Tokenizer: {os.path.basename(a_path)} vs {os.path.basename(b_path)}\n")
    rows = []
    for key in ("tokens", "merges", "token_type", "model", "pre", "bos_token_id",
                "eos_token_id", "padding_token_id", "add_bos_token"):
        k = f"tokenizer.ggml.{key}"
        rows.append((k, "identical" if field(ra, k) == field(rb, k) else "DIFFERENT"))
    rows.append(("tokenizer.chat_template", "identical" if field(ra, "tokenizer.chat_template", None)
                 == field(rb, "tokenizer.chat_template", None) else "DIFFERENT"))
    # Token types (llama.cpp): 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
    types = field(ra, "tokenizer.ggml.token_type")
    rows.append(("token_type histogram", ", ".join(
        f"{k}: {v}" for k, v in sorted(collections.Counter(types).items()))))
    tokens = field(ra, "tokenizer.ggml.tokens")
    special = [(i, tokens[i], types[i]) for i in range(len(tokens))
               if types[i] != 1 and not tokens[i].startswith("[PAD")]
    rows.append(("non-normal tokens other than [PAD...] (id token type)",
                 ", ".join(f"{i} `{t}` {ty}" for i, t, ty in special).replace("|", "\\|")))
    pads = [i for i in range(len(tokens)) if tokens[i].startswith("[PAD")]
    if pads:
        rows.append(("[PAD...] filler tokens", f"{len(pads)}, ids {pads[0]}..{pads[-1]}, "
                     f"types {sorted(set(types[i] for i in pads))}"))
    table(rows)


def describe_minilm(d):
    print(f"### {os.path.basename(d)}/\n")
    with open(os.path.join(d, "model.safetensors"), "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))  # header length, then a JSON header
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    hist, params = collections.Counter(), 0
    for info in header.values():
        hist[info["dtype"]] += 1
        count = 1
        for s in info["shape"]:
            count *= s
        params += count
    cfg = json.load(open(os.path.join(d, "config.json")))
    tok = json.load(open(os.path.join(d, "tokenizer_config.json")))
    vocab = open(os.path.join(d, "vocab.txt"), encoding="utf-8").read().split("\n")
    vocab = vocab[:-1] if vocab[-1] == "" else vocab
    keys = ("architectures", "model_type", "hidden_size", "num_hidden_layers",
            "num_attention_heads", "intermediate_size", "hidden_act", "layer_norm_eps",
            "max_position_embeddings", "type_vocab_size", "vocab_size",
            "position_embedding_type", "pad_token_id")
    table([("safetensors tensors", len(header)),
           ("dtypes", ", ".join(f"{k} x{v}" for k, v in hist.items())),
           ("total parameters", params),
           ("non-float tensors", ", ".join(f"{k} {v['dtype']} {v['shape']}" for k, v in
                                           sorted(header.items()) if v["dtype"] != "F32")),
           ("tensor names (first 3)", ", ".join(sorted(header)[:3]))] +
          [(f"config.{k}", cfg.get(k, "(absent)")) for k in keys] +
          [("vocab.txt lines", len(vocab)),
           ("[PAD] [UNK] [CLS] [SEP] [MASK] ids",
            " ".join(str(vocab.index(t)) for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"))),
           ("tokenizer_config do_lower_case", tok.get("do_lower_case", "(absent)")),
           ("tokenizer_config model_max_length", tok.get("model_max_length", "(absent)"))])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", default=os.environ.get("RAPID_CACHE_DIR")
                    or os.path.expanduser("~/.cache/rapid"))
    cache = ap.parse_args().cache
    readers = {}
    for path in sorted(glob.glob(os.path.join(cache, "models", "*.gguf"))):
        readers[os.path.basename(path)] = (path, describe_gguf(path))
    small, big = "qwen2.5-coder-0.5b.gguf", "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    if small in readers and big in readers:
        compare_tokenizers(*readers[small], *readers[big])
    minilm = os.path.join(cache, "models", "all-minilm-l6-v2")
    if os.path.isdir(minilm):
        describe_minilm(minilm)
    essays = sorted(glob.glob(os.path.join(cache, "data", "paul_graham_essays", "*.txt")))
    if essays:
        print(f"### paul_graham_essays/\n\n{len(essays)} files, "
              f"{sum(os.path.getsize(p) for p in essays)} bytes\n")


if __name__ == "__main__":
    main()
