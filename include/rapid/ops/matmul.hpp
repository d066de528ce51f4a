#pragma once
// Y = X W^T for a batch of activation rows (decode, prefill, verifying a draft), and for several
// weight matrices that share one input (the q/k/v projections, gate and up). X: (batch, cols),
// W: (rows, cols), Y: (batch, rows).
//
// One OpenMP team does all of it: first X is quantized once per activation format the matrices
// take (rows shared out among the threads), then the weight rows of every matrix, cut into
// chunks, are handed out on demand. Separate calls would quantize the same input once per
// matrix on one thread, and pay a team's start and its uneven tail per matrix: on the 0.5B that
// left a thread idle for a tenth of a verification. Each output is computed by one thread with a
// fixed operation order (matrix_rows.hpp), so row b of Y is bit-identical to matvec(W, X[b]) and
// to the same product done alone, whatever the thread count. What the caller does next to each
// activation row (a bias, RoPE, the cache store, SwiGLU, a residual add) can run in the same team
// as `then`, instead of on one thread while the other waits.
#include <algorithm>
#include <cstddef>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "rapid/core/error.hpp"
#include "rapid/core/tensor_view.hpp"
#include "rapid/ops/activation.hpp"
#include "rapid/ops/kernel_types.hpp"
#include "rapid/ops/matrix_rows.hpp"
#include "rapid/ops/threads.hpp"

namespace rapid::ops {

/// One weight matrix of matmul_shared_input and where its product goes. y: (batch, w.rows)
struct matrix_product {
  const quantized_matrix& w;
  std::span<float> y;
};

namespace detail {
// A chunk of one matrix's weight rows: the unit threads take on demand.
struct row_chunk {
  std::size_t product, first, end;
};

// The default `then` of matmul_shared_input: nothing.
struct nothing_after {
  void operator()(std::size_t) const noexcept {}
};

// The quantized input for one activation format (K-quant blocks or 32-value blocks).
struct quantized_input {
  dtype format{};             // a weight type whose activation format this is
  std::size_t stride = 0;     // bytes per row; 0: no matrix takes this format
  std::byte* data = nullptr;  // (batch, stride)
};

// Which quantized_input a weight type reads: [0] K-quant blocks, [1] 32-value blocks.
[[nodiscard]] inline std::size_t input_format(dtype t) noexcept { return uses_q8_k(t) ? 0 : 1; }
} // namespace detail

/// Y_i = X W_i^T for every product i; all W_i have x's columns. x: (batch, cols). Then
/// then(b) for every activation row b once all products are done (rows shared among the threads;
/// it must not throw).
template <class Then = detail::nothing_after>
inline void matmul_shared_input(std::span<const matrix_product> products, std::span<const float> x, std::size_t batch,
                                const kernel_options& options = {}, Then then = {}) {
  static_assert(std::is_nothrow_invocable_v<Then&, std::size_t>, "then(row) runs inside an OpenMP team: mark it noexcept");
  if (products.empty() || batch == 0) return;
  const std::size_t cols = products[0].w.cols;
  for (const auto& p : products) {
    detail::check_matrix(p.w, "matmul");
    if (p.w.cols != cols || x.size() != batch * cols || p.y.size() != batch * p.w.rows)
      throw invalid_argument("matmul: W is " + std::to_string(p.w.rows) + "x" + std::to_string(p.w.cols) + ", batch " +
                             std::to_string(batch) + ", but X has " + std::to_string(x.size()) + " values and Y " +
                             std::to_string(p.y.size()));
  }
  // One quantized copy of X per activation format (detail::input_format).
  thread_local activation_buffer buffers[2];
  detail::quantized_input inputs[2];
  for (const auto& p : products)
    if (detail::uses_int8(p.w, options))
      inputs[detail::input_format(p.w.type)] = {p.w.type, activation_row_bytes(p.w.type, cols), nullptr};
  detail::quantized_input* used[2];  // the formats some matrix takes, in order
  std::size_t formats = 0;
  for (auto& in : inputs)
    if (in.stride != 0) {
      in.data = buffers[&in - inputs].resize(batch * in.stride);  // a plain pointer: threads would see their own thread_local
      used[formats++] = &in;
    }
  const int nt = thread_count(options.threads);
  thread_local std::vector<detail::row_chunk> chunk_list;
  chunk_list.clear();
  for (std::size_t i = 0; i < products.size(); ++i) {
    const auto& w = products[i].w;
    const std::size_t unit = detail::uses_interleaved(w, options) ? interleave_rows : 1;
    std::size_t chunk = std::max(detail::min_rows_per_thread, w.rows / (8 * static_cast<std::size_t>(nt)));  // ~8 per thread
    chunk = (chunk + unit - 1) / unit * unit;
    for (std::size_t r = 0; r < w.rows; r += chunk) chunk_list.push_back({i, r, std::min(w.rows, r + chunk)});
  }
  const detail::row_chunk* const chunks = chunk_list.data();  // a plain pointer, as above
  const auto quantize = [&](std::size_t job) {  // job: (format, batch row)
    const auto& in = *used[job / batch];
    const std::size_t b = job % batch;
    detail::quantize_activation_unchecked(in.format, x.data() + b * cols, in.data + b * in.stride, cols);
  };
  const auto multiply = [&](const detail::row_chunk& c) {
    const auto& p = products[c.product];
    const auto& in = inputs[detail::input_format(p.w.type)];
    detail::matrix_rows(p.w, x.data(), in.data, in.stride, batch, c.first, c.end, p.y.data(), options);
  };
  const auto jobs = static_cast<std::ptrdiff_t>(formats * batch), n_chunks = static_cast<std::ptrdiff_t>(chunk_list.size());
#ifdef _OPENMP
  if (nt > 1 && n_chunks > 1) {
#pragma omp parallel num_threads(static_cast<int>(std::min<std::ptrdiff_t>(nt, n_chunks)))
    {
#pragma omp for schedule(static)
      for (std::ptrdiff_t j = 0; j < jobs; ++j) quantize(static_cast<std::size_t>(j));
#pragma omp for schedule(dynamic, 1)
      for (std::ptrdiff_t c = 0; c < n_chunks; ++c) multiply(chunks[c]);
      if constexpr (!std::is_same_v<Then, detail::nothing_after>) {
#pragma omp for schedule(static)
        for (std::ptrdiff_t b = 0; b < static_cast<std::ptrdiff_t>(batch); ++b) then(static_cast<std::size_t>(b));
      }
    }
    return;
  }
#endif
  for (std::ptrdiff_t j = 0; j < jobs; ++j) quantize(static_cast<std::size_t>(j));
  for (std::ptrdiff_t c = 0; c < n_chunks; ++c) multiply(chunks[c]);
  for (std::size_t b = 0; b < batch; ++b) then(b);
}

/// Y = X W^T, then then(b) for every row b as in matmul_shared_input. w: (rows, cols);
/// x: (batch, cols); y: (batch, rows)
template <class Then = detail::nothing_after>
inline void matmul(const quantized_matrix& w, std::span<const float> x, std::size_t batch, std::span<float> y,
                   const kernel_options& options = {}, Then then = {}) {
  const matrix_product one[] = {{w, y}};
  matmul_shared_input(one, x, batch, options, then);
}

} // namespace rapid::ops
