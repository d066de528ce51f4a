#pragma once
// Small f32 vector kernels on xsimd batches (attention, norms, residuals), with scalar tails.
#include <cstddef>

#include <xsimd/xsimd.hpp>

namespace rapid::ops {

/// a . b. a, b: (n)
[[nodiscard]] inline float dot_f32(const float* a, const float* b, std::size_t n) noexcept {
  using batch = xsimd::batch<float>;
  constexpr std::size_t w = batch::size;
  batch acc0(0.f), acc1(0.f);
  std::size_t i = 0;
  for (; i + 2 * w <= n; i += 2 * w) {
    acc0 = xsimd::fma(batch::load_unaligned(a + i), batch::load_unaligned(b + i), acc0);
    acc1 = xsimd::fma(batch::load_unaligned(a + i + w), batch::load_unaligned(b + i + w), acc1);
  }
  for (; i + w <= n; i += w) acc0 = xsimd::fma(batch::load_unaligned(a + i), batch::load_unaligned(b + i), acc0);
  float sum = xsimd::hadd(acc0 + acc1);
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

/// y += alpha * x. x, y: (n)
inline void axpy(float alpha, const float* x, float* y, std::size_t n) noexcept {
  using batch = xsimd::batch<float>;
  constexpr std::size_t w = batch::size;
  const batch a(alpha);
  std::size_t i = 0;
  for (; i + w <= n; i += w) xsimd::fma(a, batch::load_unaligned(x + i), batch::load_unaligned(y + i)).store_unaligned(y + i);
  for (; i < n; ++i) y[i] += alpha * x[i];
}

/// y += x. x, y: (n)
inline void add_inplace(const float* x, float* y, std::size_t n) noexcept {
  using batch = xsimd::batch<float>;
  constexpr std::size_t w = batch::size;
  std::size_t i = 0;
  for (; i + w <= n; i += w) (batch::load_unaligned(y + i) + batch::load_unaligned(x + i)).store_unaligned(y + i);
  for (; i < n; ++i) y[i] += x[i];
}

/// x *= alpha. x: (n)
inline void scale_inplace(float alpha, float* x, std::size_t n) noexcept {
  using batch = xsimd::batch<float>;
  constexpr std::size_t w = batch::size;
  const batch a(alpha);
  std::size_t i = 0;
  for (; i + w <= n; i += w) (batch::load_unaligned(x + i) * a).store_unaligned(x + i);
  for (; i < n; ++i) x[i] *= alpha;
}

} // namespace rapid::ops
