#pragma once
// Paired tests for comparing two methods on the same task instances: each instance answered
// right or wrong by both, so what counts is the instances where exactly one of them is right.
#include <algorithm>
#include <cmath>
#include <cstddef>

namespace rapid::eval {

/// Two-sided exact McNemar test. b: instances only the first method answers right; c: only the
/// second. Under "neither method is better" each discordant instance goes either way with
/// probability 1/2, so the p-value is 2 P(X <= min(b, c)) for X ~ Binomial(b + c, 1/2), capped
/// at 1 (and 1 when nothing is discordant).
[[nodiscard]] inline double mcnemar_exact_p(std::size_t b, std::size_t c) {
  const std::size_t n = b + c, k = std::min(b, c);
  if (n == 0) return 1.0;
  // The tail in log space: C(n, i) / 2^n underflows no double for n in the millions.
  const double log_total = std::lgamma(double(n) + 1) - double(n) * std::log(2.0);
  double tail = 0;
  for (std::size_t i = 0; i <= k; ++i)
    tail += std::exp(log_total - std::lgamma(double(i) + 1) - std::lgamma(double(n - i) + 1));
  return std::min(1.0, 2 * tail);
}

} // namespace rapid::eval
