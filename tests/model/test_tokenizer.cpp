// Tokenizer: Unicode tables and UTF-8 rules, pre-tokenizers, BPE merging, added tokens, decoding,
// streaming, chat templates, vocabulary equality, GGUF loading errors (synthetic vocabularies), and
// the corpus comparison with the HF reference (tests/model/test_tokenizer_reference.cpp).
#include <chrono>
#include <random>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "gguf_writer.hpp"
#include "rapid/model/tokenizer.hpp"

namespace {

using namespace rapid::model;
namespace uc = rapid::unicode;

std::string utf8(char32_t cp) {
  std::string s;
  uc::append_utf8(s, cp);
  return s;
}

/// The byte-level text of a byte string ("a b" -> "aĠb").
std::string byte_level(std::string_view bytes) {
  std::string s;
  for (unsigned char b : bytes) uc::append_utf8(s, uc::byte_to_codepoint(b));
  return s;
}

/// 256 byte tokens, a few merges, and added tokens; `pre` picks the pre-tokenizer.
vocabulary tiny_vocabulary(std::string pre = "gpt2") {
  vocabulary v;
  v.pre = std::move(pre);
  for (int b = 0; b < 256; ++b) v.tokens.push_back(utf8(uc::byte_to_codepoint(static_cast<std::uint8_t>(b))));
  v.types.assign(256, token_type::normal);
  auto merge = [&](std::string_view l, std::string_view r) {
    v.merges.push_back(byte_level(l) + " " + byte_level(r));
    const auto joined = byte_level(std::string(l) + std::string(r));
    if (std::find(v.tokens.begin(), v.tokens.end(), joined) == v.tokens.end()) {
      v.tokens.push_back(joined);
      v.types.push_back(token_type::normal);
    }
  };
  merge("a", "a");        // rank 0
  merge("aa", "aa");      // rank 1
  merge("aaaa", "aaaa");  // rank 2
  merge("h", "e");
  merge("l", "l");
  merge("he", "ll");
  merge("hell", "o");
  merge(" ", "w");
  merge("o", "r");
  merge(" w", "or");
  merge("l", "d");
  merge(" wor", "ld");
  merge("\xe2", "\x82");
  merge("\xe2\x82", "\xac");  // the euro sign
  auto added = [&](std::string t, token_type type) {
    v.tokens.push_back(std::move(t));
    v.types.push_back(type);
  };
  added("<|im_start|>", token_type::control);
  added("<|im_end|>", token_type::control);
  added("<|endoftext|>", token_type::control);
  added("<|im", token_type::control);  // a shorter control token sharing a prefix
  added("<tool>", token_type::user_defined);
  added("[PAD]", token_type::unused);
  v.eos = static_cast<token>(v.tokens.size() - 5);  // <|im_end|>
  v.bos = static_cast<token>(v.tokens.size() - 4);  // <|endoftext|>
  return v;
}

std::vector<std::string> texts_of(const tokenizer& t, const std::vector<token>& ids) {
  std::vector<std::string> out;
  for (auto id : ids) out.emplace_back(t.token_bytes(id));
  return out;
}

std::vector<std::string> split(pretokenizer_kind kind, std::string_view text) {
  std::vector<std::string> out;
  pretokenizer(kind).split(text, [&](std::size_t b, std::size_t e) { out.emplace_back(text.substr(b, e - b)); });
  return out;
}

struct split_case {
  const char* text;
  std::vector<std::string> pieces;
};

} // namespace

TEST_CASE("unicode tables: categories and White_Space from the generated data") {
  CHECK(uc::unicode_version == "16.0.0");
  CHECK(uc::category_of('A') == uc::category::Lu);
  CHECK(uc::category_of(U'é') == uc::category::Ll);
  CHECK(uc::category_of(U'中') == uc::category::Lo);
  CHECK(uc::category_of(U'ǅ') == uc::category::Lt);
  CHECK(uc::category_of(0x0663) == uc::category::Nd);    // ARABIC-INDIC DIGIT THREE
  CHECK(uc::category_of(0x216B) == uc::category::Nl);    // ROMAN NUMERAL TWELVE
  CHECK(uc::category_of(0x00BD) == uc::category::No);    // VULGAR FRACTION ONE HALF
  CHECK(uc::category_of(0x0301) == uc::category::Mn);    // COMBINING ACUTE ACCENT
  CHECK(uc::category_of(0x1F600) == uc::category::So);   // GRINNING FACE
  CHECK(uc::category_of(0x10D50) == uc::category::Lu);   // GARAY (new in Unicode 16.0)
  CHECK(uc::category_of(0xE000) == uc::category::Co);
  CHECK(uc::category_of(0x10FFFF) == uc::category::Cn);
  CHECK(uc::category_of(0x110000) == uc::category::Cn);
  for (char32_t cp : {0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000, 0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000})
    CHECK_MESSAGE(uc::is_white_space(cp), std::hex << static_cast<unsigned>(cp));
  for (char32_t cp : {0x1C, 0x1F, 0x180E, 0x200B, 0xFEFF, 0x41})
    CHECK_MESSAGE(!uc::is_white_space(cp), std::hex << static_cast<unsigned>(cp));
}

TEST_CASE("UTF-8: strict decoding, incomplete suffixes, replacement") {
  auto unit = [](std::string_view s) { return uc::decode_utf8(s.data(), s.data() + s.size()); };
  CHECK(unit("\xc3\xa9").valid);
  CHECK(unit("\xc3\xa9").cp == U'é');
  CHECK(unit("\xf0\x9f\x98\x80").cp == 0x1F600);
  CHECK(unit("\xf4\x8f\xbf\xbf").cp == 0x10FFFF);
  for (std::string_view bad : {"\x80", "\xc0\xaf", "\xc1\xbf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf0\x80\x80\xaf",
                               "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xff", "\xc3", "\xe2\x82", "\xe2\x82x"}) {
    const auto u = unit(bad);
    CHECK_FALSE(u.valid);
    CHECK(u.length == 1);
  }
  CHECK(uc::first_invalid_utf8("abc") == std::nullopt);
  CHECK(uc::first_invalid_utf8("ab\xe2\x82\xac\xff") == std::optional<std::size_t>(5));
  CHECK(uc::incomplete_utf8_suffix("abc") == 0);
  CHECK(uc::incomplete_utf8_suffix("a\xe2") == 1);
  CHECK(uc::incomplete_utf8_suffix("a\xe2\x82") == 2);
  CHECK(uc::incomplete_utf8_suffix("a\xe2\x82\xac") == 0);
  CHECK(uc::incomplete_utf8_suffix("\xf0\x9f\x98") == 3);
  CHECK(uc::incomplete_utf8_suffix("\xe0\x80") == 0);  // overlong: can never complete
  CHECK(uc::incomplete_utf8_suffix("\xed\xa0") == 0);  // surrogate
  CHECK(uc::incomplete_utf8_suffix("\x80\x80") == 0);
  CHECK(uc::incomplete_utf8_suffix("\xff") == 0);
  CHECK(uc::replace_invalid_utf8("a\xe2\x82" "b\xff\xc3\xa9") == "a\xef\xbf\xbd" "b\xef\xbf\xbd\xc3\xa9");
  CHECK(uc::replace_invalid_utf8("\xf0\x9f\x98") == "\xef\xbf\xbd");
  CHECK(uc::replace_invalid_utf8("\xed\xa0\x80") == "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
}

TEST_CASE("GPT-2 byte map") {
  CHECK(uc::byte_to_codepoint(' ') == 0x120);   // Ġ
  CHECK(uc::byte_to_codepoint('\n') == 0x10A);  // Ċ
  CHECK(uc::byte_to_codepoint('A') == 'A');
  CHECK(uc::byte_to_codepoint(0xAD) == 0x143);
  CHECK(uc::byte_to_codepoint(0xFF) == 0xFF);
  for (int b = 0; b < 256; ++b) CHECK(uc::codepoint_to_byte(uc::byte_to_codepoint(static_cast<std::uint8_t>(b))) == b);
  CHECK(uc::codepoint_to_byte(0x144) == -1);
  CHECK(uc::codepoint_to_byte(' ') == -1);
}

TEST_CASE("pre-tokenizers split like the HF regexes") {
  // Expected pieces were produced by HF tokenizers 0.23 (Oniguruma) with the regexes of
  // rapid/model/pretokenizer.hpp.
#include "pretokenizer_cases.inc"
  auto run = [](pretokenizer_kind kind, const auto& cases) {
    for (const auto& c : cases) CHECK_MESSAGE(split(kind, c.text) == c.pieces, name_of(kind) << ": " << c.text);
  };
  run(pretokenizer_kind::qwen2, qwen2_cases);
  run(pretokenizer_kind::llama3, llama3_cases);
  run(pretokenizer_kind::gpt2, gpt2_cases);
  run(pretokenizer_kind::smollm, smollm_cases);
  CHECK(split(pretokenizer_kind::qwen2, "a'\xc5\xbf" "b") == std::vector<std::string>{"a", "'\xc5\xbf", "b"});
  CHECK(split(pretokenizer_kind::qwen2, "") == std::vector<std::string>{});
  CHECK(pretokenizer_from_name("qwen2") == pretokenizer_kind::qwen2);
  CHECK(pretokenizer_from_name("smollm") == pretokenizer_kind::smollm);
  CHECK(pretokenizer_from_name("llama-bpe") == pretokenizer_kind::llama3);
  CHECK(pretokenizer_from_name("gpt-2") == pretokenizer_kind::gpt2);
  CHECK(pretokenizer_from_name("deepseek-llm") == std::nullopt);
}

TEST_CASE("pre-tokenizers: invalid bytes are single 'other' characters and every byte lands in a piece") {
  CHECK(split(pretokenizer_kind::qwen2, "abc\xff" "def") == std::vector<std::string>{"abc", "\xff" "def"});
  CHECK(split(pretokenizer_kind::gpt2, "abc\xff" "def") == std::vector<std::string>{"abc", "\xff", "def"});
  CHECK(split(pretokenizer_kind::gpt2, " \xff\xfe!x") == std::vector<std::string>{" \xff\xfe!", "x"});
  CHECK(split(pretokenizer_kind::qwen2, "\xe2\x82 y") == std::vector<std::string>{"\xe2\x82", " y"});
  std::mt19937 rng(7);
  for (auto kind : {pretokenizer_kind::gpt2, pretokenizer_kind::smollm, pretokenizer_kind::qwen2, pretokenizer_kind::llama3}) {
    for (int iter = 0; iter < 200; ++iter) {
      std::string s(rng() % 64, '\0');
      for (auto& c : s) c = static_cast<char>(rng() % 4 == 0 ? " \n\t'a1"[rng() % 6] : static_cast<int>(rng() % 256));
      std::size_t at = 0;
      bool tiles = true;
      pretokenizer(kind).split(s, [&](std::size_t b, std::size_t e) { tiles = tiles && b == at && e > b; at = e; });
      CHECK((tiles && at == s.size()));
    }
  }
}

TEST_CASE("BPE merges by rank, leftmost first, and stays fast on long runs") {
  const tokenizer t(tiny_vocabulary());
  CHECK(texts_of(t, t.encode("aaaaa")) == std::vector<std::string>{"aaaa", "a"});
  CHECK(texts_of(t, t.encode("aaa")) == std::vector<std::string>{"aa", "a"});
  CHECK(texts_of(t, t.encode("hello world")) == std::vector<std::string>{"hello", " world"});
  CHECK(texts_of(t, t.encode("\xe2\x82\xac")) == std::vector<std::string>{"\xe2\x82\xac"});
  CHECK(texts_of(t, t.encode("helo")) == std::vector<std::string>{"he", "l", "o"});

  const std::string run(1 << 20, 'a');  // one pre-token of a million bytes
  const auto start = std::chrono::steady_clock::now();
  const auto ids = t.encode(run);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(ids.size() == (1 << 20) / 8);
  CHECK(t.decode(ids) == run);
  MESSAGE("1 MiB of 'a' as one pre-token: " << seconds << " s");
  CHECK(seconds < 5.0);
}

TEST_CASE("BPE: heap and bucket-queue merge loops equal a naive BPE on short and long words") {
  const auto v = tiny_vocabulary();
  const tokenizer t(v);
  CHECK(t.monotone_merges());
  // Naive BPE: repeatedly merge the leftmost pair of lowest rank (quadratic, obviously right).
  auto naive = [&](std::string_view word) {
    std::vector<std::string> parts;
    for (char c : word) parts.emplace_back(1, c);
    for (;;) {
      std::size_t best = v.merges.size(), at = 0;
      for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
        const auto pair = byte_level(parts[i]) + " " + byte_level(parts[i + 1]);
        const auto r = static_cast<std::size_t>(std::find(v.merges.begin(), v.merges.end(), pair) - v.merges.begin());
        if (r < best) { best = r; at = i; }
      }
      if (best == v.merges.size()) return parts;
      parts[at] += parts[at + 1];
      parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(at) + 1);
    }
  };
  std::mt19937 rng(17);
  for (std::size_t len : {2, 3, 5, 8, 13, 40, 255, 256, 257, 600, 2000}) {
    for (int iter = 0; iter < 6; ++iter) {
      std::string word(len, 'a');
      for (auto& c : word) c = "aaaahellowrd"[rng() % 12];
      CHECK_MESSAGE(texts_of(t, t.encode(word)) == naive(word), word);
    }
  }
}

TEST_CASE("added tokens: control tokens only on request, user-defined always, longest match") {
  const tokenizer t(tiny_vocabulary());
  const auto im_start = *t.find("<|im_start|>");
  const auto im_end = *t.find("<|im_end|>");
  const auto tool = *t.find("<tool>");
  const auto im = *t.find("<|im");
  const std::string text = "<|im_start|>hello<tool><|im_end|>";
  const auto plain = t.encode(text);
  CHECK(std::find(plain.begin(), plain.end(), im_start) == plain.end());
  CHECK(std::find(plain.begin(), plain.end(), tool) != plain.end());
  CHECK(t.decode(plain) == text);
  const auto special = t.encode(text, {.parse_special = true});
  REQUIRE(special.size() == 4);
  CHECK(special[0] == im_start);
  CHECK(t.token_bytes(special[1]) == "hello");
  CHECK(special[2] == tool);
  CHECK(special[3] == im_end);
  CHECK(t.decode(special) == text);
  CHECK(t.decode(special, {.skip_special = true}) == "hello<tool>");
  CHECK(t.encode("<|im_x", {.parse_special = true}).front() == im);  // the shorter token where the long one fails
  CHECK(t.encode("[PAD]").size() > 1);                                 // unused tokens are never matched
  // BOS/EOS only with add_special and when the model asks for them.
  auto v = tiny_vocabulary();
  v.add_bos = true;
  v.add_eos = true;
  const tokenizer with_bos(v);
  const auto ids = with_bos.encode("hello", {.add_special = true});
  CHECK(ids.front() == *with_bos.bos());
  CHECK(ids.back() == *with_bos.eos());
  CHECK(with_bos.encode("hello").size() == 1);
}

TEST_CASE("invalid UTF-8: byte-level encoding by default, an error with the offset on request") {
  const tokenizer t(tiny_vocabulary("qwen2"));
  const std::string bad = "ok \xe2\x82 then \xff";
  const auto ids = t.encode(bad);
  CHECK(t.decode(ids) == bad);
  try {
    (void)t.encode(bad, {.strict_utf8 = true});
    FAIL("no error");
  } catch (const rapid::invalid_argument& e) {
    CHECK(e.where().offset == std::optional<std::uint64_t>(3));
    CHECK(std::string(e.what()).find("offset 3") != std::string::npos);
  }
  CHECK_NOTHROW((void)t.encode("valid \xc3\xa9", {.strict_utf8 = true}));
}

TEST_CASE("decoding: ids outside the vocabulary are refused") {
  const tokenizer t(tiny_vocabulary());
  const std::vector<token> bad{0, static_cast<token>(t.size())};
  CHECK_THROWS_AS((void)t.decode(bad), rapid::invalid_argument);
  const std::vector<token> negative{-1};
  CHECK_THROWS_AS((void)t.decode(negative), rapid::invalid_argument);
}

TEST_CASE("streaming decoder holds back incomplete UTF-8 and adds up to decode()") {
  const tokenizer t(tiny_vocabulary());
  // The euro sign as two tokens: "\xe2\x82" then "\xac".
  stream_decoder d(t);
  CHECK(d.push(*t.byte_token('a')) == "a");
  CHECK(d.push(*t.find(byte_level("\xe2"))) == "");
  CHECK(d.push(*t.find(byte_level("\x82"))) == "");
  CHECK(d.pending() == 2);
  CHECK(d.push(*t.find(byte_level("\xac"))) == "\xe2\x82\xac");
  CHECK(d.push(*t.byte_token(0xF0)) == "");
  CHECK(d.push(*t.byte_token('x')) == "\xf0x");  // can no longer complete: passed through
  CHECK(d.push(*t.byte_token(0xE2)) == "");
  CHECK(d.finish() == "\xe2");
  stream_decoder shown(t, {}, true);
  CHECK(shown.push(*t.byte_token(0xFF)) == "\xef\xbf\xbd");
  CHECK(shown.push(*t.byte_token(0xF0)) == "");
  CHECK(shown.finish() == "\xef\xbf\xbd");

  std::mt19937 rng(3);
  for (int iter = 0; iter < 100; ++iter) {
    std::string s;
    for (int i = 0; i < 40; ++i) s += "a\xe2\x82\xac \xc3\xa9\xf0\x9f\x98\x80\xff\x80"[rng() % 14];
    const auto ids = t.encode(s);
    stream_decoder sd(t);
    std::string streamed;
    for (auto id : ids) streamed += sd.push(id);
    streamed += sd.finish();
    CHECK(streamed == t.decode(ids));
  }
}

TEST_CASE("chat templates: ChatML detection, default system prompt, rendering") {
  const std::string smol =
      "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
      "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}"
      "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
      "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";
  const auto info = inspect_chat_template(smol);
  CHECK(info.kind == chat_template_kind::chatml);
  CHECK(info.default_system == "You are a helpful AI assistant named SmolLM, trained by Hugging Face");
  const std::string qwen_like =
      "{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}"
      "{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";
  CHECK(inspect_chat_template(qwen_like).kind == chat_template_kind::chatml);
  CHECK(inspect_chat_template(qwen_like).default_system.empty());
  const std::string llama3 =
      "{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + "
      "message['content'] + '<|eot_id|>' }}{% endfor %}";
  CHECK(inspect_chat_template(llama3).kind == chat_template_kind::unsupported);
  CHECK(inspect_chat_template("").kind == chat_template_kind::missing);

  const std::vector<chat_message> conv{{"user", "Hi"}, {"assistant", "Hello"}};
  CHECK(render_chatml(conv, true, "Sys") ==
        "<|im_start|>system\nSys<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n"
        "<|im_start|>assistant\n");
  const std::vector<chat_message> with_system{{"system", "S"}, {"user", "U"}};
  CHECK(render_chatml(with_system, false, "Default") == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n");
  const std::vector<chat_message> tool{{"tool", "x"}};
  CHECK_THROWS_AS((void)render_chatml(tool, false), rapid::invalid_argument);

  auto v = tiny_vocabulary();
  v.chat_template = llama3;
  const tokenizer unsupported(v);
  CHECK_THROWS_AS((void)unsupported.apply_chat_template(conv, true), rapid::unsupported_error);
  v.chat_template = smol;
  const tokenizer chatml(v);
  const auto prompt = chatml.apply_chat_template(conv, true);
  CHECK(prompt.rfind("<|im_start|>system\nYou are a helpful AI assistant named SmolLM", 0) == 0);
  const auto ids = chatml.encode(prompt, {.parse_special = true});
  CHECK(ids.front() == *chatml.find("<|im_start|>"));
  CHECK(chatml.is_end_of_generation(*chatml.find("<|im_end|>")));
  CHECK_FALSE(chatml.is_end_of_generation(*chatml.byte_token('a')));
}

TEST_CASE("vocabulary equality check for drafter and target") {
  const tokenizer a(tiny_vocabulary());
  const tokenizer same(tiny_vocabulary());
  CHECK(vocabulary_difference(a, same) == std::nullopt);
  CHECK(a.fingerprint() == same.fingerprint());
  CHECK_NOTHROW(require_same_vocabulary(a, same));

  auto v = tiny_vocabulary();
  v.tokens.back() = "[PAD2]";
  const tokenizer renamed(v);
  REQUIRE(vocabulary_difference(a, renamed).has_value());
  CHECK(vocabulary_difference(a, renamed)->find("token " + std::to_string(v.tokens.size() - 1)) != std::string::npos);
  CHECK_THROWS_AS(require_same_vocabulary(a, renamed), rapid::invalid_argument);

  v = tiny_vocabulary();
  std::swap(v.merges[3], v.merges[4]);
  CHECK(vocabulary_difference(a, tokenizer(v))->find("merge 3") != std::string::npos);
  v = tiny_vocabulary();
  v.eos = 0;
  CHECK(vocabulary_difference(a, tokenizer(v))->find("EOS") != std::string::npos);
  CHECK(vocabulary_difference(a, tokenizer(tiny_vocabulary("qwen2")))->find("pre-tokenizers") != std::string::npos);
  v = tiny_vocabulary();
  v.tokens.push_back("extra");
  v.types.push_back(token_type::normal);
  CHECK(vocabulary_difference(a, tokenizer(v))->find("sizes") != std::string::npos);
  CHECK(a.fingerprint() != tokenizer(v).fingerprint());
}

TEST_CASE("tokenizer from GGUF metadata, and its errors") {
  using namespace rapid::test;
  using rapid::io::gguf_type;
  const auto v = tiny_vocabulary("qwen2");
  auto strings = [](const std::vector<std::string>& xs) {
    std::vector<gguf_encoded> items;
    for (const auto& x : xs) items.push_back(gguf_string(x));
    return gguf_array_of(gguf_type::string, items);
  };
  std::vector<gguf_encoded> types;
  for (auto t : v.types) types.push_back(gguf_scalar(gguf_type::i32, static_cast<std::int32_t>(t)));
  auto file = [&](std::string model, std::string pre, std::vector<std::string> merges) {
    gguf_builder b;
    b.kv("tokenizer.ggml.model", gguf_string(model))
        .kv("tokenizer.ggml.pre", gguf_string(pre))
        .kv("tokenizer.ggml.tokens", strings(v.tokens))
        .kv("tokenizer.ggml.token_type", gguf_array_of(gguf_type::i32, types))
        .kv("tokenizer.ggml.merges", strings(merges))
        .kv("tokenizer.ggml.eos_token_id", gguf_scalar(gguf_type::u32, static_cast<std::uint32_t>(*v.eos)))
        .kv("tokenizer.ggml.bos_token_id", gguf_scalar(gguf_type::i32, static_cast<std::int32_t>(*v.bos)))
        .kv("tokenizer.ggml.padding_token_id", gguf_scalar(gguf_type::i32, -1))
        .kv("tokenizer.ggml.add_bos_token", gguf_scalar(gguf_type::boolean, false))
        .kv("tokenizer.chat_template", gguf_string("{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
                                                   "'<|im_end|>' }}<|im_start|>assistant"));
    const auto bytes = b.build();
    return rapid::io::gguf_file::from_bytes(bytes, "tiny.gguf");
  };
  const auto t = tokenizer::from_gguf(file("gpt2", "qwen2", v.merges));
  CHECK(t.size() == v.tokens.size());
  CHECK(t.pre() == pretokenizer_kind::qwen2);
  CHECK(t.eos() == v.eos);
  CHECK(t.chat_format().kind == chat_template_kind::chatml);
  CHECK(texts_of(t, t.encode("hello world")) == std::vector<std::string>{"hello", " world"});
  CHECK(vocabulary_difference(t, tokenizer(v)).value_or("same") == "same");
  CHECK_FALSE(t.pad().has_value());  // -1 means none

  CHECK_THROWS_AS((void)tokenizer::from_gguf(file("llama", "qwen2", v.merges)), rapid::unsupported_error);
  CHECK_THROWS_AS((void)tokenizer::from_gguf(file("gpt2", "deepseek-coder", v.merges)), rapid::unsupported_error);
  auto bad_merges = v.merges;
  bad_merges.push_back("nospace");
  CHECK_THROWS_AS((void)tokenizer::from_gguf(file("gpt2", "qwen2", bad_merges)), rapid::format_error);
  bad_merges.back() = "zz qq";
  try {
    (void)tokenizer::from_gguf(file("gpt2", "qwen2", bad_merges));
    FAIL("no error");
  } catch (const rapid::format_error& e) {
    CHECK(std::string(e.what()).find("tiny.gguf") != std::string::npos);
    CHECK(std::string(e.what()).find("tokenizer.ggml.merges") != std::string::npos);
  }
  // A vocabulary without some byte tokens drops those bytes (as HF tokenizers does).
  auto missing_byte = tiny_vocabulary();
  missing_byte.tokens[static_cast<unsigned char>('q')] = "not-a-byte";
  const tokenizer lossy(missing_byte);
  CHECK_FALSE(lossy.byte_token('q').has_value());
  CHECK(texts_of(lossy, lossy.encode("qaqaq q")) == std::vector<std::string>{"aa", " "});
  CHECK(lossy.representable("qaqaq q") == "aa ");
  auto no_bytes = tiny_vocabulary();
  for (int b = 0; b < 256; ++b) no_bytes.tokens[b] = std::string("x").append(std::to_string(b));  // (GCC 12 -Wrestrict false positive on "x" + string)
  no_bytes.merges.clear();
  CHECK_THROWS_AS((void)tokenizer(no_bytes), rapid::format_error);
}

TEST_SUITE("robustness") {
  TEST_CASE("tokenizer: random bytes encode and decode back exactly") {
    for (const char* pre : {"gpt2", "smollm", "qwen2", "llama3"}) {
      const tokenizer t(tiny_vocabulary(pre));
      encoder enc(t);
      std::mt19937 rng(11);
      for (int iter = 0; iter < 300; ++iter) {
        std::string s(rng() % 200, '\0');
        for (auto& c : s) c = static_cast<char>(rng() % 3 == 0 ? "<|im_start|>tool <aa \n"[rng() % 22] : static_cast<int>(rng() % 256));
        for (bool special : {false, true}) {
          const auto ids = enc.encode(s, {.parse_special = special});
          CHECK(t.decode(ids) == s);
          stream_decoder d(t);
          std::string streamed;
          for (auto id : ids) streamed += d.push(id);
          CHECK(streamed + d.finish() == s);
        }
      }
    }
  }
}
