#pragma once
// Tiny synthetic policies for the statistical tests: a "model" whose next-token logits are a
// fixed function of (previous token, position), so exact output distributions are computable.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "rapid/ops/row.hpp"
#include "rapid/ops/sample.hpp"
#include "rapid/ops/softmax.hpp"
#include "rapid/spec/concepts.hpp"
#include "rapid/spec/distribution.hpp"

namespace rapid::test {

/// Logits of a synthetic model after `prev` at position `pos`, salted per model. (vocab)
inline std::vector<float> synthetic_logits(std::uint64_t salt, spec::token prev, std::size_t pos, std::size_t vocab) {
  std::vector<float> z(vocab);
  for (std::size_t t = 0; t < vocab; ++t) {
    std::uint64_t h = salt * 0x9e3779b97f4a7c15ull ^ (std::uint64_t(prev) + 1) * 0xbf58476d1ce4e5b9ull ^
                      (pos + 1) * 0x94d049bb133111ebull ^ (t + 1) * 0x2545f4914f6cdd1dull;
    h ^= h >> 31;
    h *= 0xd6e8feb86659fd93ull;
    h ^= h >> 32;
    z[t] = 3.f * float(double(h >> 11) * 0x1.0p-53) - 1.5f;  // logits in [-1.5, 1.5)
  }
  return z;
}

/// A target_model over a synthetic logit function.
class synthetic_target {
public:
  static constexpr spec::context_kind context = spec::context_kind::full;
  synthetic_target(std::uint64_t salt, std::size_t vocab, std::size_t capacity = 1 << 16)
      : salt_(salt), vocab_(vocab), capacity_(capacity) {}
  [[nodiscard]] std::size_t vocab_size() const noexcept { return vocab_; }
  [[nodiscard]] std::size_t size() const noexcept { return seq_.size(); }
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  void truncate(std::size_t n) { seq_.resize(n); }
  void reset() { seq_.clear(); }
  std::span<const float> forward(std::span<const spec::token> tokens) {
    rows_.clear();
    for (const auto t : tokens) {
      seq_.push_back(t);
      const auto z = synthetic_logits(salt_, t, seq_.size(), vocab_);
      rows_.insert(rows_.end(), z.begin(), z.end());
    }
    return rows_;
  }
  std::span<const float> prefill(std::span<const spec::token> tokens, std::size_t, const spec::progress_fn&) {
    forward(tokens);
    return std::span<const float>(rows_).last(vocab_);
  }
  /// Logits after a sequence whose last token is `prev` and whose length is `len`.
  [[nodiscard]] std::vector<float> logits_after(spec::token prev, std::size_t len) const {
    return synthetic_logits(salt_, prev, len, vocab_);
  }

private:
  std::uint64_t salt_;
  std::size_t vocab_, capacity_;
  std::vector<spec::token> seq_;
  std::vector<float> rows_;
};

/// A drafter over a (different) synthetic logit function; sees the same sequence as the target.
class synthetic_drafter {
public:
  static constexpr spec::context_kind context = spec::context_kind::full;
  synthetic_drafter(std::uint64_t salt, std::size_t vocab) : model_(salt, vocab) {}
  [[nodiscard]] std::size_t vocab_size() const noexcept { return model_.vocab_size(); }
  void start(std::span<const spec::token> prompt, const spec::progress_fn& = {}) {
    model_.reset();
    const auto row = model_.prefill(prompt, 0, {});
    last_.assign(row.begin(), row.end());
  }
  const spec::draft_block& draft(const spec::draft_request& r, rng& g) {
    const std::size_t v = vocab_size();
    block_.clear(v);
    base_ = model_.size();
    spec::distribution_maker make_q(r.sampling);
    std::vector<float> z = last_;
    for (std::size_t i = 0; i <= r.gamma; ++i) {
      if (i == r.gamma && !r.want_next_q) break;
      block_.q.resize((i + 1) * v);
      std::span<float> q(block_.q.data() + i * v, v);
      make_q(z, q);
      if (i == r.gamma) { block_.has_next_q = true; break; }
      const auto x = ops::sample_weights(q, g);
      block_.tokens.push_back(x);
      const auto row = model_.forward(std::span<const spec::token>(&block_.tokens.back(), 1));
      z.assign(row.begin(), row.end());
    }
    return block_;
  }
  void commit(std::span<const spec::token> emitted) {
    model_.truncate(base_);
    const auto rows = model_.forward(emitted);
    last_.assign(rows.end() - static_cast<std::ptrdiff_t>(vocab_size()), rows.end());
  }
  [[nodiscard]] std::vector<float> logits_after(spec::token prev, std::size_t len) const { return model_.logits_after(prev, len); }

private:
  synthetic_target model_;
  std::vector<float> last_;  // (vocab) logits after the committed sequence
  spec::draft_block block_;
  std::size_t base_ = 0;
};

/// Pearson chi-square of observed counts against expected probabilities; cells with expected
/// count < 5 are pooled into one. Returns {statistic, degrees of freedom}.
inline std::pair<double, std::size_t> chi_square(std::span<const std::size_t> counts, std::span<const double> probs) {
  double n = 0;
  for (auto c : counts) n += double(c);
  for (std::size_t i = 0; i < counts.size(); ++i)
    if (counts[i] > 0 && probs[i] <= 0) return {INFINITY, 1};  // mass where the distribution has none
  double stat = 0, pooled_obs = 0, pooled_exp = 0;
  std::size_t cells = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    const double e = probs[i] * n;
    if (e < 5) {
      pooled_obs += double(counts[i]);
      pooled_exp += e;
      continue;
    }
    stat += (double(counts[i]) - e) * (double(counts[i]) - e) / e;
    ++cells;
  }
  if (pooled_exp >= 5) {
    stat += (pooled_obs - pooled_exp) * (pooled_obs - pooled_exp) / pooled_exp;
    ++cells;
  }
  return {stat, cells > 0 ? cells - 1 : 0};
}

/// Upper 1e-4 quantile of chi-square with df degrees of freedom (Wilson-Hilferty).
inline double chi_square_critical(std::size_t df) {
  const double k = double(df), z = 3.719;  // standard normal upper 1e-4 quantile
  const double a = 2.0 / (9.0 * k);
  return k * std::pow(1.0 - a + z * std::sqrt(a), 3.0);
}

} // namespace rapid::test
