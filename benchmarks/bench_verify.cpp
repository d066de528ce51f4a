// Cost of verifying a draft: ms per target forward of k new tokens (a verification of k - 1
// drafted tokens, or k = 1: one decode step) after `depth` cached positions, and its ratio to
// k = 1 at the same depth. Speculative decoding pays only when this ratio stays near 1.
// scripts/bench_verify.sh runs it beside llama.cpp's llama-bench (-p k -n 0 -d depth).
//
// usage: bench_verify --model F [--threads 1,2] [--depths 0,1024,4096,16384,32768]
//                     [--k 1,2,3,5,8,11,16] [--kv f16,q8_0] [--repeats 5] [--json FILE]
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "bench_common.hpp"
#include "rapid/model/transformer.hpp"

int main(int argc, char** argv) {
  using clock_type = std::chrono::steady_clock;
  CLI::App app{"rapid verification-cost benchmark"};
  std::string model_path, threads_s = "1,2", depths_s = "0,1024,4096,16384,32768", ks_s = "1,2,3,5,8,11,16", json_path,
              kvs_s = "f16";
  std::size_t repeats = 5;
  app.add_option("--model", model_path, "GGUF model")->required()->check(CLI::ExistingFile);
  app.add_option("--threads", threads_s, "comma-separated thread counts");
  app.add_option("--depths", depths_s, "comma-separated cache depths");
  app.add_option("--k", ks_s, "comma-separated numbers of new tokens per forward");
  app.add_option("--kv", kvs_s, "comma-separated KV cache types (f16, f32, q8_0, bf16), run side by side");
  app.add_option("--repeats", repeats, "repetitions; the median is reported")->check(CLI::PositiveNumber);
  app.add_option("--json", json_path, "also write results as JSON lines");
  bool no_interleave = false;
  app.add_flag("--no-interleave", no_interleave, "read the mapped GGUF rows only (no interleaved weight copies)");
  CLI11_PARSE(app, argc, argv);

  try {
    const auto threads = rapid::bench::parse_list(threads_s), depths = rapid::bench::parse_list(depths_s),
               ks = rapid::bench::parse_list(ks_s);
    std::size_t max_k = 1, max_depth = 0;
    for (const auto k : ks) max_k = std::max(max_k, k);
    for (const auto d : depths) max_depth = std::max(max_depth, d);
    auto model = std::make_shared<const rapid::model::model>(model_path, rapid::model::model_options{.interleave = !no_interleave});
    const auto& c = model->config();
    if (max_depth + max_k > c.n_ctx_train)
      throw rapid::invalid_argument("depth " + std::to_string(max_depth) + " + k " + std::to_string(max_k) +
                                    " exceeds the model's training context " + std::to_string(c.n_ctx_train) +
                                    " (use a depth of at most " + std::to_string(c.n_ctx_train - max_k) + ")");
    std::printf("model %s: %s, %zu layers, %zu/%zu heads, int8 kernels %s\n", model_path.c_str(), c.arch.c_str(),
                c.n_layers, c.n_heads, c.n_kv_heads, rapid::ops::int8_kernel_arch);
    std::ofstream json;
    if (!json_path.empty()) json.open(json_path, std::ios::app);
    std::vector<rapid::ops::kv_type> kvs;
    for (const auto& name : rapid::bench::split_list(kvs_s)) kvs.push_back(rapid::ops::parse_kv_type(name));
    std::printf("%-7s %-5s %-7s %-4s %10s %10s\n", "threads", "kv", "depth", "k", "ms", "ratio k/1");

    std::vector<rapid::model::token_id> tokens(max_k);  // (max_k) new tokens, varied ids
    for (std::size_t i = 0; i < max_k; ++i) tokens[i] = static_cast<rapid::model::token_id>((i * 7919 + 13) % c.n_vocab);
    for (const auto nt : threads)
      for (const auto depth : depths)
        for (const auto kv : kvs) {  // innermost: the types are measured side by side
          const std::string kv_name(rapid::ops::name_of(kv));
          rapid::model::transformer tf(model, {.n_ctx = std::min(max_depth + max_k, c.n_ctx_train), .kv = kv, .threads = static_cast<int>(nt)});
          rapid::bench::fill_cache(tf, depth);
          double ms_one = 0;
          for (const auto k : ks) {
            const std::span<const rapid::model::token_id> step(tokens.data(), k);
            tf.forward(step);  // warm-up: buffers, caches
            tf.truncate(depth);
            std::vector<double> ms;
            for (std::size_t r = 0; r < repeats; ++r) {
              const auto t0 = clock_type::now();
              tf.forward(step);
              ms.push_back(1e3 * std::chrono::duration<double>(clock_type::now() - t0).count());
              tf.truncate(depth);
            }
            const double m = rapid::bench::median(ms);
            if (k == 1) ms_one = m;
            const double ratio = ms_one > 0 ? m / ms_one : 0;
            std::printf("%-7zu %-5s %-7zu %-4zu %10.2f %10.2f\n", nt, kv_name.c_str(), depth, k, m, ratio);
            std::fflush(stdout);
            if (json)
              json << "{\"threads\":" << nt << ",\"kv\":\"" << kv_name << "\",\"depth\":" << depth << ",\"k\":" << k << ",\"ms\":" << m
                   << (ms_one > 0 ? ",\"ratio\":" + std::to_string(ratio) : std::string()) << "}\n";
          }
        }
  } catch (const rapid::error& e) {
    std::fprintf(stderr, "bench_verify: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
