#pragma once
// GGUF fixtures with RoPE scaling, for the comparison with llama.cpp
// (tests/model/test_rope_scaling_reference.cpp, scripts/reference_rope.py): random F32 weights in
// Llama-3 shapes in miniature (head_dim 128, GQA 4:1: 4 query heads, 1 KV head, width 512, FFN
// 1024, 2 layers, vocabulary 512; about 19 MB each), original context 256, evaluated to 1024.
// tests/fixtures/write_rope_fixtures.cpp writes them; the same spec always gives the same bytes.
#include <cmath>
#include <cstring>
#include <numbers>
#include <string>
#include <vector>

#include "model/tiny_model.hpp"

namespace rapid::test {

struct rope_fixture {
  std::string name;
  tiny_spec spec;
  std::string scaling_type;          // {arch}.rope.scaling.type; empty: no key
  double factor = 0;                 // {arch}.rope.scaling.factor; 0: no key
  std::size_t original_context = 0;  // {arch}.rope.scaling.original_context_length; 0: no key
  double attn_factor = 0;            // {arch}.rope.scaling.attn_factor; 0: no key
  bool llama3_factors = false;       // a rope_freqs.weight tensor (Llama-3.1 style, no scaling key)
};

inline constexpr std::size_t rope_original_context = 256;  // where the scaled fixtures' training stops
inline constexpr std::size_t rope_eval_positions = 1024;   // positions compared with llama.cpp

inline tiny_spec rope_fixture_spec(std::string arch, float base, std::size_t ctx) {
  return {.arch = std::move(arch), .vocab = 512, .embd = 512, .heads = 4, .kv_heads = 1, .ff = 1024, .layers = 2,
          .ctx = ctx, .rope_base = base};
}

/// The four kinds of file: Llama-3.1 style frequency factors, linear, YaRN on Qwen2 (Qwen2.5's
/// layout: context length = original context) and YaRN with an attention factor on llama.
inline std::vector<rope_fixture> rope_fixtures() {
  constexpr std::size_t orig = rope_original_context;
  return {
      {.name = "llama3_freqs", .spec = rope_fixture_spec("llama", 500000.f, rope_eval_positions), .llama3_factors = true},
      {.name = "llama_linear", .spec = rope_fixture_spec("llama", 500000.f, orig), .scaling_type = "linear", .factor = 4},
      {.name = "qwen2_yarn", .spec = rope_fixture_spec("qwen2", 1000000.f, orig), .scaling_type = "yarn", .factor = 4,
       .original_context = orig},
      {.name = "llama_yarn_attn", .spec = rope_fixture_spec("llama", 10000.f, orig), .scaling_type = "yarn", .factor = 4,
       .original_context = orig, .attn_factor = 0.9},
  };
}

/// The fixture without any scaling (same weights, context long enough): what rapid computed
/// before it read RoPE scaling.
inline rope_fixture unscaled(rope_fixture f) {
  f.spec.ctx = rope_eval_positions;
  f.scaling_type.clear();
  f.factor = 0, f.original_context = 0, f.attn_factor = 0, f.llama3_factors = false;
  return f;
}

/// Llama 3.1's frequency factors (its rope_scaling: factor 8, low/high frequency factors 1 and 4)
/// for this fixture's head size, base and original context: 1 for wavelengths below
/// original / 4, 8 above original / 1, a smooth blend between. (head_dim / 2)
inline std::vector<float> llama3_frequency_factors(std::size_t head_dim, double base, double original) {
  constexpr double factor = 8, low = 1, high = 4;
  std::vector<float> out(head_dim / 2);
  for (std::size_t j = 0; j < out.size(); ++j) {
    const double wavelength = 2 * std::numbers::pi * std::pow(base, 2.0 * static_cast<double>(j) / static_cast<double>(head_dim));
    double f = 1;
    if (wavelength > original / low) f = factor;
    else if (wavelength >= original / high) {
      const double smooth = (original / wavelength - low) / (high - low);
      f = 1 / ((1 - smooth) / factor + smooth);
    }
    out[j] = static_cast<float>(f);
  }
  return out;
}

/// The GGUF content. A "none" vocabulary of `vocab` dummy tokens lets llama.cpp load it.
inline gguf_builder rope_fixture_builder(const rope_fixture& f) {
  using enum io::gguf_type;
  const std::string p = f.spec.arch + ".";
  auto b = tiny_model(f.spec).builder();
  b.kv("general.name", gguf_string("rapid RoPE scaling fixture " + f.name))
      .kv("tokenizer.ggml.model", gguf_string("none"))
      .kv(p + "vocab_size", gguf_scalar<std::uint32_t>(u32, static_cast<std::uint32_t>(f.spec.vocab)));
  if (!f.scaling_type.empty()) b.kv(p + "rope.scaling.type", gguf_string(f.scaling_type));
  if (f.factor != 0) b.kv(p + "rope.scaling.factor", gguf_scalar<float>(f32, static_cast<float>(f.factor)));
  if (f.original_context != 0)
    b.kv(p + "rope.scaling.original_context_length", gguf_scalar<std::uint32_t>(u32, static_cast<std::uint32_t>(f.original_context)));
  if (f.attn_factor != 0) b.kv(p + "rope.scaling.attn_factor", gguf_scalar<float>(f32, static_cast<float>(f.attn_factor)));
  if (f.llama3_factors) {
    const std::size_t head_dim = f.spec.embd / f.spec.heads;
    const auto factors = llama3_frequency_factors(head_dim, f.spec.rope_base, rope_original_context);
    std::vector<std::byte> bytes(factors.size() * 4);
    std::memcpy(bytes.data(), factors.data(), bytes.size());
    b.tensor("rope_freqs.weight", dtype::f32, {factors.size()}, std::move(bytes));
  }
  return b;
}

} // namespace rapid::test
