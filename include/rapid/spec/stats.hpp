#pragma once
// Per-run statistics of a speculative decoder, with the definitions of algorithm.md section 4.
#include <cstddef>
#include <vector>

namespace rapid::spec {

struct decode_stats {
  std::size_t target_prompt_tokens = 0;   // tokens in the target's prompt
  std::size_t drafter_prompt_tokens = 0;  // tokens in the drafter's prompt
  std::size_t emitted = 0;                // tokens produced (a stop token included)
  std::size_t steps = 0;                  // target verification calls
  std::size_t drafted = 0;                // drafted tokens offered to the rule
  std::size_t accepted = 0;               // drafted tokens the rule accepted
  std::vector<std::size_t> offered_at;    // (gamma) drafts offered at position i
  std::vector<std::size_t> accepted_at;   // (gamma) drafts accepted at position i
  std::vector<std::size_t> accepted_hist; // (gamma + 1) steps that accepted exactly k drafts
  double target_prefill_s = 0, drafter_prefill_s = 0;  // prompt processing (excluded from decode)
  double draft_s = 0;    // drafter proposing tokens
  double verify_s = 0;   // target forward over the verification block
  double accept_s = 0;   // the acceptance rule
  double sync_s = 0;     // rolling back and feeding emitted tokens to the drafter
  double calibration_s = 0;  // gamma auto: timing the target's verification costs (adaptive_gamma.hpp)

  /// accepted drafted tokens / drafted tokens (0 when nothing was drafted)
  [[nodiscard]] double acceptance_rate() const noexcept { return drafted ? double(accepted) / double(drafted) : 0.0; }
  /// mean tokens emitted per target call, in [1, gamma + 1]
  [[nodiscard]] double tau() const noexcept { return steps ? double(emitted) / double(steps) : 0.0; }
  [[nodiscard]] double decode_seconds() const noexcept { return draft_s + verify_s + accept_s + sync_s + calibration_s; }
  /// emitted tokens per second of decoding, prefill excluded
  [[nodiscard]] double decode_tokens_per_second() const noexcept {
    return decode_seconds() > 0 ? double(emitted) / decode_seconds() : 0.0;
  }
  [[nodiscard]] double acceptance_at(std::size_t i) const noexcept {
    return i < offered_at.size() && offered_at[i] ? double(accepted_at[i]) / double(offered_at[i]) : 0.0;
  }

  void record_step(std::size_t offered, std::size_t accepted_drafts, std::size_t emitted_tokens) {
    ++steps;
    drafted += offered;
    accepted += accepted_drafts;
    emitted += emitted_tokens;
    if (offered_at.size() < offered) {
      offered_at.resize(offered, 0);
      accepted_at.resize(offered, 0);
    }
    for (std::size_t i = 0; i < offered; ++i) ++offered_at[i];
    for (std::size_t i = 0; i < accepted_drafts; ++i) ++accepted_at[i];
    if (accepted_hist.size() <= accepted_drafts) accepted_hist.resize(accepted_drafts + 1, 0);
    ++accepted_hist[accepted_drafts];
  }
};

} // namespace rapid::spec
