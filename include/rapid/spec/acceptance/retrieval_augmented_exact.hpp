#pragma once
// retrieval_augmented_exact (beyond the paper): speculative sampling with p_hat as the target.
// Accept min(1, p_hat(x_i) / q(x_i)), residual norm(max(0, p_hat - q)), bonus from p_hat at
// position gamma + 1 (so the drafter supplies its distribution after the last draft). Every
// emitted token is distributed exactly as p_hat, the distribution RAPID intends. Without a
// drafter row (no drafter at all) p_hat = p.
#include <span>

#include "rapid/spec/acceptance/common.hpp"

namespace rapid::spec {

class retrieval_augmented_exact {
public:
  static constexpr bool wants_next_q = true;
  static constexpr bool greedy_drafts = false;
  static constexpr const char* name = "retrieval_augmented_exact";

  explicit retrieval_augmented_exact(const acceptance_options& o = {}) : options_(o), make_p_(o.sampling) { o.validate(); }
  [[nodiscard]] const acceptance_options& options() const noexcept { return options_; }

  verdict verify(const draft_block& d, std::span<const float> z, std::size_t n_vocab, rng& g) {
    detail::check_block(d, z, n_vocab);
    rows_.size_for(n_vocab);
    for (std::size_t i = 0; i < d.size(); ++i) {
      const std::span<const float> q = rows_.q_row(d, i);
      const std::span<const float> p_hat = shifted(z, n_vocab, i, q);
      const token x = d.tokens[i];
      if (detail::accept(p_hat[static_cast<std::size_t>(x)], q[static_cast<std::size_t>(x)], g)) continue;
      positive_difference(p_hat, q, rows_.r);
      return {i, detail::residual_or(rows_.r, p_hat, g)};
    }
    const bool has_q = d.has_next_q && !d.one_hot;
    const std::span<const float> bonus =
        has_q ? shifted(z, n_vocab, d.size(), d.q_row(d.size())) : std::span<const float>(make_p(z, n_vocab, d.size()));
    return {d.size(), sample_weights(bonus, g)};
  }

private:
  std::span<const float> make_p(std::span<const float> z, std::size_t n_vocab, std::size_t i) {
    make_p_(detail::logit_row(z, n_vocab, i), rows_.p);
    return rows_.p;
  }
  // p_hat at row i against drafter row q (p itself when eta = 0).
  std::span<const float> shifted(std::span<const float> z, std::size_t n_vocab, std::size_t i, std::span<const float> q) {
    make_p(z, n_vocab, i);
    if (options_.eta == 0.f) return rows_.p;
    shift_toward_drafter(rows_.p, q, options_.eta, options_.alpha, rows_.p_hat);
    return rows_.p_hat;
  }

  acceptance_options options_;
  distribution_maker make_p_;
  detail::rule_rows rows_;
};

} // namespace rapid::spec
