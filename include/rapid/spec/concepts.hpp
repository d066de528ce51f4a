#pragma once
// The four policy families of a speculative decoder, as C++20 concepts. A policy that does not
// fit fails at the static_assert (or the decoder's requires-clause) naming the missing member.
//
//   target_model     the long-context model: prefill, N-token forward, rollback
//   drafter          proposes tokens and their distributions; resynchronised after each verdict
//   acceptance_rule  turns a draft and the target's gamma + 1 logit rows into a verdict
//   retriever        (retrieval/retriever.hpp) ranks document chunks against a question
#include <concepts>
#include <cstddef>
#include <functional>
#include <span>

#include "rapid/core/rng.hpp"
#include "rapid/spec/acceptance/options.hpp"
#include "rapid/spec/types.hpp"

namespace rapid::spec {

using progress_fn = std::function<void(std::size_t done, std::size_t total)>;

/// forward(tokens) appends them to the model's cache and returns one logit row per token,
/// (tokens.size(), vocab_size()); truncate(n) rolls the cache back to n positions.
template <class T>
concept target_model = requires(T& t, const T& ct, std::span<const token> tokens, std::size_t n, const progress_fn& progress) {
  { t.forward(tokens) } -> std::convertible_to<std::span<const float>>;
  { t.prefill(tokens, n, progress) } -> std::convertible_to<std::span<const float>>;
  t.truncate(n);
  t.reset();
  { ct.size() } -> std::convertible_to<std::size_t>;
  { ct.capacity() } -> std::convertible_to<std::size_t>;
  { ct.vocab_size() } -> std::convertible_to<std::size_t>;
};

/// A target policy also says which prompt it reads (the full document, or the retrieved chunks
/// for the RAG baseline).
template <class T>
concept target_policy = target_model<T> && requires {
  { T::context } -> std::convertible_to<context_kind>;
};

/// start(prompt) prefills the drafter's own context; draft(request, g) proposes up to gamma
/// tokens with their distributions, continuing from everything committed so far; commit(emitted)
/// tells it which tokens the step produced (accepted drafts + the verdict's token).
template <class D>
concept drafter = requires(D& d, const D& cd, std::span<const token> tokens, const draft_request& request, rng& g,
                           const progress_fn& progress) {
  { D::context } -> std::convertible_to<context_kind>;
  d.start(tokens, progress);
  { d.draft(request, g) } -> std::same_as<const draft_block&>;
  d.commit(tokens);
  { cd.vocab_size() } -> std::convertible_to<std::size_t>;
};

/// verify(draft, z, n_vocab, g): z holds draft.size() + 1 target logit rows. Rules say whether
/// they want the drafter's row after the last draft and whether drafts should be greedy.
template <class A>
concept acceptance_rule = std::constructible_from<A, const acceptance_options&> &&
    requires(A& a, const draft_block& d, std::span<const float> z, std::size_t n_vocab, rng& g) {
  { a.verify(d, z, n_vocab, g) } -> std::same_as<verdict>;
  { A::wants_next_q } -> std::convertible_to<bool>;
  { A::greedy_drafts } -> std::convertible_to<bool>;
  { A::name } -> std::convertible_to<const char*>;
};

} // namespace rapid::spec
