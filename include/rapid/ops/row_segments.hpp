#pragma once
// Splits a vocabulary row into segments of whole L1-sized chunks for OpenMP threads. The cut is
// fixed by the row length, not by the thread count, so a pass gives the same result on any
// number of threads; partial results merge in segment order.
#include <algorithm>
#include <cstddef>
#include <span>

#include "rapid/ops/threads.hpp"

namespace rapid::ops {

/// Values per chunk: a chunk's max is taken from memory and its exp pass re-reads it from L1.
constexpr std::size_t row_chunk = 2048;

struct row_segments {
  static constexpr std::size_t max_segments = 32;
  std::size_t size = 0;   // values per segment
  std::size_t count = 0;  // segments

  explicit row_segments(std::size_t n) noexcept
      : size(std::max<std::size_t>(8 * row_chunk, (n / max_segments + row_chunk) / row_chunk * row_chunk)),
        count((n + size - 1) / size) {}
  [[nodiscard]] std::size_t begin(std::size_t k) const noexcept { return k * size; }
  [[nodiscard]] std::size_t end(std::size_t k, std::size_t n) const noexcept { return std::min(n, (k + 1) * size); }
  /// Segment k of a row.
  [[nodiscard]] std::span<const float> slice(std::span<const float> row, std::size_t k) const noexcept {
    return row.subspan(begin(k), end(k, row.size()) - begin(k));
  }

  /// f(k) for every segment k, on up to `threads` OpenMP threads (see thread_count). Static
  /// schedule: consecutive passes over one row give a segment to the same thread, whose cache
  /// still holds it.
  template <class F>
  void run(int threads, F&& f) const {
    const int nt = std::min<int>(thread_count(threads), static_cast<int>(count));
#ifdef _OPENMP
    if (nt > 1) {
#pragma omp parallel for schedule(static) num_threads(nt)
      for (std::ptrdiff_t k = 0; k < static_cast<std::ptrdiff_t>(count); ++k) f(static_cast<std::size_t>(k));
      return;
    }
#else
    (void)nt;
#endif
    for (std::size_t k = 0; k < count; ++k) f(k);
  }
};

} // namespace rapid::ops
