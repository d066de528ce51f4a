#pragma once
// speculative_sampling (Leviathan et al. 2023; Chen et al. 2023): accept x_i with probability
// min(1, p_i(x_i) / q_i(x_i)), on rejection draw from norm(max(0, p_i - q_i)), after gamma
// acceptances draw the bonus from p. Lossless: every emitted token is distributed as p.
#include <span>

#include "rapid/ops/row.hpp"
#include "rapid/spec/acceptance/common.hpp"

namespace rapid::spec {

class speculative_sampling {
public:
  static constexpr bool wants_next_q = false;
  static constexpr bool greedy_drafts = false;
  static constexpr const char* name = "speculative_sampling";

  explicit speculative_sampling(const acceptance_options& o = {}) : make_p_(o.sampling), threads_(o.threads) {
    o.validate();
  }

  verdict verify(const draft_block& d, std::span<const float> z, std::size_t n_vocab, rng& g) {
    detail::check_block(d, z, n_vocab);
    rows_.size_for(n_vocab);
    for (std::size_t i = 0; i < d.size(); ++i) {
      const target_row p = target_distribution(make_p_, detail::logit_row(z, n_vocab, i), rows_.p, threads_);
      const token x = d.tokens[i];
      if (detail::accept(p(static_cast<std::size_t>(x)), d.q_at(i, x), g)) continue;
      const std::span<const float> p_row = p.materialise(rows_.p);
      ops::positive_difference(p_row, rows_.q_row(d, i), rows_.r);
      return {i, detail::residual_or(rows_.r, p_row, g)};
    }
    const target_row p = target_distribution(make_p_, detail::logit_row(z, n_vocab, d.size()), rows_.p, threads_);
    return {d.size(), p.sample({}, rows_.r, g)};
  }

private:
  distribution_maker make_p_;
  int threads_;
  detail::rule_rows rows_;
};

} // namespace rapid::spec
