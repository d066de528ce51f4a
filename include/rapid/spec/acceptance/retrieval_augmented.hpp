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
      make_p_(detail::logit_row(z, n_vocab, i), rows_.p);
      const std::span<const float> q = rows_.q_row(d, i);
      // eta = 0 keeps p itself (not a re-softmax of log p) so decisions equal speculative_sampling's.
      std::span<const float> p_hat = rows_.p;
      if (options_.eta != 0.f) {
        shift_toward_drafter(rows_.p, q, options_.eta, options_.alpha, rows_.p_hat);
        p_hat = rows_.p_hat;
      }
      const token x = d.tokens[i];
      if (detail::accept(p_hat[static_cast<std::size_t>(x)], q[static_cast<std::size_t>(x)], g)) continue;
      rapid_residual(rows_.p, q, p_hat, rows_.r);
      return {i, detail::residual_or(rows_.r, rows_.p, g)};
    }
    make_p_(detail::logit_row(z, n_vocab, d.size()), rows_.p);
    return {d.size(), sample_weights(rows_.p, g)};
  }

private:
  acceptance_options options_;
  distribution_maker make_p_;
  detail::rule_rows rows_;
};

} // namespace rapid::spec
