#pragma once
// Y[b][r] = W[r] . X[b] for a range of weight rows and every activation row: the unit of work
// matmul (matmul.hpp) hands to a thread. Each output is computed by one call with a fixed
// operation order, so results never depend on the thread count, on how rows are split, nor on
// the batch size (a k-row matmul equals k matvecs bit for bit).
//   int8 activations: interleaved weights (interleave.hpp) take the VNNI kernels or, where they
//     pay, AMX tiles; mapped rows take row_dot_batch (dot.hpp).
//   exact: each weight row is dequantized once (F32/F16/BF16 widened in registers) and reused
//     for every activation row.
#include <algorithm>
#include <cstddef>
#include <string>
#include <type_traits>
#include <vector>

#include "rapid/core/error.hpp"
#include "rapid/core/tensor_view.hpp"
#include "rapid/ops/activation.hpp"
#include "rapid/ops/dequant.hpp"
#include "rapid/ops/detail/int8_amx.hpp"
#include "rapid/ops/dot.hpp"
#include "rapid/ops/interleave.hpp"
#include "rapid/ops/kernel_types.hpp"

namespace rapid::ops::detail {

/// Fewest weight rows worth a work item of their own (a thread team's hand-off costs about as
/// much as 16 rows of a small matrix).
inline constexpr std::size_t min_rows_per_thread = 16;

/// Activation rows a thread takes per pass over its weight rows: the tile (and the chunk's
/// weights) stay in L2 however long the prompt is.
inline constexpr std::size_t batch_tile = 64;

inline void check_matrix(const quantized_matrix& w, const char* what) {
  check_row(w.type, w.cols, what);
  if (w.row_bytes != row_bytes_of(w.type, w.cols))
    throw invalid_argument(std::string(what) + ": row_bytes " + std::to_string(w.row_bytes) + " does not match " +
                           std::to_string(w.cols) + " " + std::string(name_of(w.type)) + " values (" +
                           std::to_string(row_bytes_of(w.type, w.cols)) + " bytes)");
  if (w.data == nullptr && w.rows > 0) throw invalid_argument(std::string(what) + ": matrix has no data");
}

/// True when w is multiplied with 8-bit activations under these options.
[[nodiscard]] inline bool uses_int8(const quantized_matrix& w, const kernel_options& options) noexcept {
  return options.activations == activation_mode::int8 && uses_int8_activations(w.type);
}

/// True when matmul takes w through its interleaved layout (interleave.hpp).
[[nodiscard]] inline bool uses_interleaved(const quantized_matrix& w, const kernel_options& options) noexcept {
  return w.interleaved != nullptr && options.activations == activation_mode::int8 && has_interleaved_kernel(w.type);
}

/// True when `batch` rows of a `t` matrix go through AMX tiles (int8_amx.hpp, which says where
/// they pay): this build has them, the process may use them, and the batch is one they are
/// faster for. Outputs are the same either way.
[[nodiscard]] inline bool tiles_pay(dtype t, std::size_t batch) noexcept {
#if defined(RAPID_INT8_AMX)
  // from 9 rows, where the VNNI kernels need a second pass over the weights
  return (t == dtype::q4_k || t == dtype::q5_0 || t == dtype::q8_0) && batch > max_rows_per_pass && amx::ready();
#else
  (void)t, (void)batch;
  return false;
#endif
}

/// Interleave groups [g0, g1) of w (16 weight rows each) against `batch` activation rows already
/// quantized. xq: (batch, stride) bytes; y: (batch, w.rows)
inline void interleaved_rows(const quantized_matrix& w, const std::byte* xq, std::size_t stride, std::size_t batch,
                             std::size_t g0, std::size_t g1, float* y) {
#if defined(RAPID_INT8_VNNI)
  const std::size_t nb = w.cols / interleave_cols(w.type);
  const auto vnni = [&]<class Group>(const Group* blocks) {
    for (std::size_t b = 0; b < batch; b += batch_tile)
      for (std::size_t g = g0; g < g1; ++g)
        in_passes(std::min(batch_tile, batch - b), [&](auto r, std::size_t first) {
          const std::size_t row = b + first;
          float* out = y + row * w.rows + g * interleave_rows;
          constexpr std::size_t R = decltype(r)::value;
          const std::byte* x = xq + row * stride;
          if constexpr (std::is_same_v<Group, block_q4_kx16>) x86::rows_dot_q4_kx16<R>(blocks + g * nb, nb, x, stride, out, w.rows);
          else if constexpr (std::is_same_v<Group, block_q6_kx16>) x86::rows_dot_q6_kx16<R>(blocks + g * nb, nb, x, stride, out, w.rows);
          else if constexpr (std::is_same_v<Group, block_q5_0x16>) x86::rows_dot_x16_32<x86::x16_q5_0, R>(blocks + g * nb, nb, x, stride, out, w.rows);
          else x86::rows_dot_x16_32<x86::x16_q8_0, R>(blocks + g * nb, nb, x, stride, out, w.rows);
        });
  };
#if defined(RAPID_INT8_AMX)
  // Each group's 16 weight rows against passes of up to 16 activation rows, split evenly.
  const auto tiles = [&]<class Group>(const Group* blocks) {
    std::size_t configured = 0;  // activation rows the tiles are configured for
    for (std::size_t b = 0; b < batch; b += batch_tile)
      for (std::size_t g = g0; g < g1; ++g)
        for_even_passes(std::min(batch_tile, batch - b), amx::max_rows, [&](std::size_t m, std::size_t first) {
          if (m != configured) amx::configure_int8(configured = m);
          const std::size_t row = b + first;
          float* out = y + row * w.rows + g * interleave_rows;
          const std::byte* x = xq + row * stride;
          if constexpr (std::is_same_v<Group, block_q4_kx16>) amx::rows_dot_q4_kx16(blocks + g * nb, nb, x, stride, m, out, w.rows);
          else if constexpr (std::is_same_v<Group, block_q5_0x16>) amx::rows_dot_x16_32<x86::x16_q5_0>(blocks + g * nb, nb, x, stride, m, out, w.rows);
          else amx::rows_dot_x16_32<x86::x16_q8_0>(blocks + g * nb, nb, x, stride, m, out, w.rows);
        });
  };
  const auto run = [&]<class Group>(const Group* blocks) {
    if constexpr (std::is_same_v<Group, block_q6_kx16>) vnni(blocks);
    else tiles_pay(w.type, batch) ? tiles(blocks) : vnni(blocks);
  };
#else
  const auto& run = vnni;
#endif
  switch (w.type) {
  case dtype::q4_k: run(reinterpret_cast<const block_q4_kx16*>(w.interleaved)); break;
  case dtype::q6_k: run(reinterpret_cast<const block_q6_kx16*>(w.interleaved)); break;
  case dtype::q5_0: run(reinterpret_cast<const block_q5_0x16*>(w.interleaved)); break;
  default: run(reinterpret_cast<const block_q8_0x16*>(w.interleaved)); break;
  }
#else
  (void)w, (void)xq, (void)stride, (void)batch, (void)g0, (void)g1, (void)y;
  throw unsupported_error("matmul: this build has no interleaved kernels");
#endif
}

/// Weight rows [r0, r1) of w against `batch` activation rows: x (batch, w.cols) in f32, and xq
/// (batch, stride) bytes quantized for w.type when uses_int8 (else unused). r0 and r1 are
/// multiples of interleave_rows (or r1 == w.rows) when uses_interleaved. y: (batch, w.rows)
inline void matrix_rows(const quantized_matrix& w, const float* x, const std::byte* xq, std::size_t stride,
                        std::size_t batch, std::size_t r0, std::size_t r1, float* y, const kernel_options& options) {
  const std::size_t rows = w.rows, cols = w.cols;
  if (uses_interleaved(w, options)) return interleaved_rows(w, xq, stride, batch, r0 / interleave_rows, r1 / interleave_rows, y);
  if (uses_int8(w, options)) {
    const std::size_t nb = cols / info_of(w.type).block_elements;
    visit_int8_kernel(w.type, [&](auto tag) {
      using K = typename decltype(tag)::type;
      for (std::size_t b = 0; b < batch; b += batch_tile)
        for (std::size_t r = r0; r < r1; ++r)
          row_dot_batch<K>(w.row(r), xq + b * stride, stride, std::min(batch_tile, batch - b), nb, y + b * rows + r, rows);
    });
    return;
  }
  const bool plain = w.type == dtype::f16 || w.type == dtype::bf16 || w.type == dtype::f32;  // widened in registers
  thread_local std::vector<float> wrow;  // (cols) one dequantized weight row
  wrow.resize(cols);
  for (std::size_t b0 = 0; b0 < batch; b0 += batch_tile) {
    const std::size_t b1 = std::min(batch, b0 + batch_tile);
    for (std::size_t r = r0; r < r1; ++r) {
      if (!plain) dequantize_unchecked(w.type, w.row(r), wrow.data(), cols);
      for (std::size_t b = b0; b < b1; ++b)
        y[b * rows + r] = plain ? dot_exact_unchecked(w.type, w.row(r), x + b * cols, cols) : dot_dequantized(wrow.data(), x + b * cols, cols);
    }
  }
}

} // namespace rapid::ops::detail
