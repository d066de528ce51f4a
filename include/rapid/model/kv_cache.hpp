#pragma once
// Key/value cache preallocated for a chosen context, F16 (default), F32, Q8_0 or BF16, with rollback.
// Each (layer, kv head) owns a contiguous slab of keys and one of values, so attention streams
// them: keys in tiles of ops::key_tile positions, values in rows (BF16: position pairs), in the
// layouts of ops/kv_layout.hpp, which attention reads in place.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <istream>
#include <ostream>
#include <string>

#include "rapid/core/error.hpp"
#include "rapid/core/fp16.hpp"
#include "rapid/core/page_buffer.hpp"
#include "rapid/ops/attention.hpp"

namespace rapid::model {

using ops::kv_type;

class kv_cache {
public:
  kv_cache() = default;
  kv_cache(std::size_t n_layers, std::size_t n_kv_heads, std::size_t head_dim, std::size_t capacity, kv_type type)
      : n_layers_(n_layers), n_heads_(n_kv_heads), head_dim_(head_dim), capacity_(capacity), type_(checked(type, head_dim)),
        key_slab_bytes_(ops::key_bytes(type, head_dim, capacity)), value_slab_bytes_(ops::value_bytes(type, head_dim, capacity)),
        // pages are only touched (and counted in RSS) as positions fill
        k_(n_layers * n_kv_heads * key_slab_bytes_), v_(n_layers * n_kv_heads * value_slab_bytes_) {}

  [[nodiscard]] std::size_t size() const noexcept { return size_; }  // committed positions
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] kv_type type() const noexcept { return type_; }
  [[nodiscard]] std::size_t head_dim() const noexcept { return head_dim_; }
  [[nodiscard]] std::size_t bytes() const noexcept { return n_layers_ * n_heads_ * (key_slab_bytes_ + value_slab_bytes_); }
  /// Bytes one position occupies across all layers (keys and values): the per-token read cost.
  [[nodiscard]] std::size_t bytes_per_position() const noexcept {
    return n_layers_ * n_heads_ * (ops::key_tile_bytes(type_, head_dim_) / ops::key_tile + ops::value_row_bytes(type_, head_dim_));
  }

  /// Throws capacity_error unless `n` more positions fit.
  void reserve_positions(std::size_t n) const {
    if (n > capacity_ - size_)
      throw capacity_error("KV cache overflow: " + std::to_string(size_) + " positions held + " + std::to_string(n) +
                           " new > capacity " + std::to_string(capacity_) + " (raise the context size)");
  }
  /// Rolls back to the first n positions (speculative rejection). n <= size().
  void truncate(std::size_t n) {
    if (n > size_)
      throw invalid_argument("kv_cache::truncate(" + std::to_string(n) + ") beyond the " + std::to_string(size_) +
                             " positions held");
    size_ = n;
  }
  void clear() noexcept { size_ = 0; }
  /// Removes positions [first, first + count) and shifts the later ones down (StreamingLLM
  /// eviction: keep the sink tokens and a recent window). Keys keep the RoPE of their original
  /// position, so attention still sees true relative distances.
  void erase(std::size_t first, std::size_t count) {
    if (first > size_ || count > size_ - first)
      throw invalid_argument("kv_cache::erase(" + std::to_string(first) + ", " + std::to_string(count) +
                             ") beyond the " + std::to_string(size_) + " positions held");
    const std::size_t row = ops::value_row_bytes(type_, head_dim_), moved = size_ - first - count;
    const std::size_t tile_bytes = ops::key_tile_bytes(type_, head_dim_);
    const bool whole_tiles = first % ops::key_tile == 0 && count % ops::key_tile == 0;
    const bool whole_rows = type_ != kv_type::bf16 || (first % 2 == 0 && count % 2 == 0);  // bf16 values move in pairs
    for (std::size_t l = 0; l < n_layers_; ++l)
      for (std::size_t h = 0; h < n_heads_; ++h) {
        std::byte* v = values_slab(l, h);
        if (whole_rows) std::memmove(v + first * row, v + (first + count) * row, ops::value_bytes(type_, head_dim_, moved));
        else
          for (std::size_t p = first; p < first + moved; ++p) ops::copy_value(type_, v, p, p + count, head_dim_);
        std::byte* k = keys_slab(l, h);
        if (whole_tiles) {  // tiles move as they are (the last one may carry unused lanes)
          const std::size_t tiles = (moved + ops::key_tile - 1) / ops::key_tile;
          std::memmove(k + first / ops::key_tile * tile_bytes, k + (first + count) / ops::key_tile * tile_bytes, tiles * tile_bytes);
        } else {
          for (std::size_t p = first; p < first + moved; ++p) ops::copy_key(type_, k, p, p + count, head_dim_);
        }
      }
    size_ -= count;
  }
  /// Marks positions [size, size + n) as written (after the forward pass stored them).
  void commit(std::size_t n) { reserve_positions(n); size_ += n; }

  /// Stores one position of every kv head of a layer. k, v: (n_kv_heads, head_dim)
  void store(std::size_t layer, std::size_t pos, const float* k, const float* v) noexcept {
    for (std::size_t h = 0; h < n_heads_; ++h) {
      ops::store_key(type_, keys_slab(layer, h), pos, k + h * head_dim_, head_dim_);
      ops::store_value(type_, values_slab(layer, h), pos, v + h * head_dim_, head_dim_);
    }
  }
  /// Writes the committed positions to `out`: a header with the shape, then per (layer, kv head)
  /// the key tiles holding them and their values. Loaded back by load() (prefill snapshots).
  void save(std::ostream& out) const {
    const std::uint64_t header[6] = {snapshot_magic, n_layers_, n_heads_, head_dim_, static_cast<std::uint64_t>(type_), size_};
    out.write(reinterpret_cast<const char*>(header), sizeof header);
    for (std::size_t l = 0; l < n_layers_; ++l)
      for (std::size_t h = 0; h < n_heads_; ++h) {
        out.write(reinterpret_cast<const char*>(keys(l, h)), static_cast<std::streamsize>(ops::key_bytes(type_, head_dim_, size_)));
        out.write(reinterpret_cast<const char*>(values(l, h)), static_cast<std::streamsize>(ops::value_bytes(type_, head_dim_, size_)));
      }
    if (!out) throw io_error("kv_cache::save: write failed (disk full?)");
  }

  /// Replaces the cache's contents with a snapshot from save(), which must have this cache's
  /// shape and type and fit its capacity.
  void load(std::istream& in) {
    std::uint64_t header[6] = {};
    in.read(reinterpret_cast<char*>(header), sizeof header);
    constexpr std::uint64_t version_byte = 0xffull << 56;  // the digit of "RAPIDKv3"
    if (in && (header[0] & ~version_byte) == (snapshot_magic & ~version_byte) && header[0] < snapshot_magic)
      throw format_error("KV snapshot written by an older rapid (format v" + std::string(1, static_cast<char>(header[0] >> 56)) +
                         "; v2 paired bf16 values, v3 rotates q8_0 keys): delete it and prefill again");
    if (!in || header[0] != snapshot_magic) throw format_error("not a rapid KV cache snapshot (bad header)");
    const auto type_name = [](std::uint64_t t) {
      return t <= static_cast<std::uint64_t>(ops::last_kv_type) ? std::string(ops::name_of(static_cast<kv_type>(t))) : "unknown type " + std::to_string(t);
    };
    if (header[1] != n_layers_ || header[2] != n_heads_ || header[3] != head_dim_ || header[4] != static_cast<std::uint64_t>(type_))
      throw format_error("KV snapshot shape (" + std::to_string(header[1]) + " layers, " + std::to_string(header[2]) +
                         " kv heads, head_dim " + std::to_string(header[3]) + ", " + type_name(header[4]) +
                         ") does not match this cache (" + std::to_string(n_layers_) + ", " + std::to_string(n_heads_) + ", " +
                         std::to_string(head_dim_) + ", " + type_name(static_cast<std::uint64_t>(type_)) +
                         "): another model or --kv type");
    const std::size_t n = header[5];
    if (n > capacity_)
      throw capacity_error("KV snapshot holds " + std::to_string(n) + " positions, more than this cache's capacity " +
                           std::to_string(capacity_));
    for (std::size_t l = 0; l < n_layers_; ++l)
      for (std::size_t h = 0; h < n_heads_; ++h) {
        in.read(reinterpret_cast<char*>(keys_slab(l, h)), static_cast<std::streamsize>(ops::key_bytes(type_, head_dim_, n)));
        in.read(reinterpret_cast<char*>(values_slab(l, h)), static_cast<std::streamsize>(ops::value_bytes(type_, head_dim_, n)));
      }
    if (!in) {
      size_ = 0;
      throw format_error("KV snapshot is truncated");
    }
    size_ = n;
  }

  /// A (layer, kv head) slab: keys in key tiles, values in rows or pairs (ops/kv_layout.hpp),
  /// of type(). Positions < size() are valid.
  [[nodiscard]] const std::byte* keys(std::size_t layer, std::size_t head) const noexcept { return keys_slab(layer, head); }
  [[nodiscard]] const std::byte* values(std::size_t layer, std::size_t head) const noexcept { return values_slab(layer, head); }

  static constexpr std::uint64_t snapshot_magic = 0x3376'4b44'4950'4152ull;  // "RAPIDKv3": q8_0 keys rotated

private:
  static kv_type checked(kv_type t, std::size_t head_dim) {
    ops::check_kv_readable(t, head_dim);
    return t;
  }
  [[nodiscard]] std::byte* keys_slab(std::size_t layer, std::size_t head) const noexcept {
    return k_.data() + (layer * n_heads_ + head) * key_slab_bytes_;
  }
  [[nodiscard]] std::byte* values_slab(std::size_t layer, std::size_t head) const noexcept {
    return v_.data() + (layer * n_heads_ + head) * value_slab_bytes_;
  }
  std::size_t n_layers_ = 0, n_heads_ = 0, head_dim_ = 0, capacity_ = 0;
  kv_type type_ = kv_type::f16;
  std::size_t key_slab_bytes_ = 0, value_slab_bytes_ = 0;
  std::size_t size_ = 0;
  page_buffer k_;  // (n_layers, n_kv_heads, capacity / key_tile) key tiles (ops::key_tile_bytes each)
  page_buffer v_;  // (n_layers, n_kv_heads, capacity) values (ops::value_bytes per slab)
};

} // namespace rapid::model
