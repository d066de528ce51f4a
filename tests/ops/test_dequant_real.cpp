// Dequantisation of real GGUF tensors against gguf-py (scripts/reference_dequant.py writes the
// reference rows). Tolerance: bit-identical for the types without an offset (F16, BF16, Q4_0,
// Q5_0, Q8_0, Q6_K); for s*q + o types (Q4_1, Q5_1, Q4_K, Q5_K) within 2^-22 * max|row|, the
// one rounding gguf-py's separate multiply and add may differ from an FMA by.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "rapid/io/gguf.hpp"
#include "rapid/ops/dequant.hpp"
#include "rapid/ops/reference.hpp"
#include "test_support.hpp"

using namespace rapid;

namespace {

std::vector<float> read_f32(const std::filesystem::path& p, std::size_t n) {
  std::ifstream in(p, std::ios::binary);
  std::vector<float> v(n); // (n)
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * sizeof(float)));
  if (!in) FAIL("short reference file " << p.string());
  return v;
}

bool has_offset(dtype t) { return t == dtype::q4_1 || t == dtype::q5_1 || t == dtype::q4_k || t == dtype::q5_k; }

void check_model(const std::string& file) {
  const std::string stem = file.substr(0, file.size() - 5); // without ".gguf"
  const auto model = test::cached("models/" + file);
  const auto index_path = test::cached("reference/dequant/" + stem + "/index.json");
  if (!model || !index_path) return;
  std::ifstream in(*index_path);
  const auto index = nlohmann::json::parse(in);
  const io::gguf_file f(model->string());
  REQUIRE(index["tensors"].size() > 0);
  for (const auto& e : index["tensors"]) {
    const std::string name = e["name"];
    const io::gguf_tensor& t = f.tensor(name);
    INFO(file << ": " << name << " " << name_of(t.type));
    REQUIRE(static_cast<std::uint32_t>(t.type) == e["type_id"].get<std::uint32_t>());
    const std::size_t cols = t.shape[0];
    REQUIRE(cols == e["cols"].get<std::size_t>());
    const std::size_t row_bytes = row_bytes_of(t.type, cols);
    const auto rows = e["rows"].get<std::vector<std::size_t>>();
    const auto want = read_f32(index_path->parent_path() / e["file"].get<std::string>(), rows.size() * cols);
    std::size_t identical = 0, total = 0;
    double worst = 0;
    for (std::size_t k = 0; k < rows.size(); ++k) {
      REQUIRE((rows[k] + 1) * row_bytes <= t.data.size());
      const std::byte* row = t.data.data() + rows[k] * row_bytes;
      std::vector<float> simd(cols), scalar(cols); // (cols)
      ops::dequantize_row(t.type, row, simd.data(), cols);
      ops::reference::dequantize_row(t.type, row, scalar.data(), cols);
      const float* ref = want.data() + k * cols;
      float row_max = 0;
      for (std::size_t i = 0; i < cols; ++i) row_max = std::max(row_max, std::fabs(ref[i]));
      const float tol = has_offset(t.type) ? std::ldexp(row_max, -22) : 0.f;
      for (std::size_t i = 0; i < cols; ++i) {
        for (float got : {simd[i], scalar[i]}) {
          ++total;
          if (std::bit_cast<std::uint32_t>(got) == std::bit_cast<std::uint32_t>(ref[i])) ++identical;
          const double d = std::fabs(static_cast<double>(got) - ref[i]);
          worst = std::max(worst, d);
          if (!(d <= tol)) FAIL_CHECK("row " << rows[k] << " col " << i << ": " << got << " vs gguf-py " << ref[i]);
        }
      }
    }
    MESSAGE(file << ": " << name << " " << name_of(t.type) << ": " << identical << "/" << total
                 << " values bit-identical to gguf-py, max |diff| " << worst);
  }
}

} // namespace

TEST_CASE("dequantize_row matches gguf-py on SmolLM2-135M (Q4_1, Q8_0)") {
  check_model("smollm2-135m-instruct-q4_1.gguf");
}
TEST_CASE("dequantize_row matches gguf-py on Qwen2.5-Coder-1.5B (Q4_K, Q6_K)") {
  check_model("qwen2.5-coder-1.5b-instruct-q4_k_m.gguf");
}
TEST_CASE("dequantize_row matches gguf-py on Qwen2.5-Coder-0.5B (Q5_0, Q8_0, Q4_K, Q6_K)") {
  check_model("qwen2.5-coder-0.5b.gguf");
}

#include "rapid/ops/matvec.hpp"
#include "ops/random_weights.hpp"

// Accuracy of 8-bit activations on real weights (docs/kernels.md): relative L2 error of
// y = W x between activation_mode::int8 and ::exact, x Gaussian without and with outliers.
TEST_CASE("int8 activations on real Qwen2.5-1.5B matrices: error vs the exact path") {
  const auto model = test::cached("models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf");
  if (!model) return;
  const io::gguf_file f(model->string());
  for (bool outliers : {false, true})
  for (std::string name : {"blk.0.attn_q.weight", "blk.0.ffn_down.weight", "blk.13.ffn_up.weight", "output.weight"}) {
    const io::gguf_tensor& t = f.tensor(name);
    const std::size_t cols = t.shape[0], rows = std::min<std::size_t>(t.shape[1], 2048);
    const auto w = make_quantized_matrix(t.type, t.data.data(), rows, cols);
    const auto x = test::random_activations(cols, 3, outliers);
    std::vector<float> fast(rows), exact(rows); // (rows)
    ops::matvec(w, x, fast, {ops::activation_mode::int8, 0});
    ops::matvec(w, x, exact, {ops::activation_mode::exact, 0});
    double num = 0, den = 0;
    for (std::size_t r = 0; r < rows; ++r) {
      num += (fast[r] - exact[r]) * static_cast<double>(fast[r] - exact[r]);
      den += exact[r] * static_cast<double>(exact[r]);
    }
    const double rel = std::sqrt(num / den);
    MESSAGE(name << " (" << name_of(t.type) << ", " << rows << " rows of " << cols << ", x "
                 << std::string(outliers ? "with" : "without") << " outliers): ||y_int8 - y_exact|| / ||y_exact|| = " << rel);
    CHECK(rel < 2e-2);
  }
}
