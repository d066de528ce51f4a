#pragma once
// Interleaved weight layouts made at load time for the multi-row integer kernels. With rows
// side by side (block_q4_kx16 ... block_q8_0x16 in quant_blocks.hpp: 16 rows), one vpdpbusd multiplies 16 weight rows by
// 4 activations, sub-block scales apply to 16 outputs at once and no output needs a horizontal
// sum: about a third of the instructions per multiply-add of the row-at-a-time kernel, which is
// what a draft verification (a few activation rows) is bound by. The mapped GGUF rows stay the
// source of truth (embedding lookups, builds without these kernels, the exact path).
#include <cstddef>
#include <cstring>
#include <string>

#include "rapid/core/error.hpp"
#include "rapid/core/page_buffer.hpp"
#include "rapid/core/quant_blocks.hpp"
#include "rapid/core/tensor_view.hpp"
#include "rapid/ops/dot.hpp"
#include "rapid/ops/reference.hpp"

namespace rapid::ops {

/// Weight rows per interleaved group.
inline constexpr std::size_t interleave_rows = 16;

/// True when this build's matvec/matmul take `t` weights through an interleaved layout (the
/// AVX-512 VNNI kernels take Q4_K).
[[nodiscard]] constexpr bool has_interleaved_kernel(dtype t) noexcept {
#if defined(RAPID_INT8_VNNI)
  return t == dtype::q4_k || t == dtype::q6_k || t == dtype::q5_0 || t == dtype::q8_0;
#else
  (void)t;  // no interleaved kernels in this build
  return false;
#endif
}

/// Columns one interleaved group block covers: a K-quant block, or two 32-value blocks (so every
/// group block fills whole cache lines).
[[nodiscard]] constexpr std::size_t interleave_cols(dtype t) noexcept { return uses_q8_k(t) ? qk_k : 2 * qk32; }

/// True when w can be interleaved in this build (its type has a kernel, it fills whole group blocks).
[[nodiscard]] inline bool interleavable(const quantized_matrix& w) noexcept {
  return has_interleaved_kernel(w.type) && w.rows % interleave_rows == 0 && w.rows > 0 && w.cols % interleave_cols(w.type) == 0;
}

/// Writes rows [16g, 16g + 16) of Q4_K matrix w as nb group blocks. out: (nb) blocks
inline void interleave_q4_k_group(const quantized_matrix& w, std::size_t g, block_q4_kx16* out) {
  const std::size_t nb = w.cols / qk_k;
  std::uint8_t codes[interleave_rows][qk_k];  // (16, 256) codes of one block of each row
  for (std::size_t i = 0; i < nb; ++i) {
    block_q4_kx16& o = out[i];
    for (std::size_t r = 0; r < interleave_rows; ++r) {
      const auto& b = reinterpret_cast<const block_q4_k*>(w.row(interleave_rows * g + r))[i];
      reference::detail::codes(b, codes[r]);
      std::uint8_t sc[8], m[8];
      k_scales_mins(b.scales, sc, m);
      for (int j = 0; j < 8; ++j) o.sc[j][r] = sc[j];
      for (int q = 0; q < 4; ++q) {
        o.m[q][2 * r] = m[2 * q];
        o.m[q][2 * r + 1] = m[2 * q + 1];
      }
      o.d[r] = b.d;
      o.dmin[r] = b.dmin;
    }
    for (int j = 0; j < 8; ++j)
      for (int p = 0; p < 4; ++p)
        for (std::size_t r = 0; r < interleave_rows; ++r)
          for (int c = 0; c < 4; ++c) {
            const std::size_t col = 32 * j + 8 * p + c;
            o.qs[j][p][4 * r + c] = static_cast<std::uint8_t>(codes[r][col] | codes[r][col + 4] << 4);
          }
  }
}

/// Writes rows [16g, 16g + 16) of Q6_K matrix w as nb group blocks. out: (nb) blocks
inline void interleave_q6_k_group(const quantized_matrix& w, std::size_t g, block_q6_kx16* out) {
  const std::size_t nb = w.cols / qk_k;
  std::uint8_t codes[interleave_rows][qk_k];  // (16, 256) codes 0..63 of one block of each row
  for (std::size_t i = 0; i < nb; ++i) {
    block_q6_kx16& o = out[i];
    for (std::size_t r = 0; r < interleave_rows; ++r) {
      const auto& b = reinterpret_cast<const block_q6_k*>(w.row(interleave_rows * g + r))[i];
      reference::detail::codes(b, codes[r]);
      for (int s = 0; s < 16; ++s) o.sc[s][r] = b.scales[s];
      o.d[r] = b.d;
    }
    for (std::size_t r = 0; r < interleave_rows; ++r)
      for (int c = 0; c < 4; ++c) {
        for (int p = 0; p < 32; ++p)
          o.ql[p][4 * r + c] = static_cast<std::uint8_t>((codes[r][8 * p + c] & 15) | (codes[r][8 * p + 4 + c] & 15) << 4);
        for (int s = 0; s < 16; ++s) {
          int hi = 0;
          for (int k = 0; k < 4; ++k) hi |= (codes[r][16 * s + 4 * k + c] >> 4) << (2 * k);
          o.qh[s][4 * r + c] = static_cast<std::uint8_t>(hi);
        }
      }
  }
}

/// Writes rows [16g, 16g + 16) of Q5_0 matrix w as cols / 64 group blocks. out: (cols / 64) blocks
inline void interleave_q5_0_group(const quantized_matrix& w, std::size_t g, block_q5_0x16* out) {
  const std::size_t nb = w.cols / (2 * qk32);
  std::uint8_t codes[interleave_rows][2 * qk32];  // (16, 64) codes 0..31 of two blocks of each row
  for (std::size_t i = 0; i < nb; ++i) {
    block_q5_0x16& o = out[i];
    for (std::size_t r = 0; r < interleave_rows; ++r)
      for (int b = 0; b < 2; ++b) {
        const auto& src = reinterpret_cast<const block_q5_0*>(w.row(interleave_rows * g + r))[2 * i + b];
        reference::detail::codes5(src, codes[r] + qk32 * b);
        o.d[b][r] = src.d;
      }
    for (std::size_t r = 0; r < interleave_rows; ++r)
      for (int c = 0; c < 4; ++c) {
        for (int p = 0; p < 8; ++p)
          o.qs[p][4 * r + c] = static_cast<std::uint8_t>((codes[r][8 * p + c] & 15) | (codes[r][8 * p + 4 + c] & 15) << 4);
        for (int b = 0; b < 2; ++b) {
          int hi = 0;
          for (int k = 0; k < 8; ++k) hi |= (codes[r][32 * b + 4 * k + c] >> 4) << k;
          o.qh[b][4 * r + c] = static_cast<std::uint8_t>(hi);
        }
      }
  }
}

/// Writes rows [16g, 16g + 16) of Q8_0 matrix w as cols / 64 group blocks. out: (cols / 64) blocks
inline void interleave_q8_0_group(const quantized_matrix& w, std::size_t g, block_q8_0x16* out) {
  const std::size_t nb = w.cols / (2 * qk32);
  for (std::size_t i = 0; i < nb; ++i) {
    block_q8_0x16& o = out[i];
    for (std::size_t r = 0; r < interleave_rows; ++r)
      for (int b = 0; b < 2; ++b) {
        const auto& src = reinterpret_cast<const block_q8_0*>(w.row(interleave_rows * g + r))[2 * i + b];
        o.d[b][r] = src.d;
        for (int l = 0; l < 32; ++l) o.qs[8 * b + l / 4][4 * r + l % 4] = static_cast<std::uint8_t>(src.qs[l] + 128);
      }
  }
}

/// An owned interleaved copy of a weight matrix, 64-byte aligned (page_buffer); bind it with
/// `w.interleaved = copy.data()`.
class interleaved_matrix {
public:
  /// Throws invalid_argument unless interleavable(w).
  explicit interleaved_matrix(const quantized_matrix& w) {
    if (!interleavable(w))
      throw invalid_argument("interleave: a " + std::string(name_of(w.type)) + " matrix of " + std::to_string(w.rows) +
                             " rows has no interleaved layout in this build (" + int8_kernel_arch + ")");
    switch (w.type) {
    case dtype::q4_k: fill<block_q4_kx16>(w, interleave_q4_k_group); break;
    case dtype::q6_k: fill<block_q6_kx16>(w, interleave_q6_k_group); break;
    case dtype::q5_0: fill<block_q5_0x16>(w, interleave_q5_0_group); break;
    default: fill<block_q8_0x16>(w, interleave_q8_0_group); break;
    }
  }
  [[nodiscard]] const std::byte* data() const noexcept { return bytes_.data(); }
  [[nodiscard]] std::size_t size_bytes() const noexcept { return bytes_.size(); }

private:
  static_assert(sizeof(block_q4_kx16) % 64 == 0 && sizeof(block_q6_kx16) % 64 == 0 && sizeof(block_q5_0x16) % 64 == 0 &&
                sizeof(block_q8_0x16) % 64 == 0);  // whole cache lines

  template <class Group, class Writer>
  void fill(const quantized_matrix& w, Writer write_group) {
    const std::size_t groups = w.rows / interleave_rows, nb = w.cols / interleave_cols(w.type);
    bytes_ = page_buffer(groups * nb * sizeof(Group));
    auto* out = reinterpret_cast<Group*>(bytes_.data());
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (std::ptrdiff_t g = 0; g < static_cast<std::ptrdiff_t>(groups); ++g)
      write_group(w, static_cast<std::size_t>(g), out + static_cast<std::size_t>(g) * nb);
  }
  page_buffer bytes_;  // (groups, blocks per row) group blocks, on huge pages: streamed every token
};

} // namespace rapid::ops
