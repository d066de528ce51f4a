#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "ops/random_weights.hpp"
#include "rapid/ops/activation.hpp"
#include "rapid/ops/reference.hpp"

using namespace rapid;

TEST_CASE("SIMD activation quantisation produces the reference bytes") {
  for (dtype t : {dtype::q4_0, dtype::q4_k}) {
    for (std::size_t n : {256, 512, 1536, 8960}) {
      auto x = test::random_activations(n, n);
      x[3] = 0.f;
      const std::size_t bytes = ops::activation_row_bytes(t, n);
      std::vector<std::byte> a(bytes), b(bytes);
      ops::quantize_activation(t, x.data(), a.data(), n);
      ops::reference::quantize_activation(t, x.data(), b.data(), n);
      INFO(name_of(t) << " n=" << n);
      CHECK(std::memcmp(a.data(), b.data(), bytes) == 0);
    }
  }
}

TEST_CASE("8-bit activation blocks: error at most half a step, sums and zero blocks") {
  std::vector<float> x = test::random_activations(512, 5);
  for (std::size_t i = 256; i < 288; ++i) x[i] = 0.f; // an all-zero 32-block
  std::vector<block_q8_act32> a(512 / 32);
  ops::quantize_q8_act32(x.data(), a.data(), 512);
  for (std::size_t b = 0; b < a.size(); ++b) {
    int s = 0;
    for (int l = 0; l < 32; ++l) {
      s += a[b].qs[l];
      CHECK(std::fabs(x[32 * b + l] - a[b].d * a[b].qs[l]) <= a[b].d * 0.5001f + 1e-30f);
    }
    CHECK(s == a[b].sum);
  }
  CHECK(a[8].d == 0.f);
  CHECK(a[8].sum == 0);

  std::vector<block_q8_k_act> k(2);
  ops::quantize_q8_k(x.data(), k.data(), 512);
  for (int g = 0; g < 16; ++g) {
    int s = 0;
    for (int l = 0; l < 16; ++l) s += k[0].qs[16 * g + l];
    CHECK(s == k[0].bsums[g]);
  }
  int maxq = 0;
  for (auto q : k[1].qs) maxq = std::max(maxq, std::abs(static_cast<int>(q)));
  CHECK(maxq == 127); // the largest |x| maps to +-127
}
