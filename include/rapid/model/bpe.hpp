#pragma once
// Byte-level BPE merging: the merge table (pair of token ids -> rank and merged id), the merge loop
// over one pre-token, and a cache of pre-token results.
//
// Merging follows HF tokenizers and llama.cpp: start from one token per byte, repeatedly merge the
// adjacent pair of lowest rank (the leftmost one among equal ranks) until no pair has a merge. The
// symbols form a linked list and candidate pairs sit in a binary heap keyed by (rank, position);
// entries made stale by an earlier merge are skipped when popped, so one pre-token of n bytes costs
// O(n log n), also for a megabyte of one repeated character.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rapid::model {

using token = std::int32_t;

namespace detail {

[[nodiscard]] inline std::uint64_t mix64(std::uint64_t x) noexcept {
  x ^= x >> 32;
  x *= 0xd6e8feb86659fd93ULL;
  x ^= x >> 32;
  x *= 0xd6e8feb86659fd93ULL;
  x ^= x >> 32;
  return x;
}

/// Hash of a short byte string (8 bytes at a time).
[[nodiscard]] inline std::uint64_t hash_bytes(std::string_view s) noexcept {
  std::uint64_t h = 0x9E3779B97F4A7C15ULL ^ (s.size() * 0xff51afd7ed558ccdULL);
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    h = mix64(h ^ w) + 0x9E3779B97F4A7C15ULL;
  }
  if (i < s.size()) {
    std::uint64_t w = 0;
    std::memcpy(&w, s.data() + i, s.size() - i);
    h = mix64(h ^ w ^ 0x5555555555555555ULL);
  }
  return h;
}

} // namespace detail

/// Open-addressing map from a token pair to its merge (rank = position in the merge list).
class merge_table {
public:
  struct merge {
    std::uint32_t rank;
    token result;
  };
  static constexpr std::uint32_t no_rank = 0xFFFFFFFF;

  merge_table() = default;

  void reserve(std::size_t n) {
    std::size_t cap = 16;
    while (cap < n * 2) cap <<= 1;
    keys_.assign(cap, empty_key);
    values_.assign(cap, merge{no_rank, -1});
    mask_ = cap - 1;
  }

  /// Inserts the pair; returns false (and keeps the first rank) when it is already present.
  bool insert(token left, token right, merge m) {
    if (keys_.empty() || (size_ + 1) * 2 > keys_.size()) grow();
    const auto key = pack(left, right);
    for (std::size_t i = detail::mix64(key) & mask_;; i = (i + 1) & mask_) {
      if (keys_[i] == empty_key) {
        keys_[i] = key;
        values_[i] = m;
        ++size_;
        return true;
      }
      if (keys_[i] == key) return false;
    }
  }

  [[nodiscard]] merge find(token left, token right) const noexcept {
    if (keys_.empty()) return {no_rank, -1};
    const auto key = pack(left, right);
    for (std::size_t i = detail::mix64(key) & mask_;; i = (i + 1) & mask_) {
      if (keys_[i] == key) return values_[i];
      if (keys_[i] == empty_key) return {no_rank, -1};
    }
  }

  [[nodiscard]] std::size_t size() const noexcept { return size_; }

private:
  static constexpr std::uint64_t empty_key = ~std::uint64_t{0};  // token ids are < 2^31
  static std::uint64_t pack(token l, token r) noexcept {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(l)) << 32) | static_cast<std::uint32_t>(r);
  }
  void grow() {
    std::vector<std::uint64_t> keys;
    std::vector<merge> values;
    keys.swap(keys_);
    values.swap(values_);
    reserve(std::max<std::size_t>(size_ * 2, 16));
    size_ = 0;
    for (std::size_t i = 0; i < keys.size(); ++i)
      if (keys[i] != empty_key) insert(static_cast<token>(keys[i] >> 32), static_cast<token>(keys[i] & 0xFFFFFFFF), values[i]);
  }

  std::vector<std::uint64_t> keys_;
  std::vector<merge> values_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
};

/// Pre-token -> token ids. Keys and values live in two arenas; the table is cleared when it holds
/// `max_entries`, so memory stays bounded on text with endless distinct words.
class piece_cache {
public:
  static constexpr std::size_t max_key_bytes = 64;   // longer pre-tokens are not cached
  static constexpr std::size_t max_entries = 1 << 17;

  [[nodiscard]] bool find(std::string_view key, std::uint64_t hash, std::vector<token>& out) const {
    if (slots_.empty()) return false;
    for (std::size_t i = hash & mask_;; i = (i + 1) & mask_) {
      const slot& s = slots_[i];
      if (s.key_len == 0) return false;
      if (s.hash == hash && s.key_len == key.size() && std::memcmp(keys_.data() + s.key_off, key.data(), key.size()) == 0) {
        out.insert(out.end(), values_.begin() + s.value_off, values_.begin() + s.value_off + s.value_len);
        return true;
      }
    }
  }

  void insert(std::string_view key, std::uint64_t hash, std::span<const token> value) {
    if (key.empty() || key.size() > max_key_bytes) return;
    if (size_ >= max_entries) clear();
    if ((size_ + 1) * 2 > slots_.size()) rehash(std::max<std::size_t>(slots_.size() * 2, 1024));
    slot s{hash, static_cast<std::uint32_t>(keys_.size()), static_cast<std::uint32_t>(key.size()),
           static_cast<std::uint32_t>(values_.size()), static_cast<std::uint32_t>(value.size())};
    keys_.append(key);
    values_.insert(values_.end(), value.begin(), value.end());
    place(s);
    ++size_;
  }

  void clear() noexcept {
    slots_.clear();
    keys_.clear();
    values_.clear();
    size_ = 0;
    mask_ = 0;
  }

  [[nodiscard]] std::size_t size() const noexcept { return size_; }

private:
  struct slot {
    std::uint64_t hash = 0;
    std::uint32_t key_off = 0, key_len = 0;  // key_len == 0: empty slot
    std::uint32_t value_off = 0, value_len = 0;
  };
  void place(const slot& s) {
    for (std::size_t i = s.hash & mask_;; i = (i + 1) & mask_) {
      if (slots_[i].key_len == 0) {
        slots_[i] = s;
        return;
      }
    }
  }
  void rehash(std::size_t capacity) {
    std::vector<slot> old(capacity);
    old.swap(slots_);
    mask_ = capacity - 1;
    for (const auto& s : old)
      if (s.key_len != 0) place(s);
  }

  std::vector<slot> slots_;
  std::string keys_;
  std::vector<token> values_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
};

/// Scratch space of the merge loop, reused across pre-tokens.
struct bpe_scratch {
  struct symbol {
    token id;
    std::int32_t prev, next;  // -1 at the ends; id == -1 once merged into its left neighbour
  };
  std::vector<symbol> symbols;
  std::vector<std::uint64_t> heap;  // (rank << 32) | left symbol index, min-heap
};

/// Merges the byte tokens of one pre-token and appends the result to `out`.
/// `byte_tokens[b]` is the token of byte b.
inline void bpe_merge(std::string_view bytes, const token* byte_tokens, const merge_table& merges,
                      bpe_scratch& scratch, std::vector<token>& out) {
  const std::size_t n = bytes.size();
  if (n == 0) return;
  if (n == 1) {
    out.push_back(byte_tokens[static_cast<unsigned char>(bytes[0])]);
    return;
  }
  auto& sym = scratch.symbols;
  auto& heap = scratch.heap;
  sym.resize(n);
  heap.clear();
  for (std::size_t i = 0; i < n; ++i)
    sym[i] = {byte_tokens[static_cast<unsigned char>(bytes[i])], static_cast<std::int32_t>(i) - 1,
              i + 1 < n ? static_cast<std::int32_t>(i + 1) : -1};
  const std::greater<std::uint64_t> cmp;
  auto push = [&](std::int32_t left) {
    const auto m = merges.find(sym[left].id, sym[sym[left].next].id);
    if (m.rank == merge_table::no_rank) return;
    heap.push_back((static_cast<std::uint64_t>(m.rank) << 32) | static_cast<std::uint32_t>(left));
    std::push_heap(heap.begin(), heap.end(), cmp);
  };
  for (std::size_t i = 0; i + 1 < n; ++i) {
    const auto m = merges.find(sym[i].id, sym[i + 1].id);
    if (m.rank != merge_table::no_rank) heap.push_back((static_cast<std::uint64_t>(m.rank) << 32) | i);
  }
  std::make_heap(heap.begin(), heap.end(), cmp);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), cmp);
    const auto top = heap.back();
    heap.pop_back();
    const auto left = static_cast<std::int32_t>(top & 0xFFFFFFFF);
    const auto rank = static_cast<std::uint32_t>(top >> 32);
    auto& l = sym[left];
    if (l.id < 0 || l.next < 0) continue;  // merged away, or no right neighbour any more
    const auto right = l.next;
    const auto m = merges.find(l.id, sym[right].id);
    if (m.rank != rank) continue;  // the pair at this position changed since it was queued
    l.id = m.result;
    l.next = sym[right].next;
    sym[right].id = -1;
    if (l.next >= 0) sym[l.next].prev = left;
    if (l.prev >= 0) push(l.prev);
    if (l.next >= 0) push(left);
  }
  for (std::int32_t i = 0; i >= 0; i = sym[i].next) out.push_back(sym[i].id);
}

} // namespace rapid::model
