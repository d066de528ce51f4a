#pragma once
// y = W x for one activation row (decode). W: (rows, cols) of any kernel type. In the default
// activation_mode::int8, x is quantized once to 8-bit blocks and every row takes the integer
// kernel; activation_mode::exact (and F32/F16/BF16 weights) dequantize and FMA in f32.
// Rows are split across OpenMP threads; each output is computed by one thread with a fixed
// operation order, so results do not depend on the thread count.
#include <cstddef>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "rapid/core/error.hpp"
#include "rapid/core/tensor_view.hpp"
#include "rapid/ops/activation.hpp"
#include "rapid/ops/detail/int8_amx.hpp"
#include "rapid/ops/detail/parallel_rows.hpp"
#include "rapid/ops/dot.hpp"
#include "rapid/ops/interleave.hpp"
#include "rapid/ops/kernel_types.hpp"

namespace rapid::ops {

namespace detail {
inline constexpr std::size_t min_rows_per_thread = 16;

inline void check_matrix(const quantized_matrix& w, const char* what) {
  check_row(w.type, w.cols, what);
  if (w.row_bytes != row_bytes_of(w.type, w.cols))
    throw invalid_argument(std::string(what) + ": row_bytes " + std::to_string(w.row_bytes) + " does not match " +
                           std::to_string(w.cols) + " " + std::string(name_of(w.type)) + " values (" +
                           std::to_string(row_bytes_of(w.type, w.cols)) + " bytes)");
  if (w.data == nullptr && w.rows > 0) throw invalid_argument(std::string(what) + ": matrix has no data");
}

/// y[r] for r in [0, rows) with activations xq already quantized for w.type. xq: (activation_row_bytes)
inline void matvec_int8(const quantized_matrix& w, const std::byte* xq, float* y, int threads) {
  const std::size_t nb = w.cols / info_of(w.type).block_elements;
  visit_int8_kernel(w.type, [&](auto tag) {
    using K = typename decltype(tag)::type;
    parallel_rows(w.rows, threads, min_rows_per_thread, [&](std::size_t r0, std::size_t r1) {
      for (std::size_t r = r0; r < r1; ++r) y[r] = row_dot<K>(w.row(r), xq, nb);
    });
  });
}

/// Activation rows a thread takes per pass over its weight rows in matmul: the tile (and the
/// chunk's weights) stay in L2 however long the prompt is.
inline constexpr std::size_t batch_tile = 64;

/// True when matvec/matmul take w through its interleaved layout (interleave.hpp).
[[nodiscard]] inline bool uses_interleaved(const quantized_matrix& w, const kernel_options& options) noexcept {
  return w.interleaved != nullptr && options.activations == activation_mode::int8 && has_interleaved_kernel(w.type);
}

/// True when matmul_interleaved takes `batch` rows of a `t` matrix through AMX tiles
/// (int8_amx.hpp, which says where they pay): this build has them, the process may use them,
/// and the batch is one they are faster for. Outputs are the same either way.
[[nodiscard]] inline bool tiles_pay(dtype t, std::size_t batch) noexcept {
#if defined(RAPID_INT8_AMX)
  const bool pays = t == dtype::q5_0 ? batch >= 2 : (t == dtype::q4_k || t == dtype::q8_0) && batch > max_rows_per_pass;
  return pays && amx::ready();
#else
  (void)t, (void)batch;
  return false;
#endif
}

/// Y = X W^T through w's interleaved layout, X already quantized. xq: (batch, stride) bytes;
/// y: (batch, w.rows). Row b of Y is bit-identical to the same call with batch 1 on X[b]: rows take
/// the VNNI kernels or, where they pay, AMX tiles (tiles_pay): the same outputs.
inline void matmul_interleaved(const quantized_matrix& w, const std::byte* xq, std::size_t stride, std::size_t batch,
                               float* y, int threads) {
#if defined(RAPID_INT8_VNNI)
  const std::size_t nb = w.cols / interleave_cols(w.type), groups = w.rows / interleave_rows;
  const auto vnni = [&]<class Group>(const Group* blocks) {
    parallel_rows(groups, threads, 1, [&](std::size_t g0, std::size_t g1) {
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
    });
  };
#if defined(RAPID_INT8_AMX)
  // Each group's 16 weight rows against passes of up to 16 activation rows, split evenly.
  const auto tiles = [&]<class Group>(const Group* blocks) {
    parallel_rows(groups, threads, 1, [&](std::size_t g0, std::size_t g1) {
      std::size_t configured = 0;  // activation rows this thread's tiles are configured for
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
  (void)w, (void)xq, (void)stride, (void)batch, (void)y, (void)threads;
  throw unsupported_error("matmul: this build has no interleaved kernels");
#endif
}
} // namespace detail

/// y = W x. w: (rows, cols); x: (cols); y: (rows)
inline void matvec(const quantized_matrix& w, std::span<const float> x, std::span<float> y,
                   const kernel_options& options = {}) {
  detail::check_matrix(w, "matvec");
  if (x.size() != w.cols || y.size() != w.rows)
    throw invalid_argument("matvec: W is " + std::to_string(w.rows) + "x" + std::to_string(w.cols) + " but x has " +
                           std::to_string(x.size()) + " values and y " + std::to_string(y.size()));
  if (options.activations == activation_mode::int8 && uses_int8_activations(w.type)) {
    // (activation_row_bytes(type, cols)) quantized x; only its pointer crosses into the threads
    thread_local activation_buffer buffer;
    std::byte* xq = buffer.resize(activation_row_bytes(w.type, w.cols));
    quantize_activation(w.type, x.data(), xq, w.cols);
    if (detail::uses_interleaved(w, options)) detail::matmul_interleaved(w, xq, 0, 1, y.data(), options.threads);
    else detail::matvec_int8(w, xq, y.data(), options.threads);
    return;
  }
  detail::parallel_rows(w.rows, options.threads, detail::min_rows_per_thread, [&](std::size_t r0, std::size_t r1) {
    for (std::size_t r = r0; r < r1; ++r) y[r] = detail::dot_exact_unchecked(w.type, w.row(r), x.data(), w.cols);
  });
}

} // namespace rapid::ops
