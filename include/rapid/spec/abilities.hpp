#pragma once
// The optional abilities of a policy, named in one place. The decoder, the CLI session and the
// snapshot store ask for these instead of probing members ad hoc, so a new backend learns here
// what it may offer and what each offer buys.
//
//   snapshot_cache        its KV cache can be saved to a stream and restored (prefill snapshots)
//   resumable_drafter     start() can continue a prompt prefix already in its cache
//   shares_model          it runs on one loaded model that other policies may share
//   exposes_hidden_states a target that hands out its last forward's hidden states (EAGLE-style
//                         draft heads read them)
//   last_row_forward      an engine that can compute only the last logit row of a forward (a
//                         drafter's prefill and resynchronisation need no other)
#include <concepts>
#include <cstddef>
#include <iosfwd>
#include <span>

#include "rapid/model/logits_for.hpp"
#include "rapid/spec/concepts.hpp"
#include "rapid/spec/types.hpp"

namespace rapid::spec {

/// save_cache(out) writes the cache; restore_cache(in) replaces it with what save_cache wrote.
template <class P>
concept snapshot_cache = requires(P& p, const P& cp, std::ostream& out, std::istream& in) {
  cp.save_cache(out);
  p.restore_cache(in);
  { cp.size() } -> std::convertible_to<std::size_t>;  // positions held, to check a restored snapshot
};

/// start(prompt, progress, cached): the first `cached` prompt tokens are already in the cache
/// (a restored snapshot); only the rest is forwarded, ending in the same state as start(prompt).
template <class D>
concept resumable_drafter = drafter<D> && requires(D& d, std::span<const token> prompt, const progress_fn& progress,
                                                   std::size_t cached) { d.start(prompt, progress, cached); };

/// shared_model(): a handle to the loaded model the policy runs on; policies holding the same
/// handle share its weights (and, for the decoder, must share its tokenizer).
template <class P>
concept shares_model = requires(const P& p) {
  { p.shared_model() };
  { *p.shared_model() };
};

/// last_hidden(): (rows of the last forward, hidden size) final-layer states, row-major.
template <class T>
concept exposes_hidden_states = target_model<T> && requires(const T& t) {
  { t.last_hidden() } -> std::convertible_to<std::span<const float>>;
  { t.hidden_size() } -> std::convertible_to<std::size_t>;
};

/// forward(tokens, logits_for::last_row): logits whose last row follows `tokens`.
template <class E>
concept last_row_forward = requires(E& e, std::span<const token> tokens) {
  { e.forward(tokens, model::logits_for::last_row) } -> std::convertible_to<std::span<const float>>;
};

} // namespace rapid::spec
