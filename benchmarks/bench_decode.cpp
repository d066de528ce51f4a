// Decode and prefill speed of rapid's transformer on a real GGUF, in llama-bench's terms:
//   decode: tokens/s generating one token at a time after `depth` positions are in the cache
//   prefill: tokens/s processing a 512-token prompt in one chunk (from an empty cache)
// and decode as a fraction of the bandwidth ceiling: (weight + KV bytes read per token) / read
// bandwidth measured in the same run. scripts/bench_decode.sh runs it beside llama-bench.
//
// usage: bench_decode --model F [--threads 1,2] [--depths 0,1024,4096,8192] [--decode-tokens 32]
//                     [--prefill 512] [--repeats 3] [--json FILE]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "bench_common.hpp"
#include "read_bandwidth.hpp"
#include "rapid/model/sampler.hpp"
#include "rapid/model/transformer.hpp"

namespace {
using clock_type = std::chrono::steady_clock;
using rapid::model::token_id;
using rapid::bench::fill_cache;
using rapid::bench::median;
using rapid::bench::parse_list;
} // namespace

int main(int argc, char** argv) {
  CLI::App app{"rapid decode/prefill benchmark"};
  std::string model_path, threads_s = "1,2", depths_s = "0,1024,4096,8192", json_path, kv_s = "f16";
  std::size_t decode_tokens = 32, prefill_tokens = 512, repeats = 3;
  app.add_option("--model", model_path, "GGUF model")->required()->check(CLI::ExistingFile);
  app.add_option("--threads", threads_s, "comma-separated thread counts");
  app.add_option("--depths", depths_s, "comma-separated context depths for decode");
  app.add_option("--decode-tokens", decode_tokens, "tokens generated per decode measurement");
  app.add_option("--prefill", prefill_tokens, "prompt length for the prefill measurement (0: skip)");
  app.add_option("--repeats", repeats, "repetitions; the median is reported")->check(CLI::PositiveNumber);
  app.add_option("--json", json_path, "also write results as JSON lines");
  app.add_option("--kv", kv_s, "KV cache type (f16, f32, q8_0, bf16)");
  bool no_interleave = false;
  app.add_flag("--no-interleave", no_interleave, "read the mapped GGUF rows only (no interleaved weight copies)");
  CLI11_PARSE(app, argc, argv);

  try {
    const auto threads = parse_list(threads_s), depths = parse_list(depths_s);
    const auto kv = rapid::ops::parse_kv_type(kv_s);
    const std::size_t max_depth = std::max(*std::max_element(depths.begin(), depths.end()) + decode_tokens, prefill_tokens);
    auto model = std::make_shared<const rapid::model::model>(model_path, rapid::model::model_options{.interleave = !no_interleave});
    const auto& c = model->config();
    std::printf("model %s: %s, %zu layers, %zu/%zu heads, weights read per token %.1f MB, %s KV cache\n", model_path.c_str(),
                c.arch.c_str(), c.n_layers, c.n_heads, c.n_kv_heads, model->weight_bytes_per_token() / 1e6, kv_s.c_str());
    std::ofstream json;
    if (!json_path.empty()) json.open(json_path, std::ios::app);
    std::printf("%-8s %-7s %-7s %12s %12s %10s\n", "test", "threads", "depth", "tokens/s", "ceiling t/s", "of ceiling");

    for (const auto nt : threads) {
      const double bw = rapid::bench::read_bandwidth(static_cast<int>(nt));
      rapid::model::transformer tf(model, {.n_ctx = std::min(max_depth + 1, c.n_ctx_train), .kv = kv, .threads = static_cast<int>(nt)});
      // Prefill: a 512-token prompt in one chunk, from an empty cache (llama-bench's pp512).
      if (prefill_tokens > 0) {
        std::vector<token_id> prompt(prefill_tokens);
        for (std::size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<token_id>((i * 7919 + 13) % c.n_vocab);
        std::vector<double> rates;
        for (std::size_t r = 0; r < repeats; ++r) {
          tf.reset();
          const auto t0 = clock_type::now();
          tf.forward(prompt, rapid::model::logits_for::last_row);
          rates.push_back(static_cast<double>(prefill_tokens) / std::chrono::duration<double>(clock_type::now() - t0).count());
        }
        const double rate = median(rates);
        std::printf("%-8s %-7zu %-7d %12.2f %12s %10s\n", ("pp" + std::to_string(prefill_tokens)).c_str(), nt, 0, rate, "-", "-");
        if (json)
          json << "{\"test\":\"pp" << prefill_tokens << "\",\"threads\":" << nt << ",\"kv\":\"" << kv_s
               << "\",\"depth\":0,\"tokens_per_s\":" << rate << "}\n";
      }
      // Decode: tg tokens one at a time after `depth` cached positions (llama-bench's tg32 @ d).
      for (const auto depth : depths) {
        std::vector<double> rates;
        for (std::size_t r = 0; r < repeats; ++r) {
          tf.reset();
          if (depth > 0) fill_cache(tf, depth);
          token_id next = 1;
          const auto t0 = clock_type::now();
          for (std::size_t i = 0; i < decode_tokens; ++i) {
            const auto logits = tf.forward(std::span(&next, 1));
            next = rapid::model::argmax(logits);
          }
          rates.push_back(static_cast<double>(decode_tokens) / std::chrono::duration<double>(clock_type::now() - t0).count());
        }
        const double rate = median(rates);
        const double bytes = static_cast<double>(model->weight_bytes_per_token()) +
                             static_cast<double>(tf.cache().bytes_per_position()) * (static_cast<double>(depth) + decode_tokens / 2.0);
        const double ceiling = bw / bytes;
        std::printf("%-8s %-7zu %-7zu %12.2f %12.2f %9.0f%%\n", ("tg" + std::to_string(decode_tokens)).c_str(), nt, depth, rate,
                    ceiling, 100 * rate / ceiling);
        if (json)
          json << "{\"test\":\"tg" << decode_tokens << "\",\"threads\":" << nt << ",\"kv\":\"" << kv_s << "\",\"depth\":" << depth << ",\"tokens_per_s\":"
               << rate << ",\"ceiling_tokens_per_s\":" << ceiling << ",\"read_bandwidth\":" << bw << "}\n";
      }
    }
  } catch (const rapid::error& e) {
    std::fprintf(stderr, "bench_decode: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
