#pragma once
// The values that flow between the speculative decoder's policies: a draft block (tokens and the
// drafter's distributions), the verdict of an acceptance rule, and which context a policy reads.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "rapid/core/error.hpp"
#include "rapid/model/sampling_options.hpp"

namespace rapid::spec {

using token = std::int32_t;
using model::sampling_options;

/// Which prompt a target or drafter is fed: the whole document, the retrieved chunks only, or
/// none at all (a drafter that needs no prefill state beyond the token history).
enum class context_kind { full, retrieved };

/// gamma drafted tokens and the distributions they were drawn from. A deterministic drafter
/// (prompt lookup, greedy drafting) sets one_hot: q_i is the indicator of tokens[i].
struct draft_block {
  std::vector<token> tokens;  // (gamma) drafted tokens
  std::vector<float> q;       // (gamma + has_next_q, vocab) processed drafter distributions; empty when one_hot
  std::size_t vocab = 0;
  bool one_hot = false;
  bool has_next_q = false;    // q holds one more row: the drafter's distribution after the last draft

  [[nodiscard]] std::size_t size() const noexcept { return tokens.size(); }
  /// q_i(t): the probability the drafter gave token t at draft position i.
  [[nodiscard]] float q_at(std::size_t i, token t) const noexcept {
    if (one_hot) return tokens[i] == t ? 1.f : 0.f;
    return q[i * vocab + static_cast<std::size_t>(t)];
  }
  /// Row i of q (i == size() is the row after the last draft, when has_next_q). (vocab)
  [[nodiscard]] std::span<const float> q_row(std::size_t i) const {
    if (one_hot || (i == size() && !has_next_q)) throw invalid_argument("draft_block: no distribution row " + std::to_string(i));
    return {q.data() + i * vocab, vocab};
  }
  void clear(std::size_t vocab_size) {
    tokens.clear();
    q.clear();
    vocab = vocab_size;
    one_hot = false;
    has_next_q = false;
  }
};

/// What an acceptance rule decided: the first `accepted` drafts stand, then `next` (a residual
/// sample after a rejection, or the bonus token when every draft was accepted).
struct verdict {
  std::size_t accepted = 0;
  token next = 0;
};

/// What the decoder asks of a drafter for one step.
struct draft_request {
  std::size_t gamma = 4;              // tokens to draft (a drafter may return fewer)
  sampling_options sampling;          // the same processing the target's logits get
  bool want_next_q = false;           // the rule needs q after the last draft (lossless p_hat bonus)
  float confidence_stop = 0.f;        // stop drafting when the drawn token's q falls below this
};

} // namespace rapid::spec
