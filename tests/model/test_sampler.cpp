// The sampler: exact distributions after each processing step, and statistical checks of draws.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "rapid/model/sampler.hpp"

using rapid::model::sampler;
using rapid::model::sampling_options;

namespace {
std::vector<double> softmax(const std::vector<float>& z, double t) {
  double mx = -1e30, sum = 0;
  for (float x : z) mx = std::max(mx, static_cast<double>(x));
  std::vector<double> p(z.size());
  for (std::size_t i = 0; i < z.size(); ++i) sum += (p[i] = std::exp((z[i] - mx) / t));
  for (auto& x : p) x /= sum;
  return p;
}
// Pearson chi-square statistic of observed counts against expected probabilities (cells with p > 0).
double chi_square(const std::vector<std::size_t>& counts, const std::vector<double>& p, std::size_t n) {
  double chi = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] == 0) {
      REQUIRE(counts[i] == 0);
      continue;
    }
    const double e = p[i] * static_cast<double>(n);
    chi += (static_cast<double>(counts[i]) - e) * (static_cast<double>(counts[i]) - e) / e;
  }
  return chi;
}
const std::vector<float> logits{2.0f, 1.0f, 0.5f, 3.0f, -1.0f, 0.0f, 2.5f, 1.5f, -0.5f, 0.25f};
} // namespace

TEST_CASE("rng: reproducible from a seed and uniform (mean, variance, 20-bin chi-square)") {
  rapid::rng a(7), b(7), c(8);
  for (int i = 0; i < 100; ++i) CHECK(a() == b());
  CHECK(a() != c());
  rapid::rng g(123);
  constexpr std::size_t n = 200000;
  std::vector<std::size_t> bins(20);
  double sum = 0, sq = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double u = g.uniform();
    REQUIRE((u >= 0 && u < 1));
    sum += u;
    sq += u * u;
    ++bins[static_cast<std::size_t>(u * 20)];
  }
  CHECK(sum / n == doctest::Approx(0.5).epsilon(0.01));
  CHECK(sq / n - (sum / n) * (sum / n) == doctest::Approx(1.0 / 12).epsilon(0.01));
  CHECK(chi_square(bins, std::vector<double>(20, 0.05), n) < 43.8);  // df 19, p = 0.001
}

TEST_CASE("sampler: greedy is argmax, one-hot, and ignores the generator") {
  sampler s;
  rapid::rng g(1);
  CHECK(s.sample(logits, g) == 3);
  std::vector<float> p(logits.size());
  s.distribution(logits, p);
  for (std::size_t i = 0; i < p.size(); ++i) CHECK(p[i] == (i == 3 ? 1.f : 0.f));
  const std::vector<float> tie{1.f, 5.f, 5.f};
  CHECK(s.sample(tie, g) == 1);  // first of equal maxima
}

TEST_CASE("sampler: temperature, top-k and top-p distributions are exact") {
  std::vector<float> p(logits.size());
  sampler t({.temperature = 0.7f});
  t.distribution(logits, p);
  const auto want = softmax(logits, 0.7);
  for (std::size_t i = 0; i < p.size(); ++i) CHECK(p[i] == doctest::Approx(want[i]).epsilon(1e-5));

  sampler k({.temperature = 1.f, .top_k = 3});
  k.distribution(logits, p);
  const std::vector<float> top3{2.0f, 3.0f, 2.5f};  // tokens 0, 3, 6
  const auto w3 = softmax(top3, 1.0);
  CHECK(p[0] == doctest::Approx(w3[0]));
  CHECK(p[3] == doctest::Approx(w3[1]));
  CHECK(p[6] == doctest::Approx(w3[2]));
  CHECK(p[1] + p[2] + p[4] + p[5] + p[7] + p[8] + p[9] == 0.f);

  // Probabilities at T = 1 sorted: 3 (.388), 6 (.235), 0 (.143), 7 (.087)...; p = 0.7 keeps 3, 6, 0.
  sampler n({.temperature = 1.f, .top_p = 0.7f});
  n.distribution(logits, p);
  const auto full = softmax(logits, 1.0);
  const double mass = full[3] + full[6] + full[0];
  REQUIRE(full[3] + full[6] < 0.7);
  REQUIRE(mass >= 0.7);
  for (std::size_t i : {3u, 6u, 0u}) CHECK(p[i] == doctest::Approx(full[i] / mass).epsilon(1e-5));
  CHECK(p[1] + p[2] + p[4] + p[5] + p[7] + p[8] + p[9] == 0.f);
}

TEST_CASE("sampler: 200K draws follow the processed distribution (chi-square, p = 0.001)") {
  constexpr std::size_t n = 200000;
  const double critical_df9 = 27.88;
  for (const auto& opt : {sampling_options{.temperature = 1.f}, sampling_options{.temperature = 0.5f, .top_k = 4},
                          sampling_options{.temperature = 1.3f, .top_p = 0.8f}}) {
    sampler s(opt);
    std::vector<float> p(logits.size());
    s.distribution(logits, p);
    std::vector<double> expected(p.begin(), p.end());
    std::vector<std::size_t> counts(logits.size());
    rapid::rng g(2025);
    for (std::size_t i = 0; i < n; ++i) ++counts[static_cast<std::size_t>(s.sample(logits, g))];
    CHECK(chi_square(counts, expected, n) < critical_df9);
  }
}

TEST_CASE("sampler: seeds reproduce sequences; repetition penalty follows the CTRL rule") {
  sampler s({.temperature = 1.f});
  rapid::rng a(42), b(42);
  std::vector<int> x, y;
  for (int i = 0; i < 50; ++i) x.push_back(s.sample(logits, a)), y.push_back(s.sample(logits, b));
  CHECK(x == y);

  sampler pen({.temperature = 1.f, .repetition_penalty = 2.f});
  std::vector<float> p(logits.size());
  const std::vector<std::int32_t> history{3, 4, 3};
  pen.distribution(logits, p, history);
  auto z = logits;
  z[3] = 3.0f / 2;    // positive logits are divided
  z[4] = -1.0f * 2;   // negative ones multiplied
  const auto want = softmax(z, 1.0);
  for (std::size_t i = 0; i < p.size(); ++i) CHECK(p[i] == doctest::Approx(want[i]).epsilon(1e-5));
}

TEST_CASE("sampler: invalid options are refused") {
  CHECK_THROWS_AS(sampler({.temperature = -1.f}), rapid::invalid_argument);
  CHECK_THROWS_AS(sampler({.temperature = NAN}), rapid::invalid_argument);
  CHECK_THROWS_AS(sampler({.top_p = 0.f}), rapid::invalid_argument);
  CHECK_THROWS_AS(sampler({.top_p = 1.5f}), rapid::invalid_argument);
  CHECK_THROWS_AS(sampler({.repetition_penalty = 0.f}), rapid::invalid_argument);
}
