#pragma once
// Full-vocabulary distribution arithmetic for acceptance rules, vectorised with xsimd: target
// probabilities p from logits, RAPID's shifted p_hat, residual weights and inverse-CDF draws.
// Rows are 49K-152K floats, so every pass is a streaming loop over batches with a scalar tail.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <span>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "rapid/core/error.hpp"
#include "rapid/core/rng.hpp"
#include "rapid/model/sampler.hpp"
#include "rapid/spec/types.hpp"

namespace rapid::spec {

namespace detail {
using fbatch = xsimd::batch<float>;
constexpr std::size_t lanes = fbatch::size;

inline float max_of(std::span<const float> x) noexcept {
  std::size_t i = 0;
  float m = -std::numeric_limits<float>::infinity();
  if (x.size() >= lanes) {
    fbatch acc = fbatch::load_unaligned(x.data());
    for (i = lanes; i + lanes <= x.size(); i += lanes) acc = xsimd::max(acc, fbatch::load_unaligned(x.data() + i));
    alignas(64) std::array<float, lanes> tmp;
    acc.store_aligned(tmp.data());
    for (float v : tmp) m = std::max(m, v);
  }
  for (const float v : x.subspan(i)) m = std::max(m, v);  // the tail
  return m;
}

inline double sum_of(std::span<const float> x) noexcept {
  fbatch acc(0.f);
  std::size_t i = 0;
  for (; i + lanes <= x.size(); i += lanes) acc += fbatch::load_unaligned(x.data() + i);
  double s = xsimd::hadd(acc);
  for (; i < x.size(); ++i) s += x[i];
  return s;
}

inline void scale(std::span<float> x, float k) noexcept {
  const fbatch kb(k);
  std::size_t i = 0;
  for (; i + lanes <= x.size(); i += lanes) (fbatch::load_unaligned(x.data() + i) * kb).store_unaligned(x.data() + i);
  for (; i < x.size(); ++i) x[i] *= k;
}
} // namespace detail

/// Index of the largest value, the first on ties (as the greedy sampler). x: (n), n > 0.
[[nodiscard]] inline token argmax(std::span<const float> x) noexcept {
  using detail::fbatch, detail::lanes;
  const float m = detail::max_of(x);
  const fbatch mb(m);
  std::size_t i = 0;
  while (i + lanes <= x.size() && !xsimd::any(fbatch::load_unaligned(x.data() + i) == mb)) i += lanes;  // skip whole batches
  return static_cast<token>(std::find(x.begin() + static_cast<std::ptrdiff_t>(i), x.end(), m) - x.begin());
}

/// out <- softmax(z * inv_t). z, out: (n)
inline void softmax_scaled(std::span<const float> z, float inv_t, std::span<float> out) noexcept {
  using detail::fbatch, detail::lanes;
  const float m = detail::max_of(z) * inv_t;
  const fbatch kb(inv_t), mb(m);
  fbatch acc(0.f);
  std::size_t i = 0;
  for (; i + lanes <= z.size(); i += lanes) {
    const fbatch e = xsimd::exp(fbatch::load_unaligned(z.data() + i) * kb - mb);
    e.store_unaligned(out.data() + i);
    acc += e;
  }
  float sum = xsimd::hadd(acc);
  for (; i < z.size(); ++i) sum += (out[i] = std::exp(z[i] * inv_t - m));
  detail::scale(out, 1.f / sum);
}

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
  /// True for plain temperature sampling: p has a closed form per token (spec/pointwise.hpp).
  [[nodiscard]] bool pointwise() const noexcept {
    return !options_.greedy() && options_.top_k == 0 && options_.top_p >= 1.f;
  }

  /// p <- processed(z). z, p: (n_vocab)
  void operator()(std::span<const float> z, std::span<float> p) {
    if (options_.greedy()) {
      std::fill(p.begin(), p.end(), 0.f);
      p[static_cast<std::size_t>(argmax(z))] = 1.f;
    } else if (pointwise()) {
      softmax_scaled(z, 1.f / options_.temperature, p);
    } else {
      sampler_.distribution(z, p);
    }
  }

private:
  sampling_options options_;
  model::sampler sampler_;
};

/// RAPID's shifted target (official code's form): p_hat = softmax(log p + eta * M * (q - p)) with
/// M = [q >= alpha * max q], computed as p * exp(shift) / sum (no logarithm): tokens the target
/// excluded (top-k/top-p, p = 0) stay excluded. p, q, p_hat: (n_vocab)
inline void shift_toward_drafter(std::span<const float> p, std::span<const float> q, float eta, float alpha,
                                 std::span<float> p_hat) noexcept {
  using detail::fbatch, detail::lanes;
  const float q_max = detail::max_of(q), cut = alpha * q_max;
  // shift = eta * (q - p) <= eta * max q: subtracting that bound keeps exp() <= 1 (no overflow).
  const float bound = eta * q_max;
  const fbatch cb(cut), eb(eta), zero(0.f), bb(bound);
  const std::size_t n = p.size();
  fbatch acc(0.f);
  std::size_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    const fbatch pb = fbatch::load_unaligned(p.data() + i), qb = fbatch::load_unaligned(q.data() + i);
    const fbatch shift = xsimd::select(qb >= cb, eb * (qb - pb), zero);
    const fbatch w = pb * xsimd::exp(shift - bb);
    w.store_unaligned(p_hat.data() + i);
    acc += w;
  }
  double sum = xsimd::hadd(acc);
  for (; i < n; ++i) {
    const float shift = q[i] >= cut ? eta * (q[i] - p[i]) : 0.f;
    sum += (p_hat[i] = p[i] * std::exp(shift - bound));
  }
  if (sum > 1e-30) {
    detail::scale(p_hat, static_cast<float>(1.0 / sum));
    return;
  }
  // eta * max q so large that every weight underflowed: redo in log space with an exact max.
  for (i = 0; i < n; ++i) {
    const float shift = q[i] >= cut ? eta * (q[i] - p[i]) : 0.f;
    p_hat[i] = p[i] > 0.f ? std::log(p[i]) + shift : -std::numeric_limits<float>::infinity();
  }
  softmax_scaled(p_hat, 1.f, p_hat);
}

/// r <- max(0, a - b). a, b, r: (n)
inline void positive_difference(std::span<const float> a, std::span<const float> b, std::span<float> r) noexcept {
  using detail::fbatch, detail::lanes;
  const fbatch zero(0.f);
  std::size_t i = 0;
  for (; i + lanes <= a.size(); i += lanes)
    xsimd::max(fbatch::load_unaligned(a.data() + i) - fbatch::load_unaligned(b.data() + i), zero)
        .store_unaligned(r.data() + i);
  for (; i < a.size(); ++i) r[i] = std::max(a[i] - b[i], 0.f);
}

/// r <- max(0, p - min(q, p_hat)) = max(p - p_hat, p - q, 0): RAPID's residual. all: (n)
inline void rapid_residual(std::span<const float> p, std::span<const float> q, std::span<const float> p_hat,
                           std::span<float> r) noexcept {
  using detail::fbatch, detail::lanes;
  const fbatch zero(0.f);
  std::size_t i = 0;
  for (; i + lanes <= p.size(); i += lanes) {
    const fbatch m = xsimd::min(fbatch::load_unaligned(q.data() + i), fbatch::load_unaligned(p_hat.data() + i));
    xsimd::max(fbatch::load_unaligned(p.data() + i) - m, zero).store_unaligned(r.data() + i);
  }
  for (; i < p.size(); ++i) r[i] = std::max(p[i] - std::min(q[i], p_hat[i]), 0.f);
}

/// Inverse-CDF draw from non-negative weights (need not sum to one), one uniform from g.
/// Returns -1 when the weights hold no mass. w: (n)
[[nodiscard]] inline token sample_weights(std::span<const float> w, rng& g) {
  using detail::fbatch, detail::lanes;
  const double total = detail::sum_of(w);
  if (!(total > 0)) {
    (void)g.uniform();  // keep the draw count independent of the outcome
    return -1;
  }
  const double u = g.uniform() * total;
  double acc = 0;
  std::size_t i = 0;
  // Skip whole batches while the running sum stays below u, then walk the crossing batch.
  for (; i + lanes <= w.size(); i += lanes) {
    const double s = xsimd::hadd(fbatch::load_unaligned(w.data() + i));
    if (acc + s > u) break;
    acc += s;
  }
  std::size_t last = w.size();
  for (; i < w.size(); ++i) {
    if (w[i] <= 0.f) continue;
    acc += w[i];
    last = i;
    if (u < acc) return static_cast<token>(i);
  }
  if (last == w.size())  // rounding carried u past the crossing batch: take the last positive weight
    for (std::size_t j = w.size(); j-- > 0;)
      if (w[j] > 0.f) return static_cast<token>(j);
  return static_cast<token>(last);
}

} // namespace rapid::spec
