#pragma once
// retrieval_augmented: RAPID as in the official code. p_hat = softmax(log p + eta * M * (q - p)),
// M = [q >= alpha * max q]; accept x_i with min(1, p_hat(x_i) / q(x_i)); on rejection draw from
// norm(max(p - p_hat, p - q, 0)); the bonus comes from p.
//
// NOT lossless for eta > 0 (the paper's Appendix B assumes p >= min(q, p_hat)). Each position
// emits P_out = min(q, p_hat) + (1 - beta) * R / sum(R), beta = sum min(q, p_hat),
// R = max(0, p - min(q, p_hat)); tests check exactly this. With eta = 0 it is speculative_sampling,
// decision for decision.
#include <span>

#include "rapid/spec/acceptance/common.hpp"
#include "rapid/spec/acceptance/rapid_shift.hpp"

namespace rapid::spec {

class retrieval_augmented {
public:
  static constexpr bool wants_next_q = false;
  static constexpr bool greedy_drafts = false;
  static constexpr const char* name = "retrieval_augmented";

  explicit retrieval_augmented(const acceptance_options& o = {}) : options_(o), make_p_(o.sampling) { o.validate(); }
  [[nodiscard]] const acceptance_options& options() const noexcept { return options_; }

  verdict verify(const draft_block& d, std::span<const float> z, std::size_t n_vocab, rng& g) {
    detail::check_block(d, z, n_vocab);
    rows_.size_for(n_vocab);
    for (std::size_t i = 0; i < d.size(); ++i) {
      const std::span<const float> z_i = detail::logit_row(z, n_vocab, i);
      const token x = d.tokens[i];
      // eta = 0 keeps p itself (not a re-softmax of log p) so decisions equal speculative_sampling's.
      bool sparse = false;
      const target_row p = options_.eta == 0.f ? target_distribution(make_p_, z_i, rows_.p, options_.threads)
                                               : detail::rapid_row(make_p_, z_i, d, i, options_, rows_, sparse);
      const float p_hat_x = options_.eta == 0.f ? p(static_cast<std::size_t>(x))
                                                : detail::shifted_probability(p, sparse, d, i, options_, rows_);
      if (detail::accept(p_hat_x, d.q_at(i, x), g)) continue;
      const std::span<const float> p_row = p.materialise(rows_.p), q = rows_.q_row(d, i);
      const std::span<const float> p_hat = options_.eta == 0.f ? p_row : detail::shifted_row(p, q, options_, rows_);
      rapid_residual(p_row, q, p_hat, rows_.r);
      return {i, detail::residual_or(rows_.r, p_row, g)};
    }
    const target_row p = target_distribution(make_p_, detail::logit_row(z, n_vocab, d.size()), rows_.p, options_.threads);
    return {d.size(), p.sample({}, rows_.r, g)};
  }

private:
  acceptance_options options_;
  distribution_maker make_p_;
  detail::rapid_rows rows_;
};

} // namespace rapid::spec
