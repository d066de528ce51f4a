#pragma once
// Qwen2 GGUF ("qwen2": Qwen2/Qwen2.5): NEOX RoPE (pairs x[j], x[j + d/2]) and biases on Q, K, V.
#include <string_view>

#include "rapid/ops/rope.hpp"

namespace rapid::model::arch {
struct qwen2 {
  static constexpr std::string_view name = "qwen2";
  static constexpr ops::rope_style rope = ops::rope_style::neox;
  static constexpr bool qkv_bias = true;
};
} // namespace rapid::model::arch
