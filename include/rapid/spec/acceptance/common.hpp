#pragma once
// What every acceptance rule shares: its options, scratch rows, the block checks, the
// accept-with-probability test and the residual draw. RAPID's shift: acceptance/rapid_shift.hpp.
#include <algorithm>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "rapid/core/error.hpp"
#include "rapid/core/rng.hpp"
#include "rapid/ops/sample.hpp"
#include "rapid/spec/acceptance/options.hpp"
#include "rapid/spec/distribution.hpp"
#include "rapid/spec/types.hpp"

namespace rapid::spec::detail {

/// Scratch rows for one verification: reused across steps, sized on first use.
struct rule_rows {
  std::vector<float> p;  // (n_vocab) target distribution at the current position
  std::vector<float> q;  // (n_vocab) a one-hot drafter row, materialised when needed
  std::vector<float> r;  // (n_vocab) residual weights

  void size_for(std::size_t n) {
    if (p.size() == n) return;
    p.assign(n, 0.f);
    q.assign(n, 0.f);
    r.assign(n, 0.f);
  }
  /// Drafter row i as a full distribution (one-hot drafts are expanded into `q`).
  std::span<const float> q_row(const draft_block& d, std::size_t i) {
    if (!d.one_hot) return d.q_row(i);
    std::fill(q.begin(), q.end(), 0.f);
    q[static_cast<std::size_t>(d.tokens[i])] = 1.f;
    return q;
  }
};

/// Target logits row i of a verification block. z: (d.size() + 1, n_vocab)
inline std::span<const float> logit_row(std::span<const float> z, std::size_t n_vocab, std::size_t i) {
  return z.subspan(i * n_vocab, n_vocab);
}

inline void check_block(const draft_block& d, std::span<const float> z, std::size_t n_vocab) {
  if (z.size() != (d.size() + 1) * n_vocab)
    throw invalid_argument("verify: expected " + std::to_string(d.size() + 1) + " logit rows of " + std::to_string(n_vocab) +
                           ", got " + std::to_string(z.size()) + " values");
  if (!d.one_hot && d.q.size() < d.size() * n_vocab)
    throw invalid_argument("verify: the draft block holds fewer distribution rows than drafted tokens");
}

/// Accept x with probability min(1, target(x) / q(x)), drawing one uniform.
[[nodiscard]] inline bool accept(float target_x, float q_x, rng& g) noexcept { return g.uniform() * q_x < target_x; }

/// A residual draw; weights with no mass (the rejection had probability ~0) fall back to `fallback`.
[[nodiscard]] inline token residual_or(std::span<const float> r, std::span<const float> fallback, rng& g) {
  const token t = ops::sample_weights(r, g);
  return t >= 0 ? t : ops::sample_weights(fallback, g);
}

} // namespace rapid::spec::detail
