#pragma once
// Options and row buffers shared by the acceptance rules.
#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "rapid/core/error.hpp"
#include "rapid/spec/distribution.hpp"
#include "rapid/spec/pointwise.hpp"
#include "rapid/spec/types.hpp"

namespace rapid::spec {

struct acceptance_options {
  sampling_options sampling;  // applied to target and drafter logits alike
  float eta = 10.f;           // RAPID transfer strength (retrieval_augmented*)
  float alpha = 0.1f;         // RAPID plausibility mask: shift only where q >= alpha * max q
  int threads = 0;            // OpenMP threads for passes over a vocabulary row (0: OpenMP's default)

  void validate() const {
    sampling.validate();
    if (!std::isfinite(eta) || eta < 0.f) throw invalid_argument("eta must be a finite number >= 0, got " + std::to_string(eta));
    if (!(alpha >= 0.f && alpha <= 1.f)) throw invalid_argument("alpha must be in [0, 1], got " + std::to_string(alpha));
    if (threads < 0) throw invalid_argument("acceptance threads must be >= 0 (0: OpenMP's default), got " + std::to_string(threads));
  }
};

namespace detail {

/// Scratch rows for one verification: reused across steps, sized on first use.
struct rule_rows {
  std::vector<float> p;      // (n_vocab) target distribution at the current position
  std::vector<float> p_hat;  // (n_vocab) shifted target
  std::vector<float> q;      // (n_vocab) a one-hot drafter row, materialised when needed
  std::vector<float> r;      // (n_vocab) residual weights
  plausible_set mask;        // RAPID's M at the current position
  sparse_weights extra;      // (|M|) RAPID's shift as weights added to p

  void size_for(std::size_t n) {
    if (p.size() == n) return;
    p.assign(n, 0.f);
    p_hat.assign(n, 0.f);
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

/// Largest plausible set handled pointwise; beyond it (a flat q, alpha ~ 0) the rules write rows.
constexpr std::size_t max_plausible = 256;

/// p at draft row i and RAPID's shift there as extra weights on p (rows.extra), with `sparse`
/// false when the plausible set is too large for that (then use shifted_row). Plain temperature
/// with a full q row takes the fused pass over z and q. z_row: (n_vocab)
inline target_row rapid_row(distribution_maker& make_p, std::span<const float> z_row, const draft_block& d, std::size_t i,
                            const acceptance_options& o, rule_rows& rows, bool& sparse) {
  const auto q_at = [&](std::size_t j) { return d.q_at(i, static_cast<token>(j)); };
  if (make_p.pointwise() && !d.one_hot) {
    const target_row p = normalise_with_plausible(z_row, 1.f / make_p.options().temperature, d.q_row(i), o.alpha,
                                                  max_plausible, o.threads, rows.mask, sparse);
    if (sparse) shifted_extra(p, q_at, rows.mask, o.eta, rows.extra);
    return p;
  }
  const target_row p = target_distribution(make_p, z_row, rows.p, o.threads);
  if (d.one_hot) {
    sparse = o.alpha > 0.f;  // alpha = 0: every token is plausible
    if (sparse) rows.mask.one_hot(d.tokens[i]);
  } else {
    sparse = rows.mask.find(d.q_row(i), o.alpha, max_plausible, o.threads);
  }
  if (sparse) shifted_extra(p, q_at, rows.mask, o.eta, rows.extra);
  return p;
}

/// p_hat as a full row (rows.p_hat; p is written into rows.p). q: (n_vocab)
inline std::span<const float> shifted_row(const target_row& p, std::span<const float> q, const acceptance_options& o,
                                          rule_rows& rows) {
  shift_toward_drafter(p.materialise(rows.p), q, o.eta, o.alpha, rows.p_hat);
  return rows.p_hat;
}

/// p_hat(x) for the draft at row i after rapid_row.
inline float shifted_probability(const target_row& p, bool sparse, const draft_block& d, std::size_t i,
                                 const acceptance_options& o, rule_rows& rows) {
  const token x = d.tokens[i];
  if (sparse) return shifted_at(p, rows.extra, x);
  return shifted_row(p, rows.q_row(d, i), o, rows)[static_cast<std::size_t>(x)];
}

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
  const token t = sample_weights(r, g);
  return t >= 0 ? t : sample_weights(fallback, g);
}

} // namespace detail
} // namespace rapid::spec
