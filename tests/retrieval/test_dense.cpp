// Dense and hybrid retrieval with the real MiniLM encoder on a small paraphrase task.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "rapid/retrieval/dense.hpp"
#include "rapid/retrieval/hybrid.hpp"
#include "rapid/retrieval/rag_context.hpp"
#include "retrieval/retrieval_fixtures.hpp"

using namespace rapid;
using namespace rapid::retrieval;

namespace {
std::vector<chunk> corpus() {
  const std::vector<std::string> texts{
      "The recipe calls for two cups of flour, a pinch of salt and butter softened at room temperature.",
      "Our quarterly revenue grew by twelve percent, driven mostly by subscriptions in Europe.",
      "The cat slept all afternoon on the warm windowsill, ignoring the birds outside.",
      "To reset the router, hold the small button on the back for ten seconds until the lights blink.",
      "The expedition reached the summit at dawn after climbing through the night in heavy snow."};
  std::vector<chunk> out;
  std::size_t at = 0;
  for (const auto& t : texts) {
    out.push_back({at, t, t.size() / 4});
    at += t.size();
  }
  return out;
}
} // namespace

TEST_CASE("dense: paraphrased questions find their chunk") {
  const auto enc = test::minilm_encoder();
  if (!enc) return;
  dense r(enc);
  const auto chunks = corpus();
  r.index(chunks);
  CHECK(r.windows() == chunks.size());
  const std::vector<std::pair<std::string, std::size_t>> qs{
      {"How do I restart my internet modem?", 3}, {"What ingredients are needed for baking?", 0},
      {"How did the company's earnings change?", 1}, {"When did the mountaineers get to the top?", 4},
      {"Where was the pet napping?", 2}};
  for (const auto& [q, want] : qs) {
    const auto hits = r.search(q, 1);
    INFO(q);
    REQUIRE(hits.size() == 1);
    CHECK(hits[0].index == want);
    CHECK(hits[0].score >= 0.3f);
  }
  // nothing related: below the threshold, but best() still answers
  CHECK(r.search("xylophone quantum zebra", 5).size() < chunks.size());
  CHECK(r.best("xylophone quantum zebra").size() == 1);
  CHECK_THROWS_AS(dense(nullptr), rapid::invalid_argument);
  CHECK_THROWS_AS(dense(enc, {.threshold = 2.f}), rapid::invalid_argument);
}

TEST_CASE("dense: a long chunk is embedded as windows, so its end is visible") {
  const auto enc = test::minilm_encoder();
  if (!enc) return;
  std::string filler;
  for (int i = 0; i < 40; ++i) filler += "The committee discussed the agenda and approved the minutes of the previous meeting. ";
  std::vector<chunk> chunks{{0, filler + "The secret launch code for the rocket is hidden under the blue doormat.", 600},
                            {1, "Gardening tips: water tomatoes in the morning and mulch the beds.", 20}};
  dense r(enc);
  r.index(chunks);
  CHECK(r.windows() >= 3);
  const auto hits = r.search("Where is the rocket's launch code kept?", 1);
  REQUIRE(hits.size() == 1);
  CHECK(hits[0].index == 0);
  dense first_window_only(enc, {.max_windows = 1});
  first_window_only.index(chunks);
  CHECK(first_window_only.windows() == 2);
}

TEST_CASE("hybrid: fuses BM25 and dense rankings") {
  const auto enc = test::minilm_encoder();
  if (!enc) return;
  hybrid r(enc);
  const auto chunks = corpus();
  r.index(chunks);
  const auto hits = r.search("How do I restart my internet router?", 5);
  REQUIRE(!hits.empty());
  CHECK(hits[0].index == 3);
  CHECK(hits[0].score == doctest::Approx(2.f / 61.f)); // first in both rankings
  const auto ctx = build_rag_context(r, chunks, "When did the climbers reach the top?", {.budget_tokens = 30});
  REQUIRE(ctx.chosen.size() == 1);
  CHECK(ctx.chosen[0].index == 4);
  CHECK_THROWS_AS(hybrid(enc, {.rrf_k = 0.f}), rapid::invalid_argument);
}
