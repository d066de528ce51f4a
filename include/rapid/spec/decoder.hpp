#pragma once
// speculative_decoder<Drafter, Target, Rule>: structure chosen at compile time, knobs at run time.
//
// One step: the drafter proposes up to gamma tokens; the target runs ONE forward over
// [pending, x_1..x_gamma] (gamma + 1 rows); the rule accepts a prefix and picks the next token;
// the target cache is rolled back to the committed length and the drafter is told what was
// emitted. `pending` is the last committed token, not yet in the target's cache: the prompt's
// last token starts as pending, so the very first token also goes through the rule.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "rapid/core/error.hpp"
#include "rapid/core/rng.hpp"
#include "rapid/spec/abilities.hpp"
#include "rapid/spec/acceptance/options.hpp"
#include "rapid/spec/adaptive_gamma.hpp"
#include "rapid/spec/concepts.hpp"
#include "rapid/spec/stats.hpp"

namespace rapid::spec {

struct decoder_options {
  std::size_t gamma = 10;                 // drafts per step (paper: 10); with gamma_auto, the largest
  bool gamma_auto = false;                // choose each step's gamma from measured costs (adaptive_gamma.hpp)
  std::vector<double> verify_costs;       // gamma auto: (>= gamma + 2) seconds of a target forward over k
                                          // tokens at index k, e.g. from a verify_cost_cache; empty: timed
                                          // before the second step
  acceptance_options acceptance;          // sampling (temperature, top-k, top-p), eta, alpha
  std::uint64_t seed = 0x5eed;
  std::size_t max_new_tokens = 256;
  std::vector<token> stop_tokens;         // generation ends after emitting one of these
  float draft_confidence_stop = 0.f;      // drafter stops when its drawn token's q is below this
  std::size_t prefill_chunk = 512;

  void validate() const {
    acceptance.validate();
    if (max_new_tokens == 0) throw invalid_argument("max new tokens must be positive");
    if (prefill_chunk == 0) throw invalid_argument("prefill chunk must be positive");
    if (gamma_auto && !verify_costs.empty()) (void)adaptive_gamma(verify_costs, {.max_gamma = gamma});  // checks the table
    if (!(draft_confidence_stop >= 0.f && draft_confidence_stop <= 1.f))
      throw invalid_argument("draft confidence stop must be in [0, 1], got " + std::to_string(draft_confidence_stop));
  }
};

/// The prompts of one request: the long one (document + question) and the retrieved one
/// (chunks + question). Each policy reads the one its `context` names.
struct prompts {
  std::span<const token> full;
  std::span<const token> retrieved;
  std::size_t target_cached = 0;  // leading target-prompt tokens already in the target's cache (reuse)
  std::size_t drafter_cached = 0; // leading drafter-prompt tokens already in the drafter's cache (a restored snapshot)
  progress_fn target_progress;    // called during the target's prefill
  progress_fn drafter_progress;

  [[nodiscard]] std::span<const token> of(context_kind c) const noexcept { return c == context_kind::full ? full : retrieved; }
};

enum class stop_reason { max_tokens, stop_token };

struct generation {
  std::vector<token> tokens;  // emitted tokens (a final stop token included)
  stop_reason reason = stop_reason::max_tokens;
  decode_stats stats;
  std::vector<double> verify_costs;  // gamma auto: the table the steps chose from (given, or timed here)
};

template <drafter Drafter, target_policy Target, acceptance_rule Rule>
class speculative_decoder {
public:
  using drafter_type = Drafter;
  using target_type = Target;
  using rule_type = Rule;

  /// Non-owning: target and drafter outlive the decoder (one target can serve several decoders,
  /// keeping its prefilled cache).
  speculative_decoder(Target& target, Drafter& drafter, decoder_options options)
      : target_(target), drafter_(drafter), options_(std::move(options)), rule_(options_.acceptance) {
    options_.validate();
    if (drafter_.vocab_size() != target_.vocab_size())
      throw invalid_argument("drafter and target do not share a tokenizer: vocabularies of " +
                             std::to_string(drafter_.vocab_size()) + " and " + std::to_string(target_.vocab_size()) + " tokens");
    // Policies on loaded models check their tokenizers (spec/same_tokenizer.hpp, found by ADL).
    if constexpr (shares_model<Target> && shares_model<Drafter>) require_same_tokenizer(target_, drafter_);
  }

  [[nodiscard]] const decoder_options& options() const noexcept { return options_; }
  /// The next generate() draws from a fresh RNG stream seeded with `seed`.
  void reseed(std::uint64_t seed) noexcept { options_.seed = seed; }
  [[nodiscard]] Target& target() noexcept { return target_; }
  [[nodiscard]] Drafter& drafter() noexcept { return drafter_; }

  /// Generates up to max_new_tokens after the prompts; on_token(t) sees each emitted token
  /// (return false to stop early).
  generation generate(const prompts& in, const std::function<bool(token)>& on_token = {}) {
    using clock = std::chrono::steady_clock;
    auto seconds = [](clock::time_point a, clock::time_point b) { return std::chrono::duration<double>(b - a).count(); };
    const std::span<const token> tp = in.of(Target::context), dp = in.of(Drafter::context);
    if (tp.empty()) throw invalid_argument("the target's prompt is empty");
    if (dp.empty()) throw invalid_argument("the drafter's prompt is empty");
    const std::size_t needed = tp.size() + options_.max_new_tokens - 1;
    if (needed > target_.capacity())
      throw capacity_error("the target's prompt (" + std::to_string(tp.size()) + " tokens) plus " +
                           std::to_string(options_.max_new_tokens) + " new tokens needs " + std::to_string(needed) +
                           " positions; its context holds " + std::to_string(target_.capacity()));
    if (in.target_cached > tp.size() - 1 || in.target_cached > target_.size())
      throw invalid_argument("target_cached (" + std::to_string(in.target_cached) + ") exceeds what the cache and prompt hold");
    if (in.drafter_cached > 0 && in.drafter_cached >= dp.size())
      throw invalid_argument("drafter_cached (" + std::to_string(in.drafter_cached) + ") must leave at least the last of the " +
                             std::to_string(dp.size()) + " drafter-prompt tokens to forward");

    generation out;
    decode_stats& st = out.stats;
    st.target_prompt_tokens = tp.size();
    st.drafter_prompt_tokens = dp.size();
    rng g(options_.seed);

    auto t0 = clock::now();
    target_.truncate(in.target_cached);
    if (tp.size() - 1 > in.target_cached)
      target_.prefill(tp.subspan(in.target_cached, tp.size() - 1 - in.target_cached), options_.prefill_chunk, in.target_progress);
    auto t1 = clock::now();
    st.target_prefill_s = seconds(t0, t1);
    if (in.drafter_cached == 0) {
      drafter_.start(dp, in.drafter_progress);
    } else if constexpr (resumable_drafter<Drafter>) {
      drafter_.start(dp, in.drafter_progress, in.drafter_cached);
    } else {
      throw invalid_argument("drafter_cached is set, but this drafter cannot resume from a cached prefix");
    }
    st.drafter_prefill_s = seconds(t1, clock::now());

    token pending = tp.back();
    // gamma auto: the first step drafts up to 4; the verification costs (given, or timed here) are
    // taken before the second, once the drafter has shown it drafts at all (never for a drafter
    // that does not).
    std::optional<adaptive_gamma> chooser;
    const std::size_t first_gamma = options_.gamma_auto ? std::min<std::size_t>(4, options_.gamma) : options_.gamma;
    draft_request request{options_.gamma, options_.acceptance.sampling, Rule::wants_next_q, options_.draft_confidence_stop};
    if constexpr (Rule::greedy_drafts) request.sampling.temperature = 0.f;
    std::vector<token> block;    // (1 + gamma) target verification input
    std::vector<token> emitted;  // (accepted + 1) tokens of one step
    while (out.tokens.size() < options_.max_new_tokens) {
      const std::size_t room = options_.max_new_tokens - out.tokens.size();  // >= 1
      if (options_.gamma_auto && !chooser && st.drafted > 0) {
        const auto c0 = clock::now();
        chooser.emplace(options_.verify_costs.empty() ? measure_verify_costs(target_, pending, options_.gamma + 1)
                                                      : options_.verify_costs,
                        adaptive_gamma_options{.max_gamma = options_.gamma});
        st.calibration_s = seconds(c0, clock::now());
        out.verify_costs.assign(chooser->verify_costs().begin(), chooser->verify_costs().end());
      }
      const std::size_t gamma = chooser ? chooser->next(st, first_gamma) : first_gamma;
      request.gamma = std::min(gamma, room - 1);                                // never overshoot
      auto a = clock::now();
      const draft_block& d = drafter_.draft(request, g);
      if (d.size() > request.gamma) throw invalid_argument("drafter returned more tokens than requested");
      auto b = clock::now();
      const std::size_t committed = target_.size();
      block.assign(1, pending);
      block.insert(block.end(), d.tokens.begin(), d.tokens.end());
      const std::span<const float> z = target_.forward(block);
      auto c = clock::now();
      const verdict v = rule_.verify(d, z, target_.vocab_size(), g);
      auto e = clock::now();
      emitted.assign(d.tokens.begin(), d.tokens.begin() + static_cast<std::ptrdiff_t>(v.accepted));
      emitted.push_back(v.next);
      target_.truncate(committed + 1 + v.accepted);  // pending + accepted drafts; v.next is pending now
      pending = v.next;
      st.record_step(d.size(), v.accepted, emitted.size());

      bool stop = false;
      for (const token t : emitted) {
        out.tokens.push_back(t);
        if (std::find(options_.stop_tokens.begin(), options_.stop_tokens.end(), t) != options_.stop_tokens.end()) {
          out.reason = stop_reason::stop_token;
          stop = true;
          break;
        }
        if (on_token && !on_token(t)) { stop = true; break; }
      }
      if (!stop) drafter_.commit(emitted);
      auto f = clock::now();
      st.draft_s += seconds(a, b);
      st.verify_s += seconds(b, c);
      st.accept_s += seconds(c, e);
      st.sync_s += seconds(e, f);
      if (stop) break;
    }
    st.emitted = out.tokens.size();  // tokens after a stop are dropped
    return out;
  }

private:
  Target& target_;
  Drafter& drafter_;
  decoder_options options_;
  Rule rule_;
};

} // namespace rapid::spec
