#pragma once
// LayerNorm (BERT): y = (x - mean(x)) / sqrt(var(x) + eps) * weight + bias, with its scalar twin.
#include <cmath>
#include <cstddef>

#include <xsimd/xsimd.hpp>

namespace rapid::ops {

/// x, weight, bias, y: (n), n > 0; y may alias x. Mean and variance are accumulated in double
/// (two passes), so the result does not depend on the SIMD width beyond the final rounding.
inline void layer_norm(const float* x, const float* weight, const float* bias, float* y, std::size_t n, float eps) noexcept {
  double sum = 0;
  for (std::size_t i = 0; i < n; ++i) sum += x[i];
  const double mean = sum / static_cast<double>(n);
  double ss = 0;
  for (std::size_t i = 0; i < n; ++i) ss += (x[i] - mean) * (x[i] - mean);
  const auto inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
  const auto m = static_cast<float>(mean);
  using batch = xsimd::batch<float>;
  constexpr std::size_t w = batch::size;
  const batch bm(m), bi(inv);
  std::size_t i = 0;
  for (; i + w <= n; i += w)
    xsimd::fma((batch::load_unaligned(x + i) - bm) * bi, batch::load_unaligned(weight + i), batch::load_unaligned(bias + i))
        .store_unaligned(y + i);
  for (; i < n; ++i) y[i] = (x[i] - m) * inv * weight[i] + bias[i];
}

namespace reference {
/// Scalar twin of ops::layer_norm. x, weight, bias, y: (n)
inline void layer_norm(const float* x, const float* weight, const float* bias, float* y, std::size_t n, float eps) noexcept {
  double mean = 0, var = 0;
  for (std::size_t i = 0; i < n; ++i) mean += x[i];
  mean /= static_cast<double>(n);
  for (std::size_t i = 0; i < n; ++i) var += (x[i] - mean) * (x[i] - mean);
  var /= static_cast<double>(n);
  for (std::size_t i = 0; i < n; ++i)
    y[i] = static_cast<float>((x[i] - mean) / std::sqrt(var + eps) * weight[i] + bias[i]);
}
} // namespace reference

} // namespace rapid::ops
