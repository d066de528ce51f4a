#pragma once
// One long-context request shared by `rapid run`, `rapid compare` and `rapid eval`: the loaded
// models, the prompts, the prefilled long-context target, and running one method on them (the
// target's prefill is rolled back to, never redone).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "progress.hpp"
#include "rapid/model/encoder.hpp"
#include "rapid/qa.hpp"
#include "rapid/retrieval/bm25.hpp"
#include "rapid/retrieval/dense.hpp"
#include "rapid/retrieval/hybrid.hpp"
#include "rapid/ops/dot.hpp"
#include "rapid/ops/threads.hpp"
#include "rapid/spec/registry.hpp"
#include "rapid/spec/verify_cost_cache.hpp"
#include "run_command.hpp"

namespace rapid::cli {

using spec::token;
using json = nlohmann::ordered_json;

/// The non-empty items of a comma-separated list ("lc,,rag" -> lc, rag).
inline std::vector<std::string> split_list(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream in(list);
  for (std::string x; std::getline(in, x, ',');)
    if (!x.empty()) out.push_back(x);
  return out;
}

struct method_result {
  std::string method;
  std::vector<token> tokens;
  std::string answer;
  spec::decode_stats stats;
  double prefill_s = 0;  // this method's own prefill (target share counted once, in the header)
};

/// Everything shared by the methods of one request.
struct session {
  run_args a;  // a copy: a sweep changes eta, gamma or the budget between methods
  std::shared_ptr<const model::model> target_model, drafter_model;
  model::tokenizer tok;
  qa::prompts prompts;
  std::unique_ptr<spec::long_context_target> target;
  double load_s = 0, retrieval_s = 0, target_prefill_s = 0;
  std::size_t ctx = 0;
  model::kv_type kv = model::kv_type::f16;  // every cache's type: --kv, with auto resolved
  /// Optional (rapid eval): puts all but the last token of a RAG drafter's prompt into its cache,
  /// from a snapshot or by prefilling it and saving one, so that the methods sharing that prompt
  /// (SD, RAPID at each eta) prefill it once. Returns the seconds spent prefilling (0: restored).
  std::function<double(spec::rag_drafter&, std::span<const token> prompt)> prime_drafter;
};

/// The decoder's options from the command line (stop tokens come from the tokenizer later).
inline spec::decoder_options decoder_options(const run_args& a) {
  spec::decoder_options o;
  o.gamma = a.gamma;
  o.gamma_auto = a.gamma_auto;
  o.acceptance = {.sampling = {.temperature = a.temperature, .top_k = a.top_k, .top_p = a.top_p},
                  .eta = a.eta,
                  .alpha = a.alpha,
                  .threads = a.threads};
  o.seed = a.seed;
  o.max_new_tokens = a.max_new_tokens;
  o.draft_confidence_stop = a.confidence_stop;
  return o;
}

/// gamma auto's verification costs are kept in <cache>/verify_costs.json, filed under what changes
/// them: the target file, threads, KV type and the kernel build (the depth is the cache's part).
struct verify_costs_of_run {
  spec::verify_cost_cache cache{std::filesystem::path(cache_dir()) / "verify_costs.json"};
  std::string key;
  explicit verify_costs_of_run(const run_args& a)
      : key(std::filesystem::path(a.target).filename().string() + "|" + std::to_string(std::filesystem::file_size(a.target)) +
            " bytes|threads=" + std::to_string(ops::thread_count(a.threads)) + "|kv=" + a.kv + "|" + ops::int8_kernel_arch) {}
};

template <class Method>
method_result decode(session& s, const std::string& name, typename Method::drafter_type& drafter,
                     typename Method::target_type& target, bool stream, std::size_t drafter_cached = 0,
                     double drafter_primed_s = 0) {
  auto options = decoder_options(s.a);
  options.stop_tokens = s.tok.end_of_generation_tokens();
  progress_bar draft_bar("prefill drafter", s.a.quiet || s.a.json);
  spec::prompts in{.full = s.prompts.full, .retrieved = s.prompts.retrieved,
                   .target_cached = 0, .drafter_cached = drafter_cached};
  if constexpr (Method::target_type::context == spec::context_kind::full)
    in.target_cached = s.prompts.full.size() - 1;  // prefilled once in execute()
  progress_bar rag_bar("prefill RAG target", s.a.quiet || s.a.json);
  in.target_progress = [&](std::size_t d, std::size_t t) { rag_bar.update(d, t); };
  in.drafter_progress = [&](std::size_t d, std::size_t t) { draft_bar.update(d, t); };
  model::stream_decoder text(s.tok, {.skip_special = true});
  std::string answer;
  auto on_token = [&](token t) {
    if (s.tok.is_end_of_generation(t)) return true;
    const std::string piece = text.push(t);
    answer += piece;
    if (stream) {
      std::fputs(piece.c_str(), stdout);
      std::fflush(stdout);
    }
    return true;
  };
  // gamma auto: a table timed by an earlier run at this depth saves the timing (about ten steps).
  const std::size_t depth = in.of(Method::target_type::context).size();
  std::optional<verify_costs_of_run> kept;
  if (options.gamma_auto) {
    kept.emplace(s.a);
    if (auto costs = kept->cache.find(kept->key, depth, options.gamma + 1)) options.verify_costs = std::move(*costs);
  }
  Method dec(target, drafter, options);
  auto out = dec.generate(in, on_token);
  if (kept && options.verify_costs.empty() && !out.verify_costs.empty()) {
    try {
      kept->cache.store(kept->key, depth, out.verify_costs);
    } catch (const std::exception& e) {  // the answer stands; only the next run's timing is lost
      std::fprintf(stderr, "warning: gamma auto's costs were not saved: %s\n", e.what());
    }
  }
  out.stats.drafter_prefill_s += drafter_primed_s;  // the prompt prefix primed before generate()
  answer += text.finish();
  if (stream) std::fputs("\n", stdout);
  return {name, std::move(out.tokens), std::move(answer), out.stats, out.stats.target_prefill_s + out.stats.drafter_prefill_s};
}

/// The target a method runs on: the session's prefilled long-context one, or a RAG target of its own.
template <class Target>
Target& target_for(session& s, std::optional<Target>& own) {
  if constexpr (Target::context == spec::context_kind::full) {
    return *s.target;
  } else {
    const auto& a = s.a;
    const model::transformer_options o{.n_ctx = std::min(s.target_model->config().n_ctx_train,
                                                          s.prompts.retrieved.size() + a.max_new_tokens + 8),
                                       .kv = s.kv, .threads = a.threads};
    return own.emplace(s.target_model, o);
  }
}

/// What the session's drafters are built from (each drafter's own make(), spec/drafter_setup.hpp).
inline spec::drafter_setup drafter_setup(const session& s) {
  const auto& a = s.a;
  return {.target_model = s.target_model, .drafter_model = s.drafter_model, .vocab_size = s.target->vocab_size(),
          .full_ctx = s.ctx, .retrieved_tokens = s.prompts.retrieved.size(), .max_new_tokens = a.max_new_tokens,
          .gamma = a.gamma, .kv = s.kv, .threads = a.threads, .sink = a.sink, .window = a.window};
}

/// Runs the registered method `m` (spec/registry.hpp) on the session's request.
inline method_result run_method(session& s, const std::string& m, bool stream) {
  return spec::visit_method(m, [&](const auto& entry) {
    using method = typename std::decay_t<decltype(entry)>::decoder;
    using drafter = typename method::drafter_type;
    using target = typename method::target_type;
    std::optional<target> own_target;
    target& t = target_for(s, own_target);
    static_assert(spec::made_from_setup<drafter>, "a registered drafter builds itself: static D make(const spec::drafter_setup&)");
    drafter d = drafter::make(drafter_setup(s));
    if constexpr (std::is_same_v<drafter, spec::rag_drafter>) {
      // A RAG drafter's prompt prefix may come from a snapshot shared by the methods reading it.
      const auto prompt = std::span<const token>(s.prompts.retrieved);
      if (s.prime_drafter && prompt.size() > 1) {
        const double primed_s = s.prime_drafter(d, prompt);
        return decode<method>(s, m, d, t, stream, prompt.size() - 1, primed_s);
      }
    }
    return decode<method>(s, m, d, t, stream);
  });
}

template <class F>
void with_retriever(const run_args& a, F&& f) {
  auto encoder = [&] {
    return std::make_shared<const model::bert_encoder>(
        model::bert_encoder::from_directory(a.encoder.empty() ? default_encoder_dir() : a.encoder));
  };
  if (a.retriever == "bm25") {
    retrieval::bm25 r;
    f(r);
  } else if (a.retriever == "dense") {
    retrieval::dense r(encoder(), {.threshold = a.threshold});
    f(r);
  } else if (a.retriever == "hybrid") {
    retrieval::hybrid r(encoder(), {.dense = {.threshold = a.threshold}});
    f(r);
  } else {
    throw invalid_argument("unknown retriever '" + a.retriever + "' (choose bm25, dense or hybrid)");
  }
}

/// Refuses options no method can run with, naming the option.
inline void validate_run(const run_args& a, const std::vector<std::string>& methods) {
  if (!std::isfinite(a.eta) || a.eta < 0) throw invalid_argument("--eta must be a finite number >= 0");
  if (!(a.alpha >= 0 && a.alpha <= 1)) throw invalid_argument("--alpha must be in [0, 1]");
  if (a.max_new_tokens == 0) throw invalid_argument("--max-new-tokens must be positive");
  if (a.truncate != "none" && a.truncate != "middle") throw invalid_argument("--truncate must be none or middle");
  for (const auto& m : methods) (void)spec::find_method(m);  // throws naming the choices
  decoder_options(a).validate();
}

inline json stats_json(const spec::decode_stats& s) {
  return {{"target_prompt_tokens", s.target_prompt_tokens}, {"drafter_prompt_tokens", s.drafter_prompt_tokens},
          {"emitted", s.emitted}, {"steps", s.steps}, {"drafted", s.drafted}, {"accepted", s.accepted},
          {"acceptance_rate", s.acceptance_rate()}, {"tau", s.tau()}, {"decode_tokens_per_second", s.decode_tokens_per_second()},
          {"accepted_at", s.accepted_at}, {"offered_at", s.offered_at}, {"accepted_length_histogram", s.accepted_hist},
          {"seconds", {{"target_prefill", s.target_prefill_s}, {"drafter_prefill", s.drafter_prefill_s}, {"draft", s.draft_s},
                       {"verify", s.verify_s}, {"accept", s.accept_s}, {"sync", s.sync_s}, {"decode", s.decode_seconds()}}}};
}

} // namespace rapid::cli
