#pragma once
// How a KV cache lays out one (layer, kv head): the formats attention reads in place.
//
// Keys come in tiles of key_tile positions, values in rows of one position:
//   F32 / F16  key tile (head_dim, key_tile) elements, so 16 positions score per FMA;
//              value row (head_dim) elements.
//   Q8_0       key tile: (head_dim / 4, key_tile, 4) codes + 128 as bytes (the 4 dimensions of a
//              position that one 32-bit lane of an int8 dot product sums), then
//              (head_dim / 32, key_tile) fp16 scales, of the key rotated by the orthonormal
//              Hadamard matrix (ops/hadamard.hpp; attention rotates the query to match);
//              value row: head_dim / 32 GGML block_q8_0
//              ({fp16 d, 32 codes}). A value is d * code, d = max|x| / 127 over its 32 dimensions
//              (rounded to fp16, as llama.cpp's -ctk/-ctv q8_0): 8.5 bits per element instead of 16.
//   BF16       key tile (head_dim / 2, key_tile, 2) elements: the two dimensions of a pair side by
//              side for each position; values in position pairs (head_dim, 2): dimension d of
//              positions 2j and 2j + 1 side by side. Both are B operands of AMX bf16 tile products
//              as they stand (attention_amx.hpp). bf16 keeps 8 significand bits (fp16 11), the
//              precision the models were trained in.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "rapid/core/error.hpp"
#include "rapid/core/fp16.hpp"
#include "rapid/core/quant_blocks.hpp"
#include "rapid/ops/activation.hpp"
#include "rapid/ops/hadamard.hpp"

namespace rapid::ops {

enum class kv_type { f16, f32, q8_0, bf16 };  // the numbers are stored in KV snapshots
inline constexpr kv_type last_kv_type = kv_type::bf16;

[[nodiscard]] constexpr std::string_view name_of(kv_type t) noexcept {
  return t == kv_type::f16 ? "f16" : t == kv_type::f32 ? "f32" : t == kv_type::q8_0 ? "q8_0" : "bf16";
}
/// The type named `name` (f16, f32, q8_0, bf16); throws invalid_argument naming the choices.
[[nodiscard]] inline kv_type parse_kv_type(std::string_view name) {
  for (const kv_type t : {kv_type::f16, kv_type::f32, kv_type::q8_0, kv_type::bf16})
    if (name == name_of(t)) return t;
  throw invalid_argument("unknown KV cache type '" + std::string(name) + "' (choose f16, f32, q8_0 or bf16)");
}

inline constexpr std::size_t key_tile = 16;
inline constexpr std::size_t kv_q8_block = 32;  // dimensions per Q8_0 scale
inline constexpr std::size_t kv_q8_max_head_dim = 512;  // a Q8_0 key is rotated in a buffer of this size

/// F32 / F16 keys: element d of position p sits at key_offset(p, d, head_dim) of the slab.
[[nodiscard]] constexpr std::size_t key_offset(std::size_t p, std::size_t d, std::size_t head_dim) noexcept {
  return (p / key_tile) * head_dim * key_tile + d * key_tile + p % key_tile;
}

/// BF16 keys: element d of position p sits at bf16_key_offset(p, d, head_dim) of the slab.
[[nodiscard]] constexpr std::size_t bf16_key_offset(std::size_t p, std::size_t d, std::size_t head_dim) noexcept {
  return (p / key_tile) * head_dim * key_tile + (d / 2) * key_tile * 2 + (p % key_tile) * 2 + d % 2;
}
/// BF16 values: element d of position p sits at bf16_value_offset(p, d, head_dim) of the slab.
[[nodiscard]] constexpr std::size_t bf16_value_offset(std::size_t p, std::size_t d, std::size_t head_dim) noexcept {
  return (p / 2) * head_dim * 2 + d * 2 + p % 2;
}
/// Element offset of key element d of position p in an F32, F16 or BF16 slab.
[[nodiscard]] constexpr std::size_t key_element(kv_type t, std::size_t p, std::size_t d, std::size_t head_dim) noexcept {
  return t == kv_type::bf16 ? bf16_key_offset(p, d, head_dim) : key_offset(p, d, head_dim);
}

/// Throws unless a cache of type t can hold heads of head_dim dimensions.
inline void check_kv_head_dim(kv_type t, std::size_t head_dim) {
  if (t == kv_type::q8_0 && (head_dim % kv_q8_block != 0 || head_dim > kv_q8_max_head_dim))
    throw unsupported_error("a q8_0 KV cache needs head_dim a multiple of 32 and at most 512; this model has " +
                            std::to_string(head_dim) + " (use --kv f16)");
  if (t == kv_type::bf16 && head_dim % 32 != 0)
    throw unsupported_error("a bf16 KV cache needs head_dim a multiple of 32; this model has " + std::to_string(head_dim) +
                            " (use --kv f16)");
}

/// Bytes of one key tile (key_tile positions) and of one value row.
[[nodiscard]] constexpr std::size_t key_tile_bytes(kv_type t, std::size_t head_dim) noexcept {
  return t == kv_type::q8_0 ? head_dim * key_tile + head_dim / kv_q8_block * key_tile * 2
                            : head_dim * key_tile * (t == kv_type::f32 ? 4 : 2);
}
[[nodiscard]] constexpr std::size_t value_row_bytes(kv_type t, std::size_t head_dim) noexcept {
  return t == kv_type::q8_0 ? head_dim / kv_q8_block * sizeof(block_q8_0) : head_dim * (t == kv_type::f32 ? 4 : 2);
}
/// Bytes of the key tiles holding positions [0, n).
[[nodiscard]] constexpr std::size_t key_bytes(kv_type t, std::size_t head_dim, std::size_t n) noexcept {
  return (n + key_tile - 1) / key_tile * key_tile_bytes(t, head_dim);
}
/// Bytes of the values holding positions [0, n) (BF16: whole position pairs). Position p's
/// values start at p * value_row_bytes for every type when p is even.
[[nodiscard]] constexpr std::size_t value_bytes(kv_type t, std::size_t head_dim, std::size_t n) noexcept {
  return (t == kv_type::bf16 ? (n + 1) / 2 * 2 : n) * value_row_bytes(t, head_dim);
}

namespace detail {
/// Q8_0 key tile parts: codes (head_dim / 4, key_tile, 4) then scales (head_dim / 32, key_tile).
[[nodiscard]] inline std::size_t q8_key_code(std::size_t p, std::size_t d) noexcept {
  return (d / 4) * key_tile * 4 + (p % key_tile) * 4 + d % 4;
}
[[nodiscard]] inline std::size_t q8_key_scale(std::size_t p, std::size_t block, std::size_t head_dim) noexcept {
  return head_dim * key_tile + (block * key_tile + p % key_tile) * 2;
}
} // namespace detail

/// Writes position p's key k (head_dim) into a slab of keys.
inline void store_key(kv_type t, std::byte* keys, std::size_t p, const float* k, std::size_t head_dim) noexcept {
  if (t == kv_type::bf16) {
    auto* k16 = reinterpret_cast<std::uint16_t*>(keys);
    for (std::size_t d = 0; d < head_dim; ++d) k16[bf16_key_offset(p, d, head_dim)] = f32_to_bf16(k[d]);
  } else if (t == kv_type::f16) {
    auto* k16 = reinterpret_cast<std::uint16_t*>(keys);
    for (std::size_t d = 0; d < head_dim; ++d) k16[key_offset(p, d, head_dim)] = f32_to_fp16(k[d]);
  } else if (t == kv_type::f32) {
    auto* k32 = reinterpret_cast<float*>(keys);
    for (std::size_t d = 0; d < head_dim; ++d) k32[key_offset(p, d, head_dim)] = k[d];
  } else {
    std::byte* tile = keys + p / key_tile * key_tile_bytes(t, head_dim);
    float rotated[kv_q8_max_head_dim];  // (head_dim) H k
    std::copy_n(k, head_dim, rotated);
    hadamard_rotate(rotated, head_dim);
    k = rotated;
    std::int8_t codes[kv_q8_block];
    for (std::size_t b = 0; b < head_dim / kv_q8_block; ++b) {
      const std::uint16_t d16 = f32_to_fp16(detail::quantize_block_q8(k + b * kv_q8_block, codes, kv_q8_block));
      std::memcpy(tile + detail::q8_key_scale(p, b, head_dim), &d16, 2);
      for (std::size_t i = 0; i < kv_q8_block; ++i)
        tile[detail::q8_key_code(p, b * kv_q8_block + i)] = static_cast<std::byte>(codes[i] + 128);
    }
  }
}

/// Writes position p's value v (head_dim) into a slab of values.
inline void store_value(kv_type t, std::byte* values, std::size_t p, const float* v, std::size_t head_dim) noexcept {
  if (t == kv_type::bf16) {  // position pairs: no row of its own
    auto* v16 = reinterpret_cast<std::uint16_t*>(values);
    for (std::size_t d = 0; d < head_dim; ++d) v16[bf16_value_offset(p, d, head_dim)] = f32_to_bf16(v[d]);
    return;
  }
  std::byte* row = values + p * value_row_bytes(t, head_dim);
  if (t == kv_type::f16) f32_to_fp16_row(v, reinterpret_cast<std::uint16_t*>(row), head_dim);
  else if (t == kv_type::f32) std::memcpy(row, v, head_dim * sizeof(float));
  else {
    auto* blocks = reinterpret_cast<block_q8_0*>(row);
    for (std::size_t b = 0; b < head_dim / kv_q8_block; ++b)
      blocks[b].d = f32_to_fp16(detail::quantize_block_q8(v + b * kv_q8_block, blocks[b].qs, kv_q8_block));
  }
}

/// Moves position `from`'s value to position `to` within a slab of values (both held).
inline void copy_value(kv_type t, std::byte* values, std::size_t to, std::size_t from, std::size_t head_dim) noexcept {
  if (t == kv_type::bf16) {
    auto* v16 = reinterpret_cast<std::uint16_t*>(values);
    for (std::size_t d = 0; d < head_dim; ++d) v16[bf16_value_offset(to, d, head_dim)] = v16[bf16_value_offset(from, d, head_dim)];
    return;
  }
  const std::size_t row = value_row_bytes(t, head_dim);
  std::memmove(values + to * row, values + from * row, row);
}

/// Moves position `from`'s key to position `to` within a slab of keys (both held).
inline void copy_key(kv_type t, std::byte* keys, std::size_t to, std::size_t from, std::size_t head_dim) noexcept {
  if (t != kv_type::q8_0) {
    const std::size_t es = t == kv_type::f32 ? 4 : 2;
    for (std::size_t d = 0; d < head_dim; ++d)
      std::memcpy(keys + key_element(t, to, d, head_dim) * es, keys + key_element(t, from, d, head_dim) * es, es);
    return;
  }
  const std::size_t tb = key_tile_bytes(t, head_dim);
  std::byte* dst = keys + to / key_tile * tb;
  const std::byte* src = keys + from / key_tile * tb;
  for (std::size_t d = 0; d < head_dim; d += 4)  // a position's 4 codes of a lane are contiguous
    std::memcpy(dst + detail::q8_key_code(to, d), src + detail::q8_key_code(from, d), 4);
  for (std::size_t b = 0; b < head_dim / kv_q8_block; ++b)
    std::memcpy(dst + detail::q8_key_scale(to, b, head_dim), src + detail::q8_key_scale(from, b, head_dim), 2);
}

/// The key and value of position p as the cache holds them, widened to f32 (tests, reference
/// paths). k, v: (head_dim)
inline void load_position(kv_type t, const std::byte* keys, const std::byte* values, std::size_t p, std::size_t head_dim,
                          float* k, float* v) noexcept {
  const std::byte* row = values + p * value_row_bytes(t, head_dim);
  if (t == kv_type::f16) {
    for (std::size_t d = 0; d < head_dim; ++d)
      k[d] = fp16_to_f32(reinterpret_cast<const std::uint16_t*>(keys)[key_offset(p, d, head_dim)]);
    fp16_to_f32_row(reinterpret_cast<const std::uint16_t*>(row), v, head_dim);
  } else if (t == kv_type::bf16) {
    for (std::size_t d = 0; d < head_dim; ++d) {
      k[d] = bf16_to_f32(reinterpret_cast<const std::uint16_t*>(keys)[bf16_key_offset(p, d, head_dim)]);
      v[d] = bf16_to_f32(reinterpret_cast<const std::uint16_t*>(values)[bf16_value_offset(p, d, head_dim)]);
    }
  } else if (t == kv_type::f32) {
    for (std::size_t d = 0; d < head_dim; ++d) k[d] = reinterpret_cast<const float*>(keys)[key_offset(p, d, head_dim)];
    std::memcpy(v, row, head_dim * sizeof(float));
  } else {
    const std::byte* tile = keys + p / key_tile * key_tile_bytes(t, head_dim);
    const auto* blocks = reinterpret_cast<const block_q8_0*>(row);
    for (std::size_t b = 0; b < head_dim / kv_q8_block; ++b) {
      std::uint16_t d16;
      std::memcpy(&d16, tile + detail::q8_key_scale(p, b, head_dim), 2);
      const float kd = fp16_to_f32(d16), vd = fp16_to_f32(blocks[b].d);
      for (std::size_t i = 0; i < kv_q8_block; ++i) {
        const std::size_t d = b * kv_q8_block + i;
        k[d] = kd * static_cast<float>(static_cast<int>(tile[detail::q8_key_code(p, d)]) - 128);
        v[d] = vd * static_cast<float>(blocks[b].qs[i]);
      }
    }
    hadamard_rotate(k, head_dim);  // back from the stored H k (H is its own inverse)
  }
}

} // namespace rapid::ops
