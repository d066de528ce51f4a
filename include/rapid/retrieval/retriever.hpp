#pragma once
// The retriever concept: index chunks once, then answer queries with the k best chunks.
#include <concepts>
#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

#include "rapid/retrieval/chunk.hpp"

namespace rapid::retrieval {

/// index(c) replaces what was indexed; search(q, k) returns at most k chunks, best first, only
/// those that pass the retriever's own threshold (possibly none).
template <class R>
concept retriever = requires(R& r, const R& cr, std::span<const chunk> c, std::string_view q, std::size_t k) {
  r.index(c);
  { cr.search(q, k) } -> std::same_as<std::vector<scored_chunk>>;
};

/// Optional extension: the best chunk ignoring thresholds (nothing only when nothing is indexed).
/// The RAG context builder falls back to it when search() returns nothing.
template <class R>
concept has_best = requires(const R& cr, std::string_view q) {
  { cr.best(q) } -> std::same_as<std::vector<scored_chunk>>;
};

} // namespace rapid::retrieval
