#pragma once
// Shared declarations of `rapid run`, `rapid compare` and `rapid demo` (run.cpp, demo.cpp).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "rapid/model/kv_cache.hpp"
#include "rapid/spec/stats.hpp"

namespace rapid::cli {

struct run_args {
  std::string target, drafter, document, question, encoder;
  std::string retriever = "bm25", truncate = "none", kv = "f16";
  // gamma 4: the best measured on a 2-core CPU (docs/results.md, RAPID with the 0.5B drafter at
  // 2K: gamma 2-4 1.32x LC, 6-10 1.21-1.23x); the paper's 10 assumes a GPU's verification costs.
  std::size_t gamma = 4, top_k = 0, rag_budget = 0, chunk_tokens = 512, ctx = 0, max_new_tokens = 128;
  std::size_t sink = 4, window = 4092;  // MagicDec's StreamingLLM cache (4096 in the paper)
  float eta = 10.f, alpha = 0.1f, temperature = 0.f, top_p = 1.f, confidence_stop = 0.f, threshold = 0.3f;
  int threads = 0;
  std::uint64_t seed = 42;
  bool json = false, quiet = false;
  bool gamma_auto = false;  // --gamma auto: each step's gamma in [1, gamma] from measured costs (spec/adaptive_gamma.hpp)
  std::string method_note;  // why `rapid run --method auto` chose its method (stderr, before decoding)
  /// --kv, with `auto` (run, demo) resolved for heads of head_dim: ops::fastest_kv_type.
  [[nodiscard]] model::kv_type kv_type(std::size_t head_dim) const {
    return kv == "auto" ? ops::fastest_kv_type(head_dim) : ops::parse_kv_type(kv);
  }
};

struct run_result {
  std::string method, answer;
  spec::decode_stats stats;
  double prefill_s = 0;
};

struct run_context {
  std::size_t target_prompt_tokens, drafter_prompt_tokens, document_tokens, chunks_kept, chunks;
  bool fell_back;
  std::size_t truncated_tokens;
  double load_s, retrieval_s, target_prefill_s;
  std::size_t ctx, peak_rss;
};

/// Runs `methods` on one request, printing the answer (one method) or a table (several), or JSON.
std::vector<run_result> execute(const run_args& a, const std::vector<std::string>& methods);
void print_summary(const std::vector<run_result>& results, const run_context& c);
std::vector<std::string> split_methods(const std::string& list);
/// Decoding and retrieval options of run_args that every long-context command takes (run,
/// compare, eval): sampling, RAPID's alpha, retriever, threads, lengths, MagicDec's cache, KV type.
void add_decoding_options(CLI::App& cmd, run_args& a);

} // namespace rapid::cli
