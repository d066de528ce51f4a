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
        rank_count_ = std::max<std::size_t>(rank_count_, std::size_t{m.rank} + 1);
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
  /// One more than the highest rank inserted.
  [[nodiscard]] std::size_t rank_count() const noexcept { return rank_count_; }
  /// True when every merge's inputs are byte tokens or results of merges of lower rank, so a merge
  /// never creates a pair that outranks it (see bpe_merge). Set by the owner after filling.
  [[nodiscard]] bool monotone() const noexcept { return monotone_; }
  void set_monotone(bool m) noexcept { monotone_ = m; }

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
  std::size_t rank_count_ = 0;
  bool monotone_ = false;
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
  // Bucket queue for long pre-tokens: per rank a list of positions (entries linked by `next`).
  struct entry {
    std::uint32_t pos;
    std::int32_t next;
  };
  std::vector<std::int32_t> head, tail;  // per rank, -1 when empty
  std::vector<entry> entries;
  std::vector<std::uint32_t> ranks;      // min-heap of ranks whose bucket is not empty
  std::vector<std::uint32_t> batch;
};

namespace detail {

/// Merges the pair whose left symbol is `left` into `m.result`; returns false if the queued pair
/// (of rank `rank`) is stale: merged away, no right neighbour, or a different pair by now.
inline bool apply_merge(std::vector<bpe_scratch::symbol>& sym, std::int32_t left, std::uint32_t rank,
                        const merge_table& merges) {
  auto& l = sym[static_cast<std::size_t>(left)];
  if (l.id < 0 || l.next < 0) return false;
  const auto right = l.next;
  auto& r = sym[static_cast<std::size_t>(right)];
  const auto m = merges.find(l.id, r.id);
  if (m.rank != rank) return false;
  l.id = m.result;
  l.next = r.next;
  r.id = -1;
  if (l.next >= 0) sym[static_cast<std::size_t>(l.next)].prev = left;
  return true;
}

} // namespace detail

/// Merges the byte tokens of one pre-token and appends the result to `out`.
/// `byte_tokens[b]` is the token of byte b, or -1 when the vocabulary lacks it: such bytes are
/// dropped before merging, as HF tokenizers does for characters outside the vocabulary when the
/// model has no unknown token (SmolLM2 lacks 21 of the 256 byte tokens).
///
/// The order of merges is always ascending (rank, position). Short pre-tokens use a binary heap.
/// Long ones, when the merge list is monotone (merge_table::monotone: a merge's result only takes
/// part in merges of higher rank, true of trained vocabularies), use a bucket queue instead: all
/// pairs of one rank are known when that rank comes up, so they are merged left to right in one
/// pass, with sequential memory access and no O(log n) heap traffic on megabyte-long words.
inline void bpe_merge(std::string_view bytes, const token* byte_tokens, const merge_table& merges,
                      bpe_scratch& scratch, std::vector<token>& out) {
  auto& sym = scratch.symbols;
  sym.clear();
  for (const char c : bytes) {
    const token id = byte_tokens[static_cast<unsigned char>(c)];
    if (id >= 0) sym.push_back({id, static_cast<std::int32_t>(sym.size()) - 1, static_cast<std::int32_t>(sym.size()) + 1});
  }
  const std::size_t n = sym.size();
  if (n == 0) return;
  sym.back().next = -1;
  if (n == 1) {
    out.push_back(sym[0].id);
    return;
  }
  auto rank_at = [&](std::int32_t left) {
    const auto& l = sym[static_cast<std::size_t>(left)];
    return merges.find(l.id, sym[static_cast<std::size_t>(l.next)].id).rank;
  };

  constexpr std::size_t bucket_threshold = 256;
  if (n >= bucket_threshold && merges.monotone()) {
    auto& head = scratch.head;
    auto& tail = scratch.tail;
    auto& entries = scratch.entries;
    auto& ranks = scratch.ranks;
    auto& batch = scratch.batch;
    if (head.size() < merges.rank_count()) {
      head.assign(merges.rank_count(), -1);
      tail.assign(merges.rank_count(), -1);
    }
    entries.clear();
    ranks.clear();
    const std::greater<std::uint32_t> cmp;
    auto push = [&](std::uint32_t rank, std::int32_t pos) {
      if (rank == merge_table::no_rank) return;
      const auto e = static_cast<std::int32_t>(entries.size());
      entries.push_back({static_cast<std::uint32_t>(pos), -1});
      if (head[rank] < 0) {
        head[rank] = tail[rank] = e;
        ranks.push_back(rank);
        std::push_heap(ranks.begin(), ranks.end(), cmp);
      } else {
        entries[static_cast<std::size_t>(tail[rank])].next = e;
        tail[rank] = e;
      }
    };
    for (std::size_t i = 0; i + 1 < n; ++i) push(rank_at(static_cast<std::int32_t>(i)), static_cast<std::int32_t>(i));
    while (!ranks.empty()) {
      std::pop_heap(ranks.begin(), ranks.end(), cmp);
      const auto rank = ranks.back();
      ranks.pop_back();
      batch.clear();
      for (auto e = head[rank]; e >= 0; e = entries[static_cast<std::size_t>(e)].next)
        batch.push_back(entries[static_cast<std::size_t>(e)].pos);
      head[rank] = tail[rank] = -1;
      if (!std::is_sorted(batch.begin(), batch.end())) std::sort(batch.begin(), batch.end());
      for (const auto pos : batch) {
        const auto left = static_cast<std::int32_t>(pos);
        if (!detail::apply_merge(sym, left, rank, merges)) continue;
        // New pairs have higher ranks (monotone merges), so they never join this batch.
        const auto& l = sym[pos];
        if (l.prev >= 0) push(rank_at(l.prev), l.prev);
        if (l.next >= 0) push(rank_at(left), left);
      }
    }
  } else {
    auto& heap = scratch.heap;
    heap.clear();
    const std::greater<std::uint64_t> cmp;
    auto key = [](std::uint32_t rank, std::int32_t left) {
      return (static_cast<std::uint64_t>(rank) << 32) | static_cast<std::uint32_t>(left);
    };
    for (std::size_t i = 0; i + 1 < n; ++i) {
      const auto rank = rank_at(static_cast<std::int32_t>(i));
      if (rank != merge_table::no_rank) heap.push_back(key(rank, static_cast<std::int32_t>(i)));
    }
    std::make_heap(heap.begin(), heap.end(), cmp);
    auto push = [&](std::int32_t left) {
      const auto rank = rank_at(left);
      if (rank == merge_table::no_rank) return;
      heap.push_back(key(rank, left));
      std::push_heap(heap.begin(), heap.end(), cmp);
    };
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), cmp);
      const auto top = heap.back();
      heap.pop_back();
      const auto left = static_cast<std::int32_t>(top & 0xFFFFFFFF);
      if (!detail::apply_merge(sym, left, static_cast<std::uint32_t>(top >> 32), merges)) continue;
      const auto& l = sym[static_cast<std::size_t>(left)];
      if (l.prev >= 0) push(l.prev);
      if (l.next >= 0) push(left);
    }
  }
  for (std::int32_t i = 0; i >= 0; i = sym[static_cast<std::size_t>(i)].next) out.push_back(sym[static_cast<std::size_t>(i)].id);
}

} // namespace rapid::model
