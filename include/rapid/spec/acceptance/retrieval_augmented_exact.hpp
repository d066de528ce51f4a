#pragma once
// retrieval_augmented_exact (beyond the paper): speculative sampling with p_hat as the target.
// Accept min(1, p_hat(x_i) / q(x_i)), residual norm(max(0, p_hat - q)), bonus from p_hat at
// position gamma + 1 (so the drafter supplies its distribution after the last draft). Every
// emitted token is distributed exactly as p_hat, the distribution RAPID intends. Without a
// drafter row (no drafter at all) p_hat = p.
#include <span>

#include "rapid/ops/row.hpp"
#include "rapid/ops/sample.hpp"
#include "rapid/spec/acceptance/common.hpp"
#include "rapid/spec/acceptance/rapid_shift.hpp"

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
    const bool shift = options_.eta != 0.f;
    for (std::size_t i = 0; i < d.size(); ++i) {
      const std::span<const float> z_i = detail::logit_row(z, n_vocab, i);
      const token x = d.tokens[i];
      bool sparse = false;
      const target_row p = shift ? detail::rapid_row(make_p_, z_i, d, i, options_, rows_, sparse)
                                 : target_distribution(make_p_, z_i, rows_.p, options_.threads);
      const float p_hat_x = shift ? detail::shifted_probability(p, sparse, d, i, options_, rows_) : p(static_cast<std::size_t>(x));
      if (detail::accept(p_hat_x, d.q_at(i, x), g)) continue;
      const std::span<const float> q = rows_.q_row(d, i);
      const std::span<const float> p_hat = shift ? detail::shifted_row(p, q, options_, rows_) : p.materialise(rows_.p);
      ops::positive_difference(p_hat, q, rows_.r);
      return {i, detail::residual_or(rows_.r, p_hat, g)};
    }
    // The bonus comes from p_hat against the drafter's next row (p when there is none).
    const std::span<const float> z_last = detail::logit_row(z, n_vocab, d.size());
    if (!shift || !d.has_next_q || d.one_hot)
      return {d.size(), target_distribution(make_p_, z_last, rows_.p, options_.threads).sample({}, rows_.r, g)};
    bool sparse = false;
    const target_row p = detail::rapid_row(make_p_, z_last, d, d.size(), options_, rows_, sparse);
    if (sparse) return {d.size(), p.sample(rows_.extra, rows_.r, g)};
    return {d.size(), ops::sample_weights(detail::shifted_row(p, d.q_row(d.size()), options_, rows_), g)};
  }

private:
  acceptance_options options_;
  distribution_maker make_p_;
  detail::rapid_rows rows_;
};

} // namespace rapid::spec
