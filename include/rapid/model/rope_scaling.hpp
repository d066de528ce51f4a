#pragma once
// RoPE scaling as GGUF files carry it, read the way llama.cpp reads it:
//  - `{arch}.rope.scaling.type`: none | linear | yarn (absent: linear when a factor is given, as
//    llama.cpp defaults to linear); anything else is refused, naming the type
//  - `{arch}.rope.scaling.factor` (older files: `{arch}.rope.scale_linear`); 0 or absent: 1
//  - `{arch}.rope.scaling.original_context_length` (yarn; absent: the context length)
//  - `{arch}.rope.scaling.attn_factor` (absent: 1)
//  - a `rope_freqs.weight` tensor (F32, head_dim / 2): llama3 frequency factors, which Llama-3.1
//    files carry with no scaling key at all
// The formulas are in ops/rope.hpp.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "rapid/core/dtype.hpp"
#include "rapid/core/error.hpp"
#include "rapid/io/gguf.hpp"
#include "rapid/ops/rope.hpp"

namespace rapid::model {

inline constexpr const char* supported_rope_scaling = "none, linear, yarn, and frequency factors in rope_freqs.weight";

/// `prefix` is "{arch}."; `n_ctx` is the file's context length (YaRN's default original context).
[[nodiscard]] inline ops::rope_scaling read_rope_scaling(const io::gguf_file& f, const std::string& prefix,
                                                         std::size_t head_dim, std::size_t n_ctx) {
  ops::rope_scaling s;
  const std::string factor_key = f.find(prefix + "rope.scaling.factor") ? prefix + "rope.scaling.factor"
                                                                         : prefix + "rope.scale_linear";
  s.factor = f.get_or<double>(factor_key, 0.0);
  if (!std::isfinite(s.factor) || s.factor < 0.0)
    throw format_error("RoPE scaling factor must be a positive number, found " + std::to_string(s.factor),
                       {f.name(), factor_key, {}});
  if (s.factor == 0.0) s.factor = 1.0;  // llama.cpp: 0 means unset

  const std::string type_key = prefix + "rope.scaling.type";
  const auto type = f.get_or<std::string>(type_key, s.factor != 1.0 ? "linear" : "none");
  if (type == "linear") s.type = ops::rope_scaling_type::linear;
  else if (type == "yarn") s.type = ops::rope_scaling_type::yarn;
  else if (type == "none") s.factor = 1.0;  // llama.cpp never scales positions then
  else
    throw unsupported_error("RoPE scaling '" + type + "' is not supported (supported: " + supported_rope_scaling + ")",
                            {f.name(), type_key, {}});

  const std::string original_key = prefix + "rope.scaling.original_context_length";
  s.original_context = static_cast<double>(f.get_or<std::size_t>(original_key, n_ctx));
  if (s.type == ops::rope_scaling_type::yarn && s.original_context <= 0.0)
    throw format_error("YaRN needs a positive original context length", {f.name(), original_key, {}});
  const std::string attn_key = prefix + "rope.scaling.attn_factor";
  s.attn_factor = f.get_or<double>(attn_key, 1.0);
  if (!std::isfinite(s.attn_factor) || s.attn_factor <= 0.0)
    throw format_error("RoPE attention factor must be a positive number", {f.name(), attn_key, {}});

  if (const auto* t = f.find_tensor("rope_freqs.weight")) {
    if (t->type != dtype::f32 || t->shape != std::vector<std::uint64_t>{head_dim / 2})
      throw format_error("rope_freqs.weight must be F32 with head_dim / 2 = " + std::to_string(head_dim / 2) +
                             " entries, found " + std::string(name_of(t->type)) + " with " +
                             std::to_string(t->shape.empty() ? 0 : t->shape[0]) + " (first dimension)",
                         {f.name(), "rope_freqs.weight", t->offset});
    const auto* factors = reinterpret_cast<const float*>(t->data.data());
    s.freq_factors.assign(factors, factors + head_dim / 2);
    for (const float x : s.freq_factors)
      if (!std::isfinite(x) || x <= 0.f)
        throw format_error("rope_freqs.weight holds a factor that is not a positive number", {f.name(), "rope_freqs.weight", t->offset});
  }
  return s;
}

/// Positions a model serves: its context length, or factor x the original context when linear or
/// YaRN scaling stretches it further (Qwen2.5 with YaRN factor 4: 4 x 32768).
[[nodiscard]] inline std::size_t scaled_context(std::size_t n_ctx, const ops::rope_scaling& s) {
  if (s.type == ops::rope_scaling_type::none) return n_ctx;
  return std::max(n_ctx, static_cast<std::size_t>(s.factor * s.original_context));
}

} // namespace rapid::model
