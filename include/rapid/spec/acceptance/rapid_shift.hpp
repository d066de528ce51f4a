#pragma once
// RAPID's retrieval-augmented target (Chen et al. 2025): p_hat = softmax(log p + eta M (q - p))
// with the drafter's plausible set M = {j : q_j >= alpha * max q}, and its residual. Used by
// retrieval_augmented and retrieval_augmented_exact only.
//
// Acceptance tests read single entries of p_hat, so the rules write no row until a rejection
// needs one. M is usually a handful of tokens, found in one read pass over q; the shift is zero
// outside M and p sums to one, so
//   sum_j p_j exp(eta M_j (q_j - p_j)) = 1 + sum_{j in M} p_j (exp(eta (q_j - p_j)) - 1),
// and p_hat is p plus a few extra weights (ops::sparse_weights), normalised.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "rapid/ops/row.hpp"
#include "rapid/ops/row_segments.hpp"
#include "rapid/ops/sample.hpp"
#include "rapid/ops/softmax.hpp"
#include "rapid/ops/softmax_normaliser.hpp"
#include "rapid/spec/acceptance/common.hpp"
#include "rapid/spec/distribution.hpp"
#include "rapid/spec/types.hpp"

namespace rapid::spec {

/// RAPID's shifted target (official code's form): p_hat = softmax(log p + eta * M * (q - p)) with
/// M = [q >= alpha * max q], computed as p * exp(shift) / sum (no logarithm): tokens the target
/// excluded (top-k/top-p, p = 0) stay excluded. p, q, p_hat: (n_vocab)
inline void shift_toward_drafter(std::span<const float> p, std::span<const float> q, float eta, float alpha,
                                 std::span<float> p_hat) noexcept {
  using ops::detail::fbatch, ops::detail::lanes;
  const float q_max = ops::max_of(q), cut = alpha * q_max;
  // shift = eta * (q - p) <= eta * max q: subtracting that bound keeps exp() <= 1 (no overflow).
  const float bound = eta * q_max;
  const fbatch cb(cut), eb(eta), zero(0.f), bb(bound);
  const std::size_t n = p.size();
  fbatch acc(0.f);
  std::size_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    const fbatch pb = fbatch::load_unaligned(p.data() + i), qb = fbatch::load_unaligned(q.data() + i);
    const fbatch shift = xsimd::select(qb >= cb, eb * (qb - pb), zero);
    const fbatch w = pb * xsimd::exp(shift - bb);
    w.store_unaligned(p_hat.data() + i);
    acc += w;
  }
  double sum = xsimd::hadd(acc);
  for (; i < n; ++i) {
    const float shift = q[i] >= cut ? eta * (q[i] - p[i]) : 0.f;
    sum += (p_hat[i] = p[i] * std::exp(shift - bound));
  }
  if (sum > 1e-30) {
    ops::scale(p_hat, static_cast<float>(1.0 / sum));
    return;
  }
  // eta * max q so large that every weight underflowed: redo in log space with an exact max.
  for (i = 0; i < n; ++i) {
    const float shift = q[i] >= cut ? eta * (q[i] - p[i]) : 0.f;
    p_hat[i] = p[i] > 0.f ? std::log(p[i]) + shift : -std::numeric_limits<float>::infinity();
  }
  ops::softmax_scaled(p_hat, 1.f, p_hat);
}

/// r <- max(0, p - min(q, p_hat)) = max(p - p_hat, p - q, 0): RAPID's residual. all: (n)
inline void rapid_residual(std::span<const float> p, std::span<const float> q, std::span<const float> p_hat,
                           std::span<float> r) noexcept {
  using ops::detail::fbatch, ops::detail::lanes;
  const fbatch zero(0.f);
  std::size_t i = 0;
  for (; i + lanes <= p.size(); i += lanes) {
    const fbatch m = xsimd::min(fbatch::load_unaligned(q.data() + i), fbatch::load_unaligned(p_hat.data() + i));
    xsimd::max(fbatch::load_unaligned(p.data() + i) - m, zero).store_unaligned(r.data() + i);
  }
  for (; i < p.size(); ++i) r[i] = std::max(p[i] - std::min(q[i], p_hat[i]), 0.f);
}

/// RAPID's plausible set M = {j : q_j >= alpha * max q}. index: sorted token ids.
struct plausible_set {
  std::vector<std::uint32_t> index;

  /// Two passes over q, split over threads: segment maxima (from memory), then each segment's
  /// tokens >= alpha * max q (from cache: a row is 0.6 MB). Returns false when more than `limit`
  /// tokens qualify (a flat q, or alpha = 0): use full rows then.
  bool find(std::span<const float> q, float alpha, std::size_t limit, int threads = 0) {
    const ops::row_segments seg(q.size());
    maxima seg_max;
    seg.run(threads, [&](std::size_t k) { seg_max[k] = ops::max_of(seg.slice(q, k)); });
    return find_from_maxima(q, seg_max, alpha, limit, threads);
  }

  /// Per segment (ops::row_segments of q): the largest q.
  using maxima = std::array<float, ops::row_segments::max_segments>;

  /// find()'s second pass, given the segment maxima of q.
  bool find_from_maxima(std::span<const float> q, const maxima& seg_max, float alpha, std::size_t limit, int threads = 0) {
    const ops::row_segments seg(q.size());
    std::array<bool, ops::row_segments::max_segments> overflow{};  // (segments) more than `limit` members
    const float cut = alpha * *std::max_element(seg_max.begin(), seg_max.begin() + static_cast<std::ptrdiff_t>(seg.count));
    seg.run(threads, [&](std::size_t k) { overflow[k] = !members(q, seg.begin(k), seg.end(k, q.size()), cut, limit, parts_[k]); });
    index.clear();
    for (std::size_t k = 0; k < seg.count; ++k) {
      if (overflow[k]) return false;
      index.insert(index.end(), parts_[k].begin(), parts_[k].end());
    }
    return index.size() <= limit;
  }

  /// A one-hot q (a deterministic drafter): M = {x} for alpha > 0.
  void one_hot(token x) { index.assign(1, static_cast<std::uint32_t>(x)); }

private:
  /// Tokens j in [begin, end) with q_j >= cut; false past `limit` of them.
  static bool members(std::span<const float> q, std::size_t begin, std::size_t end, float cut, std::size_t limit,
                      std::vector<std::uint32_t>& out) {
    using ops::detail::fbatch, ops::detail::lanes;
    out.clear();
    const fbatch cb(cut);
    std::size_t i = begin;
    for (; i + lanes <= end; i += lanes) {
      if (!xsimd::any(fbatch::load_unaligned(q.data() + i) >= cb)) continue;
      for (std::size_t j = i; j < i + lanes; ++j)
        if (q[j] >= cut) out.push_back(static_cast<std::uint32_t>(j));
      if (out.size() > limit) return false;
    }
    for (; i < end; ++i)
      if (q[i] >= cut) out.push_back(static_cast<std::uint32_t>(i));
    return out.size() <= limit;
  }

  std::array<std::vector<std::uint32_t>, ops::row_segments::max_segments> parts_;  // (segments) members per segment
};

/// RAPID's two row passes at one position fused: per segment, the target's softmax partial over
/// z (compute-bound exps) while q's segment is prefetched, then q's segment max from cache; then
/// M. Returns p as a target_row; `found` is false when M is too large for the pointwise path.
/// z, q: (n_vocab)
inline target_row normalise_with_plausible(std::span<const float> z, float inv_t, std::span<const float> q, float alpha,
                                           std::size_t limit, int threads, plausible_set& m, bool& found) {
  const ops::row_segments seg(z.size());
  ops::softmax_normaliser::partials part;
  plausible_set::maxima q_max;
  seg.run(threads, [&](std::size_t k) {
    part[k] = ops::softmax_normaliser::segment(seg.slice(z, k), inv_t, q.data() + seg.begin(k));
    q_max[k] = ops::max_of(seg.slice(q, k));
  });
  found = m.find_from_maxima(q, q_max, alpha, limit, threads);
  return {z, ops::softmax_normaliser::merge(part, seg.count, inv_t)};
}

/// RAPID's shift exp(eta (q_j - p_j)) over M, as extra weights p_j (exp(...) - 1) on p (so that
/// 1 + their sum normalises p_hat). q: the drafter's probability of a token.
template <class Q>
void shifted_extra(const target_row& p, const Q& q, const plausible_set& m, float eta, ops::sparse_weights& extra) {
  extra.clear();
  for (const std::uint32_t j : m.index) {
    const double pj = p(j);
    extra.emplace_back(j, pj * (std::exp(static_cast<double>(eta) * (static_cast<double>(q(j)) - pj)) - 1.0));
  }
}

/// p_hat(x) = (p_x + extra_x) / (1 + sum extra).
[[nodiscard]] inline float shifted_at(const target_row& p, const ops::sparse_weights& extra, token x) {
  double total = 1.0, px = p(static_cast<std::size_t>(x));
  for (const auto& [j, add] : extra) {
    total += add;
    if (j == static_cast<std::uint32_t>(x)) px += add;
  }
  return static_cast<float>(px / total);
}


namespace detail {

/// rule_rows plus what RAPID's rules keep per position.
struct rapid_rows : rule_rows {
  std::vector<float> p_hat;  // (n_vocab) shifted target
  plausible_set mask;        // M at the current position
  ops::sparse_weights extra; // (|M|) the shift as weights added to p

  void size_for(std::size_t n) {
    rule_rows::size_for(n);
    if (p_hat.size() != n) p_hat.assign(n, 0.f);
  }
};

/// Largest plausible set handled pointwise; beyond it (a flat q, alpha ~ 0) the rules write rows.
constexpr std::size_t max_plausible = 256;

/// p at draft row i and RAPID's shift there as extra weights on p (rows.extra), with `sparse`
/// false when the plausible set is too large for that (then use shifted_row). Plain temperature
/// with a full q row takes the fused pass over z and q. z_row: (n_vocab)
inline target_row rapid_row(distribution_maker& make_p, std::span<const float> z_row, const draft_block& d, std::size_t i,
                            const acceptance_options& o, rapid_rows& rows, bool& sparse) {
  const auto q_at = [&](std::size_t j) { return d.q_at(i, static_cast<token>(j)); };
  if (make_p.pointwise() && !d.one_hot) {
    const target_row p = normalise_with_plausible(z_row, 1.f / make_p.options().temperature, d.q_row(i), o.alpha,
                                                  max_plausible, o.threads, rows.mask, sparse);
    if (sparse) shifted_extra(p, q_at, rows.mask, o.eta, rows.extra);
    return p;
  }
  const target_row p = target_distribution(make_p, z_row, rows.p, o.threads);
  if (d.one_hot) {
    sparse = o.alpha > 0.f;  // alpha = 0: every token is plausible
    if (sparse) rows.mask.one_hot(d.tokens[i]);
  } else {
    sparse = rows.mask.find(d.q_row(i), o.alpha, max_plausible, o.threads);
  }
  if (sparse) shifted_extra(p, q_at, rows.mask, o.eta, rows.extra);
  return p;
}

/// p_hat as a full row (rows.p_hat; p is written into rows.p). q: (n_vocab)
inline std::span<const float> shifted_row(const target_row& p, std::span<const float> q, const acceptance_options& o,
                                          rapid_rows& rows) {
  shift_toward_drafter(p.materialise(rows.p), q, o.eta, o.alpha, rows.p_hat);
  return rows.p_hat;
}

/// p_hat(x) for the draft at row i after rapid_row.
inline float shifted_probability(const target_row& p, bool sparse, const draft_block& d, std::size_t i,
                                 const acceptance_options& o, rapid_rows& rows) {
  const token x = d.tokens[i];
  if (sparse) return shifted_at(p, rows.extra, x);
  return shifted_row(p, rows.q_row(d, i), o, rows)[static_cast<std::size_t>(x)];
}

} // namespace detail
} // namespace rapid::spec
