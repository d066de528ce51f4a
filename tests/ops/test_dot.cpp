#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "ops/random_weights.hpp"
#include "rapid/ops/activation.hpp"
#include "rapid/ops/dot.hpp"
#include "rapid/ops/reference.hpp"

using namespace rapid;

namespace {
std::vector<std::size_t> lengths_for(dtype t) {
  switch (info_of(t).block_elements) {
  case 1: return {1, 7, 15, 31, 33, 257, 1000, 1536};
  case 32: return {32, 64, 96, 288, 896, 1536, 8960};
  default: return {256, 512, 1536, 4864, 8960};
  }
}
// sum |w_i x_i|: the scale the f32 summation error is relative to.
double abs_dot(dtype t, const std::byte* row, const std::vector<float>& x) {
  std::vector<float> w(x.size());
  ops::reference::dequantize_row(t, row, w.data(), x.size());
  double s = 0;
  for (std::size_t i = 0; i < x.size(); ++i) s += std::fabs(static_cast<double>(w[i]) * x[i]);
  return s;
}
} // namespace

// Tolerance of every SIMD dot vs its scalar twin: 1e-5 * sum|w_i x_i| (f32 accumulation order).
TEST_CASE("dot_exact (xsimd) equals the scalar twin") {
  for (dtype t : ops::kernel_types)
    for (std::size_t n : lengths_for(t)) {
      const auto row = test::random_weights(t, 1, n, 17 * n + 1);
      const auto x = test::random_activations(n, n + 2);
      const float got = ops::dot_exact(t, row.data(), x);
      const float want = ops::reference::dot_exact(t, row.data(), x.data(), n);
      INFO(name_of(t) << " n=" << n << " got " << got << " want " << want);
      CHECK(std::fabs(got - want) <= 1e-5 * abs_dot(t, row.data(), x) + 1e-30);
    }
}

TEST_CASE("dot_q8 (integer kernels) equals the scalar twin") {
  MESSAGE("int8 kernels: " << std::string(ops::int8_kernel_arch));
  for (dtype t : ops::kernel_types) {
    if (!ops::uses_int8_activations(t)) continue;
    for (std::size_t n : lengths_for(t)) {
      const auto row = test::random_weights(t, 1, n, 31 * n + 3);
      const auto x = test::random_activations(n, n + 5);
      std::vector<std::byte> xq(ops::activation_row_bytes(t, n));
      ops::reference::quantize_activation(t, x.data(), xq.data(), n);
      const float got = ops::dot_q8(t, row.data(), xq.data(), n);
      const float want = ops::reference::dot_q8(t, row.data(), xq.data(), n);
      INFO(name_of(t) << " n=" << n << " got " << got << " want " << want);
      CHECK(std::fabs(got - want) <= 1e-5 * abs_dot(t, row.data(), x) + 1e-30);
      CHECK(ops::dot(t, row.data(), x) == got); // the f32 entry point quantizes the same way
    }
  }
}

TEST_CASE("8-bit activations stay close to the exact dot") {
  // Error of the int8 path relative to sum|w_i x_i|, over 64 random rows of 1536 (docs/kernels.md).
  for (dtype t : ops::kernel_types) {
    if (!ops::uses_int8_activations(t)) continue;
    const std::size_t n = 1536, rows = 64;
    const auto w = test::random_weights(t, rows, n, 99);
    const auto x = test::random_activations(n, 98);
    const std::size_t rb = row_bytes_of(t, n);
    double worst = 0, sum = 0;
    for (std::size_t r = 0; r < rows; ++r) {
      const std::byte* row = w.data() + r * rb;
      const double exact = ops::reference::dot_exact(t, row, x.data(), n);
      const double rel = std::fabs(ops::dot(t, row, x) - exact) / abs_dot(t, row, x);
      worst = std::max(worst, rel);
      sum += rel;
    }
    MESSAGE(name_of(t) << ": int8-activation error / sum|w x|: mean " << sum / rows << ", max " << worst);
    CHECK(worst < 5e-3);
  }
}

TEST_CASE("dot entry points check their arguments") {
  std::vector<std::byte> row(1024);
  std::vector<float> x(100);
  CHECK_THROWS_AS((void)ops::dot_exact(dtype::q8_0, row.data(), x), invalid_argument);
  CHECK_THROWS_AS((void)ops::dot(dtype::q3_k, row.data(), std::vector<float>(256)), unsupported_error);
  CHECK_THROWS_AS((void)ops::reference::dot_q8(dtype::f16, row.data(), row.data(), 64), invalid_argument);
  CHECK_THROWS_AS((void)ops::dot_q8(dtype::bf16, row.data(), row.data(), 64), invalid_argument);
}
