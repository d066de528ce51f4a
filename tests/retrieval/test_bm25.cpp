// BM25: terms, scores by hand, ranking, thresholds and bad options.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "rapid/retrieval/bm25.hpp"

using namespace rapid;
using namespace rapid::retrieval;

namespace {
std::vector<chunk> make(std::vector<std::string> texts) {
  std::vector<chunk> out;
  std::size_t at = 0;
  for (auto& t : texts) {
    out.push_back({at, t, t.size()});
    at += t.size();
  }
  return out;
}
} // namespace

TEST_CASE("terms: Unicode lower-casing, accents, stop words, plurals, CJK") {
  CHECK(terms_of("The CAFÉS of São Paulo, 2024!") == std::vector<std::string>{"cafe", "sao", "paulo", "2024"});
  CHECK(terms_of("policies cases dogs glass bus") == std::vector<std::string>{"policy", "case", "dog", "glass", "bus"});
  CHECK(terms_of("東京 ΣΑΣ") == std::vector<std::string>{"東", "京", "σασ"});
  CHECK(terms_of("the of and", {.stop_words = false, .stem = false}) == std::vector<std::string>{"the", "of", "and"});
  CHECK(terms_of("").empty());
}

TEST_CASE("bm25: scores equal the formula and rank best first") {
  bm25 r;
  const auto chunks = make({"apple banana apple", "banana cherry", "cherry durian elderberry fig"});
  r.index(chunks);
  CHECK(r.size() == 3);
  const auto s = r.scores("apple");
  // N = 3, df(apple) = 1, tf = 2, |c| = 3, avg = 3
  const double idf = std::log(1 + (3 - 1 + 0.5) / 1.5);
  CHECK(s[0] == doctest::Approx(idf * 2 * 2.2 / (2 + 1.2)));
  CHECK(s[1] == 0.f);
  const auto hits = r.search("banana cherry", 3);
  REQUIRE(hits.size() == 3);
  CHECK(hits[0].index == 1); // both terms
  CHECK(hits[0].score > hits[1].score);
  CHECK(r.search("banana cherry", 1).size() == 1);
}

TEST_CASE("bm25: a query with no overlap finds nothing; best() falls back to the first chunk") {
  bm25 r;
  const auto chunks = make({"alpha beta", "gamma delta"});
  r.index(chunks);
  CHECK(r.search("zeta eta theta", 5).empty());
  CHECK(r.search("the of and", 5).empty()); // only stop words
  const auto b = r.best("zeta");
  REQUIRE(b.size() == 1);
  CHECK(b[0].index == 0);
  bm25 empty;
  empty.index({});
  CHECK(empty.search("alpha", 3).empty());
  CHECK(empty.best("alpha").empty());
}

TEST_CASE("bm25: re-indexing replaces the index; bad options are refused") {
  bm25 r;
  r.index(make({"alpha", "beta"}));
  r.index(make({"gamma"}));
  CHECK(r.size() == 1);
  CHECK(r.search("alpha", 3).empty());
  CHECK(r.search("gamma", 3).size() == 1);
  CHECK_THROWS_AS(bm25({.k1 = -1.f}), rapid::invalid_argument);
  CHECK_THROWS_AS(bm25({.b = 1.5f}), rapid::invalid_argument);
}
