#pragma once
// Dense retrieval with a shared BERT sentence encoder (rapid/model/encoder.hpp). Each chunk is
// embedded as consecutive windows of word pieces (default 64; all-MiniLM-L6-v2 takes at most 254,
// while a 512-token chunk is ~550) and scores the best cosine of its windows, so no part of a chunk
// is invisible and a one-sentence fact is not averaged away with the rest of its chunk (needle
// recall@5 0.62 with 64-piece windows against 0.22 with 254; docs/retrieval.md).
// search() keeps chunks with cosine >= threshold (default 0.3).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "rapid/core/error.hpp"
#include "rapid/model/encoder.hpp"
#include "rapid/ops/vector.hpp"
#include "rapid/retrieval/bm25.hpp"
#include "rapid/retrieval/chunk.hpp"
#include "rapid/retrieval/retriever.hpp"

namespace rapid::retrieval {

struct dense_options {
  float threshold = 0.3f;        // minimum cosine for search(), in [-1, 1]
  std::size_t max_windows = 0;   // windows embedded per chunk; 0: all (whole chunk seen)
  std::size_t window = 64;       // word pieces per window (0: the encoder's max_tokens - 2); short
                                 // windows keep a one-sentence fact from being averaged away
  std::size_t stride = 0;        // pieces between window starts; 0: window (no overlap)
};

class dense {
public:
  explicit dense(std::shared_ptr<const model::bert_encoder> encoder, dense_options o = {}) : enc_(std::move(encoder)), o_(o) {
    if (!enc_) throw invalid_argument("dense retriever needs an encoder (got a null pointer)");
    (void)enc_->windows("", 1, o_.window, o_.stride); // checks window and stride
    if (!(o_.threshold >= -1.f && o_.threshold <= 1.f)) throw invalid_argument("dense threshold must be a cosine in [-1, 1] (default 0.3)", {{}, "threshold", {}});
  }

  /// Embeds every window of every chunk (one batch, OpenMP over windows).
  void index(std::span<const chunk> chunks) {
    std::vector<std::vector<std::int32_t>> seqs;
    window_chunk_.clear();
    for (std::size_t c = 0; c < chunks.size(); ++c)
      for (auto& w : enc_->windows(chunks[c].text, o_.max_windows, o_.window, o_.stride)) {
        seqs.push_back(std::move(w));
        window_chunk_.push_back(c);
      }
    embeddings_ = enc_->embed_batch(seqs);
    n_chunks_ = chunks.size();
  }

  /// Chunks with cosine >= threshold, best first, at most k.
  [[nodiscard]] std::vector<scored_chunk> search(std::string_view q, std::size_t k) const {
    return detail::top_k(scores(q), k, std::nextafter(o_.threshold, -2.f));
  }

  /// The most similar chunk whatever its cosine; empty only when nothing is indexed.
  [[nodiscard]] std::vector<scored_chunk> best(std::string_view q) const { return detail::top_k(scores(q), 1, -2.f); }

  /// Cosine of the query with every chunk (best window). Returns (size())
  [[nodiscard]] std::vector<float> scores(std::string_view q) const {
    std::vector<float> s(n_chunks_, -1.f);
    if (n_chunks_ == 0) return s;
    const auto qv = enc_->embed(q); // (dim)
    const std::size_t d = enc_->dim();
    for (std::size_t w = 0; w < window_chunk_.size(); ++w) {
      const float c = ops::dot_f32(qv.data(), embeddings_.data() + w * d, d); // both unit length
      s[window_chunk_[w]] = std::max(s[window_chunk_[w]], c);
    }
    return s;
  }

  [[nodiscard]] std::size_t size() const noexcept { return n_chunks_; }
  [[nodiscard]] std::size_t windows() const noexcept { return window_chunk_.size(); }
  [[nodiscard]] const model::bert_encoder& encoder() const noexcept { return *enc_; }
  [[nodiscard]] const dense_options& options() const noexcept { return o_; }

private:
  std::shared_ptr<const model::bert_encoder> enc_;
  dense_options o_;
  std::vector<float> embeddings_;         // (windows, dim) unit vectors
  std::vector<std::size_t> window_chunk_; // (windows) chunk of each window
  std::size_t n_chunks_ = 0;
};

static_assert(retriever<dense>);
static_assert(has_best<dense>);

} // namespace rapid::retrieval
