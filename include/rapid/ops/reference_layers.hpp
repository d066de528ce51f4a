#pragma once
// Scalar twins of the layer kernels (norm, rope, softmax, swiglu, attention): plain loops in
// double precision that define what the SIMD/OpenMP versions must compute. Tests only.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "rapid/ops/rope.hpp"

namespace rapid::ops::reference {

/// x, w, y: (n)
inline void rms_norm(const float* x, const float* w, float* y, std::size_t n, float eps) {
  double ss = 0;
  for (std::size_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const double inv = 1.0 / std::sqrt(ss / static_cast<double>(n) + eps);
  for (std::size_t i = 0; i < n; ++i) y[i] = static_cast<float>(x[i] * inv * w[i]);
}

/// x <- softmax(x). x: (n)
inline void softmax(float* x, std::size_t n) {
  const double mx = *std::max_element(x, x + n);
  double sum = 0;
  for (std::size_t i = 0; i < n; ++i) sum += std::exp(x[i] - mx);
  for (std::size_t i = 0; i < n; ++i) x[i] = static_cast<float>(std::exp(x[i] - mx) / sum);
}

/// gate <- gate * sigmoid(gate) * up. gate, up: (n)
inline void swiglu(float* gate, const float* up, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) gate[i] = static_cast<float>(gate[i] / (1.0 + std::exp(-static_cast<double>(gate[i]))) * up[i]);
}

/// Rotates pair (i0, i1) of every head by pos * base^(-2j/d). x: (n_heads, head_dim)
inline void rope(float* x, std::size_t n_heads, std::size_t head_dim, std::size_t pos, double base, rope_style style) {
  for (std::size_t h = 0; h < n_heads; ++h)
    for (std::size_t j = 0; j < head_dim / 2; ++j) {
      const double angle = static_cast<double>(pos) * std::pow(base, -2.0 * static_cast<double>(j) / static_cast<double>(head_dim));
      const std::size_t i0 = h * head_dim + (style == rope_style::normal ? 2 * j : j);
      const std::size_t i1 = h * head_dim + (style == rope_style::normal ? 2 * j + 1 : j + head_dim / 2);
      const double a = x[i0], b = x[i1];
      x[i0] = static_cast<float>(a * std::cos(angle) - b * std::sin(angle));
      x[i1] = static_cast<float>(a * std::sin(angle) + b * std::cos(angle));
    }
}

/// Causal GQA attention with a materialised score row per query.
/// q: (n_tokens, n_heads, hd); k, v: (n_kv_heads, n_pos, hd) f32; out: (n_tokens, n_heads, hd)
inline void attention(const float* q, const float* k, const float* v, std::size_t n_tokens, std::size_t pos0,
                      std::size_t n_heads, std::size_t n_kv_heads, std::size_t hd, std::size_t n_pos, float* out) {
  const std::size_t group = n_heads / n_kv_heads;
  std::vector<double> s;  // (visible)
  for (std::size_t t = 0; t < n_tokens; ++t)
    for (std::size_t h = 0; h < n_heads; ++h) {
      const std::size_t g = h / group, visible = pos0 + t + 1;
      const float* qr = q + (t * n_heads + h) * hd;
      s.assign(visible, 0.0);
      for (std::size_t p = 0; p < visible; ++p) {
        double d = 0;
        for (std::size_t i = 0; i < hd; ++i) d += static_cast<double>(qr[i]) * k[(g * n_pos + p) * hd + i];
        s[p] = d / std::sqrt(static_cast<double>(hd));
      }
      const double mx = *std::max_element(s.begin(), s.end());
      double sum = 0;
      for (auto& x : s) sum += (x = std::exp(x - mx));
      for (std::size_t i = 0; i < hd; ++i) {
        double o = 0;
        for (std::size_t p = 0; p < visible; ++p) o += s[p] * v[(g * n_pos + p) * hd + i];
        out[(t * n_heads + h) * hd + i] = static_cast<float>(o / sum);
      }
    }
}

} // namespace rapid::ops::reference
