#pragma once
// SIMD row dequantisation (embedding lookups, the exact dot path, tests). Each block's codes are
// unpacked to floats, then scaled with xsimd batches; the arithmetic per value is the scalar
// twin's (reference::dequantize_row): F32/F16/BF16/Q4_0/Q5_0/Q8_0/Q6_K bit-identical, the types
// with an offset (Q4_1, Q5_1, Q4_K, Q5_K: s*q + o) within 1 ulp (FMA contraction may differ).
#include <cstddef>
#include <cstdint>
#include <cstring>

#include <xsimd/xsimd.hpp>

#include "rapid/core/fp16.hpp"
#include "rapid/core/quant_blocks.hpp"
#include "rapid/ops/kernel_types.hpp"
#include "rapid/ops/reference.hpp"

namespace rapid::ops {

namespace detail {
using fbatch = xsimd::batch<float>;

// out[i] = scale * code[i] (+ offset), i < n (n a multiple of 16: every sub-block size here).
template <bool Offset>
inline void scale_codes(const float* code, float scale, float offset, float* out, std::size_t n) noexcept {
  constexpr std::size_t w = fbatch::size;
  std::size_t i = 0;
  const fbatch s(scale), o(offset);
  for (; i + w <= n; i += w) {
    fbatch v = fbatch::load_unaligned(code + i) * s;
    if constexpr (Offset) v = v + o;
    v.store_unaligned(out + i);
  }
  for (; i < n; ++i) out[i] = Offset ? scale * code[i] + offset : scale * code[i];
}

/// Dequantizes whole blocks without checks. row: bytes of n values of t; out: (n)
inline void dequantize_unchecked(dtype t, const std::byte* row, float* out, std::size_t n) noexcept {
  using reference::detail::blocks;
  using reference::detail::codes;
  using reference::detail::codes5;
  std::uint8_t q[qk_k];  // (256) unsigned codes of one block
  float c[qk_k];         // (256) codes as floats, offsets applied (signed where the type is)
  switch (t) {
  case dtype::f32: std::memcpy(out, row, n * sizeof(float)); return;
  case dtype::f16: fp16_to_f32_row(reinterpret_cast<const std::uint16_t*>(row), out, n); return;
  case dtype::bf16: bf16_to_f32_row(reinterpret_cast<const std::uint16_t*>(row), out, n); return;
  case dtype::q4_0:
  case dtype::q5_0:
    for (std::size_t b = 0; b < n / qk32; ++b) {
      std::uint16_t d;
      int off;
      if (t == dtype::q4_0) { const auto& w = blocks<block_q4_0>(row)[b]; codes(w, q); d = w.d; off = 8; }
      else { const auto& w = blocks<block_q5_0>(row)[b]; codes5(w, q); d = w.d; off = 16; }
      for (int l = 0; l < 32; ++l) c[l] = static_cast<float>(q[l] - off);
      scale_codes<false>(c, fp16_to_f32(d), 0.f, out + qk32 * b, qk32);
    }
    return;
  case dtype::q4_1:
  case dtype::q5_1:
    for (std::size_t b = 0; b < n / qk32; ++b) {
      std::uint16_t d, m;
      if (t == dtype::q4_1) { const auto& w = blocks<block_q4_1>(row)[b]; codes(w, q); d = w.d; m = w.m; }
      else { const auto& w = blocks<block_q5_1>(row)[b]; codes5(w, q); d = w.d; m = w.m; }
      for (int l = 0; l < 32; ++l) c[l] = static_cast<float>(q[l]);
      scale_codes<true>(c, fp16_to_f32(d), fp16_to_f32(m), out + qk32 * b, qk32);
    }
    return;
  case dtype::q8_0:
    for (std::size_t b = 0; b < n / qk32; ++b) {
      const auto& w = blocks<block_q8_0>(row)[b];
      for (int l = 0; l < 32; ++l) c[l] = static_cast<float>(w.qs[l]);
      scale_codes<false>(c, fp16_to_f32(w.d), 0.f, out + qk32 * b, qk32);
    }
    return;
  case dtype::q4_k:
  case dtype::q5_k:
    for (std::size_t b = 0; b < n / qk_k; ++b) {
      std::uint16_t dh, dminh;
      const std::uint8_t* scales;
      if (t == dtype::q4_k) { const auto& w = blocks<block_q4_k>(row)[b]; codes(w, q); dh = w.d; dminh = w.dmin; scales = w.scales; }
      else { const auto& w = blocks<block_q5_k>(row)[b]; codes(w, q); dh = w.d; dminh = w.dmin; scales = w.scales; }
      std::uint8_t sc[8], m[8];
      k_scales_mins(scales, sc, m);
      const float d = fp16_to_f32(dh), dmin = fp16_to_f32(dminh);
      for (int l = 0; l < 256; ++l) c[l] = static_cast<float>(q[l]);
      for (int j = 0; j < 8; ++j)
        scale_codes<true>(c + 32 * j, d * static_cast<float>(sc[j]), -(dmin * static_cast<float>(m[j])),
                          out + qk_k * b + 32 * j, 32);
    }
    return;
  case dtype::q6_k:
    for (std::size_t b = 0; b < n / qk_k; ++b) {
      const auto& w = blocks<block_q6_k>(row)[b];
      codes(w, q);
      const float d = fp16_to_f32(w.d);
      for (int l = 0; l < 256; ++l) c[l] = static_cast<float>(q[l] - 32);
      for (int k = 0; k < 16; ++k)
        scale_codes<false>(c + 16 * k, d * static_cast<float>(w.scales[k]), 0.f, out + qk_k * b + 16 * k, 16);
    }
    return;
  default: return; // callers check the type first
  }
}
} // namespace detail

/// Dequantizes one row of n values of type t. row: (row_bytes_of(t, n)) bytes; out: (n).
/// Throws unsupported_error for other types, invalid_argument if n is not a whole number of blocks.
inline void dequantize_row(dtype t, const std::byte* row, float* out, std::size_t n) {
  check_row(t, n, "dequantize_row");
  detail::dequantize_unchecked(t, row, out, n);
}

} // namespace rapid::ops
