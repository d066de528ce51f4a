#pragma once
// GELU with the exact erf form (BERT's "gelu"): gelu(x) = x/2 * (1 + erf(x / sqrt(2))), with its
// scalar twin. Not the tanh approximation ("gelu_new").
#include <cmath>
#include <cstddef>

#include <xsimd/xsimd.hpp>

namespace rapid::ops {

/// x <- gelu(x) in place. x: (n)
inline void gelu_inplace(float* x, std::size_t n) noexcept {
  using batch = xsimd::batch<float>;
  constexpr std::size_t w = batch::size;
  const batch half(0.5f), one(1.f), inv_sqrt2(0.70710678118654752f);
  std::size_t i = 0;
  for (; i + w <= n; i += w) {
    const batch v = batch::load_unaligned(x + i);
    (half * v * (one + xsimd::erf(v * inv_sqrt2))).store_unaligned(x + i);
  }
  for (; i < n; ++i) x[i] = 0.5f * x[i] * (1.f + std::erf(x[i] * 0.70710678118654752f));
}

namespace reference {
/// Scalar twin of ops::gelu_inplace (in double). x: (n)
inline void gelu_inplace(float* x, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    const double v = x[i];
    x[i] = static_cast<float>(0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))));
  }
}
} // namespace reference

} // namespace rapid::ops
