#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "ops/random_weights.hpp"
#include "rapid/ops/dequant.hpp"
#include "rapid/ops/reference.hpp"

using namespace rapid;

namespace {
// Types whose value is s*q + o: SIMD and scalar may differ by FMA contraction (one rounding).
bool has_offset(dtype t) { return t == dtype::q4_1 || t == dtype::q5_1 || t == dtype::q4_k || t == dtype::q5_k; }
} // namespace

TEST_CASE("SIMD dequantize_row equals the scalar twin") {
  for (dtype t : ops::kernel_types) {
    const auto be = info_of(t).block_elements;
    for (std::size_t blocks : {1, 2, 3, 7, 35}) {
      const std::size_t n = be == 1 ? blocks * 37 + 1 : blocks * be; // plain types get odd lengths (tails)
      const auto row = test::random_weights(t, 1, n, 100 + blocks);
      std::vector<float> simd(n), ref(n);
      ops::dequantize_row(t, row.data(), simd.data(), n);
      ops::reference::dequantize_row(t, row.data(), ref.data(), n);
      std::size_t bad = 0;
      for (std::size_t i = 0; i < n; ++i) {
        // tolerance: bit-identical, or 1 ulp of the larger of |value| and 1e-3 for the offset types
        const float tol = has_offset(t) ? std::ldexp(std::max(std::fabs(ref[i]), 1e-3f), -22) : 0.f;
        if (!(std::fabs(simd[i] - ref[i]) <= tol)) ++bad;
      }
      INFO(name_of(t) << " n=" << n);
      CHECK(bad == 0);
    }
  }
}

TEST_CASE("dequantize_row decodes hand-made blocks") {
  block_q4_0 b{};
  b.d = f32_to_fp16(0.5f);
  for (int l = 0; l < 16; ++l) b.qs[l] = static_cast<std::uint8_t>(l | (15 - l) << 4);
  float out[32];
  ops::dequantize_row(dtype::q4_0, reinterpret_cast<const std::byte*>(&b), out, 32);
  CHECK(out[0] == -4.f);
  CHECK(out[15] == 3.5f);
  CHECK(out[16] == 3.5f);
  CHECK(out[31] == -4.f);

  block_q6_k k{};
  k.d = f32_to_fp16(2.f);
  for (auto& s : k.scales) s = -3;
  for (auto& q : k.ql) q = 0x21;  // low nibble 1, high nibble 2
  for (auto& q : k.qh) q = 0xe4;  // 2-bit fields 0,1,2,3
  float y[256];
  ops::dequantize_row(dtype::q6_k, reinterpret_cast<const std::byte*>(&k), y, 256);
  CHECK(y[0] == 2.f * -3 * ((1 | 0 << 4) - 32));
  CHECK(y[32] == 2.f * -3 * ((1 | 1 << 4) - 32));
  CHECK(y[64] == 2.f * -3 * ((2 | 2 << 4) - 32));
  CHECK(y[96] == 2.f * -3 * ((2 | 3 << 4) - 32));
  CHECK(y[128 + 96] == y[96]);
}

TEST_CASE("dequantize_row rejects unsupported types and partial blocks") {
  std::vector<std::byte> buf(1024);
  std::vector<float> out(256);
  try {
    ops::dequantize_row(dtype::q2_k, buf.data(), out.data(), 256);
    FAIL("no throw");
  } catch (const unsupported_error& e) {
    const std::string what = e.what();
    CHECK(what.find("Q2_K") != std::string::npos);
    CHECK(what.find("Q4_K") != std::string::npos); // lists the supported types
    CHECK(what.find("BF16") != std::string::npos);
  }
  CHECK_THROWS_AS(ops::reference::dequantize_row(dtype::iq2_xs, buf.data(), out.data(), 256), unsupported_error);
  CHECK_THROWS_AS(ops::dequantize_row(dtype::q4_0, buf.data(), out.data(), 48), invalid_argument);
  CHECK_THROWS_AS(ops::dequantize_row(dtype::q6_k, buf.data(), out.data(), 128), invalid_argument);
}
