#pragma once
// LLaMA-family GGUF ("llama": SmolLM2, LLaMA 2/3): normal RoPE (the converter permuted Q/K), no
// QKV bias; the output head may be tied to the token embedding.
#include <string_view>

#include "rapid/ops/rope.hpp"

namespace rapid::model::arch {
struct llama {
  static constexpr std::string_view name = "llama";
  static constexpr ops::rope_style rope = ops::rope_style::normal;
  static constexpr bool qkv_bias = false;
};
} // namespace rapid::model::arch
