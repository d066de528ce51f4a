#pragma once
// The model-based drafters: a transformer with its own KV cache on its own prompt, drafting
// autoregressively and resynchronised after each verdict. What differs between them is
// compile-time structure: which prompt they read and how their cache is trimmed.
//
//   model_drafter     a (usually small) model on the full document      (naive SD)
//   rag_drafter       a model of any size on the retrieved chunks only  (RAPID, SD)
//   streaming_drafter a model, usually the target's own weights, whose cache keeps S sink tokens
//                     and a window of W recent ones (StreamingLLM)      (MagicDec)
//
// The engine that runs the model is a template parameter (any target_model; the CPU transformer
// by default), so a drafter on another backend is the same class over that backend's engine.
#include <algorithm>
#include <cstddef>
#include <memory>
#include <istream>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "rapid/core/error.hpp"
#include "rapid/model/transformer.hpp"
#include "rapid/ops/row.hpp"
#include "rapid/ops/sample.hpp"
#include "rapid/spec/abilities.hpp"
#include "rapid/spec/concepts.hpp"
#include "rapid/spec/distribution.hpp"
#include "rapid/spec/drafter_setup.hpp"
#include "rapid/spec/same_tokenizer.hpp"

namespace rapid::spec {

/// Keeps every position (the cache only grows with the sequence).
struct full_cache {
  template <class Engine>
  void trim(Engine&) const noexcept {}
  [[nodiscard]] std::size_t min_capacity(std::size_t) const noexcept { return 1; }
};

/// StreamingLLM: after each commit the cache holds the first `sink` positions and the last
/// `window`; keys keep their true RoPE positions (transformer::evict).
struct streaming_window {
  std::size_t sink = 4;
  std::size_t window = 4092;  // sink + window = 4096, the paper's MagicDec budget

  template <class Engine>
    requires requires(Engine& t, std::size_t n) { t.evict(n, n); }
  void trim(Engine& t) const {
    if (t.size() > sink + window) t.evict(sink, t.size() - sink - window);
  }
  /// Room for the window plus one prefill chunk (or one draft block) on top of it.
  [[nodiscard]] std::size_t min_capacity(std::size_t chunk) const noexcept { return sink + window + chunk; }
};

template <context_kind Context, class CachePolicy, target_model Engine = model::transformer>
class transformer_drafter {
public:
  using engine_type = Engine;
  static constexpr context_kind context = Context;

  /// The drafter's cache holds `options.n_ctx` positions (with a streaming window it needs only
  /// sink + window + prefill chunk).
  transformer_drafter(std::shared_ptr<const model::model> m, model::transformer_options options, CachePolicy policy = {},
                      std::size_t prefill_chunk = 512)
    requires std::constructible_from<Engine, std::shared_ptr<const model::model>, model::transformer_options>
      : transformer_drafter(Engine(std::move(m), options), policy, prefill_chunk) {}

  /// A drafter on an engine built by the caller (another backend, a test double).
  explicit transformer_drafter(Engine engine, CachePolicy policy = {}, std::size_t prefill_chunk = 512)
      : t_(std::move(engine)), policy_(policy), chunk_(prefill_chunk) {
    if (chunk_ == 0) throw invalid_argument("drafter: prefill chunk must be positive");
    if (t_.capacity() < policy_.min_capacity(chunk_))
      throw invalid_argument("drafter: a cache of " + std::to_string(t_.capacity()) + " positions is too small for its window (" +
                             std::to_string(policy_.min_capacity(chunk_)) + " needed: sink + window + prefill chunk)");
  }

  [[nodiscard]] std::size_t vocab_size() const noexcept { return t_.vocab_size(); }
  [[nodiscard]] std::size_t size() const noexcept { return t_.size(); }  // positions in the drafter's cache
  [[nodiscard]] const Engine& engine() const noexcept { return t_; }
  [[nodiscard]] decltype(auto) shared_model() const requires shares_model<Engine> { return t_.shared_model(); }
  [[nodiscard]] const CachePolicy& cache_policy() const noexcept { return policy_; }

  /// Prefills the drafter's prompt (in chunks, trimming the cache between them).
  void start(std::span<const token> prompt, const progress_fn& progress = {}) { start(prompt, progress, 0); }

  /// The same, when the cache already holds the first `cached` prompt tokens (restore_cache of a
  /// snapshot taken after prefilling them): only the rest is forwarded. Forwards are
  /// batch-invariant, so the drafter ends in the same state as a start from scratch. Only a cache
  /// that keeps every position can resume: a streaming window's contents depend on where its
  /// prefill chunks fell.
  void start(std::span<const token> prompt, const progress_fn& progress, std::size_t cached) {
    if (prompt.empty()) throw invalid_argument("drafter: empty prompt");
    if (cached == 0) {
      t_.reset();
    } else {
      if (!std::is_same_v<CachePolicy, full_cache>)
        throw invalid_argument("drafter: a streaming-window drafter cannot resume a cached prefix; start it from scratch");
      if (cached >= prompt.size() || t_.size() != cached)
        throw invalid_argument("drafter: asked to resume after " + std::to_string(cached) + " cached tokens of a " +
                               std::to_string(prompt.size()) + "-token prompt, but the cache holds " +
                               std::to_string(t_.size()) + " (restore a snapshot of the prompt minus at least its last token)");
    }
    for (std::size_t done = cached; done < prompt.size();) {
      const std::size_t n = std::min(chunk_, prompt.size() - done);
      remember(forward_last_row(prompt.subspan(done, n)));
      policy_.trim(t_);
      done += n;
      if (progress) progress(done, prompt.size());
    }
  }

  /// Snapshots of the drafter's cache (e.g. after prefilling all but the last prompt token), so
  /// that several decoders sharing a drafter prompt prefill it once.
  void save_cache(std::ostream& out) const requires snapshot_cache<Engine> { t_.save_cache(out); }
  void restore_cache(std::istream& in) requires snapshot_cache<Engine> { t_.restore_cache(in); }

  /// Drafts up to request.gamma tokens from the last committed state. With greedy drafting the
  /// block is one-hot (no distribution rows); otherwise it holds q for each draft.
  const draft_block& draft(const draft_request& request, rng& g) {
    const bool greedy = request.sampling.greedy();
    if (!greedy && (!make_q_ || make_q_->options().temperature != request.sampling.temperature ||
                    make_q_->options().top_k != request.sampling.top_k || make_q_->options().top_p != request.sampling.top_p))
      make_q_.emplace(request.sampling);
    const std::size_t v = vocab_size();
    block_.clear(v);
    block_.one_hot = greedy;
    base_ = t_.size();
    fed_ = 0;
    std::span<const float> z = last_;
    for (std::size_t i = 0; i < request.gamma; ++i) {
      token x;
      if (greedy) {
        x = ops::argmax(z);
      } else {
        block_.q.resize((i + 1) * v);
        const std::span<float> q(block_.q.data() + i * v, v);
        (*make_q_)(z, q);
        x = ops::sample_weights(q, g);
        if (request.confidence_stop > 0.f && q[static_cast<std::size_t>(x)] < request.confidence_stop) {
          block_.q.resize(i * v);  // drop the unconfident draft
          break;
        }
      }
      block_.tokens.push_back(x);
      if (i + 1 < request.gamma || (request.want_next_q && !greedy)) {
        z = t_.forward(std::span<const token>(&block_.tokens.back(), 1));
        ++fed_;
      }
    }
    if (request.want_next_q && !greedy) {
      // Every kept draft was forwarded, so z is the row after the last one (or after the
      // committed state when nothing was drafted).
      const std::size_t rows = block_.size();
      block_.q.resize((rows + 1) * v);
      (*make_q_)(z, std::span<float>(block_.q.data() + rows * v, v));
      block_.has_next_q = true;
    }
    return block_;
  }

  /// emitted = the accepted drafts followed by the verdict's token.
  void commit(std::span<const token> emitted) {
    if (emitted.empty()) throw invalid_argument("drafter: commit of no tokens");
    const std::size_t accepted = emitted.size() - 1;
    const std::size_t keep = std::min(accepted, fed_);  // drafts already in the cache that stand
    t_.truncate(base_ + keep);
    remember(forward_last_row(emitted.subspan(keep)));
    fed_ = 0;
    policy_.trim(t_);
  }

private:
  /// Logits whose last row follows `tokens` (only that row is read).
  std::span<const float> forward_last_row(std::span<const token> tokens) {
    if constexpr (last_row_forward<Engine>) return t_.forward(tokens, model::logits_for::last_row);
    else return t_.forward(tokens);
  }

  void remember(std::span<const float> logits) {
    const std::size_t v = vocab_size();
    last_.assign(logits.end() - static_cast<std::ptrdiff_t>(v), logits.end());
  }

  Engine t_;
  CachePolicy policy_;
  std::size_t chunk_;
  std::optional<distribution_maker> make_q_;
  draft_block block_;
  std::vector<float> last_;  // (n_vocab) logits after the committed sequence
  std::size_t base_ = 0;     // cache size when the current draft began
  std::size_t fed_ = 0;      // drafts of the current block already forwarded into the cache
};

class model_drafter : public transformer_drafter<context_kind::full, full_cache> {
public:
  using transformer_drafter::transformer_drafter;
  /// The drafter model on the whole document: a cache as large as the target's.
  static model_drafter make(const drafter_setup& s) {
    return model_drafter(s.drafter_model, {.n_ctx = s.full_ctx, .kv = s.kv, .threads = s.threads});
  }
};
class rag_drafter : public transformer_drafter<context_kind::retrieved, full_cache> {
public:
  using transformer_drafter::transformer_drafter;
  /// The drafter model on the retrieved prompt, new tokens and one draft block.
  static rag_drafter make(const drafter_setup& s) {
    const std::size_t need = s.retrieved_tokens + s.max_new_tokens + s.gamma + 8;
    return rag_drafter(s.drafter_model, {.n_ctx = std::min(s.drafter_model->config().n_ctx_train, need), .kv = s.kv,
                                         .threads = s.threads});
  }
};
class streaming_drafter : public transformer_drafter<context_kind::full, streaming_window> {
public:
  using transformer_drafter::transformer_drafter;
  /// Self-speculation: the target's weights with a cache of sink + window + one prefill chunk.
  static streaming_drafter make(const drafter_setup& s) {
    return streaming_drafter(s.target_model,
                             {.n_ctx = s.sink + s.window + std::max(s.prefill_chunk, s.gamma + 2), .kv = s.kv, .threads = s.threads},
                             {.sink = s.sink, .window = s.window}, s.prefill_chunk);
  }
};

/// The same roles over another engine (a backend's transformer, a test double).
template <target_model Engine>
using model_drafter_on = transformer_drafter<context_kind::full, full_cache, Engine>;
template <target_model Engine>
using rag_drafter_on = transformer_drafter<context_kind::retrieved, full_cache, Engine>;
template <target_model Engine>
using streaming_drafter_on = transformer_drafter<context_kind::full, streaming_window, Engine>;

static_assert(drafter<model_drafter> && resumable_drafter<model_drafter> && made_from_setup<model_drafter>);
static_assert(drafter<rag_drafter> && resumable_drafter<rag_drafter> && snapshot_cache<rag_drafter> && made_from_setup<rag_drafter>);
static_assert(drafter<streaming_drafter> && shares_model<streaming_drafter> && made_from_setup<streaming_drafter>);

} // namespace rapid::spec
