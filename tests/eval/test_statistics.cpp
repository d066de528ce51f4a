// The exact McNemar test: hand-computed p-values, symmetry, and its level under the null
// hypothesis (simulated with a fixed seed: an exact test must not reject more often than alpha).
#include <doctest/doctest.h>

#include <cstddef>
#include <random>

#include "rapid/eval/statistics.hpp"

using rapid::eval::mcnemar_exact_p;

TEST_CASE("mcnemar: p-values computed by hand") {
  // b + c = 5, min 0: 2 x 1/32.
  CHECK(mcnemar_exact_p(0, 5) == doctest::Approx(2.0 / 32).epsilon(1e-12));
  // b + c = 10, min 1: 2 x (1 + 10) / 1024.
  CHECK(mcnemar_exact_p(9, 1) == doctest::Approx(22.0 / 1024).epsilon(1e-12));
  // b + c = 20, min 5: 2 x (1 + 20 + 190 + 1140 + 4845 + 15504) / 2^20.
  CHECK(mcnemar_exact_p(5, 15) == doctest::Approx(2.0 * 21700 / 1048576).epsilon(1e-12));
  // No discordant instance, or a tie: no evidence either way.
  CHECK(mcnemar_exact_p(0, 0) == 1.0);
  CHECK(mcnemar_exact_p(7, 7) == 1.0);
  CHECK(mcnemar_exact_p(1, 0) == 1.0);
}

TEST_CASE("mcnemar: symmetric, monotone in the imbalance, finite for large counts") {
  for (std::size_t b = 0; b <= 30; ++b)
    for (std::size_t c = 0; c <= 30; ++c) CHECK(mcnemar_exact_p(b, c) == mcnemar_exact_p(c, b));
  double last = 1.0;
  for (std::size_t b = 20; b <= 40; ++b) {  // n = 40, the split moving away from 20/20
    const double p = mcnemar_exact_p(b, 40 - b);
    CHECK(p <= last);
    last = p;
  }
  const double big = mcnemar_exact_p(4800, 5200);  // 2^10000 overflows a double; the log-space sum does not
  CHECK(big > 0);
  CHECK(big < 1e-4);
  CHECK(mcnemar_exact_p(5000, 5000) == 1.0);
}

TEST_CASE("mcnemar: rejects at most alpha of null samples, and detects a real difference") {
  // 4000 simulated comparisons of 40 discordant instances each, seed fixed.
  std::mt19937_64 rng(20261126);
  auto rejection_rate = [&](double p_first) {
    std::binomial_distribution<std::size_t> first(40, p_first);
    int rejected = 0;
    for (int i = 0; i < 4000; ++i) {
      const std::size_t b = first(rng);
      rejected += mcnemar_exact_p(b, 40 - b) < 0.05;
    }
    return rejected / 4000.0;
  };
  // Null: the exact test's size for n = 40 is 0.038 (P(X <= 13) x 2); 3 standard errors above.
  CHECK(rejection_rate(0.5) < 0.038 + 3 * 0.003);
  // A 75/25 split of the discordant instances: the power at n = 40 is about 0.9.
  CHECK(rejection_rate(0.75) > 0.8);
}
