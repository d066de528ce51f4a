// Cost of one verify step of each acceptance rule (greedy_match, speculative_sampling,
// retrieval_augmented eta=10, retrieval_augmented_exact eta=10) at vocab 151,936 (Qwen2.5) and
// 49,152 (SmolLM2), gamma 4 and 10, in two regimes (tests/spec/verify_inputs.hpp):
//   all:     q == p, every draft accepted, all gamma + 1 rows processed (the worst case);
//   typical: q = softmax(z + N(0, 1) noise), some drafts rejected.
// Each SIMD rule (rapid/spec/acceptance) runs beside its plain scalar twin (tests/spec/
// scalar_rules.hpp, std::exp loops, no xsimd) on the same cases and random seeds, so the
// SIMD/scalar ratio comes from one run. Every step rotates over enough cases (>= 128 MiB, 4x the
// L3) that logits and q rows come from DRAM; the verifier's rng is reseeded per case, so both
// implementations reach the same verdicts and do the same work.
//
// Verify steps run at 1 thread, timed in CPU time (the machine this was written on is shared;
// wall time there is mostly waiting for a core), and at 2 threads (the rules split each pass over
// a vocabulary row across OpenMP threads), timed in wall time: run that on an idle machine. Counters: bytes_per_second = nominal logit bytes per step / time, where bytes = (gamma + 1) *
// vocab * 4 target logits + (gamma, or gamma + 1 for the exact rule) * vocab * 4 drafter q rows
// (greedy_match: one-hot drafts, logits only); of_read_bw = that / single-thread read bandwidth
// (benchmarks/read_bandwidth.hpp, measured once per run); accepted = mean accepted drafts.
// BM_decode_step_qwen05b: one Qwen2.5-Coder-0.5B decode step (2 threads, n_ctx 1024) for the
// "verify step / decode step" ratio. Run: scripts/bench_acceptance.sh (prints a markdown table).
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "read_bandwidth.hpp"
#include "rapid/model/transformer.hpp"
#include "rapid/spec/acceptance/greedy_match.hpp"
#include "rapid/spec/acceptance/retrieval_augmented.hpp"
#include "rapid/spec/acceptance/retrieval_augmented_exact.hpp"
#include "rapid/spec/acceptance/speculative_sampling.hpp"
#include "spec/scalar_rules.hpp"
#include "spec/verify_inputs.hpp"

namespace {

using rapid::test::verify_regime;
constexpr std::size_t pool_bytes = std::size_t{128} << 20;  // rotation working set, 4x the L3

// ---- inputs -------------------------------------------------------------------------------------
/// Verification cases for one (vocab, gamma, regime), filling >= pool_bytes; one pool alive at a time.
struct case_pool {
  std::size_t vocab = 0, gamma = 0;
  verify_regime regime{};
  std::vector<rapid::test::verify_case> cases;

  static case_pool& get(std::size_t vocab, std::size_t gamma, verify_regime regime) {
    static case_pool pool;
    if (pool.vocab != vocab || pool.gamma != gamma || pool.regime != regime || pool.cases.empty()) {
      pool.cases.clear();
      pool.vocab = vocab, pool.gamma = gamma, pool.regime = regime;
      const std::size_t case_bytes = 2 * (gamma + 1) * vocab * sizeof(float);
      const std::size_t n = std::max<std::size_t>(8, (pool_bytes + case_bytes - 1) / case_bytes);
      for (std::size_t i = 0; i < n; ++i) pool.cases.push_back(rapid::test::make_verify_case(vocab, gamma, regime, 17 + i));
    }
    return pool;
  }
};

double single_thread_bandwidth() { return rapid::bench::read_bandwidth(1); }

// ---- verify step --------------------------------------------------------------------------------
enum class kind { greedy, sampling, rapid, rapid_exact };

/// Full rows a step actually reads after deciding `accepted` of gamma drafts: target logit rows
/// up to the decision (+ the bonus row), and the drafter q rows the rule streams (speculative
/// sampling reads one q value per accepted draft, a whole row only for the residual).
std::size_t rows_read(kind k, std::size_t gamma, std::size_t accepted) {
  const bool rejected = accepted < gamma;
  const std::size_t logits = accepted + 1;
  switch (k) {
    case kind::greedy: return logits;
    case kind::sampling: return logits + (rejected ? 1 : 0);
    case kind::rapid: return logits + (rejected ? accepted + 1 : gamma);
    case kind::rapid_exact: return logits + (rejected ? accepted + 1 : gamma + 1);
  }
  return logits;
}

template <class Rule, kind K>
void BM_verify(benchmark::State& state, std::size_t vocab, std::size_t gamma, verify_regime regime, int threads) {
  constexpr bool greedy = K == kind::greedy, next_q = K == kind::rapid_exact;
  const double bw = single_thread_bandwidth();  // first call measures (outside the timing)
  auto& pool = case_pool::get(vocab, gamma, regime);
  for (auto& c : pool.cases) c.sampled.has_next_q = next_q;
  const rapid::spec::acceptance_options o{
      .sampling = {.temperature = greedy ? 0.f : 1.f}, .eta = 10.f, .alpha = 0.1f, .threads = threads};
  Rule rule(o);
  std::size_t k = 0, accepted = 0, rows = 0;
  for (auto _ : state) {
    const auto& c = pool.cases[k++ % pool.cases.size()];
    rapid::rng g(c.seed);
    const auto v = rule.verify(greedy ? c.greedy : c.sampled, c.z, vocab, g);
    benchmark::DoNotOptimize(v);
    accepted += v.accepted;
    rows += rows_read(K, gamma, v.accepted);
  }
  // Nominal bytes per step (the measure): all gamma + 1 logit rows and the q rows.
  const std::size_t q_rows = greedy ? 0 : gamma + (next_q ? 1 : 0);
  const double nominal = static_cast<double>(((gamma + 1) + q_rows) * vocab * sizeof(float));
  const double read = static_cast<double>(rows * vocab * sizeof(float));  // bytes of the rows actually read
  state.SetBytesProcessed(static_cast<std::int64_t>(nominal * static_cast<double>(state.iterations())));
  state.counters["read_bytes_per_second"] = benchmark::Counter(read, benchmark::Counter::kIsRate);
  state.counters["of_read_bw"] = benchmark::Counter(read / bw, benchmark::Counter::kIsRate);
  state.counters["read_bw_GBps"] = bw / 1e9;
  state.counters["accepted"] = static_cast<double>(accepted) / static_cast<double>(state.iterations());
  state.counters["cases"] = static_cast<double>(pool.cases.size());
}

template <class Simd, class Scalar, kind K>
void register_rule(std::size_t vocab, std::size_t gamma, verify_regime regime) {
  const std::string tail = "/vocab:" + std::to_string(vocab) + "/gamma:" + std::to_string(gamma) +
                           (regime == verify_regime::all_accepted ? "/all" : "/typical");
  // One thread in CPU time; two threads (row passes split over both cores) in wall time.
  benchmark::RegisterBenchmark((std::string("verify/") + Simd::name + "/simd" + tail + "/threads:1").c_str(),
                               BM_verify<Simd, K>, vocab, gamma, regime, 1)
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark((std::string("verify/") + Simd::name + "/simd" + tail + "/threads:2").c_str(),
                               BM_verify<Simd, K>, vocab, gamma, regime, 2)
      ->Unit(benchmark::kMicrosecond)
      ->UseRealTime();
  benchmark::RegisterBenchmark((std::string("verify/") + Simd::name + "/scalar" + tail + "/threads:1").c_str(),
                               BM_verify<Scalar, K>, vocab, gamma, regime, 1)
      ->Unit(benchmark::kMicrosecond);
}

// ---- one Qwen2.5-Coder-0.5B decode step ---------------------------------------------------------
std::filesystem::path model_path() {
  std::filesystem::path cache;
  if (const char* env = std::getenv("RAPID_CACHE_DIR"); env && *env) cache = env;
  else cache = std::filesystem::path(std::getenv("HOME") ? std::getenv("HOME") : ".") / ".cache" / "rapid";
  return cache / "models" / "qwen2.5-coder-0.5b.gguf";
}

void BM_decode_step_qwen05b(benchmark::State& state) {
  const auto path = model_path();
  if (!std::filesystem::exists(path)) {
    state.SkipWithError(("skipped: " + path.string() + " not found (run scripts/fetch_models.py)").c_str());
    return;
  }
  using rapid::model::token_id;
  const int threads = static_cast<int>(state.range(0));
  rapid::model::transformer t(path.string(), {.n_ctx = 1024, .threads = threads});
  const std::size_t vocab = t.vocab_size(), prefill = 64;
  std::vector<token_id> prompt(prefill);
  for (std::size_t i = 0; i < prefill; ++i) prompt[i] = static_cast<token_id>((i * 7919 + 13) % vocab);
  t.forward(prompt, rapid::model::logits_for::last_row);
  token_id next = 1;
  for (auto _ : state) {
    if (t.size() + 1 >= 1024) {
      state.PauseTiming();
      t.truncate(prefill);
      state.ResumeTiming();
    }
    const auto logits = t.forward(std::span(&next, 1), rapid::model::logits_for::last_row);
    benchmark::DoNotOptimize(logits.data());
    next = static_cast<token_id>((static_cast<std::size_t>(next) * 7919 + 13) % vocab);
  }
  state.counters["vocab"] = static_cast<double>(vocab);
  state.counters["final_depth"] = static_cast<double>(t.size());
}

int register_all() {
  // threads:2 is the reference step (wall time, process CPU time beside it); threads:1 reports the
  // main thread's CPU time, which a loaded machine disturbs less (an ideal 2-thread step: half).
  benchmark::RegisterBenchmark("BM_decode_step_qwen05b", BM_decode_step_qwen05b)
      ->ArgName("threads")->Arg(2)->Unit(benchmark::kMicrosecond)->UseRealTime()->MeasureProcessCPUTime()->MinTime(2.0);
  benchmark::RegisterBenchmark("BM_decode_step_qwen05b", BM_decode_step_qwen05b)
      ->ArgName("threads")->Arg(1)->Unit(benchmark::kMicrosecond)->MinTime(2.0);
  namespace s = rapid::spec;
  namespace sc = rapid::test::scalar;
  for (std::size_t vocab : {151936u, 49152u})
    for (std::size_t gamma : {4u, 10u})
      for (auto regime : {verify_regime::all_accepted, verify_regime::typical}) {
        register_rule<s::greedy_match, sc::greedy_match, kind::greedy>(vocab, gamma, regime);
        register_rule<s::speculative_sampling, sc::speculative_sampling, kind::sampling>(vocab, gamma, regime);
        register_rule<s::retrieval_augmented, sc::retrieval_augmented, kind::rapid>(vocab, gamma, regime);
        register_rule<s::retrieval_augmented_exact, sc::retrieval_augmented_exact, kind::rapid_exact>(vocab, gamma, regime);
      }
  return 0;
}
const int registered = register_all();

} // namespace

BENCHMARK_MAIN();
