#pragma once
// Views of a model's tensors inside the mapped GGUF file (no copies), checked against the config.
#include <cstddef>
#include <string>
#include <vector>

#include "rapid/core/error.hpp"
#include "rapid/core/tensor_view.hpp"
#include "rapid/io/gguf.hpp"
#include "rapid/model/config.hpp"
#include "rapid/ops/kernel_types.hpp"

namespace rapid::model {

struct layer_weights {
  const float* attn_norm;                 // (n_embd)
  quantized_matrix wq, wk, wv, wo;        // (q_width, n_embd), (kv_width, n_embd) x2, (n_embd, q_width)
  const float* bq = nullptr;              // (q_width)  qwen2 only
  const float* bk = nullptr;              // (kv_width) qwen2 only
  const float* bv = nullptr;              // (kv_width) qwen2 only
  const float* ffn_norm;                  // (n_embd)
  quantized_matrix w_gate, w_up, w_down;  // (n_ff, n_embd) x2, (n_embd, n_ff)
};

struct model_weights {
  quantized_matrix token_embd;            // (n_vocab, n_embd)
  std::vector<layer_weights> layers;      // (n_layers)
  const float* output_norm;               // (n_embd)
  quantized_matrix output;                // (n_vocab, n_embd); the token embedding when tied
  bool tied_output = false;
};

namespace detail {
class weight_binder {
public:
  weight_binder(const io::gguf_file& f) : f_(f) {}

  /// A matrix with GGUF shape [cols, rows] of a type the kernels support.
  quantized_matrix matrix(const std::string& name, std::size_t cols, std::size_t rows) const {
    const auto& t = f_.tensor(name);
    check_shape(t, {cols, rows});
    if (!ops::is_kernel_type(t.type)) {
      try { ops::throw_unsupported_type(t.type, "weight"); }
      catch (const unsupported_error& e) { throw unsupported_error(e.message(), {f_.name(), name, t.offset}); }
    }
    return make_quantized_matrix(t.type, t.data.data(), rows, cols);
  }

  /// An F32 vector of length n (norm weights, biases); nullptr if optional and absent.
  const float* vector(const std::string& name, std::size_t n, bool optional = false) const {
    const auto* t = f_.find_tensor(name);
    if (!t) {
      if (optional) return nullptr;
      (void)f_.tensor(name);  // throws the missing-tensor error
    }
    check_shape(*t, {n});
    if (t->type != dtype::f32)
      throw unsupported_error("norm and bias tensors must be F32, found " + std::string(name_of(t->type)),
                              {f_.name(), name, t->offset});
    return reinterpret_cast<const float*>(t->data.data());  // 32-byte aligned by GGUF
  }

private:
  void check_shape(const io::gguf_tensor& t, std::vector<std::uint64_t> want) const {
    if (t.shape == want) return;
    auto str = [](const std::vector<std::uint64_t>& s) {
      std::string out = "[";
      for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
      return out + "]";
    };
    throw format_error("tensor shape " + str(t.shape) + " does not match the model configuration " + str(want),
                       {f_.name(), std::string(t.name), t.offset});
  }
  const io::gguf_file& f_;
};
} // namespace detail

/// Binds every tensor the forward pass needs; throws naming the first missing or malformed one.
[[nodiscard]] inline model_weights bind_weights(const io::gguf_file& f, const model_config& c) {
  const detail::weight_binder bind(f);
  model_weights w;
  w.token_embd = bind.matrix("token_embd.weight", c.n_embd, c.n_vocab);
  w.output_norm = bind.vector("output_norm.weight", c.n_embd);
  w.tied_output = f.find_tensor("output.weight") == nullptr;
  w.output = w.tied_output ? w.token_embd : bind.matrix("output.weight", c.n_embd, c.n_vocab);
  w.layers.reserve(c.n_layers);
  for (std::size_t i = 0; i < c.n_layers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    layer_weights l{};
    l.attn_norm = bind.vector(p + "attn_norm.weight", c.n_embd);
    l.wq = bind.matrix(p + "attn_q.weight", c.n_embd, c.q_width());
    l.wk = bind.matrix(p + "attn_k.weight", c.n_embd, c.kv_width());
    l.wv = bind.matrix(p + "attn_v.weight", c.n_embd, c.kv_width());
    l.wo = bind.matrix(p + "attn_output.weight", c.q_width(), c.n_embd);
    l.bq = bind.vector(p + "attn_q.bias", c.q_width(), !c.qkv_bias);
    l.bk = bind.vector(p + "attn_k.bias", c.kv_width(), !c.qkv_bias);
    l.bv = bind.vector(p + "attn_v.bias", c.kv_width(), !c.qkv_bias);
    l.ffn_norm = bind.vector(p + "ffn_norm.weight", c.n_embd);
    l.w_gate = bind.matrix(p + "ffn_gate.weight", c.n_embd, c.n_ff);
    l.w_up = bind.matrix(p + "ffn_up.weight", c.n_embd, c.n_ff);
    l.w_down = bind.matrix(p + "ffn_down.weight", c.n_ff, c.n_embd);
    w.layers.push_back(l);
  }
  return w;
}

} // namespace rapid::model
