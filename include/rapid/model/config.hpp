#pragma once
// Hyper-parameters of a decoder-only transformer, read from GGUF metadata.
#include <cstddef>
#include <cstdint>
#include <string>

#include "rapid/core/error.hpp"
#include "rapid/io/gguf.hpp"
#include "rapid/model/arch/llama.hpp"
#include "rapid/model/arch/qwen2.hpp"
#include "rapid/model/rope_scaling.hpp"
#include "rapid/ops/rope.hpp"

namespace rapid::model {

struct model_config {
  std::string arch;             // "llama" | "qwen2"
  std::size_t n_layers = 0;
  std::size_t n_embd = 0;       // residual width
  std::size_t n_heads = 0;      // query heads
  std::size_t n_kv_heads = 0;   // key/value heads (grouped-query attention)
  std::size_t head_dim = 0;
  std::size_t n_ff = 0;         // SwiGLU hidden width
  std::size_t n_vocab = 0;
  std::size_t n_ctx_train = 0;  // positions the model serves: its context length, stretched by RoPE scaling
  double rope_base = 10000.0;
  ops::rope_scaling rope_scaling;  // none, linear, yarn and/or llama3 frequency factors
  float rms_eps = 1e-5f;
  ops::rope_style rope = ops::rope_style::normal;
  bool qkv_bias = false;

  [[nodiscard]] std::size_t q_width() const noexcept { return n_heads * head_dim; }
  [[nodiscard]] std::size_t kv_width() const noexcept { return n_kv_heads * head_dim; }
};

inline constexpr const char* supported_architectures = "llama, qwen2";

namespace detail {
template <class Arch> model_config read_config(const io::gguf_file& f) {
  const std::string p = std::string(Arch::name) + ".";
  model_config c;
  c.arch = Arch::name;
  c.rope = Arch::rope;
  c.qkv_bias = Arch::qkv_bias;
  c.n_layers = f.get<std::size_t>(p + "block_count");
  c.n_embd = f.get<std::size_t>(p + "embedding_length");
  c.n_ff = f.get<std::size_t>(p + "feed_forward_length");
  c.n_heads = f.get<std::size_t>(p + "attention.head_count");
  c.n_kv_heads = f.get_or<std::size_t>(p + "attention.head_count_kv", c.n_heads);
  c.n_ctx_train = f.get<std::size_t>(p + "context_length");
  c.rope_base = f.get_or<double>(p + "rope.freq_base", 10000.0);
  c.rms_eps = f.get<float>(p + "attention.layer_norm_rms_epsilon");
  if (c.n_layers == 0 || c.n_embd == 0 || c.n_heads == 0 || c.n_kv_heads == 0 || c.n_ff == 0)
    throw format_error("zero layer, width or head count in the model metadata", {f.name(), p + "*", {}});
  if (c.n_embd % c.n_heads != 0 || c.n_heads % c.n_kv_heads != 0)
    throw format_error("head counts do not divide the embedding width (" + std::to_string(c.n_embd) + " / " +
                       std::to_string(c.n_heads) + " heads / " + std::to_string(c.n_kv_heads) + " kv heads)",
                       {f.name(), p + "attention.head_count", {}});
  c.head_dim = f.get_or<std::size_t>(p + "attention.key_length", c.n_embd / c.n_heads);
  if (f.get_or<std::size_t>(p + "attention.value_length", c.head_dim) != c.head_dim || c.head_dim % 2 != 0)
    throw unsupported_error("key and value head sizes must be equal and even", {f.name(), p + "attention.key_length", {}});
  if (f.get_or<std::size_t>(p + "rope.dimension_count", c.head_dim) != c.head_dim)
    throw unsupported_error("partial rotary embeddings are not supported", {f.name(), p + "rope.dimension_count", {}});
  c.rope_scaling = read_rope_scaling(f, p, c.head_dim, c.n_ctx_train);
  c.n_ctx_train = scaled_context(c.n_ctx_train, c.rope_scaling);
  const auto& embd = f.tensor("token_embd.weight");
  if (embd.shape.size() != 2)
    throw format_error("token embedding must be 2-D", {f.name(), "token_embd.weight", embd.offset});
  c.n_vocab = static_cast<std::size_t>(embd.shape[1]);
  return c;
}
} // namespace detail

/// Reads the configuration of a supported architecture; others are refused with the list.
[[nodiscard]] inline model_config read_config(const io::gguf_file& f) {
  const auto arch = f.get<std::string>("general.architecture");
  if (arch == arch::llama::name) return detail::read_config<arch::llama>(f);
  if (arch == arch::qwen2::name) return detail::read_config<arch::qwen2>(f);
  throw unsupported_error("architecture '" + arch + "' is not supported (supported: " + supported_architectures + ")",
                          {f.name(), "general.architecture", {}});
}

} // namespace rapid::model
