#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <random>

#include "rapid/core/quant_blocks.hpp"
#include "rapid/core/tensor_view.hpp"

TEST_CASE("quant blocks have ggml's sizes and field offsets") {
  using namespace rapid;
  CHECK(sizeof(block_q4_0) == 18);
  CHECK(sizeof(block_q4_1) == 20);
  CHECK(sizeof(block_q5_0) == 22);
  CHECK(sizeof(block_q5_1) == 24);
  CHECK(sizeof(block_q8_0) == 34);
  CHECK(sizeof(block_q4_k) == 144);
  CHECK(sizeof(block_q5_k) == 176);
  CHECK(sizeof(block_q6_k) == 210);
  CHECK(sizeof(block_q8_k) == 292);
  CHECK(offsetof(block_q5_0, qs) == 6);
  CHECK(offsetof(block_q5_1, qs) == 8);
  CHECK(offsetof(block_q4_k, qs) == 16);
  CHECK(offsetof(block_q5_k, qh) == 16);
  CHECK(offsetof(block_q5_k, qs) == 48);
  CHECK(offsetof(block_q6_k, qh) == 128);
  CHECK(offsetof(block_q6_k, scales) == 192);
  CHECK(offsetof(block_q6_k, d) == 208); // d is stored last
  CHECK(offsetof(block_q8_k, bsums) == 260);
}

TEST_CASE("k_scales_mins unpacks the 6-bit scales like k_scale_min") {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int trial = 0; trial < 2000; ++trial) {
    std::uint8_t s[12];
    for (auto& b : s) b = static_cast<std::uint8_t>(byte(rng));
    std::uint8_t sc[8], m[8];
    rapid::k_scales_mins(s, sc, m);
    for (int j = 0; j < 8; ++j) {
      std::uint8_t a, b;
      rapid::k_scale_min(j, s, a, b);
      REQUIRE(sc[j] == a);
      REQUIRE(m[j] == b);
      REQUIRE(a < 64);
      REQUIRE(b < 64);
    }
  }
  // Hand-packed: scale j = j + 1, min j = 2j + 40 (needs the high bits for j >= 4).
  std::uint8_t s[12] = {};
  for (int j = 0; j < 8; ++j) {
    const int sc = j + 1 + (j >= 4 ? 48 : 0), mn = 2 * j + 40;
    if (j < 4) {
      s[j] = static_cast<std::uint8_t>(sc);
      s[j + 4] = static_cast<std::uint8_t>(mn);
    } else {
      s[j + 4] = static_cast<std::uint8_t>((sc & 15) | (mn & 15) << 4);
      s[j - 4] |= static_cast<std::uint8_t>((sc >> 4) << 6);
      s[j] |= static_cast<std::uint8_t>((mn >> 4) << 6);
    }
  }
  for (int j = 0; j < 8; ++j) {
    std::uint8_t a, b;
    rapid::k_scale_min(j, s, a, b);
    CHECK(a == j + 1 + (j >= 4 ? 48 : 0));
    CHECK(b == 2 * j + 40);
  }
}

TEST_CASE("quantized_matrix views check the row length") {
  using namespace rapid;
  static std::byte buf[1024];
  const auto m = make_quantized_matrix(dtype::q4_k, buf, 3, 512);
  CHECK(m.row_bytes == 288);
  CHECK(m.row(2) == buf + 576);
  CHECK(m.size_bytes() == 864);
  CHECK(make_quantized_matrix(dtype::f16, buf, 2, 7).row_bytes == 14);
  CHECK_THROWS_AS((void)make_quantized_matrix(dtype::q8_0, buf, 1, 100), invalid_argument);
}
