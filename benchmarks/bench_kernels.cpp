// Kernel benchmarks: memory read bandwidth (the decode ceiling), matvec per weight type on the
// Qwen2.5-1.5B shapes at 1 and 2 threads, batched matmul (prefill / draft verification), and the
// attention of k new tokens over an F16 cache of the 1.5B's shape (decode k = 1, verification k > 1).
// Every matvec rotates over enough copies of its matrix (>= 256 MiB) that weights come from
// DRAM, as in real decoding. Counters: bytes_per_second = weight bytes/s; of_read_bw = that
// divided by the read bandwidth (read_bw_GBps) measured right after it at the same thread count.
// Run: scripts/bench_kernels.sh OUT.json  (or build-kernels/benchmarks/bench_kernels directly)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "ops/random_weights.hpp"
#include "read_bandwidth.hpp"
#include "rapid/core/page_buffer.hpp"
#include "rapid/ops/attention.hpp"
#include "rapid/ops/kv_layout.hpp"
#include "rapid/ops/dot.hpp"
#include "rapid/ops/interleave.hpp"
#include "rapid/ops/matmul.hpp"
#include "rapid/ops/matvec.hpp"

namespace {

using rapid::dtype;

using rapid::bench::bandwidth_bytes;
using rapid::bench::read_bandwidth;
constexpr std::size_t pool_bytes = std::size_t{256} << 20; // matvec working set, >= 8x the L3

// ---- read bandwidth ---------------------------------------------------------------------------
void BM_read_bandwidth(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  read_bandwidth(threads); // allocates and touches the buffer outside the timing
  for (auto _ : state) benchmark::DoNotOptimize(rapid::bench::detail::sum_buffer(threads));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(bandwidth_bytes));
  state.counters["best_GBps"] = read_bandwidth(threads) / 1e9;
}
BENCHMARK(BM_read_bandwidth)->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

// ---- weights ------------------------------------------------------------------------------------
/// Copies of one random rows x cols matrix of type t filling >= pool_bytes; one pool alive at a time.
struct weight_pool {
  dtype type{};
  std::size_t rows = 0, cols = 0;
  std::vector<std::vector<std::byte>> copies; // (n_copies, rows * row_bytes)
  std::vector<rapid::ops::interleaved_matrix> interleaved; // (n_copies) when asked for

  static weight_pool& get(dtype t, std::size_t rows, std::size_t cols) {
    static weight_pool pool;
    if (pool.type != t || pool.rows != rows || pool.cols != cols || pool.copies.empty()) {
      pool.copies.clear();
      pool.interleaved.clear();
      pool.type = t, pool.rows = rows, pool.cols = cols;
      auto first = rapid::test::random_weights(t, rows, cols, 42);
      const std::size_t n = std::max<std::size_t>(1, (pool_bytes + first.size() - 1) / first.size());
      pool.copies.reserve(n);
      for (std::size_t i = 1; i < n; ++i) pool.copies.push_back(first);
      pool.copies.push_back(std::move(first));
    }
    return pool;
  }
  [[nodiscard]] rapid::quantized_matrix matrix(std::size_t i) const {
    auto m = rapid::make_quantized_matrix(type, copies[i % copies.size()].data(), rows, cols);
    if (!interleaved.empty()) m.interleaved = interleaved[i % copies.size()].data();
    return m;
  }
  /// Adds (once) or drops the interleaved copies matrix() binds.
  void use_interleaved(bool on) {
    if (!on) interleaved.clear();
    else if (interleaved.empty())
      for (std::size_t i = 0; i < copies.size(); ++i) interleaved.emplace_back(rapid::make_quantized_matrix(type, copies[i].data(), rows, cols));
  }
};

/// Read bandwidth measured right after a benchmark (best of 3 passes): on a shared VM the
/// bandwidth drifts over minutes, so each ratio uses a measurement taken next to its kernel.
double fresh_bandwidth(int threads) {
  double best = 0;
  for (int i = 0; i < 3; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(rapid::bench::detail::sum_buffer(threads));
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, static_cast<double>(bandwidth_bytes) / s);
  }
  return best;
}

void set_counters(benchmark::State& state, double bytes_per_iteration, int threads) {
  const double bytes = static_cast<double>(state.iterations()) * bytes_per_iteration;
  const double bw = fresh_bandwidth(threads);
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  state.counters["of_read_bw"] = benchmark::Counter(bytes / bw, benchmark::Counter::kIsRate);
  state.counters["read_bw_GBps"] = bw / 1e9;
}

// ---- matvec -------------------------------------------------------------------------------------
// args: dtype id, rows, cols, threads, exact (0: int8 activations, 1: f32)
void BM_matvec(benchmark::State& state) {
  const auto t = static_cast<dtype>(state.range(0));
  const auto rows = static_cast<std::size_t>(state.range(1)), cols = static_cast<std::size_t>(state.range(2));
  const int threads = static_cast<int>(state.range(3));
  const rapid::ops::kernel_options options{state.range(4) ? rapid::ops::activation_mode::exact : rapid::ops::activation_mode::int8, threads};
  const auto& pool = weight_pool::get(t, rows, cols);
  const auto x = rapid::test::random_activations(cols, 7); // (cols)
  std::vector<float> y(rows);                               // (rows)
  read_bandwidth(threads);
  std::size_t i = 0;
  for (auto _ : state) {
    rapid::ops::matvec(pool.matrix(i++), x, y, options);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, static_cast<double>(pool.matrix(0).size_bytes()), threads);
  state.SetLabel(std::string(rapid::name_of(t)) + (state.range(4) ? " exact" : "") + " " + rapid::ops::int8_kernel_arch);
}

// The Qwen2.5-1.5B matrices, as rows x cols (cols = ne[0], the contiguous dimension):
//   attn_q / attn_output  1536 x 1536;  ffn_gate / ffn_up  8960 x 1536;
//   ffn_down              1536 x 8960;  output (lm head)  151936 x 1536
constexpr std::int64_t shapes[][2] = {{1536, 1536}, {8960, 1536}, {1536, 8960}, {151936, 1536}};
constexpr dtype matvec_types[] = {dtype::f16,  dtype::bf16, dtype::q4_0, dtype::q4_1, dtype::q5_0,
                                  dtype::q5_1, dtype::q8_0, dtype::q4_k, dtype::q5_k, dtype::q6_k};

void matvec_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"type", "rows", "cols", "threads", "exact"});
  for (dtype t : matvec_types)
    for (const auto& s : shapes)
      for (int threads : {1, 2}) b->Args({static_cast<std::int64_t>(t), s[0], s[1], threads, 0});
  // The exact f32-activation path, to show what activation quantisation buys.
  for (dtype t : {dtype::q4_k, dtype::q6_k, dtype::q8_0}) b->Args({static_cast<std::int64_t>(t), 8960, 1536, 2, 1});
}
BENCHMARK(BM_matvec)->Apply(matvec_args)->UseRealTime()->Unit(benchmark::kMicrosecond);

// ---- batched matmul ------------------------------------------------------------------------------
// args: dtype id, batch, threads, interleaved (1: the layout of ops/interleave.hpp). W: ffn_up 8960 x 1536. Counters: rows_per_s (activation rows
// per second; batch 1 is a matvec) and bytes_per_second = weight bytes x batch per second, the
// bandwidth `batch` separate matvecs would need for the same rate.
void BM_matmul(benchmark::State& state) {
  const auto t = static_cast<dtype>(state.range(0));
  const auto batch = static_cast<std::size_t>(state.range(1));
  const int threads = static_cast<int>(state.range(2));
  const std::size_t rows = 8960, cols = 1536;
  auto& pool = weight_pool::get(t, rows, cols);
  pool.use_interleaved(state.range(3) != 0);
  const auto x = rapid::test::random_activations(batch * cols, 9); // (batch, cols)
  std::vector<float> y(batch * rows);                               // (batch, rows)
  read_bandwidth(threads);
  std::size_t i = 0;
  for (auto _ : state) {
    rapid::ops::matmul(pool.matrix(i++), x, batch, y, {rapid::ops::activation_mode::int8, threads});
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, static_cast<double>(pool.matrix(0).size_bytes()) * static_cast<double>(batch), threads);
  state.counters["rows_per_s"] = benchmark::Counter(static_cast<double>(state.iterations() * batch), benchmark::Counter::kIsRate);
  state.SetLabel(std::string(rapid::name_of(t)) + (state.range(3) ? " interleaved " : " ") + rapid::ops::int8_kernel_arch);
}
void matmul_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"type", "batch", "threads", "interleaved"});
  for (dtype t : {dtype::q4_k, dtype::q6_k, dtype::q5_0, dtype::q8_0, dtype::f16})
    for (int il = 0; il <= (rapid::ops::has_interleaved_kernel(t) ? 1 : 0); ++il)
      for (int batch : {1, 2, 3, 5, 8, 11, 16, 32, 128}) b->Args({static_cast<std::int64_t>(t), batch, 2, il});
}
BENCHMARK(BM_matmul)->Apply(matmul_args)->UseRealTime()->Unit(benchmark::kMicrosecond);

// The same kernels with the weights in L2: W = 256 x 1536 interleaved, one copy (0.2-0.3 MB), 1
// thread. Beside BM_matmul (weights streamed from DRAM) it separates the kernels' arithmetic from
// the stream: the extra time `batch` rows cost in BM_matmul is what the two fail to overlap.
// args: dtype id, batch. Counter ns_per_block: per group block (16 x 256 weights) and call.
void BM_matmul_in_cache(benchmark::State& state) {
  const auto t = static_cast<dtype>(state.range(0));
  const auto batch = static_cast<std::size_t>(state.range(1));
  const std::size_t rows = 256, cols = 1536;
  const auto bytes = rapid::test::random_weights(t, rows, cols, 42);
  auto w = rapid::make_quantized_matrix(t, bytes.data(), rows, cols);
  const rapid::ops::interleaved_matrix copy(w);
  w.interleaved = copy.data();
  const auto x = rapid::test::random_activations(batch * cols, 9); // (batch, cols)
  std::vector<float> y(batch * rows);                               // (batch, rows)
  for (auto _ : state) {
    rapid::ops::matmul(w, x, batch, y, {rapid::ops::activation_mode::int8, 1});
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  const double blocks = static_cast<double>(rows / rapid::ops::interleave_rows * (cols / rapid::ops::interleave_cols(t)));
  state.counters["ns_per_block"] = benchmark::Counter(static_cast<double>(state.iterations()) * blocks * 1e-9,
                                                      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.SetLabel(std::string(rapid::name_of(t)) + " interleaved, in L2 " + rapid::ops::int8_kernel_arch);
}
void matmul_in_cache_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"type", "batch"});
  for (dtype t : {dtype::q4_k, dtype::q6_k})
    if (rapid::ops::has_interleaved_kernel(t))
      for (int batch : {1, 2, 5, 8, 11}) b->Args({static_cast<std::int64_t>(t), batch});
}
BENCHMARK(BM_matmul_in_cache)->Apply(matmul_in_cache_args)->UseRealTime()->Unit(benchmark::kMicrosecond);

// ---- attention ------------------------------------------------------------------------------------
// args: new tokens k, cache depth, threads, cache type (ops::kv_type: 0 f16, 2 q8_0). The
// Qwen2.5-1.5B's attention (12 query heads, 2 KV heads, head_dim 128) over all 28 layers' caches,
// so the cache comes from DRAM as in real decoding; a time is one forward's attention. Counters:
// GFLOPps (4 x heads x head_dim x positions seen per row), kv_GBps (cache bytes read once per forward).
void BM_attention(benchmark::State& state) {
  const auto k = static_cast<std::size_t>(state.range(0)), depth = static_cast<std::size_t>(state.range(1));
  const int threads = static_cast<int>(state.range(2));
  const auto type = static_cast<rapid::ops::kv_type>(state.range(3));
  constexpr std::size_t layers = 28, heads = 12, kv_heads = 2, hd = 128;
  const std::size_t n_pos = depth + k;
  const std::size_t kb = rapid::ops::key_bytes(type, hd, n_pos), vb = n_pos * rapid::ops::value_row_bytes(type, hd);
  const rapid::page_buffer keys(layers * kv_heads * kb), values(layers * kv_heads * vb);  // (layers, kv_heads) slabs, as kv_cache holds them
  const auto noise = rapid::test::random_activations(4096 + hd, 11);
  std::vector<rapid::ops::kv_slab> slabs;  // (layers, kv_heads)
  for (std::size_t i = 0; i < layers * kv_heads; ++i) {
    for (std::size_t p = 0; p < n_pos; ++p) {
      rapid::ops::store_key(type, keys.data() + i * kb, p, noise.data() + (p * 7 + i) % 4096, hd);
      rapid::ops::store_value(type, values.data() + i * vb, p, noise.data() + (p * 13 + i + 5) % 4096, hd);
    }
    slabs.push_back({keys.data() + i * kb, values.data() + i * vb, type});
  }
  const auto q = rapid::test::random_activations(k * heads * hd, 12);  // (k, heads, hd)
  std::vector<float> out(q.size());                                    // (k, heads, hd)
  const rapid::ops::attention_shape shape{k, depth, heads, kv_heads, hd};
  for (auto _ : state) {
    for (std::size_t l = 0; l < layers; ++l) rapid::ops::attention(q.data(), shape, slabs.data() + l * kv_heads, out.data(), threads);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  const double iters = static_cast<double>(state.iterations());
  double seen = 0;  // positions seen, summed over the k rows
  for (std::size_t t = 0; t < k; ++t) seen += static_cast<double>(depth + t + 1);
  state.counters["GFLOPps"] = benchmark::Counter(iters * 4e-9 * heads * hd * seen * layers, benchmark::Counter::kIsRate);
  state.counters["kv_GBps"] = benchmark::Counter(iters * 1e-9 * static_cast<double>(keys.size() + values.size()), benchmark::Counter::kIsRate);
  state.SetLabel(std::string(rapid::ops::name_of(type)));
}
void attention_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"k", "depth", "threads", "kv"});
  for (auto type : {rapid::ops::kv_type::f16, rapid::ops::kv_type::q8_0, rapid::ops::kv_type::bf16}) {
    try {
      rapid::ops::check_kv_readable(type, 128);
    } catch (const rapid::unsupported_error&) {
      continue;  // bf16 without AMX
    }
    for (int depth : {1024, 4096, 32768})
      for (int k : {1, 5, 11}) b->Args({k, depth, 2, static_cast<std::int64_t>(type)});
  }
}
BENCHMARK(BM_attention)->Apply(attention_args)->UseRealTime()->Unit(benchmark::kMillisecond);

} // namespace

BENCHMARK_MAIN();
