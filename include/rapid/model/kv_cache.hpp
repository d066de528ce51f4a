#pragma once
// Key/value cache preallocated for a chosen context, F16 (default) or F32, with rollback.
// Each (layer, kv head) owns a contiguous slab of keys and one of values, so attention streams
// them: values (capacity, head_dim); keys in tiles of ops::key_tile positions stored transposed,
// (head_dim, key_tile) each (ops::key_offset), which lets attention score 16 positions per FMA.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <istream>
#include <ostream>
#include <memory>
#include <string>

#include "rapid/core/error.hpp"
#include "rapid/core/fp16.hpp"
#include "rapid/ops/attention.hpp"

namespace rapid::model {

enum class kv_type { f16, f32 };

class kv_cache {
public:
  kv_cache() = default;
  kv_cache(std::size_t n_layers, std::size_t n_kv_heads, std::size_t head_dim, std::size_t capacity, kv_type type)
      : n_layers_(n_layers), n_heads_(n_kv_heads), head_dim_(head_dim), capacity_(capacity), type_(type),
        elem_bytes_(type == kv_type::f16 ? 2 : 4),
        slab_bytes_((capacity + ops::key_tile - 1) / ops::key_tile * ops::key_tile * head_dim * elem_bytes_),
        // Default-initialised: pages are only touched (and counted in RSS) as positions fill.
        k_(new std::byte[n_layers * n_kv_heads * slab_bytes_]), v_(new std::byte[n_layers * n_kv_heads * slab_bytes_]) {}

  [[nodiscard]] std::size_t size() const noexcept { return size_; }  // committed positions
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] kv_type type() const noexcept { return type_; }
  [[nodiscard]] std::size_t head_dim() const noexcept { return head_dim_; }
  [[nodiscard]] std::size_t bytes() const noexcept { return 2 * n_layers_ * n_heads_ * slab_bytes_; }
  /// Bytes one position occupies across all layers (keys and values): the per-token read cost.
  [[nodiscard]] std::size_t bytes_per_position() const noexcept { return 2 * n_layers_ * n_heads_ * head_dim_ * elem_bytes_; }

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
    const std::size_t row = head_dim_ * elem_bytes_, moved = size_ - first - count;
    const bool whole_tiles = first % ops::key_tile == 0 && count % ops::key_tile == 0;
    for (std::size_t l = 0; l < n_layers_; ++l)
      for (std::size_t h = 0; h < n_heads_; ++h) {
        std::byte* v = slab(v_.get(), l, h);
        std::memmove(v + first * row, v + (first + count) * row, moved * row);
        std::byte* k = slab(k_.get(), l, h);
        if (whole_tiles) {  // tiles move as they are (the last one may carry unused lanes)
          const std::size_t tiles = (moved + ops::key_tile - 1) / ops::key_tile;
          std::memmove(k + first * row, k + (first + count) * row, tiles * ops::key_tile * row);
        } else {
          for (std::size_t p = first; p < first + moved; ++p)
            for (std::size_t d = 0; d < head_dim_; ++d)
              std::memcpy(k + ops::key_offset(p, d, head_dim_) * elem_bytes_,
                          k + ops::key_offset(p + count, d, head_dim_) * elem_bytes_, elem_bytes_);
        }
      }
    size_ -= count;
  }
  /// Marks positions [size, size + n) as written (after the forward pass stored them).
  void commit(std::size_t n) { reserve_positions(n); size_ += n; }

  /// Stores one position of every kv head of a layer. k, v: (n_kv_heads, head_dim)
  void store(std::size_t layer, std::size_t pos, const float* k, const float* v) noexcept {
    for (std::size_t h = 0; h < n_heads_; ++h) {
      std::byte* kd = slab(k_.get(), layer, h);
      std::byte* vd = slab(v_.get(), layer, h) + pos * head_dim_ * elem_bytes_;
      const float* kh = k + h * head_dim_;
      if (type_ == kv_type::f16) {
        auto* k16 = reinterpret_cast<std::uint16_t*>(kd);
        for (std::size_t d = 0; d < head_dim_; ++d) k16[ops::key_offset(pos, d, head_dim_)] = f32_to_fp16(kh[d]);
        f32_to_fp16_row(v + h * head_dim_, reinterpret_cast<std::uint16_t*>(vd), head_dim_);
      } else {
        auto* k32 = reinterpret_cast<float*>(kd);
        for (std::size_t d = 0; d < head_dim_; ++d) k32[ops::key_offset(pos, d, head_dim_)] = kh[d];
        std::copy_n(v + h * head_dim_, head_dim_, reinterpret_cast<float*>(vd));
      }
    }
  }
  /// Writes the committed positions to `out`: a header with the shape, then per (layer, kv head)
  /// the key tiles holding them and their values. Loaded back by load() (prefill snapshots).
  void save(std::ostream& out) const {
    const std::uint64_t header[6] = {snapshot_magic, n_layers_, n_heads_, head_dim_, static_cast<std::uint64_t>(type_), size_};
    out.write(reinterpret_cast<const char*>(header), sizeof header);
    for (std::size_t l = 0; l < n_layers_; ++l)
      for (std::size_t h = 0; h < n_heads_; ++h) {
        out.write(reinterpret_cast<const char*>(slab(k_.get(), l, h)), static_cast<std::streamsize>(key_bytes(size_)));
        out.write(reinterpret_cast<const char*>(slab(v_.get(), l, h)), static_cast<std::streamsize>(size_ * head_dim_ * elem_bytes_));
      }
    if (!out) throw io_error("kv_cache::save: write failed (disk full?)");
  }

  /// Replaces the cache's contents with a snapshot from save(), which must have this cache's
  /// shape and type and fit its capacity.
  void load(std::istream& in) {
    std::uint64_t header[6] = {};
    in.read(reinterpret_cast<char*>(header), sizeof header);
    if (!in || header[0] != snapshot_magic) throw format_error("not a rapid KV cache snapshot (bad header)");
    if (header[1] != n_layers_ || header[2] != n_heads_ || header[3] != head_dim_ || header[4] != static_cast<std::uint64_t>(type_))
      throw format_error("KV snapshot shape (" + std::to_string(header[1]) + " layers, " + std::to_string(header[2]) +
                         " kv heads, head_dim " + std::to_string(header[3]) + ", type " + std::to_string(header[4]) +
                         ") does not match this cache (" + std::to_string(n_layers_) + ", " + std::to_string(n_heads_) + ", " +
                         std::to_string(head_dim_) + ", " + std::to_string(static_cast<int>(type_)) + "): another model or --kv type");
    const std::size_t n = header[5];
    if (n > capacity_)
      throw capacity_error("KV snapshot holds " + std::to_string(n) + " positions, more than this cache's capacity " +
                           std::to_string(capacity_));
    for (std::size_t l = 0; l < n_layers_; ++l)
      for (std::size_t h = 0; h < n_heads_; ++h) {
        in.read(reinterpret_cast<char*>(slab(k_.get(), l, h)), static_cast<std::streamsize>(key_bytes(n)));
        in.read(reinterpret_cast<char*>(slab(v_.get(), l, h)), static_cast<std::streamsize>(n * head_dim_ * elem_bytes_));
      }
    if (!in) {
      size_ = 0;
      throw format_error("KV snapshot is truncated");
    }
    size_ = n;
  }

  /// A (layer, kv head) slab: keys in key tiles (ops::key_offset), values (capacity, head_dim),
  /// of type(). Positions < size() are valid.
  [[nodiscard]] const std::byte* keys(std::size_t layer, std::size_t head) const noexcept { return slab(k_.get(), layer, head); }
  [[nodiscard]] const std::byte* values(std::size_t layer, std::size_t head) const noexcept { return slab(v_.get(), layer, head); }

private:
  static constexpr std::uint64_t snapshot_magic = 0x3176'4b44'4950'4152ull;  // "RAPIDKv1"
  /// Bytes of the key tiles holding positions [0, n).
  [[nodiscard]] std::size_t key_bytes(std::size_t n) const noexcept {
    return (n + ops::key_tile - 1) / ops::key_tile * ops::key_tile * head_dim_ * elem_bytes_;
  }
  [[nodiscard]] std::byte* slab(std::byte* base, std::size_t layer, std::size_t head) const noexcept {
    return base + (layer * n_heads_ + head) * slab_bytes_;
  }
  std::size_t n_layers_ = 0, n_heads_ = 0, head_dim_ = 0, capacity_ = 0;
  kv_type type_ = kv_type::f16;
  std::size_t elem_bytes_ = 2, slab_bytes_ = 0;
  std::size_t size_ = 0;
  std::unique_ptr<std::byte[]> k_;  // (n_layers, n_kv_heads, capacity / key_tile, head_dim, key_tile)
  std::unique_ptr<std::byte[]> v_;  // (n_layers, n_kv_heads, capacity, head_dim)
};

} // namespace rapid::model
