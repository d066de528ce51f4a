// The tokenizer against the HF `tokenizers` reference on the >= 1 MB corpus
// (scripts/make_tokenizer_corpus.py, scripts/reference_tokenizer.py), on the real Qwen2.5 and
// SmolLM2 vocabularies. Zero mismatches are required, and decode(encode(x)) == x on every document.
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "rapid/model/tokenizer.hpp"
#include "test_support.hpp"

namespace {

using namespace rapid::model;

constexpr const char* qwen_file = "models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf";
constexpr const char* qwen_small_file = "models/qwen2.5-coder-0.5b.gguf";
constexpr const char* smol_file = "models/smollm2-135m-instruct-q4_1.gguf";

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct reader {
  const std::string& blob;
  std::size_t at = 0;
  std::uint32_t u32() {
    REQUIRE(at + 4 <= blob.size());
    std::uint32_t v;
    std::memcpy(&v, blob.data() + at, 4);
    at += 4;
    return v;
  }
  std::string bytes(std::size_t n) {
    REQUIRE(at + n <= blob.size());
    auto s = blob.substr(at, n);
    at += n;
    return s;
  }
};

struct document {
  std::string name, text;
};

std::vector<document> read_corpus(const std::filesystem::path& p) {
  const auto blob = read_all(p);
  reader r{blob};
  REQUIRE(r.bytes(4) == "RTKC");
  std::vector<document> docs(r.u32());
  for (auto& d : docs) {
    d.name = r.bytes(r.u32());
    d.text = r.bytes(r.u32());
  }
  return docs;
}

/// Per document, `lists` id lists.
std::vector<std::vector<std::vector<token>>> read_ids(const std::filesystem::path& p, int lists) {
  const auto blob = read_all(p);
  reader r{blob};
  REQUIRE(r.bytes(4) == "RTKI");
  std::vector<std::vector<std::vector<token>>> out(r.u32());
  for (auto& doc : out) {
    doc.resize(static_cast<std::size_t>(lists));
    for (auto& ids : doc) {
      ids.resize(r.u32());
      for (auto& id : ids) id = static_cast<token>(r.u32());
    }
  }
  REQUIRE(r.at == blob.size());
  return out;
}

/// The tokenizer of a cached model, built once per test run; `pre` overrides tokenizer.ggml.pre.
const tokenizer* cached_tokenizer(const char* file, const std::string& pre = {}) {
  static std::map<std::string, std::unique_ptr<tokenizer>> built;
  const auto key = std::string(file) + "|" + pre;
  if (auto it = built.find(key); it != built.end()) return it->second.get();
  const auto path = rapid::test::cached(file);
  if (!path) return nullptr;
  const rapid::io::gguf_file f(path->string());
  auto v = vocabulary::from_gguf(f);
  if (!pre.empty()) v.pre = pre;
  return (built[key] = std::make_unique<tokenizer>(v, f.name())).get();
}

std::string show(const std::vector<token>& ids, std::size_t from, std::size_t n = 8) {
  std::string s;
  for (std::size_t i = from; i < ids.size() && i < from + n; ++i) s += std::to_string(ids[i]) + " ";
  return s;
}

/// Compares one configuration with its reference; reports the first few differing documents.
void compare_with_reference(const std::string& config, const char* model, const std::string& pre_override) {
  const auto* t = cached_tokenizer(model, pre_override);
  const auto corpus_path = rapid::test::cached("data/tokenizer_corpus/corpus.bin");
  const auto invalid_path = rapid::test::cached("data/tokenizer_corpus/invalid.bin");
  const auto ref_path = rapid::test::cached("reference/tokenizer/" + config + ".ids");
  const auto ref_invalid_path = rapid::test::cached("reference/tokenizer/" + config + ".invalid.ids");
  if (!t || !corpus_path || !invalid_path || !ref_path || !ref_invalid_path) return;
  const auto docs = read_corpus(*corpus_path);
  const auto ref = read_ids(*ref_path, 2);
  REQUIRE(ref.size() == docs.size());

  encoder enc(*t);
  std::size_t bytes = 0, tokens = 0, mismatches = 0, round_trip_failures = 0;
  for (std::size_t d = 0; d < docs.size(); ++d) {
    bytes += docs[d].text.size();
    for (int special = 0; special < 2; ++special) {
      const auto ids = enc.encode(docs[d].text, {.parse_special = special == 1});
      const auto& want = ref[d][static_cast<std::size_t>(special)];
      tokens += ids.size();
      if (ids != want) {
        std::size_t at = 0;
        while (at < ids.size() && at < want.size() && ids[at] == want[at]) ++at;
        if (++mismatches <= 5)
          MESSAGE(config << ": " << docs[d].name << (special ? " (parse_special)" : "") << ": first difference at token "
                         << at << ": rapid [" << show(ids, at) << "] reference [" << show(want, at) << "]");
      }
      if (t->decode(ids) != t->representable(docs[d].text)) ++round_trip_failures;
    }
  }
  CHECK_MESSAGE(mismatches == 0, config << ": " << mismatches << " of " << 2 * docs.size() << " encodings differ");
  CHECK(round_trip_failures == 0);
  MESSAGE(config << ": " << docs.size() << " documents, " << bytes << " bytes, " << tokens
                 << " tokens (both modes), " << mismatches << " mismatches");

  // Invalid UTF-8, under rapid's rule (reference built as described in scripts/reference_tokenizer.py).
  const auto bad = read_corpus(*invalid_path);
  const auto ref_bad = read_ids(*ref_invalid_path, 1);
  REQUIRE(ref_bad.size() == bad.size());
  std::size_t bad_mismatches = 0;
  for (std::size_t d = 0; d < bad.size(); ++d) {
    const auto ids = t->encode(bad[d].text);
    if (ids != ref_bad[d][0] && ++bad_mismatches <= 5) MESSAGE(config << ": " << bad[d].name << " differs");
    CHECK_MESSAGE(t->decode(ids) == t->representable(bad[d].text), bad[d].name);
    CHECK_THROWS_AS((void)t->encode(bad[d].text, {.strict_utf8 = true}), rapid::invalid_argument);
  }
  CHECK_MESSAGE(bad_mismatches == 0, config << ": " << bad_mismatches << " invalid-UTF-8 documents differ");
}

} // namespace

TEST_CASE("tokenizer matches HF tokenizers on the corpus: Qwen2.5 vocabulary (qwen2)") {
  compare_with_reference("qwen2", qwen_file, "");
}
TEST_CASE("tokenizer matches HF tokenizers on the corpus: SmolLM2 vocabulary (smollm)") {
  compare_with_reference("smollm", smol_file, "");
}
TEST_CASE("tokenizer matches HF tokenizers on the corpus: GPT-2 pre-tokenizer on SmolLM2's vocabulary") {
  compare_with_reference("gpt2-on-smollm", smol_file, "gpt2");
}
TEST_CASE("tokenizer matches HF tokenizers on the corpus: llama3 pre-tokenizer on Qwen2.5's vocabulary") {
  compare_with_reference("llama3-on-qwen2", qwen_file, "llama3");
}

TEST_CASE("tokenizer: known ids of the real vocabularies") {
  const auto* qwen = cached_tokenizer(qwen_file);
  const auto* smol = cached_tokenizer(smol_file);
  if (!qwen || !smol) return;
  // Published Qwen2/2.5 ids; digits one by one; control tokens.
  CHECK(qwen->encode("Hello, world!") == std::vector<token>{9707, 11, 1879, 0});
  CHECK(qwen->encode("12345") == std::vector<token>{16, 17, 18, 19, 20});
  CHECK(qwen->encode("<|im_start|>user\n", {.parse_special = true}) == std::vector<token>{151644, 872, 198});
  CHECK(qwen->encode("<|im_start|>").size() > 1);
  CHECK(qwen->encode("<tool_call>") == std::vector<token>{151657});  // user-defined: always split out
  CHECK(qwen->pre() == pretokenizer_kind::qwen2);
  CHECK(qwen->eos() == std::optional<token>(151645));
  CHECK_FALSE(qwen->add_bos());
  CHECK(smol->pre() == pretokenizer_kind::smollm);
  CHECK(smol->encode("<|endoftext|><|im_start|><|im_end|>", {.parse_special = true}) == std::vector<token>{0, 1, 2});
  CHECK(smol->encode("12345").size() == 5);
  CHECK(smol->size() == 49152);
  CHECK(qwen->size() == 151936);
}

TEST_CASE("tokenizer: drafter and target vocabularies") {
  const auto* qwen = cached_tokenizer(qwen_file);
  const auto* qwen_small = cached_tokenizer(qwen_small_file);
  const auto* smol = cached_tokenizer(smol_file);
  if (!qwen || !qwen_small || !smol) return;
  CHECK(vocabulary_difference(*qwen, *qwen_small) == std::nullopt);
  CHECK_NOTHROW(require_same_vocabulary(*qwen, *qwen_small));
  CHECK(qwen->fingerprint() == qwen_small->fingerprint());
  CHECK_THROWS_AS(require_same_vocabulary(*qwen, *smol), rapid::invalid_argument);
}

TEST_CASE("tokenizer: ChatML rendering equals the GGUF's Jinja template (rendered by jinja2)") {
  const auto ref_path = rapid::test::cached("reference/tokenizer/chat.json");
  const auto* qwen = cached_tokenizer(qwen_file);
  const auto* smol = cached_tokenizer(smol_file);
  if (!ref_path || !qwen || !smol) return;
  const auto ref = nlohmann::json::parse(read_all(*ref_path));
  CHECK(qwen->chat_format().kind == chat_template_kind::chatml);
  CHECK(qwen->chat_format().default_system == "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.");
  CHECK(smol->chat_format().kind == chat_template_kind::chatml);
  for (const auto& [config, t] : {std::pair{"qwen2", qwen}, std::pair{"smollm", smol}}) {
    REQUIRE(ref.contains(config));
    for (const auto& c : ref[config]) {
      std::vector<chat_message> messages;
      for (const auto& m : c["messages"]) messages.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
      CHECK_MESSAGE(t->apply_chat_template(messages, c["add_generation_prompt"].get<bool>()) == c["text"].get<std::string>(),
                    config << ": " << c["text"].get<std::string>());
    }
  }
}

TEST_CASE("tokenizer: streaming decoding of the corpus never splits a character") {
  const auto* qwen = cached_tokenizer(qwen_file);
  const auto corpus_path = rapid::test::cached("data/tokenizer_corpus/corpus.bin");
  if (!qwen || !corpus_path) return;
  const auto docs = read_corpus(*corpus_path);
  std::size_t chunks = 0, broken = 0;
  for (std::size_t d = 0; d < docs.size(); d += 7) {
    const auto ids = qwen->encode(docs[d].text, {.parse_special = true});
    stream_decoder sd(*qwen);
    std::string all;
    for (auto id : ids) {
      const auto piece = sd.push(id);
      ++chunks;
      if (rapid::unicode::first_invalid_utf8(piece)) ++broken;
      all += piece;
    }
    all += sd.finish();
    CHECK(all == docs[d].text);
  }
  CHECK(broken == 0);
  MESSAGE(chunks << " streamed chunks, " << broken << " with broken UTF-8");
}

TEST_SUITE("robustness") {
  TEST_CASE("tokenizer: random bytes on the SmolLM2 vocabulary round-trip") {
    const auto* smol = cached_tokenizer(smol_file);
    if (!smol) return;
    std::mt19937 rng(5);
    std::string s(20000, '\0');
    for (auto& c : s) c = static_cast<char>(rng() % 256);
    CHECK(smol->decode(smol->encode(s, {.parse_special = true})) == smol->representable(s));
  }
}
