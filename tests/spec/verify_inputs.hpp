#pragma once
// Realistic verification inputs for one speculative step at a full vocabulary, from a fixed seed:
// gamma + 1 peaked target logit rows (top-1 probability drawn in [0.3, 0.7], a few runner-ups,
// a normal tail) and gamma + 1 drafter rows q. Two regimes:
//   all_accepted: q == p (bit for bit, from the library's softmax), so every draft is accepted
//                 and the rule processes all gamma + 1 rows (its worst case);
//   typical:      q = softmax(z + noise): close to p, so some drafts are rejected.
// Shared by benchmarks/bench_acceptance.cpp and tests/spec/test_acceptance_scalar.cpp.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <span>
#include <vector>

#include "rapid/core/rng.hpp"
#include "rapid/ops/row.hpp"
#include "rapid/ops/sample.hpp"
#include "rapid/ops/softmax.hpp"
#include "rapid/spec/distribution.hpp"
#include "rapid/spec/types.hpp"

namespace rapid::test {

enum class verify_regime { all_accepted, typical };

struct verify_case {
  std::vector<float> z;       // (gamma + 1, vocab) target logits
  spec::draft_block sampled;  // gamma tokens drawn from q, with gamma + 1 q rows (has_next_q set by the user)
  spec::draft_block greedy;   // gamma argmax-of-q tokens, one-hot (greedy_match's drafts)
  std::uint64_t seed = 0;     // the verifier's rng seed for this case
};

class normal_source {
public:
  explicit normal_source(std::uint64_t seed) : g_(seed) {}
  float operator()() {  // Box-Muller, both outputs used
    if (have_) {
      have_ = false;
      return spare_;
    }
    const double u1 = 1.0 - g_.uniform(), u2 = g_.uniform();
    const double r = std::sqrt(-2.0 * std::log(u1)), a = 2.0 * std::numbers::pi * u2;
    spare_ = static_cast<float>(r * std::sin(a));
    have_ = true;
    return static_cast<float>(r * std::cos(a));
  }
  rng& uniform() { return g_; }

private:
  rng g_;
  float spare_ = 0.f;
  bool have_ = false;
};

/// One peaked logit row: top-1 probability in [0.3, 0.7], three runner-ups sharing 60 % of the
/// rest, the remaining mass spread over a normal(0, 2) tail. z: (vocab)
inline void peaked_logits(normal_source& n, std::span<float> z) {
  const std::size_t vocab = z.size();
  for (auto& v : z) v = 2.f * n();
  rng& g = n.uniform();
  std::size_t special[4];
  for (auto& s : special) s = static_cast<std::size_t>(g() % vocab);
  double tail = 0;
  for (std::size_t t = 0; t < vocab; ++t) tail += std::exp(static_cast<double>(z[t]));
  for (auto s : special) tail -= std::exp(static_cast<double>(z[s]));  // (duplicates: harmless approximation)
  const double top = 0.3 + 0.4 * g.uniform(), rest = 1 - top, tail_mass = 0.4 * rest;
  double w[3], w_sum = 0;
  for (auto& x : w) w_sum += (x = 0.2 + g.uniform());
  const auto logit_for = [&](double prob) { return static_cast<float>(std::log(prob / tail_mass * tail)); };
  for (int j = 0; j < 3; ++j) z[special[j + 1]] = logit_for(0.6 * rest * w[j] / w_sum);
  z[special[0]] = logit_for(top);
}

/// A verification case. drafter_noise: standard deviation of the normal noise added to the target
/// logits to make the drafter's (typical regime). temperature > 0.
[[gnu::noinline]] inline verify_case make_verify_case(std::size_t vocab, std::size_t gamma, verify_regime regime, std::uint64_t seed,
                                                    float temperature = 1.f, float drafter_noise = 1.f) {
  verify_case c;
  c.seed = seed * 0x9e3779b97f4a7c15ull + 1;
  normal_source n(seed);
  const std::size_t rows = gamma + 1;
  c.z.resize(rows * vocab);
  for (std::size_t i = 0; i < rows; ++i) peaked_logits(n, {c.z.data() + i * vocab, vocab});
  auto& d = c.sampled;
  d.clear(vocab);
  d.q.resize(rows * vocab);
  std::vector<float> zi(vocab), zd(vocab), qi(vocab);  // one row at a time
  c.greedy.clear(vocab);
  c.greedy.one_hot = true;
  for (std::size_t i = 0; i < rows; ++i) {
    std::copy_n(c.z.begin() + static_cast<std::ptrdiff_t>(i * vocab), vocab, zi.begin());
    if (regime == verify_regime::all_accepted) {
      ops::softmax_scaled(zi, 1.f / temperature, qi);  // the rules' own p: accepted with probability 1
    } else {
      for (std::size_t t = 0; t < vocab; ++t) zd[t] = zi[t] + drafter_noise * n();
      ops::softmax_scaled(zd, 1.f / temperature, qi);
    }
    std::copy(qi.begin(), qi.end(), d.q.begin() + static_cast<std::ptrdiff_t>(i * vocab));
    if (i == gamma) break;  // the row after the last draft: q only
    d.tokens.push_back(ops::sample_weights(qi, n.uniform()));
    c.greedy.tokens.push_back(ops::argmax(qi));  // == argmax z_i when q == p
  }
  return c;
}

} // namespace rapid::test
