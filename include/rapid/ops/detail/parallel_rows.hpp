#pragma once
// Splits [0, rows) into contiguous chunks handed out to OpenMP threads on demand (a thread
// slowed down by another process just takes fewer chunks). Each row is computed by exactly one
// thread, so results never depend on the thread count. Serial without OpenMP, inside a
// parallel region, or for matrices too small to be worth a thread team.
#include <algorithm>
#include <cstddef>

#include "rapid/ops/threads.hpp"

namespace rapid::ops::detail {

/// Calls f(begin, end) over a partition of [0, rows). threads: see ops::thread_count; chunks
/// have at least min_rows rows.
template <class F>
inline void parallel_rows(std::size_t rows, int threads, std::size_t min_rows, F&& f) {
#ifdef _OPENMP
  const auto nt = static_cast<std::size_t>(thread_count(threads));
  min_rows = std::max<std::size_t>(1, min_rows);
  if (nt > 1 && rows >= 2 * min_rows) {
    const std::size_t chunk = std::max(min_rows, rows / (8 * nt)); // ~8 chunks per thread
    const auto n_chunks = static_cast<long long>((rows + chunk - 1) / chunk);
#pragma omp parallel for schedule(dynamic, 1) num_threads(static_cast<int>(std::min<std::size_t>(nt, static_cast<std::size_t>(n_chunks))))
    for (long long c = 0; c < n_chunks; ++c) {
      const std::size_t begin = static_cast<std::size_t>(c) * chunk;
      f(begin, std::min(rows, begin + chunk));
    }
    return;
  }
#else
  (void)threads;
  (void)min_rows;
#endif
  f(std::size_t{0}, rows);
}

} // namespace rapid::ops::detail
