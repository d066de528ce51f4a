#pragma once
// Y = X W^T for a batch of activation rows (prefill, verifying a draft). X: (batch, cols),
// W: (rows, cols), Y: (batch, rows). Each weight row is unpacked (int8 path) or dequantized
// (exact path; F32/F16/BF16 are widened in registers) once per row and reused for all batch rows,
// so a batch costs one pass over W instead of `batch` passes. Row b of Y is bit-identical to
// matvec(W, X[b]) with the same options.
#include <algorithm>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "rapid/core/error.hpp"
#include "rapid/core/tensor_view.hpp"
#include "rapid/ops/activation.hpp"
#include "rapid/ops/dequant.hpp"
#include "rapid/ops/detail/parallel_rows.hpp"
#include "rapid/ops/dot.hpp"
#include "rapid/ops/kernel_types.hpp"
#include "rapid/ops/matvec.hpp"

namespace rapid::ops {

/// Y = X W^T. w: (rows, cols); x: (batch, cols); y: (batch, rows)
inline void matmul(const quantized_matrix& w, std::span<const float> x, std::size_t batch, std::span<float> y,
                   const kernel_options& options = {}) {
  detail::check_matrix(w, "matmul");
  if (x.size() != batch * w.cols || y.size() != batch * w.rows)
    throw invalid_argument("matmul: W is " + std::to_string(w.rows) + "x" + std::to_string(w.cols) + ", batch " +
                           std::to_string(batch) + ", but X has " + std::to_string(x.size()) + " values and Y " +
                           std::to_string(y.size()));
  if (batch == 0) return;
  if (batch == 1) return matvec(w, x, y, options);
  const std::size_t rows = w.rows, cols = w.cols;
  using detail::batch_tile;  // each thread takes chunks of weight rows, activation rows in tiles
  if (options.activations == activation_mode::int8 && uses_int8_activations(w.type)) {
    const std::size_t stride = activation_row_bytes(w.type, cols);
    thread_local activation_buffer xq_buffer; // (batch, stride) quantized X
    std::byte* xq = xq_buffer.resize(batch * stride); // a plain pointer: lambdas would see each thread's own thread_local
    detail::parallel_rows(batch, options.threads, 8, [&](std::size_t b0, std::size_t b1) {
      for (std::size_t b = b0; b < b1; ++b) detail::quantize_activation_unchecked(w.type, x.data() + b * cols, xq + b * stride, cols);
    });
    if (detail::uses_interleaved(w, options)) return detail::matmul_interleaved(w, xq, stride, batch, y.data(), options.threads);
    const std::size_t nb = cols / info_of(w.type).block_elements;
    detail::visit_int8_kernel(w.type, [&](auto tag) {
      using K = typename decltype(tag)::type;
      detail::parallel_rows(rows, options.threads, detail::min_rows_per_thread, [&](std::size_t r0, std::size_t r1) {
        for (std::size_t b = 0; b < batch; b += batch_tile)
          for (std::size_t r = r0; r < r1; ++r)
            detail::row_dot_batch<K>(w.row(r), xq + b * stride, stride, std::min(batch_tile, batch - b), nb,
                                     y.data() + b * rows + r, rows);
      });
    });
    return;
  }
  const bool plain = w.type == dtype::f16 || w.type == dtype::bf16 || w.type == dtype::f32; // widened in registers
  detail::parallel_rows(rows, options.threads, detail::min_rows_per_thread, [&](std::size_t r0, std::size_t r1) {
    thread_local std::vector<float> wrow; // (cols) one dequantized weight row
    wrow.resize(cols);
    for (std::size_t b0 = 0; b0 < batch; b0 += batch_tile) {
      const std::size_t b1 = std::min(batch, b0 + batch_tile);
      for (std::size_t r = r0; r < r1; ++r) {
        if (!plain) detail::dequantize_unchecked(w.type, w.row(r), wrow.data(), cols);
        for (std::size_t b = b0; b < b1; ++b)
          y[b * rows + r] = plain ? detail::dot_exact_unchecked(w.type, w.row(r), x.data() + b * cols, cols)
                                  : detail::dot_dequantized(wrow.data(), x.data() + b * cols, cols);
      }
    }
  });
}

} // namespace rapid::ops
