#pragma once
// A BERT sentence encoder (all-MiniLM-L6-v2 and other BertModel checkpoints in safetensors):
// Eigen GEMMs for the f32 projections, rapid's ops::layer_norm and ops::gelu_inplace, and
// bidirectional attention as loops over ops::dot_f32 / softmax_inplace / axpy.
// Sentence embedding as sentence-transformers computes it for these models: mean over all tokens
// (with [CLS] and [SEP]), then L2 normalisation. Sequences longer than `max_tokens` are truncated
// (encode) or cut into windows (windows); batches run one sequence per OpenMP thread.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <Eigen/Core>

#include "rapid/core/error.hpp"
#include "rapid/core/tensor_view.hpp"
#include "rapid/io/safetensors.hpp"
#include "rapid/model/arch/bert.hpp"
#include "rapid/model/wordpiece.hpp"
#include "rapid/ops/gelu.hpp"
#include "rapid/ops/layer_norm.hpp"
#include "rapid/ops/softmax.hpp"
#include "rapid/ops/threads.hpp"
#include "rapid/ops/vector.hpp"


namespace rapid::model {

struct encoder_options {
  /// Tokens per sequence including [CLS] and [SEP]. 256 is sentence-transformers' max_seq_length
  /// for all-MiniLM-L6-v2 (the model was trained on 128-token inputs; positions go to 512).
  std::size_t max_tokens = 256;
  int threads = 0; ///< OpenMP threads for batches; 0: omp_get_max_threads()
};

class bert_encoder {
public:
  /// Loads `dir`/model.safetensors, `dir`/config.json and `dir`/vocab.txt.
  [[nodiscard]] static bert_encoder from_directory(const std::filesystem::path& dir, encoder_options options = {}) {
    const auto config = arch::bert_config::from_json_file((dir / "config.json").string());
    auto vocab = wordpiece::from_vocab_file((dir / "vocab.txt").string());
    return bert_encoder(io::safetensors_file((dir / "model.safetensors").string()), config, std::move(vocab), options);
  }

  bert_encoder(const io::safetensors_file& file, const arch::bert_config& config, wordpiece vocab, encoder_options options = {})
      : config_(config), vocab_(std::move(vocab)), options_(options) {
    if (options_.max_tokens < 3 || options_.max_tokens > config_.max_positions)
      throw invalid_argument("encoder max_tokens " + std::to_string(options_.max_tokens) + " must be in [3, " +
                             std::to_string(config_.max_positions) + "] (the model's position embeddings)",
                             {file.path(), "max_tokens", {}});
    if (vocab_.size() != config_.vocab_size)
      throw format_error("vocab.txt has " + std::to_string(vocab_.size()) + " pieces but config.json says vocab_size " +
                         std::to_string(config_.vocab_size), {vocab_.name(), "vocab_size", {}});
    const std::size_t d = config_.hidden, ff = config_.intermediate;
    // A checkpoint saved from BertForMaskedLM etc. prefixes names with "bert."
    prefix_ = file.contains("bert.embeddings.word_embeddings.weight") ? "bert." : "";
    word_ = load(file, "embeddings.word_embeddings.weight", {config_.vocab_size, d});
    position_ = load(file, "embeddings.position_embeddings.weight", {config_.max_positions, d});
    token_type_ = load(file, "embeddings.token_type_embeddings.weight", {config_.type_vocab, d});
    emb_norm_w_ = load(file, "embeddings.LayerNorm.weight", {d});
    emb_norm_b_ = load(file, "embeddings.LayerNorm.bias", {d});
    layers_.resize(config_.layers);
    for (std::size_t i = 0; i < config_.layers; ++i) {
      const std::string p = "encoder.layer." + std::to_string(i) + ".";
      auto& l = layers_[i];
      l.q = load(file, p + "attention.self.query.weight", {d, d});
      l.q_b = load(file, p + "attention.self.query.bias", {d});
      l.k = load(file, p + "attention.self.key.weight", {d, d});
      l.k_b = load(file, p + "attention.self.key.bias", {d});
      l.v = load(file, p + "attention.self.value.weight", {d, d});
      l.v_b = load(file, p + "attention.self.value.bias", {d});
      l.o = load(file, p + "attention.output.dense.weight", {d, d});
      l.o_b = load(file, p + "attention.output.dense.bias", {d});
      l.norm1_w = load(file, p + "attention.output.LayerNorm.weight", {d});
      l.norm1_b = load(file, p + "attention.output.LayerNorm.bias", {d});
      l.up = load(file, p + "intermediate.dense.weight", {ff, d});
      l.up_b = load(file, p + "intermediate.dense.bias", {ff});
      l.down = load(file, p + "output.dense.weight", {d, ff});
      l.down_b = load(file, p + "output.dense.bias", {d});
      l.norm2_w = load(file, p + "output.LayerNorm.weight", {d});
      l.norm2_b = load(file, p + "output.LayerNorm.bias", {d});
    }
  }

  [[nodiscard]] std::size_t dim() const noexcept { return config_.hidden; }
  [[nodiscard]] std::size_t max_tokens() const noexcept { return options_.max_tokens; }
  [[nodiscard]] const arch::bert_config& config() const noexcept { return config_; }
  [[nodiscard]] const wordpiece& vocab() const noexcept { return vocab_; }

  /// [CLS] text [SEP], truncated to max_tokens.
  [[nodiscard]] std::vector<std::int32_t> tokenize(std::string_view text) const {
    return vocab_.encode_for_model(text, options_.max_tokens);
  }

  /// The text's word pieces cut into windows of at most `width` pieces (0: max_tokens - 2), a new
  /// window every `stride` pieces (0: width, no overlap), each wrapped in [CLS] ... [SEP];
  /// `max_windows` > 0 keeps only the first ones. Empty text gives one window, [CLS] [SEP].
  [[nodiscard]] std::vector<std::vector<std::int32_t>> windows(std::string_view text, std::size_t max_windows = 0,
                                                              std::size_t width = 0, std::size_t stride = 0) const {
    if (width == 0) width = options_.max_tokens - 2;
    if (width > options_.max_tokens - 2)
      throw invalid_argument("window width " + std::to_string(width) + " exceeds the encoder's " +
                             std::to_string(options_.max_tokens - 2) + " pieces (max_tokens - 2)");
    if (stride == 0) stride = width;
    if (stride > width) throw invalid_argument("window stride " + std::to_string(stride) + " exceeds the width " + std::to_string(width) + " (text would be skipped)");
    const auto ids = vocab_.encode(text);
    std::vector<std::vector<std::int32_t>> out;
    for (std::size_t at = 0;; at += stride) {
      if (max_windows > 0 && out.size() == max_windows) break;
      const std::size_t end = std::min(ids.size(), at + width);
      std::vector<std::int32_t> w{vocab_.cls()};
      w.insert(w.end(), ids.begin() + static_cast<std::ptrdiff_t>(std::min(at, end)), ids.begin() + static_cast<std::ptrdiff_t>(end));
      w.push_back(vocab_.sep());
      out.push_back(std::move(w));
      if (end == ids.size()) break;
    }
    return out;
  }

  /// Last-layer hidden states of one sequence. ids: (n) with 0 < n <= max_positions; returns (n, hidden).
  [[nodiscard]] std::vector<float> forward(std::span<const std::int32_t> ids) const {
    check_ids(ids);
    scratch s;
    run(ids, s);
    return std::move(s.x);
  }

  /// Unit-length sentence embedding of one id sequence. ids: (n); out: (hidden)
  void embed_ids(std::span<const std::int32_t> ids, std::span<float> out) const {
    check_ids(ids);
    if (out.size() != dim()) throw invalid_argument("embed_ids: output has " + std::to_string(out.size()) + " values, the encoder gives " + std::to_string(dim()));
    scratch s;
    embed_unchecked(ids, out.data(), s);
  }

  /// Unit-length embedding of a text (truncated to max_tokens). Returns (hidden).
  [[nodiscard]] std::vector<float> embed(std::string_view text) const {
    std::vector<float> out(dim());
    embed_ids(tokenize(text), out);
    return out;
  }

  /// Embeddings of many id sequences, one sequence per OpenMP thread at a time. Returns (n_seqs, hidden).
  [[nodiscard]] std::vector<float> embed_batch(std::span<const std::vector<std::int32_t>> seqs) const {
    for (const auto& ids : seqs) check_ids(ids);
    const std::size_t d = dim();
    std::vector<float> out(seqs.size() * d); // (n_seqs, hidden)
    // longest first, so the dynamic schedule does not end on a long straggler
    std::vector<std::size_t> order(seqs.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return seqs[a].size() > seqs[b].size(); });
    const auto n = static_cast<long long>(seqs.size());
#ifdef _OPENMP
#pragma omp parallel num_threads(ops::thread_count(options_.threads)) if (n > 1)
#endif
    {
      scratch s; // per thread
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
      for (long long i = 0; i < n; ++i) {
        const std::size_t k = order[static_cast<std::size_t>(i)];
        embed_unchecked(seqs[k], out.data() + k * d, s);
      }
    }
    return out;
  }

  /// Embeddings of texts, each truncated to max_tokens. Returns (texts.size(), hidden).
  [[nodiscard]] std::vector<float> embed_texts(std::span<const std::string> texts) const {
    std::vector<std::vector<std::int32_t>> seqs;
    seqs.reserve(texts.size());
    for (const auto& t : texts) seqs.push_back(tokenize(t));
    return embed_batch(seqs);
  }

private:
  struct layer {
    std::vector<float> q, q_b, k, k_b, v, v_b, o, o_b, norm1_w, norm1_b; // q, k, v, o: (hidden, hidden)
    std::vector<float> up, up_b, down, down_b, norm2_w, norm2_b;         // up: (ff, hidden), down: (hidden, ff)
  };
  /// Activations of one sequence of n tokens.
  struct scratch {
    std::vector<float> x;      // (n, hidden) residual stream
    std::vector<float> q, k, v; // (n, hidden) each
    std::vector<float> ctx;    // (n, hidden) attention output before the projection
    std::vector<float> tmp;    // (n, hidden)
    std::vector<float> inter;  // (n, ff)
    std::vector<float> scores; // (n) one query's attention row
  };

  std::vector<float> load(const io::safetensors_file& file, const std::string& name, std::vector<std::uint64_t> shape) const {
    const std::string full = prefix_ + name;
    const auto& t = file.tensor(full);
    if (t.shape != shape) {
      auto str = [](const std::vector<std::uint64_t>& s) {
        std::string out = "[";
        for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
        return out + "]";
      };
      throw format_error("has shape " + str(t.shape) + ", config.json implies " + str(shape), {file.path(), full, t.offset});
    }
    return file.to_f32(full);
  }

  void check_ids(std::span<const std::int32_t> ids) const {
    if (ids.empty()) throw invalid_argument("the encoder needs at least one token (use tokenize(), which adds [CLS] and [SEP])");
    if (ids.size() > config_.max_positions)
      throw capacity_error(std::to_string(ids.size()) + " tokens exceed the encoder's " + std::to_string(config_.max_positions) +
                           " positions; truncate or use windows()");
    for (const auto id : ids)
      if (id < 0 || static_cast<std::size_t>(id) >= config_.vocab_size)
        throw invalid_argument("token id " + std::to_string(id) + " is outside the encoder's vocabulary of " + std::to_string(config_.vocab_size));
  }

  /// y = x W^T + b for n rows. x: (n, cols); y: (n, rows). Eigen GEMMs: on MiniLM's shapes they
  /// run the encoder ~3x faster than ops::matmul, whose row-at-a-time kernels are built for
  /// quantized decode weights (docs/retrieval.md has the numbers). Blocks of at most 32 rows keep
  /// Eigen on the calling thread (it parallelises only taller products): the encoder's threads
  /// are its sequences (embed_batch), so `threads` keeps one meaning.
  void linear(const std::vector<float>& w, const std::vector<float>& b, std::size_t rows, std::size_t cols,
              const std::vector<float>& x, std::vector<float>& y, std::size_t n) const {
    constexpr Eigen::Index block = 32;
    using weights = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using row_block = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor, block, Eigen::Dynamic>;
    const auto r = static_cast<Eigen::Index>(rows), c = static_cast<Eigen::Index>(cols);
    y.resize(n * rows);
    const Eigen::Map<const weights> W(w.data(), r, c);
    for (Eigen::Index i = 0; i < static_cast<Eigen::Index>(n); i += block) {
      const Eigen::Index m = std::min(block, static_cast<Eigen::Index>(n) - i);
      Eigen::Map<row_block>(y.data() + i * r, m, r).noalias() =
          Eigen::Map<const row_block>(x.data() + i * c, m, c) * W.transpose();
    }
    for (std::size_t i = 0; i < n; ++i) ops::add_inplace(b.data(), y.data() + i * rows, rows);
  }

  void run(std::span<const std::int32_t> ids, scratch& s) const {
    const std::size_t n = ids.size(), d = config_.hidden, ff = config_.intermediate;
    const std::size_t heads = config_.heads, hd = config_.head_dim();
    const float eps = config_.layer_norm_eps;
    s.x.resize(n * d);
    for (std::size_t t = 0; t < n; ++t) {
      float* row = s.x.data() + t * d;
      const float* w = word_.data() + static_cast<std::size_t>(ids[t]) * d;
      const float* p = position_.data() + t * d;
      for (std::size_t j = 0; j < d; ++j) row[j] = w[j] + p[j] + token_type_[j]; // token type 0
      ops::layer_norm(row, emb_norm_w_.data(), emb_norm_b_.data(), row, d, eps);
    }
    s.ctx.resize(n * d);
    s.scores.resize(n);
    const float scale = 1.f / std::sqrt(static_cast<float>(hd));
    for (const auto& l : layers_) {
      linear(l.q, l.q_b, d, d, s.x, s.q, n);
      linear(l.k, l.k_b, d, d, s.x, s.k, n);
      linear(l.v, l.v_b, d, d, s.x, s.v, n);
      std::fill(s.ctx.begin(), s.ctx.end(), 0.f);
      for (std::size_t h = 0; h < heads; ++h) {
        for (std::size_t i = 0; i < n; ++i) {
          const float* qi = s.q.data() + i * d + h * hd;
          for (std::size_t j = 0; j < n; ++j) s.scores[j] = ops::dot_f32(qi, s.k.data() + j * d + h * hd, hd) * scale;
          ops::softmax_inplace(s.scores.data(), n);
          float* out = s.ctx.data() + i * d + h * hd;
          for (std::size_t j = 0; j < n; ++j) ops::axpy(s.scores[j], s.v.data() + j * d + h * hd, out, hd);
        }
      }
      linear(l.o, l.o_b, d, d, s.ctx, s.tmp, n);
      for (std::size_t t = 0; t < n; ++t) {
        float* row = s.x.data() + t * d;
        ops::add_inplace(s.tmp.data() + t * d, row, d);
        ops::layer_norm(row, l.norm1_w.data(), l.norm1_b.data(), row, d, eps);
      }
      linear(l.up, l.up_b, ff, d, s.x, s.inter, n);
      ops::gelu_inplace(s.inter.data(), n * ff);
      linear(l.down, l.down_b, d, ff, s.inter, s.tmp, n);
      for (std::size_t t = 0; t < n; ++t) {
        float* row = s.x.data() + t * d;
        ops::add_inplace(s.tmp.data() + t * d, row, d);
        ops::layer_norm(row, l.norm2_w.data(), l.norm2_b.data(), row, d, eps);
      }
    }
  }

  void embed_unchecked(std::span<const std::int32_t> ids, float* out, scratch& s) const {
    run(ids, s);
    const std::size_t n = ids.size(), d = config_.hidden;
    std::vector<double> mean(d, 0.0); // (hidden)
    for (std::size_t t = 0; t < n; ++t)
      for (std::size_t j = 0; j < d; ++j) mean[j] += s.x[t * d + j];
    double norm = 0;
    for (std::size_t j = 0; j < d; ++j) norm += mean[j] * mean[j];
    const double inv = norm > 0 ? 1.0 / std::sqrt(norm) : 0.0;
    for (std::size_t j = 0; j < d; ++j) out[j] = static_cast<float>(mean[j] * inv);
  }

  arch::bert_config config_;
  wordpiece vocab_;
  encoder_options options_;
  std::string prefix_;
  std::vector<float> word_;       // (vocab, hidden)
  std::vector<float> position_;   // (max_positions, hidden)
  std::vector<float> token_type_; // (type_vocab, hidden)
  std::vector<float> emb_norm_w_, emb_norm_b_; // (hidden)
  std::vector<layer> layers_;
};

} // namespace rapid::model
