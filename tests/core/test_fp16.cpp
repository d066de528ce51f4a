#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "rapid/core/fp16.hpp"

namespace {

bool is_nan16(std::uint16_t h) { return (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0; }

// Independent oracle: nearest half by search over all finite halves, ties to the even code.
struct half_oracle {
  std::vector<std::pair<double, std::uint16_t>> pos; // (31745) finite non-negative halves, ascending
  half_oracle() {
    for (std::uint32_t h = 0; h < 0x7c00; ++h) pos.emplace_back(static_cast<double>(rapid::fp16_to_f32_portable(static_cast<std::uint16_t>(h))), static_cast<std::uint16_t>(h));
  }
  std::uint16_t operator()(float f) const {
    const std::uint16_t sign = std::signbit(f) ? 0x8000 : 0;
    const double a = std::fabs(static_cast<double>(f));
    if (std::isinf(f)) return sign | 0x7c00;
    const double max = 65504.0, ulp = 32.0; // beyond max + ulp/2 (ties to even -> inf) overflow
    if (a >= max + ulp / 2) return sign | 0x7c00;
    if (a >= max) return sign | 0x7bff;
    auto it = std::lower_bound(pos.begin(), pos.end(), std::make_pair(a, std::uint16_t{0}));
    if (it->first == a) return sign | it->second;
    const auto hi = *it, lo = *(it - 1);
    const double dlo = a - lo.first, dhi = hi.first - a;
    if (dlo < dhi) return sign | lo.second;
    if (dhi < dlo) return sign | hi.second;
    return sign | ((lo.second & 1) ? hi.second : lo.second);
  }
};

// bf16 neighbours of f are its truncation and the next code up; pick by the dropped bits.
std::uint16_t bf16_oracle(float f) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  const std::uint32_t lo = x & 0xffff0000u, hi = lo + 0x10000u, rem = x & 0xffffu;
  if (rem < 0x8000u) return static_cast<std::uint16_t>(lo >> 16);
  if (rem > 0x8000u) return static_cast<std::uint16_t>(hi >> 16);
  return static_cast<std::uint16_t>(((lo >> 16) & 1) ? hi >> 16 : lo >> 16);
}

std::vector<float> test_floats() {
  std::vector<float> v;
  std::mt19937 rng(1234);
  std::uniform_int_distribution<std::uint32_t> bits;
  for (int i = 0; i < 400000; ++i) v.push_back(std::bit_cast<float>(bits(rng)));
  std::normal_distribution<float> normal(0.f, 1.f);
  for (int i = 0; i < 100000; ++i) v.push_back(normal(rng) * std::ldexp(1.f, static_cast<int>(bits(rng) % 40) - 30));
  // every midpoint between neighbouring halves, and one float either side of it
  for (std::uint32_t h = 0; h < 0x7bff; ++h) {
    const float a = rapid::fp16_to_f32_portable(static_cast<std::uint16_t>(h));
    const float b = rapid::fp16_to_f32_portable(static_cast<std::uint16_t>(h + 1));
    const float mid = static_cast<float>((static_cast<double>(a) + b) / 2);
    for (float m : {mid, std::nextafter(mid, 0.f), std::nextafter(mid, 1e9f)}) {
      v.push_back(m);
      v.push_back(-m);
    }
  }
  for (float e : {0.f, -0.f, 1.f, 65504.f, 65519.f, 65520.f, 65536.f, 1e10f, std::ldexp(1.f, -24), std::ldexp(1.f, -25),
                  std::nextafter(std::ldexp(1.f, -25), 1.f), std::ldexp(1.f, -14), std::ldexp(1.f, -15),
                  std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                  std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::max()})
    v.push_back(e);
  return v;
}

} // namespace

TEST_CASE("fp16: every half converts to float and back unchanged") {
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    const auto hh = static_cast<std::uint16_t>(h);
    const float f = rapid::fp16_to_f32_portable(hh);
    if (is_nan16(hh)) {
      CHECK(std::isnan(f));
      CHECK(is_nan16(rapid::f32_to_fp16_portable(f)));
      CHECK((rapid::f32_to_fp16_portable(f) & 0x8000) == (hh & 0x8000));
      continue;
    }
    REQUIRE(rapid::f32_to_fp16_portable(f) == hh);
    // fast path (F16C if compiled in)
    REQUIRE(std::bit_cast<std::uint32_t>(rapid::fp16_to_f32(hh)) == std::bit_cast<std::uint32_t>(f));
  }
}

TEST_CASE("fp16: float -> half rounds to nearest even (oracle search), incl. subnormals and overflow") {
  const half_oracle oracle;
  std::size_t checked = 0;
  for (float f : test_floats()) {
    const std::uint16_t got = rapid::f32_to_fp16_portable(f);
    if (std::isnan(f)) {
      CHECK(is_nan16(got));
      continue;
    }
    const std::uint16_t want = oracle(f);
    if (got != want) FAIL_CHECK("f=" << f << " got " << got << " want " << want);
    if (rapid::f32_to_fp16(f) != got) FAIL_CHECK("fast path differs at f=" << f);
    ++checked;
  }
  CHECK(checked > 500000);
}

TEST_CASE("fp16: edge values") {
  using rapid::f32_to_fp16_portable;
  CHECK(f32_to_fp16_portable(1.f) == 0x3c00);
  CHECK(f32_to_fp16_portable(-2.f) == 0xc000);
  CHECK(f32_to_fp16_portable(65504.f) == 0x7bff);
  CHECK(f32_to_fp16_portable(65519.99f) == 0x7bff);
  CHECK(f32_to_fp16_portable(65520.f) == 0x7c00); // tie rounds to even: infinity
  CHECK(f32_to_fp16_portable(std::ldexp(1.f, -24)) == 0x0001);
  CHECK(f32_to_fp16_portable(std::ldexp(1.f, -25)) == 0x0000); // tie to even zero
  CHECK(f32_to_fp16_portable(std::ldexp(3.f, -26)) == 0x0001);
  CHECK(f32_to_fp16_portable(std::ldexp(1.5f, -24)) == 0x0002); // tie between 1 and 2 -> even 2
  CHECK(f32_to_fp16_portable(std::ldexp(1.f, -14) - std::ldexp(1.f, -25)) == 0x0400); // rounds up into the normals
  CHECK(f32_to_fp16_portable(-0.f) == 0x8000);
  CHECK(f32_to_fp16_portable(-std::numeric_limits<float>::infinity()) == 0xfc00);
  CHECK(is_nan16(f32_to_fp16_portable(std::numeric_limits<float>::quiet_NaN())));
  CHECK(rapid::fp16_to_f32_portable(0x0001) == std::ldexp(1.f, -24));
  CHECK(rapid::fp16_to_f32_portable(0x03ff) == std::ldexp(1023.f, -24));
  CHECK(std::isinf(rapid::fp16_to_f32_portable(0x7c00)));
  static_assert(rapid::f32_to_fp16(1.f) == 0x3c00 && rapid::fp16_to_f32(0x3c00) == 1.f, "usable in constexpr");
}

TEST_CASE("bf16: round trips and round to nearest even") {
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    const auto hh = static_cast<std::uint16_t>(h);
    const float f = rapid::bf16_to_f32(hh);
    if (std::isnan(f)) {
      CHECK(std::isnan(rapid::bf16_to_f32(rapid::f32_to_bf16(f))));
      continue;
    }
    REQUIRE(rapid::f32_to_bf16(f) == hh);
  }
  for (float f : test_floats()) {
    if (std::isnan(f)) continue;
    if (rapid::f32_to_bf16(f) != bf16_oracle(f)) FAIL_CHECK("f=" << f);
  }
  CHECK(rapid::f32_to_bf16(std::numeric_limits<float>::max()) == 0x7f80); // rounds up to infinity
  CHECK(std::isnan(rapid::bf16_to_f32(rapid::f32_to_bf16(std::bit_cast<float>(0x7f800001u))))); // sNaN stays NaN
  CHECK(rapid::f32_to_bf16(1.f + std::ldexp(1.f, -8)) == 0x3f80);  // tie -> even (1.0)
  CHECK(rapid::f32_to_bf16(1.f + std::ldexp(3.f, -8)) == 0x3f82);  // tie -> even (up)
}

TEST_CASE("fp16/bf16 row conversions match the scalar ones") {
  std::vector<std::uint16_t> h(1037);
  for (std::size_t i = 0; i < h.size(); ++i) h[i] = static_cast<std::uint16_t>(i * 63 + 7);
  std::vector<float> a(h.size()), b(h.size());
  rapid::fp16_to_f32_row(h.data(), a.data(), h.size());
  for (std::size_t i = 0; i < h.size(); ++i)
    if (!std::isnan(a[i])) REQUIRE(a[i] == rapid::fp16_to_f32_portable(h[i]));
  rapid::bf16_to_f32_row(h.data(), b.data(), h.size());
  for (std::size_t i = 0; i < h.size(); ++i)
    if (!std::isnan(b[i])) REQUIRE(b[i] == rapid::bf16_to_f32(h[i]));
}
