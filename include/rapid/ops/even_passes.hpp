#pragma once
// Row blocking for register-tiled kernels: a kernel compiled for R rows (R a template argument,
// so its accumulators live in registers) is run over any row count in passes of at most MaxR
// rows, split evenly (11 rows by 8: 6 + 5, not 8 + 3), because a short last pass leaves the
// multiply pipes waiting on too few independent accumulator chains.
#include <cstddef>
#include <type_traits>
#include <utility>

namespace rapid::ops::detail {

/// Calls f(n, first) over [0, rows) in passes of at most max_rows rows, split evenly.
template <class F>
inline void for_even_passes(std::size_t rows, std::size_t max_rows, F&& f) {
  const std::size_t passes = (rows + max_rows - 1) / max_rows;
  for (std::size_t p = 0, first = 0; p < passes; ++p) {
    const std::size_t n = (rows - first) / (passes - p);  // the remaining rows over the remaining passes
    f(n, first);
    first += n;
  }
}

/// Calls f(integral_constant<R>, first) over [0, rows) in passes of at most MaxR rows, split evenly.
template <std::size_t MaxR, class F>
inline void in_even_passes(std::size_t rows, F&& f) {
  for_even_passes(rows, MaxR, [&](std::size_t n, std::size_t first) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((n == I + 1 ? (f(std::integral_constant<std::size_t, I + 1>{}, first), 0) : 0), ...);
    }(std::make_index_sequence<MaxR>{});
  });
}

} // namespace rapid::ops::detail
