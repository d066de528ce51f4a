#pragma once
// SIMD quantisation of f32 activation rows to the 8-bit blocks the integer kernels consume
// (see kernel_types.hpp for the formats and the accuracy trade-off). Produces exactly the bytes
// of reference::quantize_activation: same scale arithmetic, same round-to-nearest-even.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "rapid/core/quant_blocks.hpp"
#include "rapid/ops/kernel_types.hpp"

namespace rapid::ops {

namespace detail {
// GCC 12 warns (-Wmaybe-uninitialized, inside its own _mm512 max/min/cvt intrinsics) wherever these
// are inlined, and no pragma reaches there; 256-bit batches are plenty for this O(n) pass.
#if XSIMD_WITH_AVX512F && XSIMD_WITH_AVX2
using activation_arch = xsimd::avx2;
#else
using activation_arch = xsimd::default_arch;
#endif

// Codes of one block of n (32 or 256) activations; returns the scale d. x: (n), qs: (n)
inline float quantize_block_q8(const float* x, std::int8_t* qs, std::size_t n) noexcept {
  using fb = xsimd::batch<float, activation_arch>;
  constexpr std::size_t w = fb::size;
  fb vmax(0.f);
  for (std::size_t i = 0; i < n; i += w) vmax = xsimd::max(vmax, xsimd::abs(fb::load_unaligned(x + i)));
  alignas(64) float lanes[w]; // (w)
  vmax.store_aligned(lanes);
  float amax = 0;
  for (std::size_t i = 0; i < w; ++i) amax = std::max(amax, lanes[i]);
  const float id = amax > 0 ? 127.f / amax : 0.f;
  const fb vid(id), lo(-127.f), hi(127.f);
  alignas(64) std::int32_t code[qk_k]; // (n)
  for (std::size_t i = 0; i < n; i += w) {
    // |x * id| <= 127 up to rounding, so clamping before rounding gives the reference's codes
    const fb v = xsimd::min(xsimd::max(fb::load_unaligned(x + i) * vid, lo), hi);
    xsimd::nearbyint_as_int(v).store_aligned(code + i);
  }
  for (std::size_t i = 0; i < n; ++i) qs[i] = static_cast<std::int8_t>(code[i]);
  return amax / 127.f;
}
} // namespace detail

/// Quantizes activations to Q8_K-like blocks (for K-quant weights). x: (n), out: (n / 256)
inline void quantize_q8_k(const float* x, block_q8_k_act* out, std::size_t n) noexcept {
  for (std::size_t b = 0; b < n / qk_k; ++b) {
    out[b].d = detail::quantize_block_q8(x + qk_k * b, out[b].qs, qk_k);
    for (std::size_t g = 0; g < 16; ++g) {
      int s = 0;
      for (std::size_t i = 0; i < 16; ++i) s += out[b].qs[16 * g + i];
      out[b].bsums[g] = static_cast<std::int16_t>(s);
    }
    for (std::size_t g = 0; g < 8; ++g) out[b].bsum32[g] = static_cast<std::int16_t>(out[b].bsums[2 * g] + out[b].bsums[2 * g + 1]);
  }
}

/// Quantizes activations to 32-value blocks (for the 32-block weight types). x: (n), out: (n / 32)
inline void quantize_q8_act32(const float* x, block_q8_act32* out, std::size_t n) noexcept {
  for (std::size_t b = 0; b < n / qk32; ++b) {
    out[b].d = detail::quantize_block_q8(x + qk32 * b, out[b].qs, qk32);
    int s = 0;
    for (std::size_t i = 0; i < qk32; ++i) s += out[b].qs[i];
    out[b].sum = s;
  }
}

namespace detail {
inline void quantize_activation_unchecked(dtype weight_type, const float* x, std::byte* out, std::size_t n) noexcept {
  if (uses_q8_k(weight_type)) quantize_q8_k(x, reinterpret_cast<block_q8_k_act*>(out), n);
  else quantize_q8_act32(x, reinterpret_cast<block_q8_act32*>(out), n);
}
} // namespace detail

/// Storage for quantized activation rows, 64-byte aligned (see quant_blocks.hpp for why).
class activation_buffer {
public:
  /// Room for `bytes` bytes (contents unspecified); the pointer is valid until the next resize.
  std::byte* resize(std::size_t bytes) {
    lines_.resize((bytes + sizeof(line) - 1) / sizeof(line));
    return reinterpret_cast<std::byte*>(lines_.data());
  }

private:
  struct alignas(64) line {
    std::byte bytes[64];
  };
  std::vector<line> lines_; // (ceil(bytes / 64))
};

/// Quantizes one activation row in the format `weight_type` pairs with.
/// x: (n), out: (activation_row_bytes(weight_type, n)) bytes, aligned to 4 (64 for speed).
inline void quantize_activation(dtype weight_type, const float* x, std::byte* out, std::size_t n) {
  check_row(weight_type, n, "quantize_activation");
  detail::quantize_activation_unchecked(weight_type, x, out, n);
}

} // namespace rapid::ops
