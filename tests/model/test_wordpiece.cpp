// BERT uncased WordPiece: the pipeline on a toy vocabulary, and ids equal to HF `tokenizers` on the
// 2 MB tokenizer corpus with the real all-MiniLM-L6-v2 vocabulary (scripts/reference_minilm.py).
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "rapid/model/wordpiece.hpp"
#include "test_support.hpp"

using namespace rapid;
using rapid::model::wordpiece;

namespace {
wordpiece toy() {
  return wordpiece({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "aff", "!", "hello", "##s", "cafe", "中", "a"});
}

std::string utf8(std::u32string_view s) {
  std::string out;
  for (char32_t c : s) unicode::append_utf8(out, c);
  return out;
}

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::uint32_t u32_at(const std::string& blob, std::size_t& at) {
  REQUIRE(at + 4 <= blob.size());
  std::uint32_t v;
  std::memcpy(&v, blob.data() + at, 4);
  at += 4;
  return v;
}
} // namespace

TEST_CASE("wordpiece: greedy longest match, continuations, unknown words") {
  const auto wp = toy();
  CHECK(wp.encode("unaffable") == std::vector<std::int32_t>{4, 5, 6});
  CHECK(wp.encode("Hello, HELLOS!") == std::vector<std::int32_t>{9, 1, 9, 10, 8}); // ',' is not in the vocabulary
  CHECK(wp.encode("unknownword") == std::vector<std::int32_t>{1});             // one [UNK] for the whole word
  CHECK(wp.encode("Café") == std::vector<std::int32_t>{11});                   // accent stripped
  CHECK(wp.encode("a中a") == std::vector<std::int32_t>{13, 12, 13});            // CJK split off
  CHECK(wp.encode("").empty());
  CHECK(wp.encode(" \t\n ").empty());
  CHECK(wp.encode(std::string(101, 'a')) == std::vector<std::int32_t>{1});     // over max_input_chars_per_word
  CHECK(wp.encode_for_model("hello hello hello", 4) == std::vector<std::int32_t>{2, 9, 9, 3});
  CHECK_THROWS_AS((void)wp.encode_for_model("x", 1), rapid::invalid_argument);
  CHECK(wp.encode("a\xff" "a") == std::vector<std::int32_t>{1}); // invalid byte removed: "aa" has no piece
}

TEST_CASE("wordpiece: normalizer and pre-tokenizer") {
  CHECK(utf8(model::bert_normalize("ÀÉÎõü İstanbul ΣΑΣ")) == "aeiou istanbul σασ");
  CHECK(utf8(model::bert_normalize(std::string("a\tb\u200bc") + std::string(1, '\0') + "d")) == "a bcd");
  CHECK(utf8(model::bert_normalize("한")) == "\u1112\u1161\u11ab");
  CHECK(model::bert_pre_tokenize(model::bert_normalize("Hi, you... ok")) ==
        std::vector<std::string>{"hi", ",", "you", ".", ".", ".", "ok"});
}

TEST_CASE("wordpiece: a vocabulary without the special pieces is refused") {
  CHECK_THROWS_AS(wordpiece({"a", "b"}), rapid::format_error);
  CHECK_THROWS_AS(wordpiece(std::vector<std::string>{}), rapid::format_error);
  CHECK_THROWS_AS(wordpiece::from_vocab_file("/nonexistent/vocab.txt"), rapid::io_error);
}

TEST_CASE("wordpiece ids equal HF tokenizers on the tokenizer corpus (all-MiniLM-L6-v2 vocabulary)") {
  const auto vocab = test::cached("models/all-minilm-l6-v2/vocab.txt");
  const auto corpus = test::cached("data/tokenizer_corpus/corpus.bin");
  const auto ref = test::cached("reference/minilm/wordpiece.ids");
  if (!vocab || !corpus || !ref) return;
  const auto wp = wordpiece::from_vocab_file(vocab->string());
  REQUIRE(wp.size() == 30522);
  const auto docs_blob = read_all(*corpus), ids_blob = read_all(*ref);
  std::size_t a = 0, b = 0;
  REQUIRE(docs_blob.substr(0, 4) == "RTKC");
  REQUIRE(ids_blob.substr(0, 4) == "RTKI");
  a = b = 4;
  const auto n_docs = u32_at(docs_blob, a);
  REQUIRE(u32_at(ids_blob, b) == n_docs);
  std::size_t mismatches = 0, bytes = 0, tokens = 0;
  for (std::uint32_t d = 0; d < n_docs; ++d) {
    const auto name_len = u32_at(docs_blob, a);
    const auto name = docs_blob.substr(a, name_len);
    a += name_len;
    const auto len = u32_at(docs_blob, a);
    const std::string_view text(docs_blob.data() + a, len);
    a += len;
    std::vector<std::int32_t> want(u32_at(ids_blob, b));
    for (auto& id : want) id = static_cast<std::int32_t>(u32_at(ids_blob, b));
    const auto got = wp.encode(text);
    bytes += len;
    tokens += want.size();
    if (got != want) {
      ++mismatches;
      std::size_t i = 0;
      while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
      MESSAGE("document " << name << " differs at id " << i);
    }
  }
  MESSAGE(n_docs << " documents, " << bytes << " bytes, " << tokens << " ids");
  CHECK(bytes >= 100'000);
  CHECK(mismatches == 0);
}
