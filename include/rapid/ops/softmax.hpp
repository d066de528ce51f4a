#pragma once
// Numerically stable softmax and SiLU-gated products.
#include <algorithm>
#include <cmath>
#include <cstddef>

#include <xsimd/xsimd.hpp>

namespace rapid::ops {

/// x <- softmax(x) in place; returns the normaliser sum(exp(x - max)). x: (n), n > 0.
inline float softmax_inplace(float* x, std::size_t n) noexcept {
  using batch = xsimd::batch<float>;
  constexpr std::size_t w = batch::size;
  float mx = x[0];
  for (std::size_t i = 1; i < n; ++i) mx = std::max(mx, x[i]);
  const batch bm(mx);
  batch acc(0.f);
  std::size_t i = 0;
  for (; i + w <= n; i += w) {
    const batch e = xsimd::exp(batch::load_unaligned(x + i) - bm);
    e.store_unaligned(x + i);
    acc += e;
  }
  float sum = xsimd::hadd(acc);
  for (; i < n; ++i) sum += (x[i] = std::exp(x[i] - mx));
  const batch inv(1.f / sum);
  for (i = 0; i + w <= n; i += w) (batch::load_unaligned(x + i) * inv).store_unaligned(x + i);
  for (; i < n; ++i) x[i] /= sum;
  return sum;
}

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
