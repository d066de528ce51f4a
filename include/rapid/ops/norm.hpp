#pragma once
// RMSNorm: y = x / sqrt(mean(x^2) + eps) * weight (LLaMA, Qwen2).
#include <cmath>
#include <cstddef>

#include <xsimd/xsimd.hpp>

#include "rapid/ops/vector.hpp"

namespace rapid::ops {

/// x, weight, y: (n); y may alias x. The sum of squares is accumulated in double for long rows.
inline void rms_norm(const float* x, const float* weight, float* y, std::size_t n, float eps) noexcept {
  // Vector lanes of double partial sums, not one chain: a single chain is an FMA's latency per
  // value (1.5 us a 1536-wide row, a tenth of the serial time of a 5-token verification).
  double ss = 0;
#pragma omp simd reduction(+ : ss)
  for (std::size_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const auto inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
  using batch = xsimd::batch<float>;
  constexpr std::size_t w = batch::size;
  const batch s(inv);
  std::size_t i = 0;
  for (; i + w <= n; i += w) (batch::load_unaligned(x + i) * s * batch::load_unaligned(weight + i)).store_unaligned(y + i);
  for (; i < n; ++i) y[i] = x[i] * inv * weight[i];
}

} // namespace rapid::ops
