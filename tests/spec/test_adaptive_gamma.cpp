// gamma auto: the expected-tokens formula, the choice it makes on cost tables whose best gamma is
// known by argument, the acceptance estimate, and refusals.
#include <doctest/doctest.h>

#include <vector>

#include "rapid/spec/adaptive_gamma.hpp"

using namespace rapid;
using spec::adaptive_gamma;

namespace {
/// Costs of a forward over k tokens, k = 0 .. max + 1 (index 0 unused).
std::vector<double> costs(std::size_t max_gamma, double fixed, double per_token) {
  std::vector<double> c(max_gamma + 2, 0.0);
  for (std::size_t k = 1; k < c.size(); ++k) c[k] = fixed + per_token * static_cast<double>(k);
  return c;
}
} // namespace

TEST_CASE("expected tokens per step: 1 at acceptance 0, gamma + 1 at 1, the geometric sum between") {
  CHECK(spec::expected_tokens(4, 0.0) == doctest::Approx(1.0));
  CHECK(spec::expected_tokens(4, 1.0) == doctest::Approx(5.0));
  CHECK(spec::expected_tokens(2, 0.5) == doctest::Approx(1.75));  // 1 + 0.5 + 0.25
}

TEST_CASE("gamma auto picks the largest gamma when verification is free of width, the smallest when it is not") {
  // Width-free verification and free drafts: every extra draft is a free chance of a token.
  const adaptive_gamma flat(costs(10, 1.0, 0.0), {.max_gamma = 10});
  CHECK(flat.best(0.9, 0.0) == 10);
  // Verification as expensive as k separate steps: speculation can only lose, so gamma 1 (the least).
  const adaptive_gamma linear(costs(10, 0.0, 1.0), {.max_gamma = 10});
  CHECK(linear.best(0.9, 0.0) == 1);
  // The CPU case in between: a fixed step cost plus a per-token part; higher acceptance, longer drafts.
  const adaptive_gamma cpu(costs(10, 1.0, 0.12), {.max_gamma = 10});
  const std::size_t low = cpu.best(0.5, 0.05), high = cpu.best(0.9, 0.05);
  CHECK(low < high);
  CHECK(high < 10);
  // Expensive drafts shorten them.
  CHECK(cpu.best(0.9, 0.5) < high);
}

TEST_CASE("gamma auto: acceptance starts at the prior and follows the judged drafts; fallback before any draft") {
  const adaptive_gamma g(costs(6, 1.0, 0.1), {.max_gamma = 6, .prior_acceptance = 0.7, .prior_drafts = 8});
  spec::decode_stats st;
  CHECK(g.acceptance(st) == doctest::Approx(0.7));
  CHECK(g.next(st, 4) == 4);
  CHECK(g.next(st, 9) == 6);  // never above the largest gamma
  st.drafted = 100, st.accepted = 90, st.draft_s = 1.0;
  CHECK(g.acceptance(st) == doctest::Approx((90 + 0.7 * 8) / 108.0));
  CHECK(g.next(st, 4) == g.best(g.acceptance(st), 0.01));
}

TEST_CASE("gamma auto refuses incomplete or meaningless cost tables") {
  CHECK_THROWS_AS(adaptive_gamma(costs(4, 1.0, 0.1), {.max_gamma = 6}), invalid_argument);  // too few widths
  CHECK_THROWS_AS(adaptive_gamma(costs(4, 1.0, 0.1), {.max_gamma = 0}), invalid_argument);
  auto bad = costs(4, 1.0, 0.1);
  bad[3] = -1;
  CHECK_THROWS_AS(adaptive_gamma(bad, {.max_gamma = 4}), invalid_argument);
  CHECK_THROWS_AS(adaptive_gamma(costs(4, 1.0, 0.1), {.max_gamma = 4, .prior_acceptance = 1.5}), invalid_argument);
}
