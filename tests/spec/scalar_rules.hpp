#pragma once
// Plain scalar twins of the four acceptance rules (rapid/spec/acceptance/*): the same decisions
// from the same random draws, written as simple loops over the vocabulary with std::exp / std::log
// and double-precision sums, no xsimd. The benchmark (benchmarks/bench_acceptance.cpp) times them
// beside the SIMD rules; tests/spec/test_acceptance_scalar.cpp checks that both give the same
// verdicts. Only the processing the SIMD fast path covers: temperature (top-k = 0, top-p = 1) or
// greedy.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <span>
#include <vector>

#include "rapid/core/error.hpp"
#include "rapid/core/rng.hpp"
#include "rapid/spec/acceptance/common.hpp"
#include "rapid/spec/types.hpp"

namespace rapid::test::scalar {

using spec::token;

inline token argmax(std::span<const float> x) {
  std::size_t best = 0;
  for (std::size_t i = 1; i < x.size(); ++i)
    if (x[i] > x[best]) best = i;
  return static_cast<token>(best);
}

/// out <- softmax(z * inv_t). z, out: (n); out may alias z.
inline void softmax_scaled(std::span<const float> z, float inv_t, std::span<float> out) {
  float m = -std::numeric_limits<float>::infinity();
  for (float v : z) m = std::max(m, v);
  m *= inv_t;
  double sum = 0;
  for (std::size_t i = 0; i < z.size(); ++i) sum += (out[i] = std::exp(z[i] * inv_t - m));
  const auto k = static_cast<float>(1.0 / sum);
  for (auto& v : out) v *= k;
}

/// p <- processed(z): temperature softmax, or a one-hot argmax row when greedy.
inline void make_p(const spec::sampling_options& s, std::span<const float> z, std::span<float> p) {
  if (s.top_k != 0 || s.top_p < 1.f) throw invalid_argument("scalar twins cover temperature-only sampling");
  if (s.greedy()) {
    std::fill(p.begin(), p.end(), 0.f);
    p[static_cast<std::size_t>(argmax(z))] = 1.f;
  } else {
    softmax_scaled(z, 1.f / s.temperature, p);
  }
}

/// p_hat <- softmax(log p + eta * [q >= alpha * max q] * (q - p)).
inline void shift_toward_drafter(std::span<const float> p, std::span<const float> q, float eta, float alpha,
                                 std::span<float> p_hat) {
  float qmax = -std::numeric_limits<float>::infinity();
  for (float v : q) qmax = std::max(qmax, v);
  const float cut = alpha * qmax;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const float shift = q[i] >= cut ? eta * (q[i] - p[i]) : 0.f;
    p_hat[i] = p[i] > 0.f ? std::log(p[i]) + shift : -std::numeric_limits<float>::infinity();
  }
  softmax_scaled(p_hat, 1.f, p_hat);
}

/// The last inverse-CDF draw a twin made: its weights and uniform (tests compare boundary cases).
struct draw_record {
  std::span<const float> w;
  double uniform = -1;
};

/// Inverse-CDF draw from non-negative weights; -1 (after consuming one uniform) when no mass.
inline token sample_weights(std::span<const float> w, rng& g, draw_record* record = nullptr) {
  double total = 0;
  for (float v : w) total += v;
  if (!(total > 0)) {
    (void)g.uniform();
    return -1;
  }
  const double uniform = g.uniform(), u = uniform * total;
  if (record) *record = {w, uniform};
  double acc = 0;
  std::size_t last = w.size();
  for (std::size_t i = 0; i < w.size(); ++i) {
    if (w[i] <= 0.f) continue;
    acc += w[i];
    last = i;
    if (u < acc) return static_cast<token>(i);
  }
  return static_cast<token>(last);
}

inline token residual_or(std::span<const float> r, std::span<const float> fallback, rng& g, draw_record* record) {
  const token t = sample_weights(r, g, record);
  return t >= 0 ? t : sample_weights(fallback, g, record);
}

/// Scratch rows and the drafter-row view shared by the twins.
struct rows {
  std::vector<float> p, p_hat, q, r;  // (n_vocab) each
  draw_record last_draw;              // the step's residual or bonus draw (valid until the next step)
  void size_for(std::size_t n) {
    p.resize(n);
    p_hat.resize(n);
    q.resize(n);
    r.resize(n);
  }
  std::span<const float> q_row(const spec::draft_block& d, std::size_t i) {
    if (!d.one_hot) return {d.q.data() + i * d.vocab, d.vocab};
    std::fill(q.begin(), q.end(), 0.f);
    q[static_cast<std::size_t>(d.tokens[i])] = 1.f;
    return q;
  }
};

inline std::span<const float> row(std::span<const float> z, std::size_t n, std::size_t i) { return z.subspan(i * n, n); }
inline bool accept(float target_x, float q_x, rng& g) { return g.uniform() * q_x < target_x; }

struct greedy_match {
  static constexpr const char* name = "greedy_match";
  explicit greedy_match(const spec::acceptance_options& = {}) {}
  spec::verdict verify(const spec::draft_block& d, std::span<const float> z, std::size_t n, rng&) const {
    for (std::size_t i = 0; i < d.size(); ++i) {
      const token best = argmax(row(z, n, i));
      if (d.tokens[i] != best) return {i, best};
    }
    return {d.size(), argmax(row(z, n, d.size()))};
  }
};

struct speculative_sampling {
  static constexpr const char* name = "speculative_sampling";
  explicit speculative_sampling(const spec::acceptance_options& o = {}) : o_(o) {}
  spec::verdict verify(const spec::draft_block& d, std::span<const float> z, std::size_t n, rng& g) {
    rows_.size_for(n);
    rows_.last_draw = {};
    for (std::size_t i = 0; i < d.size(); ++i) {
      make_p(o_.sampling, row(z, n, i), rows_.p);
      const token x = d.tokens[i];
      const auto q = rows_.q_row(d, i);
      if (accept(rows_.p[static_cast<std::size_t>(x)], q[static_cast<std::size_t>(x)], g)) continue;
      for (std::size_t t = 0; t < n; ++t) rows_.r[t] = std::max(rows_.p[t] - q[t], 0.f);
      return {i, residual_or(rows_.r, rows_.p, g, &rows_.last_draw)};
    }
    make_p(o_.sampling, row(z, n, d.size()), rows_.p);
    return {d.size(), sample_weights(rows_.p, g, &rows_.last_draw)};
  }
  [[nodiscard]] const draw_record& last_draw() const noexcept { return rows_.last_draw; }
  spec::acceptance_options o_;
  rows rows_;
};

struct retrieval_augmented {
  static constexpr const char* name = "retrieval_augmented";
  explicit retrieval_augmented(const spec::acceptance_options& o = {}) : o_(o) {}
  spec::verdict verify(const spec::draft_block& d, std::span<const float> z, std::size_t n, rng& g) {
    rows_.size_for(n);
    rows_.last_draw = {};
    for (std::size_t i = 0; i < d.size(); ++i) {
      make_p(o_.sampling, row(z, n, i), rows_.p);
      const auto q = rows_.q_row(d, i);
      std::span<const float> p_hat = rows_.p;
      if (o_.eta != 0.f) {
        shift_toward_drafter(rows_.p, q, o_.eta, o_.alpha, rows_.p_hat);
        p_hat = rows_.p_hat;
      }
      const auto x = static_cast<std::size_t>(d.tokens[i]);
      if (accept(p_hat[x], q[x], g)) continue;
      for (std::size_t t = 0; t < n; ++t) rows_.r[t] = std::max(rows_.p[t] - std::min(q[t], p_hat[t]), 0.f);
      return {i, residual_or(rows_.r, rows_.p, g, &rows_.last_draw)};
    }
    make_p(o_.sampling, row(z, n, d.size()), rows_.p);
    return {d.size(), sample_weights(rows_.p, g, &rows_.last_draw)};
  }
  [[nodiscard]] const draw_record& last_draw() const noexcept { return rows_.last_draw; }
  spec::acceptance_options o_;
  rows rows_;
};

struct retrieval_augmented_exact {
  static constexpr const char* name = "retrieval_augmented_exact";
  explicit retrieval_augmented_exact(const spec::acceptance_options& o = {}) : o_(o) {}
  spec::verdict verify(const spec::draft_block& d, std::span<const float> z, std::size_t n, rng& g) {
    rows_.size_for(n);
    rows_.last_draw = {};
    for (std::size_t i = 0; i < d.size(); ++i) {
      const auto q = rows_.q_row(d, i);
      const auto p_hat = shifted(z, n, i, q);
      const auto x = static_cast<std::size_t>(d.tokens[i]);
      if (accept(p_hat[x], q[x], g)) continue;
      for (std::size_t t = 0; t < n; ++t) rows_.r[t] = std::max(p_hat[t] - q[t], 0.f);
      return {i, residual_or(rows_.r, p_hat, g, &rows_.last_draw)};
    }
    std::span<const float> bonus;
    if (d.has_next_q && !d.one_hot) {
      bonus = shifted(z, n, d.size(), std::span<const float>(d.q.data() + d.size() * n, n));
    } else {
      make_p(o_.sampling, row(z, n, d.size()), rows_.p);
      bonus = rows_.p;
    }
    return {d.size(), sample_weights(bonus, g, &rows_.last_draw)};
  }
  std::span<const float> shifted(std::span<const float> z, std::size_t n, std::size_t i, std::span<const float> q) {
    make_p(o_.sampling, row(z, n, i), rows_.p);
    if (o_.eta == 0.f) return rows_.p;
    shift_toward_drafter(rows_.p, q, o_.eta, o_.alpha, rows_.p_hat);
    return rows_.p_hat;
  }
  [[nodiscard]] const draw_record& last_draw() const noexcept { return rows_.last_draw; }
  spec::acceptance_options o_;
  rows rows_;
};

} // namespace rapid::test::scalar
