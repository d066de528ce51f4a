#pragma once
// Turns logits into a next-token distribution (repetition penalty, temperature, top-k, top-p) and
// samples from it. Speculative decoding applies the same processing to the target's and the
// drafter's logits, so `distribution()` is public: it returns the full-vocabulary probabilities.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "rapid/core/error.hpp"
#include "rapid/core/rng.hpp"
#include "rapid/model/sampling_options.hpp"
#include "rapid/ops/row.hpp"
#include "rapid/ops/sample.hpp"
#include "rapid/ops/softmax.hpp"

namespace rapid::model {

/// Index of the largest logit, the first on ties (ops/row.hpp).
using ops::argmax;

class sampler {
public:
  explicit sampler(sampling_options options = {}) : options_(options) { options_.validate(); }
  [[nodiscard]] const sampling_options& options() const noexcept { return options_; }

  /// probs <- the processed next-token distribution over the whole vocabulary (zeros outside the
  /// kept set). Greedy gives a one-hot row. logits, probs: (n_vocab); history: emitted tokens.
  void distribution(std::span<const float> logits, std::span<float> probs, std::span<const std::int32_t> history = {}) {
    const std::size_t n = logits.size();
    if (probs.size() != n) throw invalid_argument("sampler: probs and logits differ in size");
    if (n == 0) throw invalid_argument("sampler: empty logits");
    std::copy(logits.begin(), logits.end(), probs.begin());
    apply_penalty(probs, history);
    if (options_.greedy()) {
      const auto best = argmax(probs);
      std::fill(probs.begin(), probs.end(), 0.f);
      probs[static_cast<std::size_t>(best)] = 1.f;
      return;
    }
    const float inv_t = 1.f / options_.temperature;
    for (auto& z : probs) z *= inv_t;
    if (options_.top_k > 0 && options_.top_k < n) keep_top_k(probs, options_.top_k);
    ops::softmax_inplace(probs.data(), n);
    if (options_.top_p < 1.f) keep_top_p(probs, options_.top_p);
  }

  /// Samples the next token; greedy needs no randomness (g is untouched).
  std::int32_t sample(std::span<const float> logits, rng& g, std::span<const std::int32_t> history = {}) {
    if (options_.greedy() && options_.repetition_penalty == 1.f) return argmax(logits);
    probs_.resize(logits.size());
    distribution(logits, probs_, history);
    return sample_from(probs_, g);
  }

  /// Inverse-CDF draw from a distribution (need not be normalised exactly). probs: (n)
  static std::int32_t sample_from(std::span<const float> probs, rng& g) {
    const std::int32_t t = ops::sample_weights_serial(probs, g);
    if (t < 0) throw invalid_argument("sampler: distribution has no mass");
    return t;
  }

private:
  void apply_penalty(std::span<float> z, std::span<const std::int32_t> history) const {
    if (options_.repetition_penalty == 1.f) return;
    const std::size_t from = history.size() > options_.penalty_window ? history.size() - options_.penalty_window : 0;
    seen_.assign(z.size(), false);
    for (std::size_t i = from; i < history.size(); ++i) {
      const auto t = static_cast<std::size_t>(history[i]);
      if (t >= z.size() || seen_[t]) continue;
      seen_[t] = true;
      z[t] = z[t] > 0 ? z[t] / options_.repetition_penalty : z[t] * options_.repetition_penalty;  // CTRL's rule
    }
  }

  // Sets every logit below the k-th largest to -inf (ties at the boundary are all kept).
  void keep_top_k(std::span<float> z, std::size_t k) {
    scratch_.assign(z.begin(), z.end());
    std::nth_element(scratch_.begin(), scratch_.begin() + static_cast<std::ptrdiff_t>(k - 1), scratch_.end(), std::greater<>());
    const float kth = scratch_[k - 1];
    for (auto& x : z)
      if (x < kth) x = -std::numeric_limits<float>::infinity();
  }

  // Keeps the smallest set of most probable tokens whose mass reaches p, renormalised. Sorts only
  // a growing head of the candidates, since p's set is usually small against a 150K vocabulary.
  void keep_top_p(std::span<float> probs, float p) {
    order_.resize(probs.size());
    std::iota(order_.begin(), order_.end(), 0u);
    auto by_prob = [&](std::uint32_t a, std::uint32_t b) { return probs[a] > probs[b] || (probs[a] == probs[b] && a < b); };
    std::size_t head = std::min<std::size_t>(64, probs.size()), kept = 0;
    double mass = 0;
    for (;;) {
      std::partial_sort(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(head), order_.end(), by_prob);
      mass = 0;
      for (kept = 0; kept < head; ++kept) {
        mass += probs[order_[kept]];
        if (mass >= p) break;
      }
      if (kept < head || head == probs.size()) break;
      head = std::min(probs.size(), head * 8);
    }
    kept = std::min(kept + 1, probs.size());
    keep_.assign(probs.size(), false);
    for (std::size_t i = 0; i < kept; ++i) keep_[order_[i]] = true;
    const auto inv = static_cast<float>(1.0 / mass);
    for (std::size_t i = 0; i < probs.size(); ++i) probs[i] = keep_[i] ? probs[i] * inv : 0.f;
  }

  sampling_options options_;
  std::vector<float> probs_;           // (n_vocab)
  std::vector<float> scratch_;         // (n_vocab) top-k selection
  std::vector<std::uint32_t> order_;   // (n_vocab) top-p candidate order
  std::vector<bool> keep_;             // (n_vocab)
  mutable std::vector<bool> seen_;     // (n_vocab) repetition penalty
};

} // namespace rapid::model
