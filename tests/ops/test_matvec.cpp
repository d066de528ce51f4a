#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <vector>

#include "ops/random_weights.hpp"
#include "rapid/ops/matmul.hpp"
#include "rapid/ops/interleave.hpp"
#include "rapid/ops/matvec.hpp"
#include "rapid/ops/reference.hpp"

using namespace rapid;

namespace {
std::size_t cols_for(dtype t) { return info_of(t).block_elements == 256 ? 768 : (info_of(t).block_elements == 32 ? 416 : 203); }

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::bit_cast<std::uint32_t>(a[i]) != std::bit_cast<std::uint32_t>(b[i])) return false;
  return true;
}

// Tolerance vs the scalar twin: 1e-5 * (sum_i |w_ri x_i|) per output.
void check_close(const quantized_matrix& w, const std::vector<float>& x, std::size_t b,
                 const std::vector<float>& got, const std::vector<float>& want) {
  std::vector<float> wr(w.cols);
  for (std::size_t r = 0; r < w.rows; ++r) {
    ops::reference::dequantize_row(w.type, w.row(r), wr.data(), w.cols);
    double scale = 0;
    for (std::size_t i = 0; i < w.cols; ++i) scale += std::fabs(static_cast<double>(wr[i]) * x[b * w.cols + i]);
    INFO(name_of(w.type) << " row " << r << " batch row " << b);
    REQUIRE(std::fabs(got[b * w.rows + r] - want[b * w.rows + r]) <= 1e-5 * scale + 1e-30);
  }
}
} // namespace

TEST_CASE("matvec equals the scalar twin, and 1 and 2 threads agree bit for bit") {
  for (dtype t : ops::kernel_types)
    for (auto mode : {ops::activation_mode::int8, ops::activation_mode::exact}) {
      const std::size_t rows = 67, cols = cols_for(t);
      const auto data = test::random_weights(t, rows, cols, 11);
      const auto w = make_quantized_matrix(t, data.data(), rows, cols);
      const auto x = test::random_activations(cols, 12);
      std::vector<float> y1(rows), y2(rows), ref(rows);
      ops::matvec(w, x, y1, {mode, 1});
      ops::matvec(w, x, y2, {mode, 2});
      ops::reference::matvec(w, x, ref, mode);
      INFO(name_of(t) << (mode == ops::activation_mode::int8 ? " int8" : " exact"));
      CHECK(same_bits(y1, y2));
      check_close(w, x, 0, y1, ref);
    }
}

TEST_CASE("matmul rows equal matvec bit for bit, for 1 and 2 threads") {
  for (dtype t : ops::kernel_types)
    for (auto mode : {ops::activation_mode::int8, ops::activation_mode::exact})
      for (std::size_t batch : {1, 2, 3, 5, 8, 9, 11, 16, 17, 33, 70}) { // passes of <= 8 rows; 17+: unpacked once; 70: two tiles of 64
        const std::size_t rows = 45, cols = cols_for(t);
        const auto data = test::random_weights(t, rows, cols, 21 + batch);
        const auto w = make_quantized_matrix(t, data.data(), rows, cols);
        const auto x = test::random_activations(batch * cols, 22 + batch);
        std::vector<float> y(batch * rows), y2(batch * rows), rows_by_matvec(batch * rows), ref(batch * rows);
        ops::matmul(w, x, batch, y, {mode, 1});
        ops::matmul(w, x, batch, y2, {mode, 2});
        for (std::size_t b = 0; b < batch; ++b)
          ops::matvec(w, std::span(x).subspan(b * cols, cols), std::span(rows_by_matvec).subspan(b * rows, rows), {mode, 2});
        INFO(name_of(t) << (mode == ops::activation_mode::int8 ? " int8" : " exact") << " batch " << batch);
        CHECK(same_bits(y, rows_by_matvec));
        CHECK(same_bits(y, y2));
        if (batch == 3) {
          ops::reference::matmul(w, x, batch, ref, mode);
          for (std::size_t b = 0; b < batch; ++b) check_close(w, x, b, y, ref);
        }
      }
}

TEST_CASE("interleaved Q4_K / Q6_K / Q5_0 / Q8_0: matmul rows equal matvec bit for bit, match the scalar twin, 1 and 2 threads agree" *
          doctest::skip(!ops::has_interleaved_kernel(dtype::q4_k))) {
 for (dtype t : {dtype::q4_k, dtype::q6_k, dtype::q5_0, dtype::q8_0}) {
  const std::size_t rows = 3 * ops::interleave_rows, cols = 768;
  const auto data = test::random_weights(t, rows, cols, 31);
  const auto plain = make_quantized_matrix(t, data.data(), rows, cols);
  const ops::interleaved_matrix copy(plain);
  auto w = plain;
  w.interleaved = copy.data();
  for (std::size_t batch : {1, 2, 3, 5, 8, 9, 11, 16, 17, 70}) {
    const auto x = test::random_activations(batch * cols, 32 + batch);
    std::vector<float> y(batch * rows), y2(batch * rows), by_rows(batch * rows), ref(batch * rows);
    ops::matmul(w, x, batch, y, {ops::activation_mode::int8, 1});
    ops::matmul(w, x, batch, y2, {ops::activation_mode::int8, 2});
    for (std::size_t b = 0; b < batch; ++b)
      ops::matvec(w, std::span(x).subspan(b * cols, cols), std::span(by_rows).subspan(b * rows, rows), {ops::activation_mode::int8, 2});
    INFO(name_of(t) << " batch " << batch);
    CHECK(same_bits(y, by_rows));
    CHECK(same_bits(y, y2));
    ops::reference::matmul(plain, x, batch, ref, ops::activation_mode::int8);
    for (std::size_t b = 0; b < batch; ++b) check_close(plain, x, b, y, ref);
  }
 }
}

// q/k/v and gate/up are one matmul_shared_input call: one quantized input per activation format,
// one thread team for all rows. Each product must equal its own matmul, for mixed formats (K-quant
// and 32-value activations, f16 with none), interleaved and mapped rows, odd row counts.
TEST_CASE("matrices sharing one input: each product equals its own matmul bit for bit") {
  const std::size_t cols = 768;
  struct spec {
    dtype type;
    std::size_t rows;
    bool interleave;
  };
  const spec specs[] = {{dtype::q4_k, 48, true}, {dtype::q6_k, 32, true}, {dtype::q8_0, 16, true},
                        {dtype::q5_0, 37, false}, {dtype::f16, 21, false}, {dtype::q4_k, 5, false}};
  std::vector<std::vector<std::byte>> data;
  std::vector<quantized_matrix> ws;
  std::vector<ops::interleaved_matrix> copies;
  copies.reserve(std::size(specs));
  for (const auto& sp : specs) {
    data.push_back(test::random_weights(sp.type, sp.rows, cols, 41 + ws.size()));
    ws.push_back(make_quantized_matrix(sp.type, data.back().data(), sp.rows, cols));
    if (sp.interleave && ops::interleavable(ws.back())) {
      copies.emplace_back(ws.back());
      ws.back().interleaved = copies.back().data();
    }
  }
  for (auto mode : {ops::activation_mode::int8, ops::activation_mode::exact})
    for (int threads : {1, 2})
      for (std::size_t batch : {1, 5, 40}) {
        const auto x = test::random_activations(batch * cols, 50 + batch);
        std::vector<std::vector<float>> together, alone;
        std::vector<ops::matrix_product> products;
        for (const auto& w : ws) {
          together.emplace_back(batch * w.rows, -1.f);
          alone.emplace_back(batch * w.rows);
          ops::matmul(w, x, batch, alone.back(), {mode, threads});
        }
        for (std::size_t i = 0; i < ws.size(); ++i) products.push_back({ws[i], together[i]});
        ops::matmul_shared_input(products, x, batch, {mode, threads});
        for (std::size_t i = 0; i < ws.size(); ++i) {
          INFO(name_of(ws[i].type) << " rows " << ws[i].rows << " batch " << batch << " threads " << threads
                                   << (mode == ops::activation_mode::int8 ? " int8" : " exact"));
          CHECK(same_bits(together[i], alone[i]));
        }
      }
  std::vector<float> x(cols), y(48), short_y(3);
  const ops::matrix_product mismatched[] = {{ws[0], y}, {ws[1], short_y}};
  CHECK_THROWS_AS(ops::matmul_shared_input(mismatched, x, 1), invalid_argument);
}

// The interleaved test above covers the AMX tile kernels (int8_amx.hpp) wherever they run: rows of 9+ (Q4_K,
// Q8_0, Q5_0) take tiles and must equal matvec's VNNI rows bit for bit. This one says whether they
// ran here.
TEST_CASE("interleaved matmul takes AMX tiles where they pay" * doctest::skip(!ops::detail::tiles_pay(dtype::q5_0, 9))) {
  CHECK(ops::detail::tiles_pay(dtype::q4_k, 9));
  CHECK(ops::detail::tiles_pay(dtype::q8_0, 16));
  CHECK_FALSE(ops::detail::tiles_pay(dtype::q4_k, 1));
  CHECK_FALSE(ops::detail::tiles_pay(dtype::q5_0, 5));  // a verification's rows: VNNI is faster (int8_amx.hpp)
  CHECK_FALSE(ops::detail::tiles_pay(dtype::q6_k, 64));  // no tile kernel: never faster
}

TEST_CASE("interleaving refuses what its kernels cannot take") {
  const auto data = test::random_weights(dtype::q4_k, 20, 256, 1);  // 20 rows: not whole groups of 16
  CHECK_THROWS_AS(ops::interleaved_matrix(make_quantized_matrix(dtype::q4_k, data.data(), 20, 256)), invalid_argument);
  const auto q4_1 = test::random_weights(dtype::q4_1, 16, 256, 1);  // no interleaved kernel
  CHECK_THROWS_AS(ops::interleaved_matrix(make_quantized_matrix(dtype::q4_1, q4_1.data(), 16, 256)), invalid_argument);
  const auto q5_0 = test::random_weights(dtype::q5_0, 16, 96, 1);   // 96 columns: not whole group blocks of 64
  CHECK_THROWS_AS(ops::interleaved_matrix(make_quantized_matrix(dtype::q5_0, q5_0.data(), 16, 96)), invalid_argument);
}

TEST_CASE("matvec and matmul reject mismatched shapes") {
  const auto data = test::random_weights(dtype::q8_0, 4, 64, 1);
  const auto w = make_quantized_matrix(dtype::q8_0, data.data(), 4, 64);
  std::vector<float> x(64), y(4), bad(5);
  CHECK_THROWS_AS(ops::matvec(w, x, bad), invalid_argument);
  CHECK_THROWS_AS(ops::matvec(w, bad, y), invalid_argument);
  CHECK_THROWS_AS(ops::matmul(w, x, 2, y), invalid_argument);
  auto broken = w;
  broken.row_bytes = 10;
  CHECK_THROWS_AS(ops::matvec(broken, x, y), invalid_argument);
  auto q2 = w;
  q2.type = dtype::q2_k;
  CHECK_THROWS_AS(ops::matvec(q2, x, y), unsupported_error);
}
