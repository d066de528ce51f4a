#pragma once
// Okapi BM25 over chunks: score(q, c) = sum over distinct query terms t of
//   idf(t) * tf(t, c) * (k1 + 1) / (tf(t, c) + k1 * (1 - b + b * |c| / avg|c|)),
//   idf(t) = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))   (Lucene's non-negative idf),
// with terms from rapid/retrieval/terms.hpp. An inverted index makes a query cost the postings of
// its terms. search() returns only chunks sharing at least one term with the query.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "rapid/core/error.hpp"
#include "rapid/retrieval/chunk.hpp"
#include "rapid/retrieval/retriever.hpp"
#include "rapid/retrieval/terms.hpp"

namespace rapid::retrieval {

struct bm25_options {
  float k1 = 1.2f;   // term-frequency saturation, >= 0
  float b = 0.75f;   // length normalisation, in [0, 1]
  term_options terms{};
  bool bigrams = true; // also index adjacent term pairs (after stop words), so "tobias halvorsen"
                       // outranks chunks that mention "tobias" and "halvorsen" apart
};

namespace detail {
/// The k best of scores (index order breaks ties), best first; only scores > floor.
inline std::vector<scored_chunk> top_k(std::span<const float> scores, std::size_t k, float floor) {
  std::vector<scored_chunk> out;
  for (std::size_t i = 0; i < scores.size(); ++i)
    if (scores[i] > floor) out.push_back({i, scores[i]});
  auto better = [](const scored_chunk& a, const scored_chunk& b) { return a.score != b.score ? a.score > b.score : a.index < b.index; };
  if (out.size() > k) {
    std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(k), out.end(), better);
    out.resize(k);
  } else {
    std::sort(out.begin(), out.end(), better);
  }
  return out;
}
} // namespace detail

class bm25 {
public:
  explicit bm25(bm25_options o = {}) : o_(o) {
    if (!(o_.k1 >= 0.f) || !std::isfinite(o_.k1)) throw invalid_argument("bm25 k1 must be a finite number >= 0 (typical: 1.2)", {{}, "k1", {}});
    if (!(o_.b >= 0.f && o_.b <= 1.f)) throw invalid_argument("bm25 b must be in [0, 1] (typical: 0.75)", {{}, "b", {}});
  }

  /// Replaces the index with `chunks`.
  void index(std::span<const chunk> chunks) {
    term_ids_.clear();
    postings_.clear();
    length_.assign(chunks.size(), 0);
    std::unordered_map<std::uint32_t, std::uint32_t> tf;
    double total = 0;
    for (std::size_t c = 0; c < chunks.size(); ++c) {
      tf.clear();
      const auto terms = analyze(chunks[c].text);
      for (const auto& t : terms) {
        const auto [it, added] = term_ids_.try_emplace(t, static_cast<std::uint32_t>(postings_.size()));
        if (added) postings_.emplace_back();
        ++tf[it->second];
      }
      for (const auto& [term, count] : tf) postings_[term].push_back({static_cast<std::uint32_t>(c), count});
      length_[c] = static_cast<std::uint32_t>(terms.size());
      total += static_cast<double>(terms.size());
    }
    avg_length_ = chunks.empty() ? 0.0 : total / static_cast<double>(chunks.size());
  }

  /// The k best chunks that share a term with q, best first.
  [[nodiscard]] std::vector<scored_chunk> search(std::string_view q, std::size_t k) const {
    return detail::top_k(scores(q), k, 0.f);
  }

  /// The best chunk even without any shared term (then the first chunk, score 0); empty only when
  /// nothing is indexed.
  [[nodiscard]] std::vector<scored_chunk> best(std::string_view q) const {
    const auto s = scores(q);
    return detail::top_k(s, 1, -1.f);
  }

  /// Score of every indexed chunk. Returns (size())
  [[nodiscard]] std::vector<float> scores(std::string_view q) const {
    std::vector<float> s(length_.size(), 0.f);
    if (length_.empty()) return s;
    const double n = static_cast<double>(length_.size());
    std::unordered_set<std::string> seen;
    for (auto& t : analyze(q)) {
      if (!seen.insert(t).second) continue;
      const auto it = term_ids_.find(t);
      if (it == term_ids_.end()) continue;
      const auto& list = postings_[it->second];
      const double df = static_cast<double>(list.size());
      const double idf = std::log(1.0 + (n - df + 0.5) / (df + 0.5));
      for (const auto& p : list) {
        const double tf = p.count;
        const double norm = o_.k1 * (1.0 - o_.b + o_.b * length_[p.chunk] / std::max(avg_length_, 1e-9));
        s[p.chunk] += static_cast<float>(idf * tf * (o_.k1 + 1.0) / (tf + norm));
      }
    }
    return s;
  }

  [[nodiscard]] std::size_t size() const noexcept { return length_.size(); }
  [[nodiscard]] std::size_t vocabulary_size() const noexcept { return postings_.size(); }
  [[nodiscard]] const bm25_options& options() const noexcept { return o_; }

private:
  std::vector<std::string> analyze(std::string_view text) const {
    auto terms = terms_of(text, o_.terms);
    if (!o_.bigrams) return terms;
    const std::size_t n = terms.size();
    for (std::size_t i = 0; i + 1 < n; ++i) terms.push_back(terms[i] + ' ' + terms[i + 1]);
    return terms;
  }

  struct posting {
    std::uint32_t chunk, count;
  };
  bm25_options o_;
  std::unordered_map<std::string, std::uint32_t> term_ids_;
  std::vector<std::vector<posting>> postings_; // (terms) -> chunks containing the term
  std::vector<std::uint32_t> length_;          // (chunks) terms per chunk
  double avg_length_ = 0;
};

static_assert(retriever<bm25>);
static_assert(has_best<bm25>);

} // namespace rapid::retrieval
