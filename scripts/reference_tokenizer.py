#!/usr/bin/env python3
"""Reference token ids for tests/model/test_tokenizer.cpp, from the HF `tokenizers` library.

For each configuration below, builds an HF byte-level BPE tokenizer from the GGUF's own vocabulary,
merges, token types and pre-tokenizer (read with gguf-py), checks it against known facts of the
real tokenizers, and encodes every document of the corpus (scripts/make_tokenizer_corpus.py, run
first) twice: with control tokens left as text (rapid's default; HF encode_special_tokens=True)
and with them recognised (rapid's parse_special; HF's default).

  qwen2            Qwen2.5-Coder-1.5B-Instruct vocabulary, its pre-tokenizer (qwen2)
  smollm           SmolLM2-135M-Instruct vocabulary, its pre-tokenizer (smollm)
  gpt2-on-smollm   SmolLM2's vocabulary with the plain GPT-2 pre-tokenizer
  llama3-on-qwen2  Qwen2.5's vocabulary with the llama3 pre-tokenizer (\\p{N}{1,3})

The pre-tokenizers are the HF components of the models' tokenizer.json files:
  qwen2:  Split(QWEN2_REGEX, isolated) + ByteLevel(use_regex=False)
  smollm: Digits(individual_digits=True) + ByteLevel(use_regex=True)
  gpt2:   ByteLevel(use_regex=True)
Qwen2's tokenizer.json also has an NFC normalizer; GGUF does not record it and llama.cpp does not
apply it, so neither does rapid nor this reference (the two differ only on text that is not NFC).

Invalid UTF-8 (corpus invalid.bin) cannot be given to HF as a str. Under rapid's rule (an invalid
byte is one character of the class [^\\s\\p{L}\\p{N}], encoded as its byte token) the reference maps
each invalid byte to a private-use character (same class) for HF's pre-tokenizer, then runs HF's
BPE model on the original bytes of each pre-token. That path is checked against HF's full
pipeline on valid documents first.

Also renders a few conversations with each GGUF's Jinja chat template (jinja2, as transformers
does) for the ChatML test.

Outputs under $RAPID_CACHE_DIR/reference/tokenizer/ (default ~/.cache/rapid): CONFIG.ids,
CONFIG.invalid.ids, chat.json, stamp.json. Format of .ids (little-endian u32): b"RTKI", document
count, then per document: count + ids without special parsing, count + ids with it (.invalid.ids:
one list per document). Skips the work when the stamp of its inputs is unchanged.

With --llama-cpp, also tokenizes the corpus with llama.cpp (llama-cpp-python, vocab_only) and
reports how many encodings differ from the HF reference (an independent check of the reference;
llama.cpp's Unicode tables are older than 16.0, so code points new in 16.0 may differ).

usage: $(scripts/python_env.sh) scripts/reference_tokenizer.py [--force] [--llama-cpp]
"""
import codecs
import hashlib
import importlib.util
import json
import os
import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("RAPID_CACHE_DIR") or Path.home() / ".cache" / "rapid")
MODELS = CACHE / "models"
OUT = CACHE / "reference" / "tokenizer"
QWEN = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
SMOL = "smollm2-135m-instruct-q4_1.gguf"
CONFIGS = [("qwen2", QWEN, None), ("smollm", SMOL, None), ("gpt2-on-smollm", SMOL, "gpt2"),
           ("llama3-on-qwen2", QWEN, "llama3")]

QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")
LLAMA3_REGEX = QWEN2_REGEX.replace(r"|\p{N}|", r"|\p{N}{1,3}|")
INVALID_BASE = 0x10FF00  # invalid byte b stands in as U+10FF00 + b (plane 16 private use, class Co)


def load_corpus_module():
    spec = importlib.util.spec_from_file_location("make_tokenizer_corpus", HERE / "make_tokenizer_corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_docs(path):
    blob = path.read_bytes()
    assert blob[:4] == b"RTKC", path
    (n,) = struct.unpack_from("<I", blob, 4)
    at, docs = 8, []
    for _ in range(n):
        (k,) = struct.unpack_from("<I", blob, at)
        name = blob[at + 4:at + 4 + k].decode()
        at += 4 + k
        (m,) = struct.unpack_from("<I", blob, at)
        docs.append((name, blob[at + 4:at + 4 + m]))
        at += 4 + m
    return docs


def read_gguf_vocab(path):
    import gguf
    r = gguf.GGUFReader(str(path))
    f = r.fields
    get = lambda k, d=None: f[k].contents() if k in f else d
    return {"tokens": get("tokenizer.ggml.tokens"), "types": get("tokenizer.ggml.token_type"),
            "merges": get("tokenizer.ggml.merges"), "pre": get("tokenizer.ggml.pre", "gpt2"),
            "template": get("tokenizer.chat_template", ""), "bos": get("tokenizer.ggml.bos_token_id"),
            "eos": get("tokenizer.ggml.eos_token_id")}


def build_hf(vocab, pre):
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers
    tokens, types = vocab["tokens"], vocab["types"]
    ids = {}
    for i, t in enumerate(tokens):
        ids.setdefault(t, i)
    merges = []
    for m in vocab["merges"]:
        k = m.index(" ", 1)
        merges.append((m[:k], m[k + 1:]))
    bpe = models.BPE(vocab=ids, merges=merges, ignore_merges=False, byte_fallback=False, fuse_unk=False)
    tk = Tokenizer(bpe)
    if pre in ("qwen2", "llama3"):
        tk.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(QWEN2_REGEX if pre == "qwen2" else LLAMA3_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    elif pre == "smollm":
        tk.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    elif pre == "gpt2":
        tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    else:
        raise SystemExit(f"reference_tokenizer: no reference pre-tokenizer for '{pre}'")
    tk.decoder = decoders.ByteLevel()
    # GGUF token types: 3 control (HF special added token), 4 user-defined (HF non-special added token).
    tk.add_special_tokens([AddedToken(t, special=True, normalized=False) for t, ty in zip(tokens, types) if ty == 3])
    tk.add_tokens([AddedToken(t, special=False, normalized=False) for t, ty in zip(tokens, types) if ty == 4])
    return tk


def encode(tk, texts, parse_special):
    tk.encode_special_tokens = not parse_special
    return [e.ids for e in tk.encode_batch(texts, add_special_tokens=False)]


def sanity_check(name, tk, vocab):
    """Known behaviour of the real tokenizers, checked before the reference is trusted."""
    def ids(text, special=False):
        tk.encode_special_tokens = not special
        return tk.encode(text, add_special_tokens=False).ids
    tok = vocab["tokens"]
    problems = []
    def expect(what, got, want):
        if got != want:
            problems.append(f"{what}: got {got}, want {want}")
    # Byte-level BPE basics: the space and newline bytes are the GPT-2 characters Ġ and Ċ.
    expect("' ' is Ġ", [tok[i] for i in ids(" ")], ["Ġ"])
    expect("'\\n' is Ċ", [tok[i] for i in ids("\n")], ["Ċ"])
    # Control tokens are single ids when parsed and plain text otherwise.
    im_start = tok.index("<|im_start|>")
    expect("<|im_start|> parsed", ids("<|im_start|>", True), [im_start])
    if im_start in ids("<|im_start|>", False):
        problems.append("<|im_start|> is recognised without special parsing")
    # decode(encode(x)) == x.
    sample = "Hello, world! It's 2024: naïve café, 日本語, 😀\n\n\tcode()"
    tk.encode_special_tokens = True
    if tk.decode(tk.encode(sample).ids, skip_special_tokens=False) != sample:
        problems.append("decode(encode(x)) != x")
    if name.startswith("qwen2"):
        # Published Qwen2/2.5 ids; Qwen2 splits every digit.
        expect("Hello, world!", ids("Hello, world!"), [9707, 11, 1879, 0])
        expect("<|endoftext|>", ids("<|endoftext|>", True), [151643])
        expect("<|im_end|>", ids("<|im_end|>", True), [151645])
        expect("vocab eos is <|im_end|>", vocab["eos"], 151645)
    if name in ("qwen2", "smollm", "gpt2-on-smollm") or name.startswith("smollm"):
        digits = [tok[i] for i in ids("12345")]
        if name != "gpt2-on-smollm":
            expect("digits one by one", digits, ["1", "2", "3", "4", "5"])
    if name == "llama3-on-qwen2":
        # Qwen's vocabulary has no multi-digit tokens: check the pre-tokens.
        expect("digits in threes", [p for p, _ in tk.pre_tokenizer.pre_tokenize_str("12345")], ["123", "45"])
    if name == "smollm":
        expect("SmolLM2 control ids", [ids(t, True) for t in ("<|endoftext|>", "<|im_start|>", "<|im_end|>")], [[0], [1], [2]])
    if name in ("qwen2", "llama3-on-qwen2"):
        expect("case-insensitive contractions", [tok[i] for i in ids("it's I'M")], ["it", "'s", "ĠI", "'M"])
    if name in ("smollm", "gpt2-on-smollm"):
        expect("case-sensitive contractions", [tok[i] for i in ids("it's I'M")], ["it", "'s", "ĠI", "'", "M"])
    if problems:
        raise SystemExit(f"reference_tokenizer: {name}: the HF reference fails sanity checks:\n  " + "\n  ".join(problems))


def mark_invalid(err):
    return "".join(chr(INVALID_BASE + b) for b in err.object[err.start:err.end]), err.end


codecs.register_error("rapid_invalid_bytes", mark_invalid)
BYTE_TO_CHAR = None


def byte_to_char():
    global BYTE_TO_CHAR
    if BYTE_TO_CHAR is None:
        printable = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
        table, n = {}, 0
        for b in range(256):
            if b in printable:
                table[b] = chr(b)
            else:
                table[b] = chr(0x100 + n)
                n += 1
        BYTE_TO_CHAR = [table[b] for b in range(256)]
    return BYTE_TO_CHAR


def encode_bytes(tk, data):
    """rapid's rule for arbitrary bytes: HF pre-tokenizer on a stand-in string, HF BPE on raw bytes."""
    text = data.decode("utf-8", "rapid_invalid_bytes")
    offsets = [0]
    valid = data.decode("utf-8", "replace")  # only to check that no stand-in occurs in valid text
    assert not any(ord(c) >= INVALID_BASE for c in valid), "stand-in code point occurs in the text"
    for c in text:
        offsets.append(offsets[-1] + (1 if ord(c) >= INVALID_BASE else len(c.encode())))
    table = byte_to_char()
    out = []
    for _, (begin, end) in tk.pre_tokenizer.pre_tokenize_str(text):
        raw = data[offsets[begin]:offsets[end]]
        out.extend(t.id for t in tk.model.tokenize("".join(table[b] for b in raw)))
    return out


def write_ids(path, lists_per_doc):
    blob = bytearray(b"RTKI")
    blob += struct.pack("<I", len(lists_per_doc))
    for lists in lists_per_doc:
        for ids in lists:
            blob += struct.pack("<I", len(ids)) + struct.pack(f"<{len(ids)}I", *ids)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(bytes(blob))
    tmp.replace(path)


CONVERSATIONS = [
    ([{"role": "user", "content": "Hello"}], True),
    ([{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi"},
      {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "2+2?"}], True),
    ([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}], False),
    ([{"role": "user", "content": "日本語 😀\n  indented\n\nline  "}, {"role": "assistant", "content": "ok"},
      {"role": "user", "content": "more"}], True),
    ([{"role": "system", "content": "Only a system prompt."}], True),
    ([{"role": "user", "content": "Two"}, {"role": "user", "content": "users"}], False),
]


def render_chat(template):
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson"] = lambda x, **kw: json.dumps(x, ensure_ascii=False)
    def raise_exception(message):
        raise ValueError(message)
    env.globals["raise_exception"] = raise_exception
    compiled = env.from_string(template)
    return [{"messages": m, "add_generation_prompt": g, "text": compiled.render(messages=m, add_generation_prompt=g)}
            for m, g in CONVERSATIONS]


def compare_with_llama_cpp(docs):
    """Reports where llama.cpp's tokenizer disagrees with the HF reference ids (not fatal)."""
    import llama_cpp
    for name, model in (("qwen2", QWEN), ("smollm", SMOL)):
        llm = llama_cpp.Llama(model_path=str(MODELS / model), vocab_only=True, verbose=False)
        blob = (OUT / f"{name}.ids").read_bytes()
        at, differ, total = 8, [], 0
        for doc, data in docs:
            for special in (False, True):
                (k,) = struct.unpack_from("<I", blob, at)
                want = list(struct.unpack_from(f"<{k}I", blob, at + 4))
                at += 4 + 4 * k
                total += 1
                if llm.tokenize(data, add_bos=False, special=special) != want:
                    differ.append(doc + (" (special)" if special else ""))
        print(f"reference_tokenizer: llama.cpp vs HF reference, {name}: {len(differ)} of {total} encodings differ"
              + (f": {', '.join(differ[:10])}" if differ else ""), file=sys.stderr)


def main(argv):
    import tokenizers
    corpus_dir = load_corpus_module().main(["--quiet"])
    missing = [m for m in (QWEN, SMOL) if not (MODELS / m).exists()]
    if missing:
        print(f"reference_tokenizer: skipped, missing {missing} (run scripts/fetch_models.py)", file=sys.stderr)
        return
    stamp_inputs = {
        "script": hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),
        "corpus": hashlib.sha256((corpus_dir / "corpus.bin").read_bytes()).hexdigest(),
        "invalid": hashlib.sha256((corpus_dir / "invalid.bin").read_bytes()).hexdigest(),
        "tokenizers": tokenizers.__version__,
        "models": {m: [(MODELS / m).stat().st_size, (MODELS / m).stat().st_mtime_ns] for m in (QWEN, SMOL)},
    }
    OUT.mkdir(parents=True, exist_ok=True)
    stamp = OUT / "stamp.json"
    outputs = [OUT / f"{n}.ids" for n, _, _ in CONFIGS] + [OUT / f"{n}.invalid.ids" for n, _, _ in CONFIGS] + [OUT / "chat.json"]
    if "--force" not in argv and stamp.exists() and all(p.exists() for p in outputs):
        if json.loads(stamp.read_text()) == stamp_inputs:
            if "--llama-cpp" in argv:
                compare_with_llama_cpp(read_docs(corpus_dir / "corpus.bin"))
            return
    stamp.unlink(missing_ok=True)

    docs = read_docs(corpus_dir / "corpus.bin")
    invalid = read_docs(corpus_dir / "invalid.bin")
    texts = [d.decode("utf-8") for _, d in docs]
    vocabs = {m: read_gguf_vocab(MODELS / m) for m in (QWEN, SMOL)}
    chat = {}
    for name, model, pre_override in CONFIGS:
        vocab = vocabs[model]
        tk = build_hf(vocab, pre_override or vocab["pre"])
        sanity_check(name, tk, vocab)
        plain = encode(tk, texts, parse_special=False)
        special = encode(tk, texts, parse_special=True)
        # The invalid-UTF-8 path must agree with HF's own pipeline where both apply.
        for (doc, data), ids in zip(docs, plain):
            if b"<tool_call>" in data or b"</tool_call>" in data or len(data) > 100_000 or \
                    doc.split("/")[0] in ("essay", "kjv", "source"):
                continue  # (the synthetic documents hold the unusual cases)
            if encode_bytes(tk, data) != ids:
                raise SystemExit(f"reference_tokenizer: {name}: byte path disagrees with HF on {doc}")
        write_ids(OUT / f"{name}.ids", list(zip(plain, special)))
        write_ids(OUT / f"{name}.invalid.ids", [[encode_bytes(tk, data)] for _, data in invalid])
        if pre_override is None:
            chat[name] = render_chat(vocab["template"])
        print(f"reference_tokenizer: {name}: {sum(map(len, plain))} tokens over {len(docs)} documents "
              f"(+{len(invalid)} invalid-UTF-8 documents)", file=sys.stderr)
    (OUT / "chat.json").write_text(json.dumps(chat, ensure_ascii=False, indent=1) + "\n")
    stamp.write_text(json.dumps(stamp_inputs, indent=1) + "\n")
    if "--llama-cpp" in argv:
        compare_with_llama_cpp(docs)


if __name__ == "__main__":
    main(sys.argv)
