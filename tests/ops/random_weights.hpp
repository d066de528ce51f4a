#pragma once
// Random weight rows of any kernel type with realistic scales (tests and benchmarks).
// Codes are uniform random bytes; fp16 scales are drawn like those of real checkpoints
// (d ~ 1e-3..3e-2, Q4_1/Q5_1/K-quant mins negative offsets), so dequantized values are O(0.1).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "rapid/core/dtype.hpp"
#include "rapid/core/fp16.hpp"
#include "rapid/core/quant_blocks.hpp"
#include "rapid/core/tensor_view.hpp"

namespace rapid::test {

/// rows x cols values of type t, packed rows. Returns (rows, row_bytes_of(t, cols)) bytes.
inline std::vector<std::byte> random_weights(dtype t, std::size_t rows, std::size_t cols, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> scale(1e-3f, 3e-2f), unit(0.f, 1.f);
  std::normal_distribution<float> normal(0.f, 0.1f);
  const std::size_t rb = row_bytes_of(t, cols);
  std::vector<std::byte> out(rows * rb); // (rows, row_bytes)
  for (auto& b : out) b = static_cast<std::byte>(byte(rng));
  auto put16 = [](std::byte* p, std::uint16_t v) { std::memcpy(p, &v, 2); };
  const std::size_t n = rows * cols;
  switch (t) {
  case dtype::f32:
    for (std::size_t i = 0; i < n; ++i) { const float v = normal(rng); std::memcpy(out.data() + 4 * i, &v, 4); }
    return out;
  case dtype::f16:
    for (std::size_t i = 0; i < n; ++i) put16(out.data() + 2 * i, f32_to_fp16(normal(rng)));
    return out;
  case dtype::bf16:
    for (std::size_t i = 0; i < n; ++i) put16(out.data() + 2 * i, f32_to_bf16(normal(rng)));
    return out;
  default: break;
  }
  const auto info = info_of(t);
  const std::size_t nblocks = n / info.block_elements;
  for (std::size_t i = 0; i < nblocks; ++i) {
    std::byte* b = out.data() + i * info.block_bytes;
    switch (t) {
    case dtype::q4_0: case dtype::q5_0: case dtype::q8_0:
      put16(b, f32_to_fp16(scale(rng) * (t == dtype::q8_0 ? 0.1f : 1.f)));
      break;
    case dtype::q4_1: case dtype::q5_1:
      put16(b, f32_to_fp16(scale(rng)));
      put16(b + 2, f32_to_fp16(-scale(rng) * 10.f * unit(rng)));
      break;
    case dtype::q4_k: case dtype::q5_k: // d scales 6-bit sub-scales up to 63, so it is ~1/63 smaller
      put16(b, f32_to_fp16(scale(rng) / 16.f));
      put16(b + 2, f32_to_fp16(scale(rng) / 8.f));
      break;
    case dtype::q6_k: { // 8-bit signed sub-scales
      auto* blk = reinterpret_cast<block_q6_k*>(b);
      blk->d = f32_to_fp16(scale(rng) / 64.f);
      for (auto& s : blk->scales) s = static_cast<std::int8_t>(byte(rng) - 128);
      break;
    }
    default: break;
    }
  }
  return out;
}

/// Gaussian activations; with `outliers`, one value in 256 is scaled by 8, like the outlier
/// features of real hidden states. Returns (n).
inline std::vector<float> random_activations(std::size_t n, std::uint64_t seed, bool outliers = true) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::uniform_int_distribution<std::size_t> pick(0, n - 1);
  std::vector<float> x(n); // (n)
  for (auto& v : x) v = normal(rng);
  if (outliers)
    for (std::size_t i = 0; i < n / 256; ++i) x[pick(rng)] *= 8.f;
  return x;
}

} // namespace rapid::test
