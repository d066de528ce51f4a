#pragma once
// Numerically stable softmax (with a temperature) and SiLU-gated products.
#include <cmath>
#include <cstddef>
#include <span>

#include <xsimd/xsimd.hpp>

#include "rapid/ops/row.hpp"

namespace rapid::ops {

/// out <- softmax(z * inv_t); returns the normaliser sum(exp(z * inv_t - max)). z, out: (n), n > 0;
/// out may alias z.
inline float softmax_scaled(std::span<const float> z, float inv_t, std::span<float> out) noexcept {
  using detail::fbatch, detail::lanes;
  const float m = max_of(z) * inv_t;
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
  scale(out.first(z.size()), 1.f / sum);
  return sum;
}

/// x <- softmax(x) in place; returns the normaliser. x: (n), n > 0.
inline float softmax_inplace(float* x, std::size_t n) noexcept { return softmax_scaled({x, n}, 1.f, {x, n}); }

/// gate <- silu(gate) * up (SwiGLU). gate, up: (n)
inline void swiglu_inplace(float* gate, const float* up, std::size_t n) noexcept {
  using batch = xsimd::batch<float>;
  constexpr std::size_t w = batch::size;
  const batch one(1.f);
  std::size_t i = 0;
  for (; i + w <= n; i += w) {
    const batch g = batch::load_unaligned(gate + i);
    (g / (one + xsimd::exp(-g)) * batch::load_unaligned(up + i)).store_unaligned(gate + i);
  }
  for (; i < n; ++i) gate[i] = gate[i] / (1.f + std::exp(-gate[i])) * up[i];
}

} // namespace rapid::ops
