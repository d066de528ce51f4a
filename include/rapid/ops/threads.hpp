#pragma once
// How many OpenMP threads a kernel may use: one rule for every parallel pass (matrix rows,
// attention, vocabulary-row segments, encoder batches), so a `threads` knob means the same
// thing everywhere.
#ifdef _OPENMP
#include <omp.h>
#endif

namespace rapid::ops {

/// `requested` threads when > 0, else OpenMP's default; 1 without OpenMP and inside a parallel
/// region (nested teams would oversubscribe the cores).
[[nodiscard]] inline int thread_count(int requested) noexcept {
#ifdef _OPENMP
  if (omp_in_parallel()) return 1;
  return requested > 0 ? requested : omp_get_max_threads();
#else
  (void)requested;
  return 1;
#endif
}

} // namespace rapid::ops
