#pragma once
// Which weight types the kernels take, how activations are quantized for them, and kernel options.
//
// Activation quantisation (the default, activation_mode::int8): for quantized weights, matvec
// and matmul first quantize the f32 activation row to 8 bits, symmetric, one float scale per
// block (Q8_K-like blocks of 256 for K-quant weights, blocks of 32 otherwise; quant_blocks.hpp), then
// take integer dot products with the weight codes. This is what makes Q4_K/Q6_K decode
// memory-bound instead of compute-bound. It costs accuracy: each activation gets a rounding
// error of at most half a step, step = max|x over the block| / 127, i.e. a relative error per
// dot of a few 1e-3 for Gaussian-like activations (see docs/kernels.md for measurements).
// activation_mode::exact keeps activations in f32 (dequantize, then FMA), for references and
// tests. F32/F16/BF16 weights always use f32 activations.
#include <array>
#include <cstddef>
#include <string>

#include "rapid/core/dtype.hpp"
#include "rapid/core/error.hpp"
#include "rapid/core/quant_blocks.hpp"

namespace rapid::ops {

/// Weight types every kernel (dequant, dot, matvec, matmul) supports.
inline constexpr std::array<dtype, 11> kernel_types{dtype::f32,  dtype::f16,  dtype::bf16, dtype::q4_0,
                                                    dtype::q4_1, dtype::q5_0, dtype::q5_1, dtype::q8_0,
                                                    dtype::q4_k, dtype::q5_k, dtype::q6_k};

[[nodiscard]] constexpr bool is_kernel_type(dtype t) noexcept {
  for (auto k : kernel_types)
    if (k == t) return true;
  return false;
}

/// Throws unsupported_error naming the type and listing the supported ones.
[[noreturn]] inline void throw_unsupported_type(dtype t, const char* what) {
  std::string list;
  for (auto k : kernel_types) list += (list.empty() ? "" : ", ") + std::string(name_of(k));
  const auto info = find_dtype(static_cast<std::uint32_t>(t));
  const std::string name = info ? std::string(info->name) : "type id " + std::to_string(static_cast<std::uint32_t>(t));
  throw unsupported_error(std::string(what) + ": tensor type " + name + " is not supported (supported: " + list + ")");
}

/// Throws invalid_argument unless n is a whole number of t's blocks, unsupported_error for other types.
inline void check_row(dtype t, std::size_t n, const char* what) {
  if (!is_kernel_type(t)) throw_unsupported_type(t, what);
  const auto be = info_of(t).block_elements;
  if (n % be != 0)
    throw invalid_argument(std::string(what) + ": length " + std::to_string(n) + " is not a multiple of the " +
                           std::string(name_of(t)) + " block size " + std::to_string(be));
}

enum class activation_mode {
  int8,  ///< quantize activations to 8 bits and use integer dot products (fast, approximate)
  exact, ///< keep activations in f32: dequantize weights and FMA (slower, the reference)
};

struct kernel_options {
  activation_mode activations = activation_mode::int8;
  int threads = 0; ///< OpenMP threads for matvec/matmul; 0: omp_get_max_threads(); ignored without OpenMP
};

/// True when `t` weights are multiplied with 8-bit activations in activation_mode::int8.
[[nodiscard]] constexpr bool uses_int8_activations(dtype t) noexcept {
  return t != dtype::f32 && t != dtype::f16 && t != dtype::bf16;
}
/// K-quant weights pair with Q8_K-like activations (block_q8_k_act, 256 values per block), the
/// others with block_q8_act32.
[[nodiscard]] constexpr bool uses_q8_k(dtype t) noexcept {
  return t == dtype::q4_k || t == dtype::q5_k || t == dtype::q6_k;
}
/// Bytes of one quantized activation row of n values for weights of type t (n a multiple of the block).
[[nodiscard]] constexpr std::size_t activation_row_bytes(dtype t, std::size_t n) noexcept {
  return uses_q8_k(t) ? n / qk_k * sizeof(block_q8_k_act) : n / qk32 * sizeof(block_q8_act32);
}

} // namespace rapid::ops
