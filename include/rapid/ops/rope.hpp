#pragma once
// Rotary position embedding. Two pairings exist and mixing them up gives fluent garbage:
//  - normal (GGUF llama, whose converter permuted Q/K): pairs (x[2j], x[2j+1])
//  - neox   (qwen2): pairs (x[j], x[j + d/2])
// Both rotate pair j by angle pos * theta_j with theta_j = base^(-2j/d), and scale the rotation
// by a magnitude m (1 unless YaRN or an attention factor says otherwise).
//
// RoPE scaling (how a model stretches its positions beyond the context it was trained on) only
// changes theta_j and m, so every kind reduces to one table of per-pair frequencies built here,
// with llama.cpp's (ggml_rope_ext) semantics:
//  - frequency factors (llama3, `rope_freqs.weight`): theta_j / f_j
//  - linear: positions divided by the factor s, i.e. theta_j / s
//  - yarn: theta_j / s on the low-frequency pairs, theta_j unchanged on the high-frequency ones,
//    a linear ramp between (pairs whose wavelength fits beta_fast resp. beta_slow rotations into
//    the original context), and m = attn_factor * (1 + 0.1 ln s)
// The angle stays linear in the position, so prefill, decode and verification share the table.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numbers>
#include <vector>

namespace rapid::ops {

enum class rope_style { normal, neox };

enum class rope_scaling_type { none, linear, yarn };

/// RoPE scaling as a GGUF file describes it (model/rope_scaling.hpp reads it).
struct rope_scaling {
  rope_scaling_type type = rope_scaling_type::none;
  double factor = 1.0;                // linear and yarn: the context extension factor s
  double original_context = 0;        // yarn: the context before extension (sets the ramp)
  double attn_factor = 1.0;           // multiplies cos and sin, whatever the type (as llama.cpp)
  double beta_fast = 32.0;            // yarn: pairs with more rotations than this keep theta_j
  double beta_slow = 1.0;             // yarn: pairs with fewer rotations than this get theta_j / s
  std::vector<float> freq_factors;    // (head_dim / 2) f_j from rope_freqs.weight; empty: all 1
};

/// Per-pair frequencies and the magnitude for one head.
class rope_table {
public:
  rope_table() = default;
  rope_table(std::size_t head_dim, double base, const rope_scaling& scaling = {}) : inv_freq_(head_dim / 2) {
    const auto d = static_cast<double>(head_dim);
    for (std::size_t j = 0; j < inv_freq_.size(); ++j) {
      double theta = std::pow(base, -2.0 * static_cast<double>(j) / d);
      if (!scaling.freq_factors.empty()) theta /= scaling.freq_factors[j];
      inv_freq_[j] = theta * stretch(scaling, j, d, base);
    }
    if (scaling.type == rope_scaling_type::yarn) magnitude_ = 1.0 + 0.1 * std::log(scaling.factor);
    magnitude_ *= scaling.attn_factor;
  }

  /// Rotates `n_heads` heads of `head_dim` values stored contiguously in x: (n_heads, head_dim).
  void apply(float* x, std::size_t n_heads, std::size_t pos, rope_style style) const noexcept {
    apply(x, n_heads, nullptr, 0, pos, style);
  }
  /// Rotates the query and key heads of one token: the angles' cos and sin (double precision)
  /// once for both. q: (q_heads, head_dim); k: (k_heads, head_dim)
  void apply(float* q, std::size_t q_heads, float* k, std::size_t k_heads, std::size_t pos, rope_style style) const noexcept {
    const std::size_t half = inv_freq_.size();
    const std::size_t head_dim = 2 * half;
    const auto rotate = [&](float* x, std::size_t n_heads, std::size_t i0, std::size_t i1, float c, float s) {
      for (std::size_t h = 0; h < n_heads; ++h) {
        float* v = x + h * head_dim;
        const float a = v[i0], b = v[i1];
        v[i0] = a * c - b * s;
        v[i1] = a * s + b * c;
      }
    };
    for (std::size_t j = 0; j < half; ++j) {
      const double angle = static_cast<double>(pos) * inv_freq_[j];
      const auto c = static_cast<float>(std::cos(angle) * magnitude_);
      const auto s = static_cast<float>(std::sin(angle) * magnitude_);
      const std::size_t i0 = style == rope_style::normal ? 2 * j : j;
      const std::size_t i1 = style == rope_style::normal ? 2 * j + 1 : j + half;
      rotate(q, q_heads, i0, i1, c, s);
      rotate(k, k_heads, i0, i1, c, s);
    }
  }

  [[nodiscard]] double frequency(std::size_t j) const noexcept { return inv_freq_[j]; }
  [[nodiscard]] double magnitude() const noexcept { return magnitude_; }

private:
  /// The multiplier scaling puts on theta_j: 1 (none), 1/s (linear), or YaRN's blend of the two.
  static double stretch(const rope_scaling& s, std::size_t j, double d, double base) {
    if (s.type == rope_scaling_type::none) return 1.0;
    const double interpolated = 1.0 / s.factor;
    if (s.type == rope_scaling_type::linear) return interpolated;
    // Pair index at which a wavelength fits `rotations` times into the original context.
    const auto pair_at = [&](double rotations) {
      return d * std::log(s.original_context / (rotations * 2.0 * std::numbers::pi)) / (2.0 * std::log(base));
    };
    const double low = std::max(0.0, std::floor(pair_at(s.beta_fast)));
    const double high = std::min(d - 1.0, std::ceil(pair_at(s.beta_slow)));
    // 1 below `low` (keep theta_j: extrapolate), 0 above `high` (interpolate), linear between.
    const double keep = 1.0 - std::clamp((static_cast<double>(j) - low) / std::max(0.001, high - low), 0.0, 1.0);
    return interpolated * (1.0 - keep) + keep;
  }

  std::vector<double> inv_freq_;  // (head_dim / 2) scaled theta_j
  double magnitude_ = 1.0;        // m: cos and sin are multiplied by it
};

} // namespace rapid::ops
