#pragma once
// Rotary position embedding. Two pairings exist and mixing them up gives fluent garbage:
//  - normal (GGUF llama, whose converter permuted Q/K): pairs (x[2j], x[2j+1])
//  - neox   (qwen2): pairs (x[j], x[j + d/2])
// Both rotate pair j by angle pos * base^(-2j/d).
#include <cmath>
#include <cstddef>
#include <vector>

namespace rapid::ops {

enum class rope_style { normal, neox };

/// Per-pair inverse frequencies for one head: base^(-2j/d), j < d/2 (computed in double).
class rope_table {
public:
  rope_table() = default;
  rope_table(std::size_t head_dim, double base) : inv_freq_(head_dim / 2) {
    for (std::size_t j = 0; j < inv_freq_.size(); ++j)
      inv_freq_[j] = std::pow(base, -2.0 * static_cast<double>(j) / static_cast<double>(head_dim));
  }

  /// Rotates `n_heads` heads of `head_dim` values stored contiguously in x: (n_heads, head_dim).
  void apply(float* x, std::size_t n_heads, std::size_t pos, rope_style style) const noexcept {
    const std::size_t half = inv_freq_.size();
    const std::size_t head_dim = 2 * half;
    for (std::size_t j = 0; j < half; ++j) {
      const double angle = static_cast<double>(pos) * inv_freq_[j];
      const auto c = static_cast<float>(std::cos(angle));
      const auto s = static_cast<float>(std::sin(angle));
      const std::size_t i0 = style == rope_style::normal ? 2 * j : j;
      const std::size_t i1 = style == rope_style::normal ? 2 * j + 1 : j + half;
      for (std::size_t h = 0; h < n_heads; ++h) {
        float* v = x + h * head_dim;
        const float a = v[i0], b = v[i1];
        v[i0] = a * c - b * s;
        v[i1] = a * s + b * c;
      }
    }
  }

private:
  std::vector<double> inv_freq_; // (head_dim / 2)
};

} // namespace rapid::ops
