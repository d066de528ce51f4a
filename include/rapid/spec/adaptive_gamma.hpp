#pragma once
// Draft length from measured costs (`gamma auto`): each step drafts the gamma that maximises
// expected tokens per second on this machine, from
//   - the target's verification cost: seconds of one forward over k = 1 .. max_gamma + 1 new
//     tokens at the current cache depth, measured once per generation (measure_verify_costs);
//   - the drafter's cost per drafted token, measured as the generation goes (decode_stats);
//   - the acceptance seen so far, pulled towards a prior while few drafts have been judged.
// With per-token acceptance a (independent positions, Leviathan et al.), gamma drafts emit
// (1 - a^(gamma+1)) / (1 - a) tokens per step on average; the step costs gamma drafts plus one
// verification of gamma + 1 tokens. The paper's gamma = 10 is a GPU number: on a CPU a
// verification of 11 tokens costs 2 or more decode steps and the best gamma is smaller.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "rapid/core/error.hpp"
#include "rapid/spec/stats.hpp"

namespace rapid::spec {

/// Expected tokens emitted by a step of gamma drafts at per-token acceptance a in [0, 1].
[[nodiscard]] inline double expected_tokens(std::size_t gamma, double a) noexcept {
  if (a >= 1) return static_cast<double>(gamma + 1);
  return (1 - std::pow(a, static_cast<double>(gamma + 1))) / (1 - a);
}

struct adaptive_gamma_options {
  std::size_t max_gamma = 10;
  double prior_acceptance = 0.7;  // acceptance assumed before any draft was judged
  double prior_drafts = 8;        // weight of that prior, in judged drafts
};

class adaptive_gamma {
public:
  /// verify_s: (max_gamma + 2) seconds of a target forward over k tokens at index k (index 0 unused).
  adaptive_gamma(std::vector<double> verify_s, adaptive_gamma_options options = {})
      : verify_s_(std::move(verify_s)), options_(options) {
    if (options_.max_gamma == 0) throw invalid_argument("gamma auto: the largest gamma must be positive");
    if (verify_s_.size() < options_.max_gamma + 2)
      throw invalid_argument("gamma auto: " + std::to_string(verify_s_.size()) + " verification costs for gamma up to " +
                             std::to_string(options_.max_gamma) + " (need k = 1 .. " + std::to_string(options_.max_gamma + 1) + ")");
    for (std::size_t k = 1; k < verify_s_.size(); ++k)
      if (!(verify_s_[k] > 0) || !std::isfinite(verify_s_[k]))
        throw invalid_argument("gamma auto: the verification cost of " + std::to_string(k) + " tokens is not a positive time");
    if (!(options_.prior_acceptance >= 0 && options_.prior_acceptance <= 1) || !(options_.prior_drafts >= 0))
      throw invalid_argument("gamma auto: the acceptance prior must be in [0, 1] with a weight >= 0");
  }

  /// Acceptance estimate from the drafts judged so far, shrunk towards the prior.
  [[nodiscard]] double acceptance(const decode_stats& st) const noexcept {
    return (static_cast<double>(st.accepted) + options_.prior_acceptance * options_.prior_drafts) /
           (static_cast<double>(st.drafted) + options_.prior_drafts);
  }

  /// The gamma in [1, max_gamma] with the most expected tokens per second at acceptance a when a
  /// drafted token costs draft_s seconds.
  [[nodiscard]] std::size_t best(double a, double draft_s) const noexcept {
    std::size_t best_gamma = 1;
    double best_rate = 0;
    for (std::size_t g = 1; g <= options_.max_gamma; ++g) {
      const double rate = expected_tokens(g, a) / (static_cast<double>(g) * draft_s + verify_s_[g + 1]);
      if (rate > best_rate) best_rate = rate, best_gamma = g;
    }
    return best_gamma;
  }

  /// The next step's gamma from the generation so far; `fallback` until a draft cost is known.
  [[nodiscard]] std::size_t next(const decode_stats& st, std::size_t fallback) const noexcept {
    if (st.drafted == 0) return std::min(fallback, options_.max_gamma);
    return best(acceptance(st), st.draft_s / static_cast<double>(st.drafted));
  }

  [[nodiscard]] std::span<const double> verify_costs() const noexcept { return verify_s_; }

private:
  std::vector<double> verify_s_;  // (max_gamma + 2) seconds per target forward of k tokens
  adaptive_gamma_options options_;
};

/// Seconds of a target forward over k = 1 .. k_max tokens (`filler` repeated) at its current
/// depth. Forwards of k = 1, 2, 4, 8, 16 (up to k_max) and k_max are timed, each the median of
/// `repeats` runs, and the costs between them interpolated linearly (at most 6 forwards: a
/// fraction of a second for a 1.5B model). The cache is rolled back after each, so the target is
/// left as it was. Result: (k_max + 1), index 0 unused.
template <class Target, class Token>
std::vector<double> measure_verify_costs(Target& target, Token filler, std::size_t k_max, std::size_t repeats = 1) {
  using clock = std::chrono::steady_clock;
  if (k_max == 0 || repeats == 0) throw invalid_argument("measure_verify_costs: k_max and repeats must be positive");
  const std::size_t depth = target.size();
  const std::vector<Token> block(k_max, filler);  // (k_max)
  std::vector<std::size_t> ks;                    // the measured widths, increasing
  for (std::size_t k = 1; k < k_max; k *= 2) ks.push_back(k);
  ks.push_back(k_max);
  std::vector<double> out(k_max + 1, 0.0), runs(repeats);
  for (const std::size_t k : ks) {
    for (auto& r : runs) {
      const auto t0 = clock::now();
      target.forward(std::span<const Token>(block.data(), k));
      r = std::chrono::duration<double>(clock::now() - t0).count();
      target.truncate(depth);
    }
    std::sort(runs.begin(), runs.end());
    out[k] = runs[repeats / 2];
  }
  for (std::size_t i = 0; i + 1 < ks.size(); ++i)
    for (std::size_t k = ks[i] + 1; k < ks[i + 1]; ++k) {
      const double f = static_cast<double>(k - ks[i]) / static_cast<double>(ks[i + 1] - ks[i]);
      out[k] = out[ks[i]] + f * (out[ks[i + 1]] - out[ks[i]]);
    }
  return out;
}

} // namespace rapid::spec
