// RoPE scaling against llama.cpp: the fixture GGUFs of tests/model/rope_fixtures.hpp (random F32
// weights, head_dim 128, GQA 4:1, original context 256) with Llama-3.1 frequency factors, linear,
// and YaRN (Qwen2 layout; llama with an attention factor), 1024 positions teacher-forced through
// llama.cpp by scripts/reference_rope.py (scripts/test.sh runs it after the build; it skips, or
// fails under RAPID_REQUIRE_MODELS=1, when the reference is missing).
//
// rapid runs the same tokens as prefill (2 blocks), 16 decode steps and an 8-token verification,
// with exact activations and an F16 cache like llama.cpp's, so the bound is the exactness
// control of test_transformer_reference.cpp: mean |dlogit| < 0.01, max < 0.1. To show that
// the bound can fail, the same weights without their scaling must miss it by far beyond the
// original context.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/rope_fixtures.hpp"
#include "rapid/model/transformer.hpp"
#include "test_support.hpp"

using rapid::model::token_id;
using rapid::model::transformer;
namespace t = rapid::test;
namespace fs = std::filesystem;

namespace {

constexpr double exact_mean_abs = 0.01, exact_max_abs = 0.1;
constexpr double unscaled_min_mean_abs = 10 * exact_mean_abs;  // what a model without its scaling must miss by

/// rapid's rows for `tokens`: prefill in blocks of 512 (all rows kept), then 16 single-token
/// decode steps, then the rest as one verification block. (tokens.size(), n_vocab)
std::vector<float> rapid_rows(const std::string& path, const std::vector<token_id>& tokens) {
  transformer tf(path, {.n_ctx = tokens.size(), .kv = rapid::model::kv_type::f16, .threads = 2,
                        .activations = rapid::ops::activation_mode::exact});
  const std::size_t decode_from = tokens.size() - 24, verify_from = tokens.size() - 8;
  std::vector<float> rows;
  const auto take = [&](std::size_t first, std::size_t count) {
    const auto r = tf.forward(std::span(tokens).subspan(first, count));
    rows.insert(rows.end(), r.begin(), r.end());
  };
  for (std::size_t i = 0; i < decode_from; i += 512) take(i, std::min<std::size_t>(512, decode_from - i));
  for (std::size_t i = decode_from; i < verify_from; ++i) take(i, 1);
  take(verify_from, tokens.size() - verify_from);
  return rows;
}

struct distance {
  double mean_abs = 0, max_abs = 0;
  double top1 = 0;  // fraction of rows with the same argmax
};

/// Over rows [first, last) of two (rows, v) matrices.
distance compare(std::span<const float> a, std::span<const float> b, std::size_t v, std::size_t first, std::size_t last) {
  distance d;
  for (std::size_t r = first; r < last; ++r) {
    const auto ra = a.subspan(r * v, v), rb = b.subspan(r * v, v);
    for (std::size_t j = 0; j < v; ++j) {
      const double x = std::abs(static_cast<double>(ra[j]) - rb[j]);
      d.mean_abs += x;
      d.max_abs = std::max(d.max_abs, x);
    }
    d.top1 += std::max_element(ra.begin(), ra.end()) - ra.begin() == std::max_element(rb.begin(), rb.end()) - rb.begin();
  }
  d.mean_abs /= static_cast<double>((last - first) * v);
  d.top1 /= static_cast<double>(last - first);
  return d;
}

std::vector<std::byte> read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(raw.size());
  std::transform(raw.begin(), raw.end(), out.begin(), [](char c) { return static_cast<std::byte>(c); });
  return out;
}

} // namespace

TEST_CASE("rope scaling against llama.cpp: frequency factors, linear and yarn up to 4x the original context") {
  const auto json_path = t::cached("reference/rope/reference.json");
  if (!json_path) return;
  const auto json = nlohmann::json::parse(std::ifstream(*json_path));
  const auto dir = json_path->parent_path();
  MESSAGE("reference: " << json.at("engine").get<std::string>());
  for (const auto& f : t::rope_fixtures()) {
    CAPTURE(f.name);
    REQUIRE_MESSAGE(json.at("fixtures").contains(f.name), "no reference for " << f.name << ": rerun scripts/reference_rope.py");
    const auto& entry = json.at("fixtures").at(f.name);
    const auto path = dir / entry.at("file").get<std::string>();
    // llama.cpp must have run the file the writer makes today, or the reference is stale.
    REQUIRE_MESSAGE(read_bytes(path) == t::rope_fixture_builder(f).build(),
                    path.string() << " differs from tests/model/rope_fixtures.hpp's: rerun scripts/reference_rope.py");
    const auto tokens = entry.at("tokens").get<std::vector<token_id>>();
    const std::size_t v = entry.at("n_vocab"), n = tokens.size();
    REQUIRE(n == t::rope_eval_positions);
    std::vector<float> expected(n * v);  // (n, v) llama.cpp
    std::ifstream(dir / entry.at("logits_file").get<std::string>(), std::ios::binary)
        .read(reinterpret_cast<char*>(expected.data()), static_cast<std::streamsize>(expected.size() * sizeof(float)));

    const auto rows = rapid_rows(path.string(), tokens);
    const std::size_t orig = t::rope_original_context;
    const auto within = compare(rows, expected, v, 0, orig), beyond = compare(rows, expected, v, orig, n);
    const auto unscaled_path = t::tiny_model::write("rapid_rope_unscaled_" + f.name + ".gguf", t::rope_fixture_builder(t::unscaled(f)));
    const auto unscaled = compare(rapid_rows(unscaled_path, tokens), expected, v, orig, n);
    fs::remove(unscaled_path);
    MESSAGE(f.name << " vs llama.cpp, |dlogit| mean / max, top-1: positions < " << orig << ": " << within.mean_abs << " / "
                   << within.max_abs << ", " << within.top1 << "; " << orig << ".." << n - 1 << ": " << beyond.mean_abs
                   << " / " << beyond.max_abs << ", " << beyond.top1 << "; the same weights unscaled there: "
                   << unscaled.mean_abs << " / " << unscaled.max_abs << ", " << unscaled.top1);
    CHECK(within.mean_abs < exact_mean_abs);
    CHECK(within.max_abs < exact_max_abs);
    CHECK(beyond.mean_abs < exact_mean_abs);
    CHECK(beyond.max_abs < exact_max_abs);
    CHECK(unscaled.mean_abs > unscaled_min_mean_abs);
  }
}
