#pragma once
// Dot products of one weight row (any kernel type) with an activation row.
//   dot_exact: f32 activations; each chunk of 256 weights is dequantized (dequant.hpp) and
//              multiplied in with xsimd FMAs (F32/F16/BF16 rows are widened in registers).
//              Exact up to f32 summation order.
//   dot_q8:    activations already quantized to 8 bits (activation.hpp); integer dot products
//              per block (detail/int8_x86.hpp, or detail/int8_generic.hpp without AVX2). The
//              fast path matvec/matmul use; see kernel_types.hpp for its accuracy.
//   dot:       f32 activations, the path matvec takes for this type (quantizes x first if int8).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <xsimd/xsimd.hpp>
#if defined(__AVX__)
#include <immintrin.h>
#endif

#include "rapid/core/error.hpp"
#include "rapid/ops/activation.hpp"
#include "rapid/ops/dequant.hpp"
#include "rapid/ops/detail/int8_generic.hpp"
#include "rapid/ops/detail/int8_x86.hpp"
#include "rapid/ops/even_passes.hpp"
#include "rapid/ops/kernel_types.hpp"

namespace rapid::ops {

namespace detail {

#if defined(RAPID_INT8_X86)
namespace int8 = x86;
#else
namespace int8 = generic;
#endif

// ---- exact path ---------------------------------------------------------------------------
inline constexpr std::size_t exact_chunk = 256; // values dequantized at a time

// F16/BF16 weights are widened in registers 8 at a time: AVX2 conversions, since GCC 12 warns
// (-Wmaybe-uninitialized, inside its own headers) on the 512-bit ones.
#if XSIMD_WITH_AVX512F && XSIMD_WITH_FMA3_AVX2
using hbatch = xsimd::batch<float, xsimd::fma3<xsimd::avx2>>;
#else
using hbatch = fbatch;
#endif

template <class B>
struct basic_acc {
  B a0 = B(0.f), a1 = B(0.f);
  float tail = 0;
};
using f32_acc = basic_acc<fbatch>;

// Loaders of B::size weights widened to f32 (exact), and their scalar twins for tails.
struct load_f32 {
  using batch_type = fbatch;
  static fbatch batch(const float* p) noexcept { return fbatch::load_unaligned(p); }
  static float one(const float* p) noexcept { return *p; }
};
struct load_f16 {
  using batch_type = hbatch;
  static hbatch batch(const std::uint16_t* p) noexcept {
#if XSIMD_WITH_AVX && defined(__F16C__)
    if constexpr (hbatch::size == 8) return hbatch(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
#endif
    alignas(64) float t[hbatch::size]; // (hbatch::size) widened values
    for (std::size_t i = 0; i < hbatch::size; ++i) t[i] = fp16_to_f32(p[i]);
    return hbatch::load_aligned(t);
  }
  static float one(const std::uint16_t* p) noexcept { return fp16_to_f32(*p); }
};
struct load_bf16 {
  using batch_type = hbatch;
  static hbatch batch(const std::uint16_t* p) noexcept {
#if XSIMD_WITH_AVX2
    if constexpr (hbatch::size == 8) {
      const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
      return hbatch(_mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
    }
#endif
    alignas(64) float t[hbatch::size]; // (hbatch::size) widened values
    for (std::size_t i = 0; i < hbatch::size; ++i) t[i] = bf16_to_f32(p[i]);
    return hbatch::load_aligned(t);
  }
  static float one(const std::uint16_t* p) noexcept { return bf16_to_f32(*p); }
};

// acc += w . x, w widened by Load. w, x: (n)
template <class Load, class T, class B = typename Load::batch_type>
inline void accumulate(const T* w, const float* x, std::size_t n, basic_acc<B>& acc) noexcept {
  constexpr std::size_t k = B::size;
  std::size_t i = 0;
  for (; i + 2 * k <= n; i += 2 * k) {
    acc.a0 = xsimd::fma(Load::batch(w + i), B::load_unaligned(x + i), acc.a0);
    acc.a1 = xsimd::fma(Load::batch(w + i + k), B::load_unaligned(x + i + k), acc.a1);
  }
  for (; i + k <= n; i += k) acc.a0 = xsimd::fma(Load::batch(w + i), B::load_unaligned(x + i), acc.a0);
  for (; i < n; ++i) acc.tail += Load::one(w + i) * x[i];
}

inline void accumulate_f32(const float* w, const float* x, std::size_t n, f32_acc& acc) noexcept {
  accumulate<load_f32>(w, x, n, acc);
}

template <class B>
inline float finish(const basic_acc<B>& acc) noexcept { return xsimd::hadd(acc.a0 + acc.a1) + acc.tail; }

/// Byte offset of value `i` (a multiple of the block size) in a row of type t.
inline std::size_t byte_offset(dtype t, std::size_t i) noexcept {
  const auto info = info_of(t);
  return i / info.block_elements * info.block_bytes;
}

/// Rows of plain types, converted in registers. w: (n) values of Load's type; x: (n)
template <class Load, class T>
inline float dot_plain(const T* w, const float* x, std::size_t n) noexcept {
  basic_acc<typename Load::batch_type> acc;
  for (std::size_t i = 0; i < n; i += exact_chunk) accumulate<Load>(w + i, x + i, std::min(exact_chunk, n - i), acc);
  return finish(acc);
}

/// w . x over chunks of exact_chunk values. row: bytes of n values of t; x: (n)
inline float dot_exact_unchecked(dtype t, const std::byte* row, const float* x, std::size_t n) noexcept {
  if (t == dtype::f32) return dot_plain<load_f32>(reinterpret_cast<const float*>(row), x, n);
  if (t == dtype::f16) return dot_plain<load_f16>(reinterpret_cast<const std::uint16_t*>(row), x, n);
  if (t == dtype::bf16) return dot_plain<load_bf16>(reinterpret_cast<const std::uint16_t*>(row), x, n);
  f32_acc acc;
  alignas(64) float buf[exact_chunk]; // (256) dequantized chunk
  for (std::size_t i = 0; i < n; i += exact_chunk) {
    const std::size_t len = std::min(exact_chunk, n - i);
    dequantize_unchecked(t, row + byte_offset(t, i), buf, len);
    accumulate_f32(buf, x + i, len, acc);
  }
  return finish(acc);
}

/// Same sum as dot_exact_unchecked, for a row already dequantized to f32. w, x: (n)
inline float dot_dequantized(const float* w, const float* x, std::size_t n) noexcept {
  f32_acc acc;
  for (std::size_t i = 0; i < n; i += exact_chunk) accumulate_f32(w + i, x + i, std::min(exact_chunk, n - i), acc);
  return finish(acc);
}

// ---- integer path -------------------------------------------------------------------------
/// How far ahead rows_dot prefetches its weights. Once the integer kernels outran DRAM, the
/// hardware prefetcher alone left one core 5-10 % short of its read bandwidth on Q4_K/Q6_K
/// matvecs; 4 KiB was the best of 1-16 KiB (bench_kernels, 1 thread, Zen 4). The hint is T0:
/// the non-temporal one, a few percent better on Zen 4, left a Sapphire Rapids VM 25-35 % short
/// (1.5B decode 75.8 vs 58.8 ms per token; docs/kernels.md).
inline constexpr std::size_t row_prefetch_bytes = 4096;

/// Most activation rows one pass over a weight row takes: the unpacked block (7-13 vectors) and
/// one accumulator per row stay in the 32 vector registers of AVX-512.
inline constexpr std::size_t max_rows_per_pass = 8;

/// Activation rows of one pass. act: (R, stride) bytes of quantized rows.
template <class K, std::size_t R>
struct act_rows {
  const typename K::ablock* row[R];
  act_rows(const std::byte* act, std::size_t stride) noexcept {
    for (std::size_t k = 0; k < R; ++k) row[k] = reinterpret_cast<const typename K::ablock*>(act + k * stride);
  }
};

/// Outputs of one weight row for R activation rows: each weight block is unpacked once, into
/// registers, and applied to all R rows; one accumulator per output, blocks in order, so an
/// output's float operations never depend on R (a k-row matmul equals k matvecs bit for bit).
/// row: nb weight blocks; act: (R, act_stride) bytes; out[k * out_stride]: (R)
template <class K, std::size_t R>
inline void rows_dot(const std::byte* row, const std::byte* act, std::size_t act_stride, std::size_t nb, float* out,
                     std::size_t out_stride) noexcept {
  const auto* w = reinterpret_cast<const typename K::wblock*>(row);
  const act_rows<K, R> a(act, act_stride);
  typename K::accumulator acc[R];
  for (std::size_t i = 0; i < nb; ++i) {
    // may point past the matrix (an integer, not a pointer, so no out-of-bounds arithmetic): prefetches never fault
    const std::uintptr_t ahead = reinterpret_cast<std::uintptr_t>(w + i) + row_prefetch_bytes;
    for (std::size_t o = 0; o < sizeof(typename K::wblock); o += 64) __builtin_prefetch(reinterpret_cast<const void*>(ahead + o), 0, 3);
    const auto u = K::unpack(w[i]);
    for (std::size_t k = 0; k < R; ++k) K::accumulate(u, a.row[k][i], acc[k]);
  }
  for (std::size_t k = 0; k < R; ++k) out[k * out_stride] = int8::finish(acc[k]);
}

/// rows_dot for blocks unpacked beforehand (long batches: one unpack per weight row, not per
/// pass). Same float operations per output. unpacked: (nb) blocks of one weight row
template <class K, std::size_t R>
inline void rows_dot_unpacked(const typename K::unpacked* unpacked, const std::byte* act, std::size_t act_stride,
                              std::size_t nb, float* out, std::size_t out_stride) noexcept {
  const act_rows<K, R> a(act, act_stride);
  typename K::accumulator acc[R];
  for (std::size_t i = 0; i < nb; ++i)
    for (std::size_t k = 0; k < R; ++k) K::accumulate(unpacked[i], a.row[k][i], acc[k]);
  for (std::size_t k = 0; k < R; ++k) out[k * out_stride] = int8::finish(acc[k]);
}

/// Calls f(integral_constant<R>, first) over [0, rows) in even passes of at most max_rows_per_pass rows.
template <class F>
inline void in_passes(std::size_t rows, F&& f) {
  in_even_passes<max_rows_per_pass>(rows, std::forward<F>(f));
}

/// One weight row against `batch` activation rows. acts: (batch, act_stride) bytes;
/// out[b * out_stride]: (batch). Short batches (a verification) unpack each block in registers
/// once per pass; long ones (prefill) unpack the row once into a thread-local buffer.
template <class K>
inline void row_dot_batch(const std::byte* row, const std::byte* acts, std::size_t act_stride, std::size_t batch,
                          std::size_t nb, float* out, std::size_t out_stride) {
  if (batch <= 2 * max_rows_per_pass) {
    in_passes(batch, [&](auto r, std::size_t b) {
      rows_dot<K, decltype(r)::value>(row, acts + b * act_stride, act_stride, nb, out + b * out_stride, out_stride);
    });
    return;
  }
  thread_local std::vector<typename K::unpacked> unpacked; // (nb) this row's unpacked blocks
  if (unpacked.size() < nb) unpacked.resize(nb);
  const auto* w = reinterpret_cast<const typename K::wblock*>(row);
  for (std::size_t i = 0; i < nb; ++i) unpacked[i] = K::unpack(w[i]);
  in_passes(batch, [&](auto r, std::size_t b) {
    rows_dot_unpacked<K, decltype(r)::value>(unpacked.data(), acts + b * act_stride, act_stride, nb, out + b * out_stride,
                                             out_stride);
  });
}

/// w . a over nb blocks (a matvec output). row: nb weight blocks; act: nb activation blocks.
template <class K>
inline float row_dot(const std::byte* row, const std::byte* act, std::size_t nb) noexcept {
  float out;
  rows_dot<K, 1>(row, act, 0, nb, &out, 1);
  return out;
}

template <class K>
struct kernel_tag {
  using type = K;
};

/// Calls f(kernel_tag<K>{}) with the integer kernel for t (a type with uses_int8_activations).
template <class F>
inline decltype(auto) visit_int8_kernel(dtype t, F&& f) {
  switch (t) {
  case dtype::q4_0: return f(kernel_tag<int8::k_q4_0>{});
  case dtype::q4_1: return f(kernel_tag<int8::k_q4_1>{});
  case dtype::q5_0: return f(kernel_tag<int8::k_q5_0>{});
  case dtype::q5_1: return f(kernel_tag<int8::k_q5_1>{});
  case dtype::q8_0: return f(kernel_tag<int8::k_q8_0>{});
  case dtype::q4_k: return f(kernel_tag<int8::k_q4_k>{});
  case dtype::q5_k: return f(kernel_tag<int8::k_q5_k>{});
  case dtype::q6_k: return f(kernel_tag<int8::k_q6_k>{});
  default: throw_unsupported_type(t, "int8 kernel");
  }
}

} // namespace detail

/// Name of the integer kernel family compiled in: "avx512vnni", "avx2" or "generic".
inline constexpr const char* int8_kernel_arch = detail::int8::int8_arch;

/// Exact dot of a row of type t with f32 activations. row: (row_bytes_of(t, x.size())) bytes; x: (n)
inline float dot_exact(dtype t, const std::byte* row, std::span<const float> x) {
  check_row(t, x.size(), "dot_exact");
  return detail::dot_exact_unchecked(t, row, x.data(), x.size());
}

/// Integer-path dot with activations quantized by quantize_activation(t, x, xq, n).
/// row: (row_bytes_of(t, n)) bytes; xq: (activation_row_bytes(t, n)) bytes
inline float dot_q8(dtype t, const std::byte* row, const std::byte* xq, std::size_t n) {
  check_row(t, n, "dot_q8");
  if (!uses_int8_activations(t))
    throw invalid_argument("dot_q8: " + std::string(name_of(t)) + " rows take f32 activations (use dot_exact)");
  const std::size_t nb = n / info_of(t).block_elements;
  return detail::visit_int8_kernel(t, [&](auto tag) { return detail::row_dot<typename decltype(tag)::type>(row, xq, nb); });
}

/// Dot of a row with f32 activations along the path matvec takes for this type and mode.
inline float dot(dtype t, const std::byte* row, std::span<const float> x, activation_mode mode = activation_mode::int8) {
  check_row(t, x.size(), "dot");
  if (mode == activation_mode::exact || !uses_int8_activations(t)) return dot_exact(t, row, x);
  activation_buffer buffer;
  std::byte* xq = buffer.resize(activation_row_bytes(t, x.size())); // (activation_row_bytes)
  quantize_activation(t, x.data(), xq, x.size());
  return dot_q8(t, row, xq, x.size());
}

} // namespace rapid::ops
