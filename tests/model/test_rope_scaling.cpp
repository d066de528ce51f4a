// RoPE scaling as the GGUF metadata and the rope_freqs tensor describe it (model/rope_scaling.hpp):
// what is read, what is refused, and that a scaled model rotates identically in prefill, decode
// and verification. The comparison with llama.cpp is in test_rope_scaling_reference.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <span>
#include <string>
#include <vector>

#include "model/rope_fixtures.hpp"
#include "rapid/model/transformer.hpp"

using rapid::model::logits_for;
using rapid::model::token_id;
using rapid::model::transformer;
using rapid::ops::rope_scaling_type;
namespace t = rapid::test;

namespace {
/// A small fixture (head_dim 16) with the given scaling, written to a temporary file.
std::string write_small(t::rope_fixture f) {
  f.spec = {.arch = f.spec.arch, .ctx = f.spec.ctx};
  return t::tiny_model::write("rapid_rope_" + f.name + ".gguf", t::rope_fixture_builder(f));
}
rapid::model::model_config config_of(const std::string& path) { return rapid::model::model(path).config(); }
} // namespace

TEST_CASE("rope scaling: types, factors and the original context are read as llama.cpp reads them") {
  SUBCASE("no key, no tensor: unscaled") {
    const auto c = config_of(write_small({.name = "none"}));
    CHECK(c.rope_scaling.type == rope_scaling_type::none);
    CHECK(c.rope_scaling.freq_factors.empty());
    CHECK(c.n_ctx_train == 256);
  }
  SUBCASE("rope_freqs.weight without any key (Llama 3.1): frequency factors") {
    const auto c = config_of(write_small({.name = "freqs", .llama3_factors = true}));
    CHECK(c.rope_scaling.type == rope_scaling_type::none);
    REQUIRE(c.rope_scaling.freq_factors.size() == c.head_dim / 2);
    CHECK(c.rope_scaling.freq_factors.front() == 1.f);  // the highest frequency is left alone
    CHECK(c.rope_scaling.freq_factors.back() == 8.f);   // the lowest is stretched by Llama 3.1's factor
    CHECK(c.n_ctx_train == 256);
  }
  SUBCASE("linear: the factor stretches the context") {
    const auto c = config_of(write_small({.name = "linear", .scaling_type = "linear", .factor = 4}));
    CHECK(c.rope_scaling.type == rope_scaling_type::linear);
    CHECK(c.rope_scaling.factor == 4);
    CHECK(c.n_ctx_train == 1024);
  }
  SUBCASE("a factor without a type is linear (llama.cpp's default)") {
    const auto c = config_of(write_small({.name = "factor_only", .factor = 2}));
    CHECK(c.rope_scaling.type == rope_scaling_type::linear);
    CHECK(c.n_ctx_train == 512);
  }
  SUBCASE("type none ignores a factor") {
    const auto c = config_of(write_small({.name = "none_factor", .scaling_type = "none", .factor = 4}));
    CHECK(c.rope_scaling.type == rope_scaling_type::none);
    CHECK(c.n_ctx_train == 256);
  }
  SUBCASE("yarn: factor, original context, attention factor") {
    auto f = t::rope_fixture{.name = "yarn", .scaling_type = "yarn", .factor = 4, .original_context = 128, .attn_factor = 0.9};
    const auto c = config_of(write_small(f));
    CHECK(c.rope_scaling.type == rope_scaling_type::yarn);
    CHECK(c.rope_scaling.factor == 4);
    CHECK(c.rope_scaling.original_context == 128);
    CHECK(c.rope_scaling.attn_factor == doctest::Approx(0.9));
    CHECK(c.n_ctx_train == 512);  // 4 x 128 exceeds the file's 256
    f.original_context = 0;       // absent: the context length, as in llama.cpp
    CHECK(config_of(write_small(f)).rope_scaling.original_context == 256);
  }
}

TEST_CASE("rope scaling: unknown types and malformed factors are refused, naming them") {
  CHECK_THROWS_WITH_AS(config_of(write_small({.name = "longrope", .scaling_type = "longrope", .factor = 4})),
                       doctest::Contains("RoPE scaling 'longrope' is not supported (supported: none, linear, yarn"),
                       rapid::unsupported_error);
  CHECK_THROWS_WITH_AS(config_of(write_small({.name = "su", .scaling_type = "su"})), doctest::Contains("'su'"),
                       rapid::unsupported_error);
  CHECK_THROWS_WITH_AS(config_of(write_small({.name = "negative", .scaling_type = "linear", .factor = -2})),
                       doctest::Contains("positive"), rapid::format_error);
  // rope_freqs with the wrong length (a file for another head size)
  auto b = t::rope_fixture_builder({.name = "short_freqs", .spec = {}});
  b.tensor("rope_freqs.weight", rapid::dtype::f32, {4}, t::filler_bytes(16));
  CHECK_THROWS_WITH_AS(config_of(t::tiny_model::write("rapid_rope_short_freqs.gguf", b)),
                       doctest::Contains("rope_freqs.weight must be F32 with head_dim / 2 = 8 entries"), rapid::format_error);
}

TEST_CASE("rope scaling: prefill, decode and verification rotate alike (yarn and frequency factors)") {
  for (const auto& f : {t::rope_fixture{.name = "same_yarn", .spec = {.arch = "qwen2"}, .scaling_type = "yarn", .factor = 4,
                                        .original_context = 64},
                        t::rope_fixture{.name = "same_freqs", .llama3_factors = true}}) {
    CAPTURE(f.name);
    auto model = std::make_shared<const rapid::model::model>(write_small(f));
    const rapid::model::transformer_options o{.n_ctx = 256, .kv = rapid::model::kv_type::f32, .threads = 2,
                                              .activations = rapid::ops::activation_mode::exact};
    std::vector<token_id> tokens(200);
    for (std::size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<token_id>((i * 31 + 7) % 96);
    transformer whole(model, o), parts(model, o);
    const auto all = whole.forward(tokens);
    const std::vector<float> block(all.begin(), all.end());  // (200, 96)
    parts.prefill(std::span(tokens).first(150), 64);                   // chunked prefill
    std::vector<float> rows;                                           // (50, 96) decode, then verification
    for (std::size_t i = 150; i < 190; ++i) {
      const auto r = parts.forward(std::span(tokens).subspan(i, 1));
      rows.insert(rows.end(), r.begin(), r.end());
    }
    const auto verify = parts.forward(std::span(tokens).subspan(190));
    rows.insert(rows.end(), verify.begin(), verify.end());
    double worst = 0;
    for (std::size_t i = 0; i < rows.size(); ++i) worst = std::max(worst, static_cast<double>(std::abs(rows[i] - block[150 * 96 + i])));
    MESSAGE(f.name << ": one 200-token forward vs prefill + decode + verification, max |dlogit| = " << worst);
    CHECK(worst < 1e-5);
  }
}
