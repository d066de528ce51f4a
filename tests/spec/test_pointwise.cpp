// The pointwise distribution pieces the acceptance rules read single entries through
// (ops/softmax_normaliser.hpp, ops/sample.hpp, spec/acceptance/rapid_shift.hpp), against full
// rows and brute force: the softmax normaliser, the plausible set, RAPID's p_hat(x) and the
// bonus draw that walks the logits. Row lengths cover SIMD tails, chunk and segment boundaries
// and full vocabularies; thread counts 1, 2 and 3 must give bit-identical results (segments are
// fixed by the row length).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include <doctest/doctest.h>

#include "rapid/ops/row_segments.hpp"
#include "rapid/ops/sample.hpp"
#include "rapid/ops/softmax.hpp"
#include "rapid/ops/softmax_normaliser.hpp"
#include "rapid/spec/acceptance/rapid_shift.hpp"
#include "rapid/spec/distribution.hpp"
#include "spec/verify_inputs.hpp"

using namespace rapid;
using namespace rapid::spec;
using namespace rapid::ops;

namespace {

std::vector<float> peaked_row(std::size_t n, std::uint64_t seed) {
  std::vector<float> z(n);
  test::normal_source src(seed);
  if (n < 16) {  // too short for a peaked row: plain normal logits
    for (auto& v : z) v = 2.f * src();
    return z;
  }
  test::peaked_logits(src, z);
  return z;
}

std::vector<float> softmax_row(std::span<const float> z, float inv_t) {
  std::vector<float> p(z.size());
  softmax_scaled(z, inv_t, p);
  return p;
}

} // namespace

TEST_CASE("softmax_normaliser gives softmax_scaled's probabilities, the same on any thread count") {
  for (std::size_t n : {1u, 15u, 2047u, 2049u, 16384u, 16385u, 49152u, 151936u}) {
    for (float t : {0.5f, 1.f, 1.7f}) {
      const auto z = peaked_row(n, n * 31 + static_cast<std::size_t>(t * 10));
      const auto p = softmax_row(z, 1.f / t);
      const auto norm = softmax_normaliser::of(z, 1.f / t, 1);
      std::vector<float> written(n);
      norm.write(z, written);
      double mass = 0, worst = 0;
      for (std::size_t j = 0; j < n; ++j) {
        mass += written[j];
        CHECK(norm(z[j]) == written[j]);  // pointwise == the written row, bit for bit
        worst = std::max(worst, std::abs(double(written[j]) - p[j]) / std::max(double(p[j]), 1e-30));
      }
      INFO("n " << n << " T " << t);
      CHECK(worst < 1e-5);  // both sum 152K terms in float lanes: a few 1e-6 of drift
      CHECK(mass == doctest::Approx(1.0).epsilon(1e-5));
      double seg_mass = 0;
      for (double m : norm.mass) seg_mass += m;
      CHECK(seg_mass == doctest::Approx(1.0).epsilon(1e-12));
      for (int threads : {2, 3}) {
        const auto other = softmax_normaliser::of(z, 1.f / t, threads);
        CHECK(other.inv_sum == norm.inv_sum);
        CHECK(other.shift == norm.shift);
      }
    }
  }
}

TEST_CASE("plausible_set finds exactly {q >= alpha * max q}, refuses a flat q") {
  for (std::size_t n : {7u, 977u, 49152u, 151936u}) {
    for (float alpha : {0.05f, 0.1f, 0.5f, 1.f}) {
      const auto q = softmax_row(peaked_row(n, n + 5), 1.f);
      const float cut = alpha * *std::max_element(q.begin(), q.end());
      std::vector<std::uint32_t> expected;
      for (std::size_t j = 0; j < n; ++j)
        if (q[j] >= cut) expected.push_back(static_cast<std::uint32_t>(j));
      for (int threads : {1, 2}) {
        plausible_set m;
        INFO("n " << n << " alpha " << alpha << " threads " << threads);
        const bool ok = m.find(q, alpha, 256, threads);
        CHECK(ok == (expected.size() <= 256));
        if (ok) CHECK(m.index == expected);
      }
    }
  }
  const std::vector<float> flat(5000, 1.f / 5000);
  plausible_set m;
  CHECK_FALSE(m.find(flat, 0.1f, 256));
  CHECK_FALSE(m.find(softmax_row(peaked_row(5000, 3), 1.f), 0.f, 256));  // alpha 0: every token
}

TEST_CASE("pointwise p_hat(x) equals the full shifted row at every token") {
  for (std::size_t n : {977u, 151936u}) {
    for (float eta : {2.f, 10.f, 40.f}) {
      const auto z = peaked_row(n, 77 + n);
      // A drafter close to the target on its top tokens, with its own tail.
      auto zq = peaked_row(n, 78 + n);
      const auto top = static_cast<std::size_t>(std::max_element(z.begin(), z.end()) - z.begin());
      zq[top] = *std::max_element(zq.begin(), zq.end()) + 0.5f;
      const auto q = softmax_row(zq, 1.f);
      const target_row p(z, softmax_normaliser::of(z, 1.f));
      std::vector<float> p_row(n), p_hat(n);
      p.materialise(p_row);
      shift_toward_drafter(p_row, q, eta, 0.1f, p_hat);
      plausible_set m;
      REQUIRE(m.find(q, 0.1f, 256));
      sparse_weights extra;
      shifted_extra(p, [&](std::size_t j) { return q[j]; }, m, eta, extra);
      double worst = 0;
      for (std::size_t j = 0; j < n; j += (n > 1000 ? 37 : 1)) {
        const float a = shifted_at(p, extra, static_cast<token>(j)), b = p_hat[j];
        worst = std::max(worst, std::abs(double(a) - b) / std::max(double(b), 1e-30));
      }
      for (const auto j : m.index) {
        const float a = shifted_at(p, extra, static_cast<token>(j)), b = p_hat[j];
        worst = std::max(worst, std::abs(double(a) - b) / std::max(double(b), 1e-30));
      }
      INFO("n " << n << " eta " << eta);
      CHECK(worst < 1e-4);
    }
  }
}

TEST_CASE("sample_softmax is an inverse-CDF draw from the written weights") {
  // Each draw must land on the token whose CDF interval holds u * total, up to float rounding of
  // the running sums (1e-5 of the mass); and it agrees with sample_weights on almost every draw.
  for (std::size_t n : {977u, 49152u, 151936u}) {
    const auto z = peaked_row(n, 900 + n);
    const auto norm = softmax_normaliser::of(z, 1.f / 0.8f);
    std::vector<float> w(n);
    norm.write(z, w);
    // A few extra weights (RAPID's shift), sorted by token.
    const sparse_weights extra{{3, 0.2}, {static_cast<std::uint32_t>(n / 2), 0.05}, {static_cast<std::uint32_t>(n - 1), 0.4}};
    for (bool with_extra : {false, true}) {
      std::vector<double> cdf(n + 1, 0.0);  // (n + 1) exclusive prefix sums in double
      std::vector<float> weights = w;
      if (with_extra)
        for (const auto& [j, add] : extra) weights[j] += static_cast<float>(add);
      for (std::size_t j = 0; j < n; ++j) cdf[j + 1] = cdf[j] + weights[j];
      rng g(5), g_ref(5);
      const std::size_t draws = 3000;
      std::size_t outside = 0, same = 0, hits_last = 0;
      for (std::size_t k = 0; k < draws; ++k) {
        rng peek = g;
        const double u = peek.uniform() * cdf[n];
        const token a = sample_softmax(z, norm, with_extra ? extra : sparse_weights{}, g);
        const auto j = static_cast<std::size_t>(a);
        outside += !(j < n && cdf[j] - 1e-5 <= u && u <= cdf[j + 1] + 1e-5);
        same += a == sample_weights(weights, g_ref);
        hits_last += j == n - 1;
      }
      INFO("n " << n << " extra " << with_extra);
      CHECK(outside == 0);
      CHECK(same >= draws * 99 / 100);
      if (with_extra) CHECK(hits_last > draws * (0.4 / 1.65) * 0.8);  // token n - 1 holds ~0.4 / 1.65 of the mass
    }
  }
}
