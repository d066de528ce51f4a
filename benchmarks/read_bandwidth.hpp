#pragma once
// Measured memory read bandwidth: the ceiling for memory-bound decode. Shared by the benchmarks.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <map>
#include <memory>
#include <vector>

#include <benchmark/benchmark.h>
#include <xsimd/xsimd.hpp>

namespace rapid::bench {

inline constexpr std::size_t bandwidth_bytes = std::size_t{1} << 30;  // 1 GiB, far beyond the L3

namespace detail {
struct aligned_delete {
  void operator()(float* p) const { std::free(p); }
};

inline const float* bandwidth_buffer() {
  static std::unique_ptr<float, aligned_delete> buf = [] {
    const std::size_t n = bandwidth_bytes / sizeof(float);
    auto* p = static_cast<float*>(std::aligned_alloc(64, bandwidth_bytes));  // (n)
#pragma omp parallel for schedule(static)
    for (std::size_t i = 0; i < n; ++i) p[i] = 1.f;  // first touch spread over the threads
    return std::unique_ptr<float, aligned_delete>(p);
  }();
  return buf.get();
}

// Sums the buffer with `threads` threads, each streaming one contiguous range.
inline float sum_buffer(int threads) {
  using fb = xsimd::batch<float>;
  const float* p = bandwidth_buffer();
  const std::size_t n = bandwidth_bytes / sizeof(float);
  float total = 0;
#pragma omp parallel for schedule(static) num_threads(threads) reduction(+ : total)
  for (int t = 0; t < threads; ++t) {
    const std::size_t begin = n * t / threads, end = n * (t + 1) / threads;
    fb a0(0.f), a1(0.f), a2(0.f), a3(0.f);
    std::size_t i = begin;
    for (; i + 4 * fb::size <= end; i += 4 * fb::size) {
      a0 += fb::load_aligned(p + i);
      a1 += fb::load_aligned(p + i + fb::size);
      a2 += fb::load_aligned(p + i + 2 * fb::size);
      a3 += fb::load_aligned(p + i + 3 * fb::size);
    }
    float s = xsimd::hadd((a0 + a1) + (a2 + a3));
    for (; i < end; ++i) s += p[i];
    total += s;
  }
  return total;
}
} // namespace detail

/// Read bandwidth (bytes/s) at this thread count: the best of 7 passes (on a shared machine the
/// least disturbed pass is the closest to the hardware's ceiling), measured once per count.
inline double read_bandwidth(int threads) {
  static std::map<int, double> cache;
  if (auto it = cache.find(threads); it != cache.end()) return it->second;
  std::vector<double> rates;
  benchmark::DoNotOptimize(detail::sum_buffer(threads));  // warm up: page tables, thread pool
  for (int i = 0; i < 7; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(detail::sum_buffer(threads));
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rates.push_back(static_cast<double>(bandwidth_bytes) / s);
  }
  return cache[threads] = *std::max_element(rates.begin(), rates.end());
}

} // namespace rapid::bench
