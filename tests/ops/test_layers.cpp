// Layer kernels (norm, softmax, swiglu, rope with its scalings, attention) against their scalar twins.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>
#include <random>
#include <vector>

#include "rapid/core/fp16.hpp"
#include "rapid/ops/activation.hpp"
#include "rapid/ops/attention.hpp"
#include "rapid/ops/hadamard.hpp"
#include "rapid/ops/kv_layout.hpp"
#include "rapid/ops/norm.hpp"
#include "rapid/ops/reference_layers.hpp"
#include "rapid/ops/rope.hpp"
#include "rapid/ops/softmax.hpp"
#include "test_support.hpp"

namespace ref = rapid::ops::reference;

namespace {
std::vector<float> randn(std::size_t n, std::uint64_t seed, float scale = 1.f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}
double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, static_cast<double>(std::abs(a[i] - b[i])));
  return m;
}
} // namespace

TEST_CASE("rms_norm, softmax and swiglu equal their scalar twins (rel. 1e-5)") {
  for (std::size_t n : {1u, 7u, 64u, 576u, 1536u, 1539u}) {
    const auto x = randn(n, n, 3.f), w = randn(n, n + 1);
    std::vector<float> a(n), b(n);
    rapid::ops::rms_norm(x.data(), w.data(), a.data(), n, 1e-6f);
    ref::rms_norm(x.data(), w.data(), b.data(), n, 1e-6f);
    CHECK(max_abs_diff(a, b) <= 1e-5 * 4);

    auto s1 = randn(n, n + 2, 10.f), s2 = s1;
    rapid::ops::softmax_inplace(s1.data(), n);
    ref::softmax(s2.data(), n);
    CHECK(max_abs_diff(s1, s2) <= 1e-6);

    auto g1 = randn(n, n + 3, 4.f), g2 = g1;
    const auto up = randn(n, n + 4);
    rapid::ops::swiglu_inplace(g1.data(), up.data(), n);
    ref::swiglu(g2.data(), up.data(), n);
    for (std::size_t i = 0; i < n; ++i) CHECK(g1[i] == doctest::Approx(g2[i]).epsilon(1e-5).scale(1e-3));
  }
}

TEST_CASE("rope: both pairings equal the scalar formula; normal and neox differ") {
  for (auto style : {rapid::ops::rope_style::normal, rapid::ops::rope_style::neox}) {
    for (std::size_t hd : {64u, 128u}) {
      const rapid::ops::rope_table table(hd, 1e6);
      for (std::size_t pos : {0u, 1u, 17u, 4095u, 32767u}) {
        auto a = randn(3 * hd, pos + hd), b = a;
        table.apply(a.data(), 3, pos, style);
        ref::rope(b.data(), 3, hd, pos, 1e6, style);
        CHECK(max_abs_diff(a, b) <= 1e-5);
      }
    }
  }
  const rapid::ops::rope_table table(64, 1e4);
  auto a = randn(64, 1), b = a;
  table.apply(a.data(), 1, 5, rapid::ops::rope_style::normal);
  table.apply(b.data(), 1, 5, rapid::ops::rope_style::neox);
  CHECK(max_abs_diff(a, b) > 0.1);
}

namespace {
/// ggml_rope_ext's rotation of one head, written the way ggml computes it: the extrapolated angle
/// pos * theta_j / f_j, the interpolated one divided by s, YaRN's ramp blending the two angles and
/// scaling the magnitude. x: (head_dim)
void ggml_style_rope(float* x, std::size_t hd, std::size_t pos, double base, const rapid::ops::rope_scaling& s,
                     rapid::ops::rope_style style) {
  using rapid::ops::rope_scaling_type;
  const double d = static_cast<double>(hd);
  const double freq_scale = s.type == rope_scaling_type::none ? 1.0 : 1.0 / s.factor;
  const bool yarn = s.type == rope_scaling_type::yarn;
  auto corr = [&](double beta) { return d * std::log(s.original_context / (beta * 2 * std::numbers::pi)) / (2 * std::log(base)); };
  const double lo = std::max(0.0, std::floor(corr(s.beta_fast))), hi = std::min(d - 1, std::ceil(corr(s.beta_slow)));
  for (std::size_t j = 0; j < hd / 2; ++j) {
    const double ff = s.freq_factors.empty() ? 1.0 : s.freq_factors[j];
    const double extrap = static_cast<double>(pos) * std::pow(base, -2.0 * static_cast<double>(j) / d) / ff;
    double theta = freq_scale * extrap, mscale = s.attn_factor;
    if (yarn) {
      const double y = (static_cast<double>(j) - lo) / std::max(0.001, hi - lo);
      const double mix = 1 - std::min(1.0, std::max(0.0, y));
      theta = theta * (1 - mix) + extrap * mix;
      mscale *= 1 + 0.1 * std::log(1 / freq_scale);
    }
    const std::size_t i0 = style == rapid::ops::rope_style::normal ? 2 * j : j;
    const std::size_t i1 = style == rapid::ops::rope_style::normal ? 2 * j + 1 : j + hd / 2;
    const double a = x[i0], b = x[i1], c = std::cos(theta) * mscale, sn = std::sin(theta) * mscale;
    x[i0] = static_cast<float>(a * c - b * sn);
    x[i1] = static_cast<float>(a * sn + b * c);
  }
}
} // namespace

TEST_CASE("rope scaling: frequency factors, linear and yarn equal ggml's angle formulas") {
  using rapid::ops::rope_scaling_type;
  std::vector<float> factors(64);
  for (std::size_t j = 0; j < factors.size(); ++j) factors[j] = 1.f + 7.f * static_cast<float>(j) / 63.f;
  const std::vector<rapid::ops::rope_scaling> cases{
      {.freq_factors = factors},
      {.type = rope_scaling_type::linear, .factor = 4},
      {.type = rope_scaling_type::yarn, .factor = 4, .original_context = 256},
      {.type = rope_scaling_type::yarn, .factor = 8, .original_context = 32768, .attn_factor = 0.9, .freq_factors = factors},
  };
  for (const auto& s : cases)
    for (auto style : {rapid::ops::rope_style::normal, rapid::ops::rope_style::neox}) {
      const rapid::ops::rope_table table(128, 1e4, s);
      for (std::size_t pos : {0u, 1u, 255u, 1000u, 131071u}) {
        auto a = randn(128, pos + 7), b = a;
        table.apply(a.data(), 1, pos, style);
        ggml_style_rope(b.data(), 128, pos, 1e4, s, style);
        CHECK(max_abs_diff(a, b) <= 2e-5);
      }
    }
  // YaRN with original context 256, base 1e4, head_dim 128: pairs 0..1 keep theta_j (32+ turns in
  // the original context), pairs from 26 on (under one turn) are divided by 4, magnitude 1 + 0.1 ln 4.
  const rapid::ops::rope_table yarn(128, 1e4, cases[2]);
  CHECK(yarn.frequency(1) == doctest::Approx(std::pow(1e4, -2.0 / 128)));
  CHECK(yarn.frequency(26) == doctest::Approx(std::pow(1e4, -52.0 / 128) / 4));
  CHECK(yarn.frequency(10) < std::pow(1e4, -20.0 / 128));
  CHECK(yarn.frequency(10) > std::pow(1e4, -20.0 / 128) / 4);
  CHECK(yarn.magnitude() == doctest::Approx(1 + 0.1 * std::log(4.0)));
  CHECK(rapid::ops::rope_table(128, 1e4).magnitude() == 1.0);
}

TEST_CASE("fastest_kv_type: bf16 exactly where attention can read it, else f16") {
  using rapid::ops::kv_type;
  const bool amx = rapid::test::bf16_cache_readable();
  CHECK(rapid::ops::fastest_kv_type(128) == (amx ? kv_type::bf16 : kv_type::f16));
  CHECK(rapid::ops::fastest_kv_type(64) == (amx ? kv_type::bf16 : kv_type::f16));
  CHECK(rapid::ops::fastest_kv_type(48) == kv_type::f16);  // bf16 tiles need head_dim a multiple of 32
  for (const std::size_t hd : {32, 48, 64, 80, 96, 128}) CHECK_NOTHROW(rapid::ops::check_kv_readable(rapid::ops::fastest_kv_type(hd), hd));
}

TEST_CASE("attention equals the scalar twin: GQA, causal blocks, F16/F32/Q8_0/BF16 cache, KV splits, threads") {
  using rapid::ops::kv_type;
  std::vector<kv_type> types{kv_type::f32, kv_type::f16, kv_type::q8_0};
  if (rapid::test::bf16_cache_readable()) types.push_back(kv_type::bf16);  // AMX tile products
  else CHECK_THROWS_WITH_AS(rapid::ops::check_kv_readable(kv_type::bf16, 64), doctest::Contains("AMX"), rapid::unsupported_error);
  struct shape { std::size_t n_tokens, pos0, n_heads, n_kv_heads, hd; };
  for (const auto s : {shape{1, 0, 4, 2, 64}, shape{1, 700, 12, 2, 128}, shape{11, 300, 14, 2, 64},
                       shape{40, 0, 9, 3, 64}, shape{5, 2000, 4, 4, 32}, shape{1, 1000, 4, 1, 64}}) {
    for (const kv_type type : types) {
      for (const int threads : {1, 2, 4}) {  // 4 > work items: exercises the KV split and merge
        const std::size_t n_pos = s.pos0 + s.n_tokens;
        const auto q = randn(s.n_tokens * s.n_heads * s.hd, n_pos, 1.f);
        const auto k = randn(s.n_kv_heads * n_pos * s.hd, n_pos + 1, 1.f), v = randn(k.size(), n_pos + 2);
        // Slabs in the cache layout; bytes past the positions held are 0xff (NaN in every float
        // format, NaN scales for Q8_0), which must never reach a result.
        const std::size_t cap = (n_pos + rapid::ops::key_tile - 1) / rapid::ops::key_tile * rapid::ops::key_tile;
        const std::size_t kb = rapid::ops::key_bytes(type, s.hd, cap), vb = cap * rapid::ops::value_row_bytes(type, s.hd);
        std::vector<std::byte> keys(s.n_kv_heads * kb, std::byte{0xff}), values(s.n_kv_heads * vb, std::byte{0xff});
        std::vector<float> kr(k.size()), vr(v.size());  // what the cache holds, widened: the reference's K and V
        std::vector<rapid::ops::kv_slab> slabs;
        for (std::size_t g = 0; g < s.n_kv_heads; ++g) {
          for (std::size_t p = 0; p < n_pos; ++p) {
            const std::size_t at = (g * n_pos + p) * s.hd;
            rapid::ops::store_key(type, keys.data() + g * kb, p, k.data() + at, s.hd);
            rapid::ops::store_value(type, values.data() + g * vb, p, v.data() + at, s.hd);
            rapid::ops::load_position(type, keys.data() + g * kb, values.data() + g * vb, p, s.hd, kr.data() + at, vr.data() + at);
          }
          slabs.push_back({keys.data() + g * kb, values.data() + g * vb, type});
        }
        // The cache holds K and V to its precision: exact (F32), fp16 or bf16 rounding, 8-bit codes per 32.
        const double tolerance = type == kv_type::f32 ? 0 : type == kv_type::f16 ? 1e-3 : type == kv_type::bf16 ? 4e-3 : 0.03;
        CHECK(max_abs_diff(kr, k) <= tolerance * 4);
        CHECK(max_abs_diff(vr, v) <= tolerance * 4);
        // A Q8_0 cache scores 8-bit query rows (per 32 dimensions) in the keys' rotation: the
        // reference gets them widened and rotated back (H is its own inverse).
        std::vector<float> qr = q;
        if (type == kv_type::q8_0) {
          const rapid::ops::attention_shape shape{s.n_tokens, s.pos0, s.n_heads, s.n_kv_heads, s.hd};
          const rapid::block_q8_act32* qq = rapid::ops::detail::quantize_queries(q.data(), shape);
          const std::size_t group = s.n_heads / s.n_kv_heads;
          for (std::size_t i = 0; i < q.size(); ++i) {  // row (t, h) sits at ((h / group, t), h % group)
            const std::size_t t = i / s.hd / s.n_heads, h = i / s.hd % s.n_heads;
            const auto& b = qq[(((h / group) * s.n_tokens + t) * group + h % group) * (s.hd / 32) + i % s.hd / 32];
            qr[i] = static_cast<float>(b.qs[i % 32]) * b.d;
          }
          for (std::size_t r = 0; r < q.size() / s.hd; ++r) rapid::ops::hadamard_rotate(qr.data() + r * s.hd, s.hd);
        }
        std::vector<float> out(q.size()), want(q.size());
        rapid::ops::attention(q.data(), {s.n_tokens, s.pos0, s.n_heads, s.n_kv_heads, s.hd}, slabs.data(), out.data(), threads);
        ref::attention(qr.data(), kr.data(), vr.data(), s.n_tokens, s.pos0, s.n_heads, s.n_kv_heads, s.hd, n_pos, want.data());
        INFO("tokens " << s.n_tokens << " pos0 " << s.pos0 << " heads " << s.n_heads << "/" << s.n_kv_heads << " "
                       << rapid::ops::name_of(type) << " threads " << threads);
        // BF16 (AMX): the query rows and weights enter as two bf16 parts, under 2^-16 relative
        // per product term (attention_amx.hpp); the same bound holds (measured: under 6e-6).
        // Q8_0 values are summed against 15-bit weights: a term errs by up to 2^-16 of its
        // block's largest (the exact bound is checked on the kernel below; measured: 7.7e-5).
        CHECK(max_abs_diff(out, want) <= (type == kv_type::q8_0 ? 2e-4 : 2e-5));
      }
    }
  }
}

TEST_CASE("hadamard_rotate: orthonormal, its own inverse, in segments of the largest power of two dividing n") {
  for (const std::size_t n : {32u, 64u, 96u, 128u, 256u}) {
    const std::size_t span = rapid::ops::hadamard_span(n);
    CHECK(span == (n == 96 ? 32 : n));
    const auto x = randn(n, n), y = randn(n, n + 1);
    auto hx = x, hy = y;
    rapid::ops::hadamard_rotate(hx.data(), n);
    rapid::ops::hadamard_rotate(hy.data(), n);
    double dot = 0, hdot = 0;
    for (std::size_t i = 0; i < n; ++i) {
      dot += static_cast<double>(x[i]) * y[i];
      hdot += static_cast<double>(hx[i]) * hy[i];
    }
    CHECK(hdot == doctest::Approx(dot).epsilon(1e-5));  // dot products (scores) are kept
    auto back = hx;
    rapid::ops::hadamard_rotate(back.data(), n);
    CHECK(max_abs_diff(back, x) <= 1e-5);
    // A unit vector spreads evenly over its segment, and only there.
    std::vector<float> e(n, 0.f);
    e[span + 1 < n ? span + 1 : 1] = 1.f;
    rapid::ops::hadamard_rotate(e.data(), n);
    const std::size_t seg = span + 1 < n ? span : 0;
    for (std::size_t i = 0; i < n; ++i)
      CHECK(std::fabs(e[i]) == doctest::Approx(i >= seg && i < seg + span ? 1 / std::sqrt(static_cast<double>(span)) : 0.0));
  }
}

TEST_CASE("q8_0 cache: keys with outlier dimensions score closer to exact rotated than in plain 8-bit blocks") {
  // Keys as Qwen2's biases make them: two dimensions 30x the rest. Plain Q8_0 blocks (one scale
  // per 32 dimensions, what the cache held before the rotation) leave the outliers' blocks a few
  // bits for the other dimensions; the rotated cache spreads them over all 128.
  constexpr std::size_t hd = 128, n = 256;
  using rapid::ops::kv_type;
  auto keys = randn(n * hd, 5);
  for (std::size_t p = 0; p < n; ++p) keys[p * hd + 3] *= 30, keys[p * hd + 67] *= 30;
  const auto q = randn(hd, 6);
  const rapid::ops::attention_shape one_row{1, n, 1, 1, hd};
  std::vector<float> qr(hd);  // the query the cache scores with, rotated back
  const rapid::block_q8_act32* qq = rapid::ops::detail::quantize_queries(q.data(), one_row);
  for (std::size_t i = 0; i < hd; ++i) qr[i] = static_cast<float>(qq[i / 32].qs[i % 32]) * qq[i / 32].d;
  rapid::ops::hadamard_rotate(qr.data(), hd);
  std::vector<rapid::block_q8_act32> qp(hd / 32), kp(hd / 32);  // plain blocks
  rapid::ops::quantize_q8_act32(q.data(), qp.data(), hd);
  std::vector<std::byte> slab(rapid::ops::key_bytes(kv_type::q8_0, hd, n)), values(n * rapid::ops::value_row_bytes(kv_type::q8_0, hd));
  std::vector<float> kr(hd), vr(hd);
  double err_rotated = 0, err_plain = 0;
  for (std::size_t p = 0; p < n; ++p) {
    const float* k = keys.data() + p * hd;
    rapid::ops::store_key(kv_type::q8_0, slab.data(), p, k, hd);
    rapid::ops::store_value(kv_type::q8_0, values.data(), p, k, hd);
    rapid::ops::load_position(kv_type::q8_0, slab.data(), values.data(), p, hd, kr.data(), vr.data());
    rapid::ops::quantize_q8_act32(k, kp.data(), hd);
    double exact = 0, rotated = 0, plain = 0;
    for (std::size_t i = 0; i < hd; ++i) {
      exact += static_cast<double>(q[i]) * k[i];
      rotated += static_cast<double>(qr[i]) * kr[i];
      plain += static_cast<double>(qp[i / 32].qs[i % 32]) * qp[i / 32].d * kp[i / 32].qs[i % 32] * kp[i / 32].d;
    }
    err_rotated += (rotated - exact) * (rotated - exact);
    err_plain += (plain - exact) * (plain - exact);
  }
  INFO("rms score error: rotated " << std::sqrt(err_rotated / n) << ", plain " << std::sqrt(err_plain / n));
  CHECK(err_rotated < 0.36 * err_plain);  // measured: half the rms error (the 8-bit query keeps the rest)
}

TEST_CASE("q8_0 values: the vpdpwssd kernel equals its portable twin bit for bit, within the 15-bit weight bound of exact") {
  using rapid::ops::kv_type;
  constexpr std::size_t hd = 128, nblk = hd / 32, kv_block = rapid::ops::detail::kv_block;
  for (const std::size_t n : {64u, 37u, 1u}) {  // a full block, an odd tail, one position
    for (const std::size_t rows : {1u, 6u, 7u, 10u, 30u}) {
      // values: some blocks 50x the others, so the scales differ; the slab ends at position n
      // (an odd tail must not read past it: ASan sees the vector's end)
      auto v = randn(n * hd, n + rows);
      for (std::size_t p = 0; p < n; p += 3) std::for_each(v.begin() + p * hd + 32, v.begin() + p * hd + 64, [](float& x) { x *= 50; });
      std::vector<std::byte> values(n * rapid::ops::value_row_bytes(kv_type::q8_0, hd));
      for (std::size_t p = 0; p < n; ++p) rapid::ops::store_value(kv_type::q8_0, values.data(), p, v.data() + p * hd, hd);
      const auto* blocks = reinterpret_cast<const rapid::block_q8_0*>(values.data());
      // softmax-like weights in [0, 1]: a peaked row, a flat row, rows seeing a prefix (0 after)
      std::vector<float> w(rows * kv_block, 0.f);
      std::mt19937_64 rng(rows * 100 + n);
      std::uniform_real_distribution<float> u(0.f, 1.f);
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t p = 0; p < (r % 3 == 2 ? (n + 1) / 2 : n); ++p) w[r * kv_block + p] = r % 3 == 0 ? std::exp(-20 * u(rng)) : u(rng);
      const auto start = randn(rows * hd, 7);  // acc accumulates onto what it holds
      auto portable = start;
      rapid::ops::detail::accumulate_q8(w.data(), blocks, n, nblk, rows, portable.data());
      for (std::size_t r = 0; r < rows; ++r) {
        double top = 0;  // the row's largest w * d over the block's positions and dimensions
        for (std::size_t i = 0; i < n * nblk; ++i) top = std::max(top, static_cast<double>(w[r * kv_block + i / nblk]) * rapid::fp16_to_f32(blocks[i].d));
        for (std::size_t d = 0; d < hd; ++d) {
          double exact = start[r * hd + d], codes = 0, terms = 0;
          for (std::size_t p = 0; p < n; ++p) {
            const auto& b = blocks[p * nblk + d / 32];
            const double wd = static_cast<double>(w[r * kv_block + p]) * rapid::fp16_to_f32(b.d);
            exact += wd * b.qs[d % 32];
            codes += std::abs(b.qs[d % 32]);
            terms += std::abs(wd * b.qs[d % 32]);
          }
          // half a unit (top / 32767) per term, plus float rounding of the products and the fma
          const double bound = 0.5 * top / 32767 * codes * 1.001 + 1e-6 * (terms + std::abs(start[r * hd + d]));
          INFO("n " << n << " rows " << rows << " row " << r << " dim " << d);
          CHECK(std::abs(portable[r * hd + d] - exact) <= bound);
        }
      }
#if RAPID_ATTENTION_Q8_VNNI
      auto simd = start;
      const rapid::ops::kv_slab slab{nullptr, values.data(), kv_type::q8_0};
      rapid::ops::detail::line_prefetcher none;
      rapid::ops::detail::accumulate_rows(w.data(), slab, 0, n, hd, rows, nullptr, simd.data(), none);
      INFO("n " << n << " rows " << rows);
      CHECK(std::memcmp(simd.data(), portable.data(), simd.size() * sizeof(float)) == 0);
#else
      MESSAGE("skipped the vpdpwssd kernel: this build has no AVX-512 VNNI");
#endif
    }
  }
}
