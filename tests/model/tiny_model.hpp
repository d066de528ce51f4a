#pragma once
// A tiny random LLaMA/Qwen2-shaped model written as a GGUF file, and a naive forward pass over it
// built from the scalar reference kernels: the independent twin of model::transformer.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "gguf_writer.hpp"
#include "rapid/core/fp16.hpp"
#include "rapid/ops/reference_layers.hpp"

namespace rapid::test {

struct tiny_spec {
  std::string arch = "llama";  // or "qwen2" (QKV biases, neox rope)
  std::size_t vocab = 96, embd = 64, heads = 4, kv_heads = 2, ff = 96, layers = 2, ctx = 256;
  float rope_base = 10000.f;
  dtype matrix_type = dtype::f32;  // f32 or f16
  bool tied = false;
};

/// Deterministic random tensors keyed by name; the same spec always gives the same model.
class tiny_model {
public:
  explicit tiny_model(tiny_spec s) : spec(std::move(s)) {}

  std::vector<float> values(const std::string& name, std::size_t n, float scale) const {
    auto v = vector(name, n, scale);
    if (spec.matrix_type == dtype::f16)  // what the file will hold for matrices
      for (auto& x : v) x = fp16_to_f32(f32_to_fp16(x));
    return v;
  }
  /// n normal deviates times scale, the same bits in every build: Box-Muller from 24-bit
  /// uniforms, with no a * b + c a compiler could fuse (std::normal_distribution's x * x + y * y
  /// became one FMA in -march builds, so the RoPE fixtures' bytes depended on the flags).
  std::vector<float> vector(const std::string& name, std::size_t n, float scale) const {
    std::seed_seq seq(name.begin(), name.end());
    std::mt19937 rng(seq);
    const auto uniform = [&] { return static_cast<double>((rng() >> 8) + 1) * 0x1p-24; };  // (0, 1], exact
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; i += 2) {
      const double radius = std::sqrt(-2 * std::log(uniform())), angle = 2 * std::numbers::pi * uniform();
      v[i] = static_cast<float>(radius * std::cos(angle) * scale);
      if (i + 1 < n) v[i + 1] = static_cast<float>(radius * std::sin(angle) * scale);
    }
    return v;
  }
  std::vector<float> norm(const std::string& name) const {
    auto v = vector(name, spec.embd, 0.1f);
    for (auto& x : v) x = 1.f + x;  // norms near 1, as trained models have
    return v;
  }

  /// The GGUF content; `drop` names a tensor to leave out (for error tests).
  gguf_builder builder(const std::string& drop = {}) const {
    using enum io::gguf_type;
    const auto& s = spec;
    const std::string p = s.arch + ".";
    auto u32v = [](std::size_t v) { return gguf_scalar<std::uint32_t>(u32, static_cast<std::uint32_t>(v)); };
    gguf_builder b;
    b.kv("general.architecture", gguf_string(s.arch))
        .kv(p + "block_count", u32v(s.layers))
        .kv(p + "embedding_length", u32v(s.embd))
        .kv(p + "feed_forward_length", u32v(s.ff))
        .kv(p + "attention.head_count", u32v(s.heads))
        .kv(p + "attention.head_count_kv", u32v(s.kv_heads))
        .kv(p + "context_length", u32v(s.ctx))
        .kv(p + "rope.freq_base", gguf_scalar<float>(f32, s.rope_base))
        .kv(p + "attention.layer_norm_rms_epsilon", gguf_scalar<float>(f32, 1e-5f));
    const std::size_t hd = s.embd / s.heads, qw = s.heads * hd, kw = s.kv_heads * hd;
    auto mat = [&](const std::string& name, std::size_t cols, std::size_t rows) {
      if (name != drop) b.tensor(name, s.matrix_type, {cols, rows}, encode(values(name, rows * cols, scale_of(cols))));
    };
    auto vec = [&](const std::string& name, const std::vector<float>& v) {
      if (name != drop) b.tensor(name, dtype::f32, {v.size()}, encode_f32(v));
    };
    mat("token_embd.weight", s.embd, s.vocab);
    vec("output_norm.weight", norm("output_norm.weight"));
    if (!s.tied) mat("output.weight", s.embd, s.vocab);
    for (std::size_t l = 0; l < s.layers; ++l) {
      const std::string n = "blk." + std::to_string(l) + ".";
      vec(n + "attn_norm.weight", norm(n + "attn_norm.weight"));
      mat(n + "attn_q.weight", s.embd, qw);
      mat(n + "attn_k.weight", s.embd, kw);
      mat(n + "attn_v.weight", s.embd, kw);
      mat(n + "attn_output.weight", qw, s.embd);
      if (s.arch == "qwen2") {
        vec(n + "attn_q.bias", vector(n + "attn_q.bias", qw, 0.1f));
        vec(n + "attn_k.bias", vector(n + "attn_k.bias", kw, 0.1f));
        vec(n + "attn_v.bias", vector(n + "attn_v.bias", kw, 0.1f));
      }
      vec(n + "ffn_norm.weight", norm(n + "ffn_norm.weight"));
      mat(n + "ffn_gate.weight", s.embd, s.ff);
      mat(n + "ffn_up.weight", s.embd, s.ff);
      mat(n + "ffn_down.weight", s.ff, s.embd);
    }
    return b;
  }

  /// Writes a GGUF to a temporary file and returns its path.
  static std::string write(const std::string& file_name, const gguf_builder& b) {
    const auto path = std::filesystem::temp_directory_path() / file_name;
    const auto bytes = b.build();
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    return path.string();
  }
  std::string write(const std::string& file_name) const { return write(file_name, builder()); }

  /// Naive forward of the whole sequence from position 0; returns (tokens.size(), vocab) logits.
  std::vector<float> forward(const std::vector<std::int32_t>& tokens) const {
    const auto& s = spec;
    const std::size_t n = tokens.size(), e = s.embd, hd = e / s.heads, qw = s.heads * hd, kw = s.kv_heads * hd;
    const auto style = s.arch == "qwen2" ? ops::rope_style::neox : ops::rope_style::normal;
    auto matvec = [&](const std::string& name, std::size_t cols, std::size_t rows, const float* x, float* y) {
      const auto w = values(name, rows * cols, scale_of(cols));
      for (std::size_t r = 0; r < rows; ++r) {
        double acc = 0;
        for (std::size_t c = 0; c < cols; ++c) acc += static_cast<double>(w[r * cols + c]) * x[c];
        y[r] = static_cast<float>(acc);
      }
    };
    const auto embd = values("token_embd.weight", s.vocab * e, scale_of(e));
    std::vector<float> x(n * e), xn(e), q(n * qw), k(s.kv_heads * n * hd), v(k.size()), att(n * qw),
        tmp(std::max(e, s.ff)), gate(s.ff), up(s.ff), kr(kw), vr(kw);  // shapes as in transformer.hpp
    for (std::size_t i = 0; i < n; ++i) std::memcpy(&x[i * e], &embd[static_cast<std::size_t>(tokens[i]) * e], e * 4);
    for (std::size_t l = 0; l < s.layers; ++l) {
      const std::string p = "blk." + std::to_string(l) + ".";
      for (std::size_t i = 0; i < n; ++i) {
        ops::reference::rms_norm(&x[i * e], norm(p + "attn_norm.weight").data(), xn.data(), e, 1e-5f);
        matvec(p + "attn_q.weight", e, qw, xn.data(), &q[i * qw]);
        matvec(p + "attn_k.weight", e, kw, xn.data(), kr.data());
        matvec(p + "attn_v.weight", e, kw, xn.data(), vr.data());
        if (s.arch == "qwen2") {
          const auto bq = vector(p + "attn_q.bias", qw, 0.1f), bk = vector(p + "attn_k.bias", kw, 0.1f),
                     bv = vector(p + "attn_v.bias", kw, 0.1f);
          for (std::size_t j = 0; j < qw; ++j) q[i * qw + j] += bq[j];
          for (std::size_t j = 0; j < kw; ++j) kr[j] += bk[j], vr[j] += bv[j];
        }
        ops::reference::rope(&q[i * qw], s.heads, hd, i, s.rope_base, style);
        ops::reference::rope(kr.data(), s.kv_heads, hd, i, s.rope_base, style);
        for (std::size_t g = 0; g < s.kv_heads; ++g)
          for (std::size_t j = 0; j < hd; ++j) {
            k[(g * n + i) * hd + j] = kr[g * hd + j];
            v[(g * n + i) * hd + j] = vr[g * hd + j];
          }
      }
      ops::reference::attention(q.data(), k.data(), v.data(), n, 0, s.heads, s.kv_heads, hd, n, att.data());
      for (std::size_t i = 0; i < n; ++i) {
        matvec(p + "attn_output.weight", qw, e, &att[i * qw], tmp.data());
        for (std::size_t j = 0; j < e; ++j) x[i * e + j] += tmp[j];
        ops::reference::rms_norm(&x[i * e], norm(p + "ffn_norm.weight").data(), xn.data(), e, 1e-5f);
        matvec(p + "ffn_gate.weight", e, s.ff, xn.data(), gate.data());
        matvec(p + "ffn_up.weight", e, s.ff, xn.data(), up.data());
        ops::reference::swiglu(gate.data(), up.data(), s.ff);
        matvec(p + "ffn_down.weight", s.ff, e, gate.data(), tmp.data());
        for (std::size_t j = 0; j < e; ++j) x[i * e + j] += tmp[j];
      }
    }
    std::vector<float> logits(n * s.vocab);
    const std::string out_name = s.tied ? "token_embd.weight" : "output.weight";
    for (std::size_t i = 0; i < n; ++i) {
      ops::reference::rms_norm(&x[i * e], norm("output_norm.weight").data(), xn.data(), e, 1e-5f);
      matvec(out_name, e, s.vocab, xn.data(), &logits[i * s.vocab]);
    }
    return logits;
  }

  tiny_spec spec;

private:
  static float scale_of(std::size_t cols) { return 1.f / std::sqrt(static_cast<float>(cols)); }
  std::vector<std::byte> encode(const std::vector<float>& v) const {
    if (spec.matrix_type == dtype::f32) return encode_f32(v);
    std::vector<std::byte> out(v.size() * 2);
    for (std::size_t i = 0; i < v.size(); ++i) {
      const std::uint16_t h = f32_to_fp16(v[i]);
      std::memcpy(out.data() + 2 * i, &h, 2);
    }
    return out;
  }
  static std::vector<std::byte> encode_f32(const std::vector<float>& v) {
    std::vector<std::byte> out(v.size() * 4);
    std::memcpy(out.data(), v.data(), out.size());
    return out;
  }
};

} // namespace rapid::test
