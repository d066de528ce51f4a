#pragma once
// greedy_match: accept while each draft equals the target's argmax; the next token is the
// target's argmax after the accepted prefix. The output equals the target's greedy decoding.
#include <span>

#include "rapid/ops/row.hpp"
#include "rapid/spec/acceptance/common.hpp"

namespace rapid::spec {

class greedy_match {
public:
  static constexpr bool wants_next_q = false;
  static constexpr bool greedy_drafts = true;  // drafters draft argmax tokens for this rule
  static constexpr const char* name = "greedy_match";

  explicit greedy_match(const acceptance_options& = {}) {}

  verdict verify(const draft_block& d, std::span<const float> z, std::size_t n_vocab, rng&) const {
    detail::check_block(d, z, n_vocab);
    for (std::size_t i = 0; i < d.size(); ++i) {
      const token best = ops::argmax(detail::logit_row(z, n_vocab, i));
      if (d.tokens[i] != best) return {i, best};
    }
    return {d.size(), ops::argmax(detail::logit_row(z, n_vocab, d.size()))};
  }
};

} // namespace rapid::spec
