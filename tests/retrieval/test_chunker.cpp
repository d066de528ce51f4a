// The token-aware chunker: exact cover of the document, limits, separators, offsets, bad input.
#include <doctest/doctest.h>

#include <string>

#include "rapid/retrieval/chunker.hpp"
#include "retrieval/retrieval_fixtures.hpp"

using namespace rapid;
using retrieval::chunk;

namespace {
/// Chunks are contiguous, cover `doc`, respect the limit and carry exact token counts.
void check_cover(const std::vector<chunk>& chunks, std::string_view doc, const model::tokenizer& tok, std::size_t max) {
  std::size_t at = 0;
  std::string joined;
  for (const auto& c : chunks) {
    CHECK(c.offset == at);
    CHECK(doc.substr(c.offset, c.text.size()) == c.text);
    CHECK(!c.text.empty());
    CHECK(c.n_tokens == tok.encode(c.text).size());
    CHECK(c.n_tokens <= max);
    at += c.text.size();
    joined += c.text;
  }
  CHECK(at == doc.size());
  CHECK(joined == doc);
}
} // namespace

TEST_CASE("chunker: empty, short and exact-fit documents") {
  const auto tok = test::byte_tokenizer();
  CHECK(retrieval::split_document("", tok).empty());
  const auto one = retrieval::split_document("A short document.", tok);
  REQUIRE(one.size() == 1);
  CHECK(one[0].offset == 0);
  CHECK(one[0].text == "A short document.");
  CHECK(one[0].n_tokens == 17);
  const auto exact = retrieval::split_document(std::string(512, 'x'), tok);
  CHECK(exact.size() == 1);
  CHECK_THROWS_AS((void)retrieval::split_document("x", tok, {.max_tokens = 0}), rapid::invalid_argument);
}

TEST_CASE("chunker: splits at the coarsest separator and merges parts that fit") {
  const auto tok = test::byte_tokenizer(); // 1 token per byte
  const std::string para1 = "First sentence here. Second one! Third? " + std::string(20, 'a');
  const std::string doc = para1 + "\n\n" + para1 + "\n\n" + para1;
  const retrieval::chunker_options o{.max_tokens = 70};
  const auto chunks = retrieval::split_document(doc, tok, o);
  check_cover(chunks, doc, tok, 70);
  REQUIRE(chunks.size() == 3); // one paragraph (+ "\n\n") each
  CHECK(chunks[0].text == para1 + "\n\n");
  // too long a paragraph: sentence ends next
  const auto fine = retrieval::split_document(doc, tok, {.max_tokens = 40});
  check_cover(fine, doc, tok, 40);
  CHECK(fine[0].text == "First sentence here. Second one! Third? ");
}

TEST_CASE("chunker: words longer than the limit are cut between UTF-8 characters") {
  const auto tok = test::byte_tokenizer();
  std::string doc;
  for (int i = 0; i < 40; ++i) doc += "\xc3\xa9\xe4\xb8\xad"; // é (2 bytes) 中 (3 bytes), no separators
  const auto chunks = retrieval::split_document(doc, tok, {.max_tokens = 7});
  check_cover(chunks, doc, tok, 7);
  for (const auto& c : chunks) CHECK(unicode::first_invalid_utf8(c.text) == std::nullopt);
  // a single character above the limit stays whole
  const auto tiny = retrieval::split_document("\xe4\xb8\xad", tok, {.max_tokens = 1});
  REQUIRE(tiny.size() == 1);
  CHECK(tiny[0].n_tokens == 3);
}

TEST_CASE("chunker: a long real document with the SmolLM2 tokenizer") {
  const auto text = test::essays();
  const auto model = test::cached("models/smollm2-135m-instruct-q4_1.gguf");
  if (!text || !model) return;
  const auto tok = model::tokenizer::from_gguf(model->string());
  const std::string doc = text->substr(0, 200'000);
  const auto chunks = retrieval::split_document(doc, tok);
  check_cover(chunks, doc, tok, 512);
  std::size_t total = 0;
  for (const auto& c : chunks) total += c.n_tokens;
  MESSAGE(chunks.size() << " chunks, " << total << " tokens");
  CHECK(total / chunks.size() > 350); // merging keeps chunks near the limit
}
