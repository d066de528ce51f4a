// Acceptance rules checked by statistics: each rule's emitted-token distribution against its
// exact form (p for speculative sampling, p_hat for the exact RAPID rule, algorithm.md's closed
// form for the official RAPID rule), chi-square over 100,000 draws per configuration at a 1e-4
// significance level, plus decision-for-decision identities under shared random draws.
#include <algorithm>
#include <cmath>
#include <vector>

#include <doctest/doctest.h>

#include "rapid/spec/acceptance/greedy_match.hpp"
#include "rapid/spec/acceptance/retrieval_augmented.hpp"
#include "rapid/spec/acceptance/retrieval_augmented_exact.hpp"
#include "rapid/spec/acceptance/speculative_sampling.hpp"
#include "spec/synthetic.hpp"

using namespace rapid;
using spec::token;

namespace {

constexpr std::size_t vocab = 8;
constexpr std::size_t samples = 100'000;

/// A verification problem: gamma + 1 target logit rows and gamma (+1) drafter distributions.
struct problem {
  std::vector<float> z;  // (gamma + 1, vocab) target logits
  std::vector<float> q;  // (gamma + 1, vocab) processed drafter distributions
  std::size_t gamma;
};

problem make_problem(std::size_t gamma, const spec::sampling_options& s, std::uint64_t salt) {
  problem pr{{}, {}, gamma};
  spec::distribution_maker make_q(s);
  for (std::size_t i = 0; i <= gamma; ++i) {
    const auto zt = test::synthetic_logits(salt, token(i), i, vocab);
    auto zd = test::synthetic_logits(salt + 1000, token(i), i, vocab);
    for (std::size_t t = 0; t < vocab; ++t) zd[t] = 0.6f * zd[t] + 0.4f * zt[t];  // a drafter that partly agrees
    pr.z.insert(pr.z.end(), zt.begin(), zt.end());
    std::vector<float> q(vocab);
    make_q(zd, q);
    pr.q.insert(pr.q.end(), q.begin(), q.end());
  }
  return pr;
}

/// Draws a draft block from the problem's q rows.
void draw(const problem& pr, bool next_q, spec::draft_block& d, rng& g) {
  d.clear(vocab);
  for (std::size_t i = 0; i < pr.gamma; ++i)
    d.tokens.push_back(ops::sample_weights(std::span<const float>(pr.q.data() + i * vocab, vocab), g));
  d.q.assign(pr.q.begin(), pr.q.begin() + static_cast<std::ptrdiff_t>((pr.gamma + (next_q ? 1 : 0)) * vocab));
  d.has_next_q = next_q;
}

/// Histogram of the first emitted token of a step.
template <class Rule>
std::vector<std::size_t> first_token_counts(Rule& rule, const problem& pr, std::uint64_t seed) {
  std::vector<std::size_t> counts(vocab, 0);
  rng g(seed);
  spec::draft_block d;
  for (std::size_t s = 0; s < samples; ++s) {
    draw(pr, Rule::wants_next_q, d, g);
    const auto v = rule.verify(d, pr.z, vocab, g);
    ++counts[static_cast<std::size_t>(v.accepted > 0 ? d.tokens[0] : v.next)];
  }
  return counts;
}

std::vector<double> as_double(std::span<const float> x) { return {x.begin(), x.end()}; }

void check_fits(std::span<const std::size_t> counts, std::span<const double> probs) {
  const auto [stat, df] = test::chi_square(counts, probs);
  INFO("chi2 = " << stat << ", df = " << df << ", critical(1e-4) = " << test::chi_square_critical(df));
  REQUIRE(df >= 1);
  CHECK(stat < test::chi_square_critical(df));
}

std::vector<float> row(const std::vector<float>& m, std::size_t i) {
  return {m.begin() + static_cast<std::ptrdiff_t>(i * vocab), m.begin() + static_cast<std::ptrdiff_t>((i + 1) * vocab)};
}

const spec::sampling_options settings[] = {
    {.temperature = 0.6f}, {.temperature = 1.0f}, {.temperature = 1.6f}, {.temperature = 1.0f, .top_k = 5},
    {.temperature = 0.9f, .top_p = 0.8f}};

} // namespace

TEST_CASE("speculative_sampling emits exactly p (chi-square, 100k draws per setting)") {
  for (const auto& s : settings)
    for (std::size_t gamma : {0u, 1u, 4u}) {  // gamma 0: the bonus draw alone (LC's every token)
      CAPTURE(s.temperature); CAPTURE(s.top_k); CAPTURE(s.top_p); CAPTURE(gamma);
      const auto pr = make_problem(gamma, s, 7 + gamma);
      spec::speculative_sampling rule({.sampling = s});
      const auto counts = first_token_counts(rule, pr, 42);
      std::vector<float> p(vocab);
      spec::distribution_maker{s}(row(pr.z, 0), p);
      check_fits(counts, as_double(p));
      // The test has power: the same draws are far from the drafter's own distribution.
      const auto [stat_q, df_q] = test::chi_square(counts, as_double(row(pr.q, 0)));
      CHECK(stat_q > 10 * test::chi_square_critical(std::max<std::size_t>(df_q, 1)));
    }
}

TEST_CASE("retrieval_augmented_exact emits exactly p_hat, the bonus position included") {
  for (const auto& s : settings)
    for (float eta : {2.f, 10.f})
      for (std::size_t gamma : {0u, 1u, 4u})
        for (float alpha : {0.1f, 0.f}) {  // alpha 0: every token in RAPID's mask
        CAPTURE(s.temperature); CAPTURE(eta); CAPTURE(gamma); CAPTURE(alpha);
        const auto pr = make_problem(gamma, s, 11 + gamma);
        spec::retrieval_augmented_exact rule({.sampling = s, .eta = eta, .alpha = alpha});
        const auto counts = first_token_counts(rule, pr, 43);
        std::vector<float> p(vocab), p_hat(vocab);
        spec::distribution_maker{s}(row(pr.z, 0), p);
        spec::shift_toward_drafter(p, row(pr.q, 0), eta, alpha, p_hat);
        check_fits(counts, as_double(p_hat));
        const auto [stat_p, df_p] = test::chi_square(counts, as_double(p));  // p_hat != p: power
        CHECK(stat_p > test::chi_square_critical(std::max<std::size_t>(df_p, 1)));
      }
}

TEST_CASE("retrieval_augmented matches algorithm.md's closed form, not p_hat") {
  for (const auto& s : settings)
    for (float eta : {2.f, 10.f, 30.f})
      for (std::size_t gamma : {1u, 4u}) {
        CAPTURE(s.temperature); CAPTURE(eta); CAPTURE(gamma);
        const auto pr = make_problem(gamma, s, 13 + gamma);
        spec::retrieval_augmented rule({.sampling = s, .eta = eta, .alpha = 0.1f});
        const auto counts = first_token_counts(rule, pr, 44);
        std::vector<float> p(vocab), p_hat(vocab);
        spec::distribution_maker{s}(row(pr.z, 0), p);
        const auto q = row(pr.q, 0);
        spec::shift_toward_drafter(p, q, eta, 0.1f, p_hat);
        // P_out = min(q, p_hat) + (1 - beta) R / sum R, beta = sum min(q, p_hat), R = max(0, p - min(q, p_hat))
        std::vector<double> out(vocab), r(vocab);
        double beta = 0, r_sum = 0;
        for (std::size_t t = 0; t < vocab; ++t) {
          const double m = std::min(q[t], p_hat[t]);
          out[t] = m;
          beta += m;
          r[t] = std::max(0.0, double(p[t]) - m);
          r_sum += r[t];
        }
        for (std::size_t t = 0; t < vocab; ++t) out[t] += r_sum > 0 ? (1 - beta) * r[t] / r_sum : 0;
        check_fits(counts, out);
      }
}

TEST_CASE("retrieval_augmented with eta = 0 makes speculative_sampling's decisions under the same draws") {
  for (const auto& s : settings) {
    const auto pr = make_problem(4, s, 99);
    spec::speculative_sampling ss({.sampling = s});
    spec::retrieval_augmented ra({.sampling = s, .eta = 0.f});
    spec::retrieval_augmented_exact rx({.sampling = s, .eta = 0.f});
    rng g_draft(5), g_ss(6), g_ra(6), g_rx(6);
    spec::draft_block d, d_next;
    std::size_t differ = 0, rejected = 0;
    for (int i = 0; i < 20000; ++i) {
      draw(pr, false, d, g_draft);
      d_next = d;
      d_next.q.assign(pr.q.begin(), pr.q.end());
      d_next.has_next_q = true;
      const auto a = ss.verify(d, pr.z, vocab, g_ss), b = ra.verify(d, pr.z, vocab, g_ra), c = rx.verify(d_next, pr.z, vocab, g_rx);
      differ += (a.accepted != b.accepted || a.next != b.next) + (a.accepted != c.accepted || a.next != c.next);
      rejected += a.accepted < 4;
    }
    CHECK(differ == 0);
    CHECK(rejected > 1000);  // both branches were exercised
  }
}

TEST_CASE("greedy_match accepts exactly the argmax prefix") {
  const auto pr = make_problem(5, {.temperature = 1.f}, 3);
  spec::greedy_match rule;
  spec::draft_block d;
  d.clear(vocab);
  d.one_hot = true;
  for (std::size_t i = 0; i < 5; ++i) d.tokens.push_back(ops::argmax(row(pr.z, i)));
  rng g(1);
  auto v = rule.verify(d, pr.z, vocab, g);
  CHECK(v.accepted == 5);
  CHECK(v.next == ops::argmax(row(pr.z, 5)));
  d.tokens[2] = (d.tokens[2] + 1) % token(vocab);
  v = rule.verify(d, pr.z, vocab, g);
  CHECK(v.accepted == 2);
  CHECK(v.next == ops::argmax(row(pr.z, 2)));
}

TEST_CASE("acceptance rules refuse malformed input") {
  spec::speculative_sampling ss;
  spec::draft_block d;
  d.clear(vocab);
  d.tokens = {1, 2};
  d.q.assign(2 * vocab, 1.f / vocab);
  std::vector<float> z(2 * vocab, 0.f);  // one row short
  rng g(1);
  CHECK_THROWS_AS(ss.verify(d, z, vocab, g), invalid_argument);
  CHECK_THROWS_AS(spec::speculative_sampling({.sampling = {.temperature = -1.f}}), invalid_argument);
  CHECK_THROWS_AS(spec::retrieval_augmented({.sampling = {}, .eta = NAN}), invalid_argument);
  CHECK_THROWS_AS(spec::retrieval_augmented({.sampling = {}, .eta = 10.f, .alpha = 2.f}), invalid_argument);
  CHECK_THROWS_AS(spec::speculative_sampling({.sampling = {.temperature = 1.f, .repetition_penalty = 1.3f}}), invalid_argument);
}

TEST_CASE("SIMD distribution helpers equal their scalar definitions") {
  rng g(17);
  for (std::size_t n : {1u, 7u, 16u, 33u, 1000u, 49152u}) {
    std::vector<float> z(n), p(n), q(n), ref(n);
    for (auto& x : z) x = float(g.uniform() * 20 - 10);
    for (auto& x : q) x = float(g.uniform());
    z[n / 2] = 12.f;
    CHECK(ops::argmax(z) == token(n / 2));
    ops::softmax_scaled(z, 0.7f, p);
    double s = 0;
    for (std::size_t i = 0; i < n; ++i) s += std::exp(double(z[i]) * 0.7 - 12 * 0.7);
    double max_err = 0;
    for (std::size_t i = 0; i < n; ++i) max_err = std::max(max_err, std::abs(p[i] - std::exp(double(z[i]) * 0.7 - 8.4) / s));
    CHECK(max_err < 1e-6);
    ops::positive_difference(p, q, ref);
    for (std::size_t i = 0; i < n; ++i) REQUIRE(ref[i] == std::max(p[i] - q[i], 0.f));
  }
}
