#pragma once
// Streaming arithmetic over one float row (a vocabulary row of 49K-152K logits or probabilities,
// an attention score row): max, sum, scale, argmax, positive difference. xsimd batches with a
// scalar tail; every function reads its row once.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>

#include <xsimd/xsimd.hpp>

namespace rapid::ops {

namespace detail {
using fbatch = xsimd::batch<float>;
constexpr std::size_t lanes = fbatch::size;
} // namespace detail

/// Largest value; -inf for an empty row. x: (n)
[[nodiscard]] inline float max_of(std::span<const float> x) noexcept {
  using detail::fbatch, detail::lanes;
  std::size_t i = 0;
  float m = -std::numeric_limits<float>::infinity();
  if (x.size() >= lanes) {
    fbatch acc = fbatch::load_unaligned(x.data());
    for (i = lanes; i + lanes <= x.size(); i += lanes) acc = xsimd::max(acc, fbatch::load_unaligned(x.data() + i));
    alignas(64) std::array<float, lanes> tmp;  // (lanes)
    acc.store_aligned(tmp.data());
    for (const float v : tmp) m = std::max(m, v);
  }
  for (const float v : x.subspan(i)) m = std::max(m, v);  // the tail
  return m;
}

/// Sum in float lanes, the lanes and the tail added in double. x: (n)
[[nodiscard]] inline double sum_of(std::span<const float> x) noexcept {
  using detail::fbatch, detail::lanes;
  fbatch acc(0.f);
  std::size_t i = 0;
  for (; i + lanes <= x.size(); i += lanes) acc += fbatch::load_unaligned(x.data() + i);
  double s = xsimd::hadd(acc);
  for (; i < x.size(); ++i) s += x[i];
  return s;
}

/// x <- x * k. x: (n)
inline void scale(std::span<float> x, float k) noexcept {
  using detail::fbatch, detail::lanes;
  const fbatch kb(k);
  std::size_t i = 0;
  for (; i + lanes <= x.size(); i += lanes) (fbatch::load_unaligned(x.data() + i) * kb).store_unaligned(x.data() + i);
  for (; i < x.size(); ++i) x[i] *= k;
}

/// Index of the largest value, the first on ties (as llama.cpp's greedy sampler). x: (n), n > 0.
[[nodiscard]] inline std::int32_t argmax(std::span<const float> x) noexcept {
  using detail::fbatch, detail::lanes;
  const float m = max_of(x);
  const fbatch mb(m);
  std::size_t i = 0;
  while (i + lanes <= x.size() && !xsimd::any(fbatch::load_unaligned(x.data() + i) == mb)) i += lanes;  // skip whole batches
  return static_cast<std::int32_t>(std::find(x.begin() + static_cast<std::ptrdiff_t>(i), x.end(), m) - x.begin());
}

/// r <- max(0, a - b) (speculative sampling's residual). a, b, r: (n)
inline void positive_difference(std::span<const float> a, std::span<const float> b, std::span<float> r) noexcept {
  using detail::fbatch, detail::lanes;
  const fbatch zero(0.f);
  std::size_t i = 0;
  for (; i + lanes <= a.size(); i += lanes)
    xsimd::max(fbatch::load_unaligned(a.data() + i) - fbatch::load_unaligned(b.data() + i), zero)
        .store_unaligned(r.data() + i);
  for (; i < a.size(); ++i) r[i] = std::max(a[i] - b[i], 0.f);
}

} // namespace rapid::ops
