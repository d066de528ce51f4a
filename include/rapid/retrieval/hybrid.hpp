#pragma once
// Hybrid retrieval: reciprocal-rank fusion (Cormack et al., 2009) of BM25 and dense rankings,
//   score(c) = w_bm25 / (k + rank_bm25(c)) + w_dense / (k + rank_dense(c)),  ranks from 1,
// where each ranking holds only what its retriever's search() keeps (BM25: a shared term; dense:
// cosine >= threshold) and a chunk absent from a ranking gets nothing from it.
#include <algorithm>
#include <cstddef>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "rapid/core/error.hpp"
#include "rapid/retrieval/bm25.hpp"
#include "rapid/retrieval/chunk.hpp"
#include "rapid/retrieval/dense.hpp"
#include "rapid/retrieval/retriever.hpp"

namespace rapid::retrieval {

struct hybrid_options {
  bm25_options bm25{};
  dense_options dense{};
  float rrf_k = 60.f;        // rank offset, > 0 (60 as in the paper that introduced RRF)
  float bm25_weight = 1.f;   // >= 0
  float dense_weight = 1.f;  // >= 0
};

class hybrid {
public:
  explicit hybrid(std::shared_ptr<const model::bert_encoder> encoder, hybrid_options o = {})
      : lexical_(o.bm25), semantic_(std::move(encoder), o.dense), o_(o) {
    if (!(o_.rrf_k > 0.f)) throw invalid_argument("hybrid rrf_k must be > 0 (default 60)", {{}, "rrf_k", {}});
    if (!(o_.bm25_weight >= 0.f && o_.dense_weight >= 0.f))
      throw invalid_argument("hybrid weights must be >= 0", {{}, "bm25_weight", {}});
  }

  void index(std::span<const chunk> chunks) {
    lexical_.index(chunks);
    semantic_.index(chunks);
  }

  /// The k best fused chunks, best first (only chunks ranked by at least one retriever).
  [[nodiscard]] std::vector<scored_chunk> search(std::string_view q, std::size_t k) const {
    const std::size_t n = lexical_.size();
    std::vector<float> fused(n, 0.f); // (chunks)
    std::vector<bool> ranked(n, false);
    auto add = [&](const std::vector<scored_chunk>& list, float weight) {
      for (std::size_t r = 0; r < list.size(); ++r) {
        fused[list[r].index] += weight / (o_.rrf_k + static_cast<float>(r + 1));
        ranked[list[r].index] = true;
      }
    };
    add(lexical_.search(q, n), o_.bm25_weight);
    add(semantic_.search(q, n), o_.dense_weight);
    for (std::size_t i = 0; i < n; ++i)
      if (!ranked[i]) fused[i] = -1.f;
    return detail::top_k(fused, k, -0.5f);
  }

  /// The dense retriever's best chunk (used when no retriever ranks anything).
  [[nodiscard]] std::vector<scored_chunk> best(std::string_view q) const {
    auto fused = search(q, 1);
    return fused.empty() ? semantic_.best(q) : fused;
  }

  [[nodiscard]] std::size_t size() const noexcept { return lexical_.size(); }
  [[nodiscard]] const bm25& lexical() const noexcept { return lexical_; }
  [[nodiscard]] const dense& semantic() const noexcept { return semantic_; }

private:
  bm25 lexical_;
  dense semantic_;
  hybrid_options o_;
};

static_assert(retriever<hybrid>);
static_assert(has_best<hybrid>);

} // namespace rapid::retrieval
