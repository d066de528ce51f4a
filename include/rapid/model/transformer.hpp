#pragma once
// The from-scratch decoder-only transformer (LLaMA and Qwen2 GGUF) with a KV cache.
//
// `model` is the immutable part (mapped file, config, weight views) and may be shared by several
// `transformer`s, each with its own KV cache: e.g. a target and a self-speculative drafter.
// forward() takes N new tokens and returns N logit rows (causal within the block), which serves
// chunked prefill and verifying gamma + 1 drafted tokens in one pass.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <istream>
#include <memory>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "rapid/core/error.hpp"
#include "rapid/io/gguf.hpp"
#include "rapid/model/config.hpp"
#include "rapid/model/kv_cache.hpp"
#include "rapid/model/logits_for.hpp"
#include "rapid/model/weights.hpp"
#include "rapid/ops/attention.hpp"
#include "rapid/ops/dequant.hpp"
#include "rapid/ops/interleave.hpp"
#include "rapid/ops/matmul.hpp"
#include "rapid/ops/norm.hpp"
#include "rapid/ops/rope.hpp"
#include "rapid/ops/softmax.hpp"
#include "rapid/ops/vector.hpp"

namespace rapid::model {

using token_id = std::int32_t;

struct model_options {
  /// Copy the matrices this build has interleaved kernels for (ops/interleave.hpp) into that
  /// layout at load (about 1 s per GB; the copy's memory besides the mapped file): multi-row
  /// verification then costs far less. false: every kernel reads the mapped GGUF rows.
  bool interleave = true;
};

/// The weights of a model: owns the mapped file; shared (read-only) by transformers.
class model {
public:
  explicit model(const std::string& path, model_options options = {})
      : file_(path), config_(read_config(file_)), weights_(bind_weights(file_, config_)) {
    if (!options.interleave) return;
    const auto interleave = [&](quantized_matrix& w) {
      if (!ops::interleavable(w)) return;
      interleaved_.emplace_back(w);
      w.interleaved = interleaved_.back().data();
    };
    for (auto& l : weights_.layers)
      for (auto* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) interleave(*w);
    interleave(weights_.output);
  }
  model(const model&) = delete;
  model& operator=(const model&) = delete;

  [[nodiscard]] const io::gguf_file& file() const noexcept { return file_; }
  [[nodiscard]] const model_config& config() const noexcept { return config_; }
  [[nodiscard]] const model_weights& weights() const noexcept { return weights_; }
  /// Bytes of weights read per decoded token (every matrix once, the output head included).
  [[nodiscard]] std::size_t weight_bytes_per_token() const noexcept {
    std::size_t n = weights_.output.size_bytes();
    for (const auto& l : weights_.layers)
      n += l.wq.size_bytes() + l.wk.size_bytes() + l.wv.size_bytes() + l.wo.size_bytes() + l.w_gate.size_bytes() +
           l.w_up.size_bytes() + l.w_down.size_bytes();
    return n;
  }

private:
  io::gguf_file file_;
  model_config config_;
  model_weights weights_;
  std::vector<ops::interleaved_matrix> interleaved_;  // owned copies that weights_ views point into
};

struct transformer_options {
  std::size_t n_ctx = 4096;                              // KV cache capacity in positions
  kv_type kv = kv_type::f16;
  int threads = 0;                                       // 0: all OpenMP threads
  ops::activation_mode activations = ops::activation_mode::int8;
};

class transformer {
public:
  transformer(std::shared_ptr<const model> m, transformer_options options = {})
      : model_(std::move(m)), options_(options) {
    const auto& c = model_->config();
    if (options_.n_ctx == 0) throw invalid_argument("transformer: context size must be positive");
    if (options_.n_ctx > c.n_ctx_train)
      throw capacity_error("context " + std::to_string(options_.n_ctx) + " exceeds the " +
                           std::to_string(c.n_ctx_train) + " positions " + model_->file().name() + " was trained for");
    kv_ = kv_cache(c.n_layers, c.n_kv_heads, c.head_dim, options_.n_ctx, options_.kv);
    rope_ = ops::rope_table(c.head_dim, c.rope_base, c.rope_scaling);
  }
  explicit transformer(const std::string& path, transformer_options options = {})
      : transformer(std::make_shared<const model>(path), options) {}

  [[nodiscard]] const model_config& config() const noexcept { return model_->config(); }
  [[nodiscard]] const std::shared_ptr<const model>& shared_model() const noexcept { return model_; }
  [[nodiscard]] std::size_t vocab_size() const noexcept { return model_->config().n_vocab; }
  [[nodiscard]] std::size_t size() const noexcept { return kv_.size(); }          // positions in the cache
  /// Tokens seen since reset(): the RoPE position of the next token (size() + evicted).
  [[nodiscard]] std::size_t position() const noexcept { return kv_.size() + evicted_; }
  [[nodiscard]] std::size_t capacity() const noexcept { return kv_.capacity(); }
  [[nodiscard]] const kv_cache& cache() const noexcept { return kv_; }
  /// Direct cache access for snapshots and benchmarks; keep positions consistent with the model.
  [[nodiscard]] kv_cache& mutable_cache() noexcept { return kv_; }
  /// Rolls the cache back to its first n positions.
  void truncate(std::size_t n) { kv_.truncate(n); }
  void reset() noexcept { kv_.clear(); evicted_ = 0; }
  /// Saves the cache (and the count of evicted positions) to a snapshot stream; restore_cache()
  /// reads it back into a transformer of the same model, so a long prefill is done once.
  void save_cache(std::ostream& out) const {
    const std::uint64_t evicted = evicted_;
    out.write(reinterpret_cast<const char*>(&evicted), sizeof evicted);
    kv_.save(out);
  }
  void restore_cache(std::istream& in) {
    std::uint64_t evicted = 0;
    in.read(reinterpret_cast<char*>(&evicted), sizeof evicted);
    if (!in) throw format_error("KV snapshot is empty or truncated");
    kv_.load(in);
    evicted_ = evicted;
  }
  /// Drops cache positions [first, first + count) (StreamingLLM window); later tokens keep
  /// their true positions, so RoPE distances stay exact.
  void evict(std::size_t first, std::size_t count) {
    kv_.erase(first, count);
    evicted_ += count;
  }

  /// Appends `tokens` to the cache and returns their logits: (tokens.size(), n_vocab) for
  /// all_rows, (1, n_vocab) for last_row. The view is valid until the next call.
  std::span<const float> forward(std::span<const token_id> tokens, logits_for rows = logits_for::all_rows) {
    const auto& c = model_->config();
    const std::size_t n = tokens.size();
    if (n == 0) throw invalid_argument("forward: no tokens");
    for (const auto t : tokens)
      if (t < 0 || static_cast<std::size_t>(t) >= c.n_vocab)
        throw invalid_argument("token id " + std::to_string(t) + " is outside the vocabulary [0, " +
                               std::to_string(c.n_vocab) + ")");
    kv_.reserve_positions(n);
    resize(n);
    const auto& w = model_->weights();
    const std::size_t pos0 = kv_.size(), e = c.n_embd;  // first new cache slot
    const std::size_t rope0 = pos0 + evicted_;          // its RoPE position
    const ops::kernel_options ko{options_.activations, options_.threads};

    for (std::size_t i = 0; i < n; ++i)
      ops::dequantize_row(w.token_embd.type, w.token_embd.row(static_cast<std::size_t>(tokens[i])), &x_[i * e], e);

    // The work after each product that is per token (bias, RoPE, the cache store, residual adds,
    // the norm, SwiGLU) runs in the product's thread team, as its `then`.
    std::vector<ops::kv_slab> slabs(c.n_kv_heads);  // (n_kv_heads) for the current layer
    rows_norm(x_, w.layers[0].attn_norm, n);
    for (std::size_t l = 0; l < c.n_layers; ++l) {
      const auto& lw = w.layers[l];
      const ops::matrix_product qkv[] = {{lw.wq, span(q_, n * c.q_width())}, {lw.wk, span(k_, n * c.kv_width())},
                                         {lw.wv, span(v_, n * c.kv_width())}};
      ops::matmul_shared_input(qkv, span(xn_, n * e), n, ko, [&](std::size_t i) noexcept {
        float* qi = &q_[i * c.q_width()];
        float* ki = &k_[i * c.kv_width()];
        float* vi = &v_[i * c.kv_width()];
        if (lw.bq) {
          ops::add_inplace(lw.bq, qi, c.q_width());
          ops::add_inplace(lw.bk, ki, c.kv_width());
          ops::add_inplace(lw.bv, vi, c.kv_width());
        }
        rope_.apply(qi, c.n_heads, ki, c.n_kv_heads, rope0 + i, c.rope);
        kv_.store(l, pos0 + i, ki, vi);
      });
      for (std::size_t h = 0; h < c.n_kv_heads; ++h)
        slabs[h] = {kv_.keys(l, h), kv_.values(l, h), kv_.type()};
      ops::attention(q_.data(), {n, pos0, c.n_heads, c.n_kv_heads, c.head_dim}, slabs.data(), att_.data(), options_.threads);
      ops::matmul(lw.wo, span(att_, n * c.q_width()), n, span(o_, n * e), ko, [&](std::size_t i) noexcept {
        ops::add_inplace(&o_[i * e], &x_[i * e], e);
        ops::rms_norm(&x_[i * e], lw.ffn_norm, &xn_[i * e], e, c.rms_eps);
      });

      const ops::matrix_product gate_up[] = {{lw.w_gate, span(gate_, n * c.n_ff)}, {lw.w_up, span(up_, n * c.n_ff)}};
      ops::matmul_shared_input(gate_up, span(xn_, n * e), n, ko, [&](std::size_t i) noexcept {
        ops::swiglu_inplace(&gate_[i * c.n_ff], &up_[i * c.n_ff], c.n_ff);
      });
      const float* next_norm = l + 1 < c.n_layers ? w.layers[l + 1].attn_norm : nullptr;
      ops::matmul(lw.w_down, span(gate_, n * c.n_ff), n, span(o_, n * e), ko, [&](std::size_t i) noexcept {
        ops::add_inplace(&o_[i * e], &x_[i * e], e);
        if (next_norm) ops::rms_norm(&x_[i * e], next_norm, &xn_[i * e], e, c.rms_eps);
      });
    }
    kv_.commit(n);

    // Only the rows whose logits are wanted go through the final norm and the output head.
    const std::size_t first = rows == logits_for::last_row ? n - 1 : 0, m = n - first;
    for (std::size_t i = 0; i < m; ++i) ops::rms_norm(&x_[(first + i) * e], w.output_norm, &xn_[i * e], e, c.rms_eps);
    logits_.resize(m * c.n_vocab);
    ops::matmul(w.output, span(xn_, m * e), m, std::span<float>(logits_), ko);
    return logits_;
  }

  /// Feeds a long prompt in chunks and returns the last row's logits; `progress(done, total)`
  /// is called after each chunk (prefill progress bars).
  std::span<const float> prefill(std::span<const token_id> tokens, std::size_t chunk = 512,
                                 const std::function<void(std::size_t, std::size_t)>& progress = {}) {
    if (tokens.empty()) throw invalid_argument("prefill: no tokens");
    if (chunk == 0) throw invalid_argument("prefill: chunk size must be positive");
    kv_.reserve_positions(tokens.size());  // fail before doing any work
    std::span<const float> last;
    for (std::size_t done = 0; done < tokens.size();) {
      const std::size_t n = std::min(chunk, tokens.size() - done);
      last = forward(tokens.subspan(done, n), logits_for::last_row);
      done += n;
      if (progress) progress(done, tokens.size());
    }
    return last;
  }

private:
  static std::span<float> span(std::vector<float>& v, std::size_t n) { return {v.data(), n}; }

  void rows_norm(const std::vector<float>& x, const float* weight, std::size_t n) {
    const auto& c = model_->config();
    for (std::size_t i = 0; i < n; ++i) ops::rms_norm(&x[i * c.n_embd], weight, &xn_[i * c.n_embd], c.n_embd, c.rms_eps);
  }

  void resize(std::size_t n) {
    const auto& c = model_->config();
    x_.resize(n * c.n_embd);
    xn_.resize(n * c.n_embd);
    q_.resize(n * c.q_width());
    k_.resize(n * c.kv_width());
    v_.resize(n * c.kv_width());
    att_.resize(n * c.q_width());
    o_.resize(n * c.n_embd);
    gate_.resize(n * c.n_ff);
    up_.resize(n * c.n_ff);
  }

  std::shared_ptr<const model> model_;
  transformer_options options_;
  kv_cache kv_;
  std::size_t evicted_ = 0;  // positions erased from the cache since reset()
  ops::rope_table rope_;      // per-pair frequencies with the model's RoPE scaling: every forward rotates with it
  std::vector<float> x_;       // (n, n_embd) residual stream
  std::vector<float> xn_;      // (n, n_embd) normalised input of the next matmul
  std::vector<float> q_;       // (n, n_heads, head_dim)
  std::vector<float> k_, v_;   // (n, n_kv_heads, head_dim)
  std::vector<float> att_;     // (n, n_heads, head_dim) attention output
  std::vector<float> o_;       // (n, n_embd) projection output before the residual add
  std::vector<float> gate_;    // (n, n_ff) gate, then silu(gate) * up
  std::vector<float> up_;      // (n, n_ff)
  std::vector<float> logits_;  // (rows, n_vocab)
};

} // namespace rapid::model
