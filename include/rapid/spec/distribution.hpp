#pragma once
// The target's processed distribution p for acceptance rules and drafters: distribution_maker
// turns logit rows into the row the sampler would draw from, and target_row reads p entry by
// entry, pointwise from the logits and their softmax normaliser (plain temperature, no row
// written) or from a written row (greedy, top-k, top-p). The row maths lives in ops/.
#include <algorithm>
#include <cstddef>
#include <span>

#include "rapid/core/error.hpp"
#include "rapid/core/rng.hpp"
#include "rapid/model/sampler.hpp"
#include "rapid/ops/row.hpp"
#include "rapid/ops/sample.hpp"
#include "rapid/ops/softmax.hpp"
#include "rapid/ops/softmax_normaliser.hpp"
#include "rapid/spec/types.hpp"

namespace rapid::spec {

/// Turns logit rows into the processed distribution the sampler would draw from (temperature,
/// top-k, top-p; greedy gives a one-hot row). The plain temperature case takes the SIMD path.
class distribution_maker {
public:
  explicit distribution_maker(sampling_options s) : options_(s), sampler_(s) {
    if (s.repetition_penalty != 1.f)
      throw invalid_argument("speculative decoding does not support a repetition penalty (it would make p depend on "
                             "the drafted tokens); use 1");
  }
  [[nodiscard]] const sampling_options& options() const noexcept { return options_; }
  /// True for plain temperature sampling: p has a closed form per token (target_row).
  [[nodiscard]] bool pointwise() const noexcept {
    return !options_.greedy() && options_.top_k == 0 && options_.top_p >= 1.f;
  }

  /// p <- processed(z). z, p: (n_vocab)
  void operator()(std::span<const float> z, std::span<float> p) {
    if (options_.greedy()) {
      std::fill(p.begin(), p.end(), 0.f);
      p[static_cast<std::size_t>(ops::argmax(z))] = 1.f;
    } else if (pointwise()) {
      ops::softmax_scaled(z, 1.f / options_.temperature, p);
    } else {
      sampler_.distribution(z, p);
    }
  }

private:
  sampling_options options_;
  model::sampler sampler_;
};

/// The target's processed distribution at one position, read entry by entry: pointwise from the
/// logits and their normaliser (plain temperature), or from a row written out (greedy, top-k, top-p).
class target_row {
public:
  target_row(std::span<const float> z, ops::softmax_normaliser n) : z_(z), norm_(n) {}
  explicit target_row(std::span<const float> written) : row_(written) {}

  [[nodiscard]] float operator()(std::size_t j) const noexcept { return row_.empty() ? norm_(z_[j]) : row_[j]; }
  [[nodiscard]] bool pointwise() const noexcept { return row_.empty(); }

  /// The whole row (written into scratch when pointwise). scratch: (n_vocab)
  std::span<const float> materialise(std::span<float> scratch) const noexcept {
    if (!pointwise()) return row_;
    norm_.write(z_, scratch);
    return scratch;
  }

  /// A draw from p_j + extra_j (extra: see ops::sparse_weights).
  [[nodiscard]] token sample(const ops::sparse_weights& extra, std::span<float> scratch, rng& g) const {
    if (pointwise()) return ops::sample_softmax(z_, norm_, extra, g);
    std::span<const float> w = row_;
    if (!extra.empty()) {
      std::copy(row_.begin(), row_.end(), scratch.begin());
      for (const auto& [j, add] : extra) scratch[j] += static_cast<float>(add);
      w = scratch;
    }
    return ops::sample_weights(w, g);
  }

private:
  std::span<const float> z_;    // (n_vocab) logits, pointwise mode
  ops::softmax_normaliser norm_{};
  std::span<const float> row_;  // (n_vocab) written probabilities, otherwise
};

/// p = processed(z) as a target_row: pointwise when the maker allows it, else written into
/// scratch. z, scratch: (n_vocab)
inline target_row target_distribution(distribution_maker& make_p, std::span<const float> z, std::span<float> scratch,
                                      int threads = 0) {
  if (make_p.pointwise()) return {z, ops::softmax_normaliser::of(z, 1.f / make_p.options().temperature, threads)};
  make_p(z, scratch);
  return target_row(std::span<const float>(scratch));
}

} // namespace rapid::spec
