// ops::layer_norm and ops::gelu_inplace against their scalar twins, and known values.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "ops/random_weights.hpp"
#include "rapid/ops/gelu.hpp"
#include "rapid/ops/layer_norm.hpp"

using namespace rapid;

TEST_CASE("layer_norm matches its scalar twin and normalises") {
  for (std::size_t n : {1u, 7u, 16u, 384u, 1000u}) {
    auto x = test::random_activations(n, n + 1);
    for (auto& v : x) v = v * 3.f + 1.5f; // nonzero mean
    auto w = test::random_activations(n, n + 2), b = test::random_activations(n, n + 3);
    std::vector<float> y(n), r(n), unit(n, 1.f), zero(n, 0.f), plain(n);
    ops::layer_norm(x.data(), w.data(), b.data(), y.data(), n, 1e-12f);
    ops::reference::layer_norm(x.data(), w.data(), b.data(), r.data(), n, 1e-12f);
    for (std::size_t i = 0; i < n; ++i) CHECK(y[i] == doctest::Approx(r[i]).epsilon(1e-5));
    ops::layer_norm(x.data(), unit.data(), zero.data(), plain.data(), n, 1e-12f);
    double mean = 0, var = 0;
    for (float v : plain) mean += v;
    mean /= static_cast<double>(n);
    for (float v : plain) var += (v - mean) * (v - mean);
    CHECK(std::fabs(mean) < 1e-5);
    if (n > 1) CHECK(var / static_cast<double>(n) == doctest::Approx(1.0).epsilon(1e-4));
  }
  std::vector<float> x{1.f, 2.f, 3.f, 4.f}, one(4, 1.f), zero(4, 0.f);
  ops::layer_norm(x.data(), one.data(), zero.data(), x.data(), 4, 0.f); // in place
  CHECK(x[0] == doctest::Approx(-1.3416408f));
  CHECK(x[3] == doctest::Approx(1.3416408f));
}

TEST_CASE("gelu (erf) matches its scalar twin and known values") {
  const std::size_t n = 1000;
  auto x = test::random_activations(n, 11);
  for (std::size_t i = 0; i < n; ++i) x[i] = x[i] * 8.f; // cover the tails
  auto r = x;
  ops::gelu_inplace(x.data(), n);
  ops::reference::gelu_inplace(r.data(), n);
  // the negative tail cancels (1 + erf -> 0): an absolute bound there, relative elsewhere
  for (std::size_t i = 0; i < n; ++i) CHECK(std::fabs(x[i] - r[i]) <= 1e-6f + 1e-5f * std::fabs(r[i]));
  std::vector<float> v{0.f, 1.f, -1.f, 3.f, -10.f};
  ops::gelu_inplace(v.data(), v.size());
  CHECK(v[0] == 0.f);
  CHECK(v[1] == doctest::Approx(0.8413447f));
  CHECK(v[2] == doctest::Approx(-0.1586553f));
  CHECK(v[3] == doctest::Approx(2.9959502f));
  CHECK(std::fabs(v[4]) < 1e-6f);
}
