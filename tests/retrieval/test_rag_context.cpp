// The RAG context builder: budget, document order, thresholds, fallback, bad input.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "rapid/retrieval/bm25.hpp"
#include "rapid/retrieval/rag_context.hpp"

using namespace rapid;
using namespace rapid::retrieval;

namespace {
/// Returns a fixed ranking; counts index() calls.
struct scripted {
  std::vector<scored_chunk> ranking;
  int indexed = 0;
  void index(std::span<const chunk>) { ++indexed; }
  [[nodiscard]] std::vector<scored_chunk> search(std::string_view, std::size_t k) const {
    return {ranking.begin(), ranking.begin() + static_cast<std::ptrdiff_t>(std::min(k, ranking.size()))};
  }
};
static_assert(retriever<scripted>);
static_assert(!has_best<scripted>);

std::vector<chunk> chunks_of(std::vector<std::size_t> tokens) {
  std::vector<chunk> out;
  std::size_t at = 0;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    std::string text = "chunk" + std::to_string(i);
    out.push_back({at, text, tokens[i]});
    at += text.size();
  }
  return out;
}
} // namespace

TEST_CASE("rag: best chunks within the budget, in document order") {
  const auto chunks = chunks_of({100, 100, 100, 100, 100});
  scripted r{{{3, 0.9f}, {1, 0.8f}, {4, 0.7f}, {0, 0.6f}}};
  const auto ctx = build_rag_context(r, chunks, "q", {.budget_tokens = 250});
  CHECK(r.indexed == 1);
  REQUIRE(ctx.chosen.size() == 2); // 100 + 1 + 100 fits 250; a third would need 302
  CHECK(ctx.chosen[0].index == 1);
  CHECK(ctx.chosen[1].index == 3);
  CHECK(ctx.text == "chunk1\n\nchunk3");
  CHECK(ctx.n_tokens == 201);
  CHECK(!ctx.fell_back);
  CHECK(ctx.candidates == 4);
  CHECK(ctx.document_tokens == 500);
  CHECK(ctx.seconds >= 0);
}

TEST_CASE("rag: a chunk that does not fit is skipped, smaller ones are still taken") {
  const auto chunks = chunks_of({50, 300, 60});
  scripted r{{{1, 0.9f}, {2, 0.5f}, {0, 0.4f}}};
  const auto ctx = build_rag_context(r, chunks, "q", {.budget_tokens = 120});
  REQUIRE(ctx.chosen.size() == 2);
  CHECK(ctx.chosen[0].index == 0);
  CHECK(ctx.chosen[1].index == 2);
}

TEST_CASE("rag: default budget is max(4096, L/24) capped at L; a budget above the document takes everything") {
  CHECK(default_rag_budget(1000) == 1000);
  CHECK(default_rag_budget(32768) == 4096);
  CHECK(default_rag_budget(240000) == 10000);
  const auto chunks = chunks_of({10, 20, 30});
  scripted r{{{2, 0.9f}, {0, 0.5f}, {1, 0.4f}}};
  const auto ctx = build_rag_context(r, chunks, "q", {.budget_tokens = 1'000'000});
  CHECK(ctx.chosen.size() == 3);
  CHECK(ctx.text == "chunk0\n\nchunk1\n\nchunk2");
  const auto by_default = build_rag_context(r, chunks, "q", {}); // L = 60 < 4096: budget L
  CHECK(by_default.budget_tokens == 60);
  CHECK(by_default.chosen.size() == 2); // 30 + 1 + 10 = 41, then 20 + 1 would exceed 60
}

TEST_CASE("rag: threshold, fallback to the best chunk, empty document, empty question") {
  const auto chunks = chunks_of({10, 20, 30});
  scripted r{{{2, 0.25f}, {0, 0.2f}}};
  const auto high = build_rag_context(r, chunks, "q", {.threshold = 0.5f});
  CHECK(high.fell_back);
  REQUIRE(high.chosen.size() == 1);
  CHECK(high.chosen[0].index == 0); // no best(): chunk 0
  scripted none{{}};
  const auto nothing = build_rag_context(none, chunks, "q", {});
  CHECK(nothing.fell_back);
  CHECK(nothing.text == "chunk0");

  bm25 lexical;
  std::vector<chunk> real{{0, "alpha beta. ", 3}, {12, "gamma delta", 2}};
  const auto miss = build_rag_context(lexical, real, "no overlap whatsoever", {});
  CHECK(miss.fell_back);
  CHECK(miss.chosen.size() == 1);
  const auto hit = build_rag_context(lexical, real, "Delta?", {});
  CHECK(!hit.fell_back);
  REQUIRE(hit.chosen.size() == 1);
  CHECK(hit.chosen[0].index == 1);

  const auto empty = build_rag_context(lexical, std::span<const chunk>{}, "q", {});
  CHECK(empty.text.empty());
  CHECK(empty.chosen.empty());
  CHECK(!empty.fell_back);
  CHECK_THROWS_AS((void)build_rag_context(lexical, real, "  ", {}), rapid::invalid_argument);
  scripted wrong{{{7, 1.f}}};
  CHECK_THROWS_AS((void)build_rag_context(wrong, real, "q", {}), rapid::invalid_argument);
  // already indexed: no second index() call
  scripted once{{{0, 1.f}}};
  (void)build_rag_context(once, real, "q", {.index = false});
  CHECK(once.indexed == 0);
}
