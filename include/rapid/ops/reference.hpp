#pragma once
// Scalar reference ("scalar twin") of every kernel in ops/: dequantisation, activation
// quantisation, dot products (exact f32 and 8-bit-activation integer paths), matvec, matmul.
// Plain loops written for clarity; the SIMD kernels are tested against these.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "rapid/core/error.hpp"
#include "rapid/core/fp16.hpp"
#include "rapid/core/quant_blocks.hpp"
#include "rapid/core/tensor_view.hpp"
#include "rapid/ops/kernel_types.hpp"

namespace rapid::ops::reference {

namespace detail {
template <class Block> const Block* blocks(const std::byte* p) noexcept { return reinterpret_cast<const Block*>(p); }
inline std::uint32_t load_u32(const std::uint8_t* p) noexcept {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

// Unpacked unsigned codes of one block (before offsets and scales). q: (32) or (256)
inline void codes(const block_q4_0& b, std::uint8_t* q) noexcept {
  for (int l = 0; l < 16; ++l) { q[l] = b.qs[l] & 15; q[l + 16] = b.qs[l] >> 4; }
}
inline void codes(const block_q4_1& b, std::uint8_t* q) noexcept {
  for (int l = 0; l < 16; ++l) { q[l] = b.qs[l] & 15; q[l + 16] = b.qs[l] >> 4; }
}
template <class B5> void codes5(const B5& b, std::uint8_t* q) noexcept {
  const std::uint32_t qh = load_u32(b.qh);
  for (int l = 0; l < 16; ++l) {
    q[l] = static_cast<std::uint8_t>((b.qs[l] & 15) | ((qh >> l) & 1) << 4);
    q[l + 16] = static_cast<std::uint8_t>((b.qs[l] >> 4) | ((qh >> (l + 16)) & 1) << 4);
  }
}
inline void codes(const block_q4_k& b, std::uint8_t* q) noexcept { // (256): sub-block j = q[32j..32j+31]
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l) {
      q[64 * c + l] = b.qs[32 * c + l] & 15;
      q[64 * c + 32 + l] = b.qs[32 * c + l] >> 4;
    }
}
inline void codes(const block_q5_k& b, std::uint8_t* q) noexcept {
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l) {
      q[64 * c + l] = static_cast<std::uint8_t>((b.qs[32 * c + l] & 15) | ((b.qh[l] >> (2 * c)) & 1) << 4);
      q[64 * c + 32 + l] = static_cast<std::uint8_t>((b.qs[32 * c + l] >> 4) | ((b.qh[l] >> (2 * c + 1)) & 1) << 4);
    }
}
inline void codes(const block_q6_k& b, std::uint8_t* q) noexcept { // (256), 0..63
  for (int h = 0; h < 2; ++h) {
    const std::uint8_t* ql = b.ql + 64 * h;
    const std::uint8_t* qh = b.qh + 32 * h;
    std::uint8_t* v = q + 128 * h;
    for (int l = 0; l < 32; ++l) {
      v[l] = static_cast<std::uint8_t>((ql[l] & 15) | ((qh[l] >> 0) & 3) << 4);
      v[l + 32] = static_cast<std::uint8_t>((ql[l + 32] & 15) | ((qh[l] >> 2) & 3) << 4);
      v[l + 64] = static_cast<std::uint8_t>((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4);
      v[l + 96] = static_cast<std::uint8_t>((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4);
    }
  }
}
} // namespace detail

/// Dequantizes one row. row: (row_bytes_of(t, n)) bytes; out: (n). The arithmetic follows ggml and
/// gguf-py (e.g. Q4_K: (d*sc)*q - dmin*m); only FMA contraction by the compiler may differ by 1 ulp.
inline void dequantize_row(dtype t, const std::byte* row, float* out, std::size_t n) {
  check_row(t, n, "dequantize_row");
  std::uint8_t q[qk_k]; // (256) unsigned codes of one block
  switch (t) {
  case dtype::f32: std::memcpy(out, row, n * sizeof(float)); return;
  case dtype::f16:
    for (std::size_t i = 0; i < n; ++i) {
      std::uint16_t h;
      std::memcpy(&h, row + 2 * i, 2);
      out[i] = fp16_to_f32_portable(h);
    }
    return;
  case dtype::bf16:
    for (std::size_t i = 0; i < n; ++i) {
      std::uint16_t h;
      std::memcpy(&h, row + 2 * i, 2);
      out[i] = bf16_to_f32(h);
    }
    return;
  case dtype::q4_0:
    for (std::size_t b = 0; b < n / qk32; ++b) {
      const auto& blk = detail::blocks<block_q4_0>(row)[b];
      const float d = fp16_to_f32_portable(blk.d);
      detail::codes(blk, q);
      for (int l = 0; l < 32; ++l) out[32 * b + l] = d * static_cast<float>(q[l] - 8);
    }
    return;
  case dtype::q4_1:
    for (std::size_t b = 0; b < n / qk32; ++b) {
      const auto& blk = detail::blocks<block_q4_1>(row)[b];
      const float d = fp16_to_f32_portable(blk.d), m = fp16_to_f32_portable(blk.m);
      detail::codes(blk, q);
      for (int l = 0; l < 32; ++l) out[32 * b + l] = d * static_cast<float>(q[l]) + m;
    }
    return;
  case dtype::q5_0:
    for (std::size_t b = 0; b < n / qk32; ++b) {
      const auto& blk = detail::blocks<block_q5_0>(row)[b];
      const float d = fp16_to_f32_portable(blk.d);
      detail::codes5(blk, q);
      for (int l = 0; l < 32; ++l) out[32 * b + l] = d * static_cast<float>(q[l] - 16);
    }
    return;
  case dtype::q5_1:
    for (std::size_t b = 0; b < n / qk32; ++b) {
      const auto& blk = detail::blocks<block_q5_1>(row)[b];
      const float d = fp16_to_f32_portable(blk.d), m = fp16_to_f32_portable(blk.m);
      detail::codes5(blk, q);
      for (int l = 0; l < 32; ++l) out[32 * b + l] = d * static_cast<float>(q[l]) + m;
    }
    return;
  case dtype::q8_0:
    for (std::size_t b = 0; b < n / qk32; ++b) {
      const auto& blk = detail::blocks<block_q8_0>(row)[b];
      const float d = fp16_to_f32_portable(blk.d);
      for (int l = 0; l < 32; ++l) out[32 * b + l] = static_cast<float>(blk.qs[l]) * d;
    }
    return;
  case dtype::q4_k:
  case dtype::q5_k:
    for (std::size_t b = 0; b < n / qk_k; ++b) {
      std::uint16_t dh, dminh;
      const std::uint8_t* scales;
      if (t == dtype::q4_k) {
        const auto& blk = detail::blocks<block_q4_k>(row)[b];
        dh = blk.d, dminh = blk.dmin, scales = blk.scales;
        detail::codes(blk, q);
      } else {
        const auto& blk = detail::blocks<block_q5_k>(row)[b];
        dh = blk.d, dminh = blk.dmin, scales = blk.scales;
        detail::codes(blk, q);
      }
      const float d = fp16_to_f32_portable(dh), dmin = fp16_to_f32_portable(dminh);
      for (int j = 0; j < 8; ++j) {
        std::uint8_t sc, m;
        k_scale_min(j, scales, sc, m);
        const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
        for (int l = 0; l < 32; ++l) out[256 * b + 32 * j + l] = d1 * static_cast<float>(q[32 * j + l]) - m1;
      }
    }
    return;
  case dtype::q6_k:
    for (std::size_t b = 0; b < n / qk_k; ++b) {
      const auto& blk = detail::blocks<block_q6_k>(row)[b];
      const float d = fp16_to_f32_portable(blk.d);
      detail::codes(blk, q);
      for (int k = 0; k < 16; ++k) {
        const float dk = d * static_cast<float>(blk.scales[k]);
        for (int l = 0; l < 16; ++l) out[256 * b + 16 * k + l] = dk * static_cast<float>(q[16 * k + l] - 32);
      }
    }
    return;
  default: throw_unsupported_type(t, "dequantize_row");
  }
}

/// Exact dot product of a row of type t with f32 activations, accumulated in double. x: (n)
inline float dot_exact(dtype t, const std::byte* row, const float* x, std::size_t n) {
  std::vector<float> w(n); // (n) dequantized row
  dequantize_row(t, row, w.data(), n);
  double acc = 0;
  for (std::size_t i = 0; i < n; ++i) acc += static_cast<double>(w[i]) * x[i];
  return static_cast<float>(acc);
}

/// Symmetric 8-bit code of x*id, rounded to nearest even like the SIMD kernels (cvtps2dq).
inline std::int8_t q8_code(float v) noexcept {
  v = std::nearbyint(v);
  v = v > 127.f ? 127.f : (v >= -127.f ? v : -127.f); // also maps NaN to -127
  return static_cast<std::int8_t>(v);
}

/// Quantizes activations to Q8_K-like blocks (for K-quant weights). x: (n), out: (n / 256)
inline void quantize_q8_k(const float* x, block_q8_k_act* out, std::size_t n) {
  for (std::size_t b = 0; b < n / qk_k; ++b) {
    const float* xb = x + qk_k * b;
    float amax = 0;
    for (std::size_t i = 0; i < qk_k; ++i) amax = std::max(amax, std::fabs(xb[i]));
    const float id = amax > 0 ? 127.f / amax : 0.f;
    out[b].d = amax / 127.f;
    for (std::size_t i = 0; i < qk_k; ++i) out[b].qs[i] = q8_code(xb[i] * id);
    for (std::size_t g = 0; g < 16; ++g) {
      int s = 0;
      for (std::size_t i = 0; i < 16; ++i) s += out[b].qs[16 * g + i];
      out[b].bsums[g] = static_cast<std::int16_t>(s);
    }
    for (std::size_t g = 0; g < 8; ++g) out[b].bsum32[g] = static_cast<std::int16_t>(out[b].bsums[2 * g] + out[b].bsums[2 * g + 1]);
  }
}

/// Quantizes activations to 32-value blocks (for the 32-block weight types). x: (n), out: (n / 32)
inline void quantize_q8_act32(const float* x, block_q8_act32* out, std::size_t n) {
  for (std::size_t b = 0; b < n / qk32; ++b) {
    const float* xb = x + qk32 * b;
    float amax = 0;
    for (std::size_t i = 0; i < qk32; ++i) amax = std::max(amax, std::fabs(xb[i]));
    const float id = amax > 0 ? 127.f / amax : 0.f;
    out[b].d = amax / 127.f;
    int s = 0;
    for (std::size_t i = 0; i < qk32; ++i) s += out[b].qs[i] = q8_code(xb[i] * id);
    out[b].sum = s;
  }
}

/// Quantizes one activation row in the format `weight_type` pairs with. out: (activation_row_bytes(weight_type, n))
inline void quantize_activation(dtype weight_type, const float* x, std::byte* out, std::size_t n) {
  check_row(weight_type, n, "quantize_activation");
  if (uses_q8_k(weight_type)) quantize_q8_k(x, reinterpret_cast<block_q8_k_act*>(out), n);
  else quantize_q8_act32(x, reinterpret_cast<block_q8_act32*>(out), n);
}

/// Integer-path dot of a quantized row with quantized activations `xq` (from quantize_activation);
/// the integer sums are exact, the per-block float combination is the one every SIMD path uses
/// (up to summation order). Float types fall back to nothing: pass them to dot_exact.
inline float dot_q8(dtype t, const std::byte* row, const std::byte* xq, std::size_t n) {
  check_row(t, n, "dot_q8");
  if (!uses_int8_activations(t)) throw invalid_argument("dot_q8: " + std::string(name_of(t)) + " rows take f32 activations");
  std::uint8_t q[qk_k]; // (256) codes of one block
  double acc = 0;
  if (!uses_q8_k(t)) {
    const auto* a = reinterpret_cast<const block_q8_act32*>(xq);
    for (std::size_t b = 0; b < n / qk32; ++b) {
      int isum = 0;
      float dw = 0, mw = 0; // weight scale and (Q4_1/Q5_1) offset
      int offset = 0;       // subtracted from each code (Q4_0: 8, Q5_0: 16)
      switch (t) {
      case dtype::q4_0: { const auto& w = detail::blocks<block_q4_0>(row)[b]; detail::codes(w, q); dw = fp16_to_f32(w.d); offset = 8; break; }
      case dtype::q4_1: { const auto& w = detail::blocks<block_q4_1>(row)[b]; detail::codes(w, q); dw = fp16_to_f32(w.d); mw = fp16_to_f32(w.m); break; }
      case dtype::q5_0: { const auto& w = detail::blocks<block_q5_0>(row)[b]; detail::codes5(w, q); dw = fp16_to_f32(w.d); offset = 16; break; }
      case dtype::q5_1: { const auto& w = detail::blocks<block_q5_1>(row)[b]; detail::codes5(w, q); dw = fp16_to_f32(w.d); mw = fp16_to_f32(w.m); break; }
      default: { // q8_0: signed codes
        const auto& w = detail::blocks<block_q8_0>(row)[b];
        for (int l = 0; l < 32; ++l) isum += w.qs[l] * a[b].qs[l];
        acc += static_cast<double>(fp16_to_f32(w.d) * a[b].d) * isum;
        continue;
      }
      }
      for (int l = 0; l < 32; ++l) isum += q[l] * a[b].qs[l];
      acc += static_cast<double>(dw * a[b].d) * (isum - offset * a[b].sum);
      acc += static_cast<double>(mw * a[b].d) * a[b].sum;
    }
    return static_cast<float>(acc);
  }
  const auto* a = reinterpret_cast<const block_q8_k_act*>(xq);
  for (std::size_t b = 0; b < n / qk_k; ++b) {
    if (t == dtype::q6_k) {
      const auto& w = detail::blocks<block_q6_k>(row)[b];
      detail::codes(w, q);
      int isum = 0; // sum_k sc_k * (sum_l q*a - 32 * bsum_k)
      for (int k = 0; k < 16; ++k) {
        int s = 0;
        for (int l = 0; l < 16; ++l) s += q[16 * k + l] * a[b].qs[16 * k + l];
        isum += w.scales[k] * (s - 32 * a[b].bsums[k]);
      }
      acc += static_cast<double>(fp16_to_f32(w.d) * a[b].d) * isum;
      continue;
    }
    std::uint16_t dh, dminh;
    const std::uint8_t* scales;
    if (t == dtype::q4_k) {
      const auto& w = detail::blocks<block_q4_k>(row)[b];
      dh = w.d, dminh = w.dmin, scales = w.scales;
      detail::codes(w, q);
    } else {
      const auto& w = detail::blocks<block_q5_k>(row)[b];
      dh = w.d, dminh = w.dmin, scales = w.scales;
      detail::codes(w, q);
    }
    int isum = 0, msum = 0; // sum_j sc_j * dot_j, sum_j m_j * (sum of activations codes in j)
    for (int j = 0; j < 8; ++j) {
      std::uint8_t sc, m;
      k_scale_min(j, scales, sc, m);
      int s = 0;
      for (int l = 0; l < 32; ++l) s += q[32 * j + l] * a[b].qs[32 * j + l];
      isum += sc * s;
      msum += m * (a[b].bsums[2 * j] + a[b].bsums[2 * j + 1]);
    }
    acc += static_cast<double>(fp16_to_f32(dh) * a[b].d) * isum;
    acc -= static_cast<double>(fp16_to_f32(dminh) * a[b].d) * msum;
  }
  return static_cast<float>(acc);
}

/// y = W x. w: (rows, cols), x: (cols), y: (rows)
inline void matvec(const quantized_matrix& w, std::span<const float> x, std::span<float> y,
                   activation_mode mode = activation_mode::int8) {
  check_row(w.type, w.cols, "matvec");
  if (x.size() != w.cols || y.size() != w.rows) throw invalid_argument("matvec: shape mismatch");
  const bool int8 = mode == activation_mode::int8 && uses_int8_activations(w.type);
  std::vector<std::byte> xq(int8 ? activation_row_bytes(w.type, w.cols) : 0); // (activation_row_bytes)
  if (int8) quantize_activation(w.type, x.data(), xq.data(), w.cols);
  for (std::size_t r = 0; r < w.rows; ++r)
    y[r] = int8 ? dot_q8(w.type, w.row(r), xq.data(), w.cols) : dot_exact(w.type, w.row(r), x.data(), w.cols);
}

/// Y = X W^T. x: (batch, cols), y: (batch, rows)
inline void matmul(const quantized_matrix& w, std::span<const float> x, std::size_t batch, std::span<float> y,
                   activation_mode mode = activation_mode::int8) {
  if (x.size() != batch * w.cols || y.size() != batch * w.rows) throw invalid_argument("matmul: shape mismatch");
  for (std::size_t b = 0; b < batch; ++b)
    matvec(w, x.subspan(b * w.cols, w.cols), y.subspan(b * w.rows, w.rows), mode);
}

} // namespace rapid::ops::reference
