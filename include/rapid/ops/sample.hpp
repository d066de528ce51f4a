#pragma once
// Inverse-CDF draws over a vocabulary row, one uniform each: from non-negative weights, or from a
// temperature softmax (plus a few extra weights) without writing the row. Batches are skipped by
// their sums, the crossing batch is walked.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "rapid/core/rng.hpp"
#include "rapid/ops/row.hpp"
#include "rapid/ops/row_segments.hpp"
#include "rapid/ops/softmax_normaliser.hpp"

namespace rapid::ops {

/// A draw from non-negative weights (need not sum to one). Returns -1 when they hold no mass
/// (the uniform is drawn anyway, so the draw count never depends on the outcome). w: (n)
[[nodiscard]] inline std::int32_t sample_weights(std::span<const float> w, rng& g) {
  using detail::fbatch, detail::lanes;
  const double total = sum_of(w);
  if (!(total > 0)) {
    (void)g.uniform();
    return -1;
  }
  const double u = g.uniform() * total;
  double acc = 0;
  std::size_t i = 0;
  // Skip whole batches while the running sum stays below u, then walk the crossing batch.
  for (; i + lanes <= w.size(); i += lanes) {
    const double s = xsimd::hadd(fbatch::load_unaligned(w.data() + i));
    if (acc + s > u) break;
    acc += s;
  }
  std::size_t last = w.size();
  for (; i < w.size(); ++i) {
    if (w[i] <= 0.f) continue;
    acc += w[i];
    last = i;
    if (u < acc) return static_cast<std::int32_t>(i);
  }
  if (last == w.size())  // rounding carried u past the crossing batch: take the last positive weight
    for (std::size_t j = w.size(); j-- > 0;)
      if (w[j] > 0.f) return static_cast<std::int32_t>(j);
  return static_cast<std::int32_t>(last);
}

/// The same draw walked element by element with a double running sum: the plain sampler's
/// (model/sampler.hpp). It rounds differently from sample_weights' float lanes, so each keeps its
/// own walk: merging them would change the tokens of existing seeds. w: (n)
[[nodiscard]] inline std::int32_t sample_weights_serial(std::span<const float> w, rng& g) {
  double total = 0;
  for (const float x : w) total += x;
  if (!(total > 0)) {
    (void)g.uniform();
    return -1;
  }
  const double u = g.uniform() * total;
  double acc = 0;
  std::size_t last = 0;
  for (std::size_t i = 0; i < w.size(); ++i) {
    if (w[i] <= 0.f) continue;
    acc += w[i];
    last = i;
    if (u < acc) return static_cast<std::int32_t>(i);
  }
  return static_cast<std::int32_t>(last);  // rounding left u at the very end
}

/// Extra weight on a few tokens: (token index, weight added to p_j), sorted by index.
using sparse_weights = std::vector<std::pair<std::uint32_t, double>>;

/// A draw from w_j = softmax(z * inv_t)_j + extra_j without writing the row: segments and then
/// batches are skipped by their sums. Matches sample_weights on the written weights up to float
/// rounding at CDF boundaries. z: (n)
[[nodiscard, gnu::flatten]] inline std::int32_t sample_softmax(std::span<const float> z, const softmax_normaliser& n,
                                                               const sparse_weights& extra, rng& g) {
  using detail::fbatch, detail::lanes;
  double total = 1.0;
  for (const auto& e : extra) total += e.second;
  const double u = g.uniform() * total;
  const row_segments seg(z.size());
  // The segment holding u (the last one when rounding carries u past every segment).
  auto e = extra.begin();
  double acc = 0;
  std::size_t k = 0;
  for (; k + 1 < seg.count; ++k) {
    double s = n.mass[k];
    auto f = e;
    for (; f != extra.end() && f->first < seg.end(k, z.size()); ++f) s += f->second;
    if (acc + s > u) break;
    acc += s;
    e = f;
  }
  const std::size_t end = seg.end(k, z.size());
  const fbatch kb(n.inv_t), mb(n.shift), sb(n.inv_sum);
  std::size_t i = seg.begin(k);
  for (; i + lanes <= end; i += lanes) {
    double s = xsimd::hadd(xsimd::exp(fbatch::load_unaligned(z.data() + i) * kb - mb) * sb);
    auto f = e;
    for (; f != extra.end() && f->first < i + lanes; ++f) s += f->second;
    if (acc + s > u) break;
    acc += s;
    e = f;
  }
  std::size_t last = end;
  for (; i < end; ++i) {
    double w = n(z[i]);
    if (e != extra.end() && e->first == i) w += (e++)->second;
    if (w <= 0) continue;
    acc += w;
    last = i;
    if (u < acc) return static_cast<std::int32_t>(i);
  }
  if (last == end)  // rounding carried u past the crossing batch: the segment's last token with weight
    for (std::size_t j = end; j-- > seg.begin(k);)
      if (n(z[j]) > 0.f || std::any_of(extra.begin(), extra.end(), [&](const auto& x) { return x.first == j; }))
        return static_cast<std::int32_t>(j);
  return static_cast<std::int32_t>(last);
}

} // namespace rapid::ops
