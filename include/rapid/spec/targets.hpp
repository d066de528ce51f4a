#pragma once
// Target policies: an engine (any target_model: the CPU transformer, another backend, a test
// double) given its role, the prompt it reads. The long-context target sees the whole document
// (LC); rag_target sees the retrieved chunks (the RAG baseline). The role wraps the engine
// instead of inheriting it, so a new backend becomes a target by being a target_model.
#include <cstddef>
#include <iosfwd>
#include <span>
#include <type_traits>
#include <utility>

#include "rapid/model/transformer.hpp"
#include "rapid/spec/abilities.hpp"
#include "rapid/spec/concepts.hpp"
#include "rapid/spec/same_tokenizer.hpp"

namespace rapid::spec {

/// Engine in the role Context. Every call forwards to the engine; the optional abilities
/// (spec/abilities.hpp) are offered exactly when the engine has them.
template <target_model Engine, context_kind Context>
class target_role {
public:
  using engine_type = Engine;
  static constexpr context_kind context = Context;

  /// Builds the engine in place from `args` (e.g. a model and transformer_options).
  template <class... Args>
    requires std::constructible_from<Engine, Args&&...>
  explicit target_role(Args&&... args) : engine_(std::forward<Args>(args)...) {}

  [[nodiscard]] Engine& engine() noexcept { return engine_; }
  [[nodiscard]] const Engine& engine() const noexcept { return engine_; }

  std::span<const float> forward(std::span<const token> tokens) { return engine_.forward(tokens); }
  std::span<const float> prefill(std::span<const token> tokens, std::size_t chunk = 512, const progress_fn& progress = {}) {
    return engine_.prefill(tokens, chunk, progress);
  }
  void truncate(std::size_t n) { engine_.truncate(n); }
  void reset() { engine_.reset(); }
  [[nodiscard]] std::size_t size() const { return engine_.size(); }
  [[nodiscard]] std::size_t capacity() const { return engine_.capacity(); }
  [[nodiscard]] std::size_t vocab_size() const { return engine_.vocab_size(); }

  void save_cache(std::ostream& out) const requires snapshot_cache<Engine> { engine_.save_cache(out); }
  void restore_cache(std::istream& in) requires snapshot_cache<Engine> { engine_.restore_cache(in); }
  [[nodiscard]] decltype(auto) shared_model() const requires shares_model<Engine> { return engine_.shared_model(); }
  [[nodiscard]] std::span<const float> last_hidden() const requires exposes_hidden_states<Engine> {
    return engine_.last_hidden();
  }
  [[nodiscard]] std::size_t hidden_size() const requires exposes_hidden_states<Engine> { return engine_.hidden_size(); }

private:
  Engine engine_;
};

template <target_model Engine>
using full_context_target = target_role<Engine, context_kind::full>;
template <target_model Engine>
using retrieved_context_target = target_role<Engine, context_kind::retrieved>;

using long_context_target = full_context_target<model::transformer>;
using rag_target = retrieved_context_target<model::transformer>;

static_assert(target_policy<long_context_target>);
static_assert(target_policy<rag_target>);
static_assert(snapshot_cache<long_context_target> && shares_model<long_context_target>);

} // namespace rapid::spec
