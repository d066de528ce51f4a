#pragma once
// Acceptance tests read single entries of p, p_hat and q, so the rules write no full row until a
// rejection needs the residual. With plain temperature sampling, p_j = exp(z_j / T - shift) / sum
// needs only the softmax normaliser: one read pass over the logits. RAPID's p_hat also needs the
// drafter's plausible set M = {j : q_j >= alpha * max q}, usually a handful of tokens, found in
// one read pass over q. The shift is zero outside M and p sums to one, so
//   sum_j p_j exp(eta M_j (q_j - p_j)) = 1 + sum_{j in M} p_j (exp(eta (q_j - p_j)) - 1).
// Bonus draws walk the logits once, with exp per batch, instead of writing the row and then
// summing it.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <utility>
#include <vector>

#include <xsimd/xsimd.hpp>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "rapid/core/rng.hpp"
#include "rapid/spec/distribution.hpp"
#include "rapid/spec/types.hpp"

namespace rapid::spec {

namespace detail {
// Logits are walked in L1-sized chunks: the chunk max is taken from memory, and the exp pass
// re-reads the chunk from L1, so each row is read from memory only once.
constexpr std::size_t chunk = 2048;

/// exp(x) for one value through the same vector code as the row passes, so a pointwise p_j is
/// bit-identical to the materialised row's entry. [[gnu::flatten]] here and on the row passes
/// inlines xsimd's exp everywhere: an out-of-line copy trips a GCC 12 -Wuninitialized false
/// positive inside the AVX-512 intrinsics.
[[gnu::flatten]] inline float exp1(float x) noexcept { return xsimd::exp(fbatch(x)).get(0); }
} // namespace detail

/// Rows are cut into at most max_segments segments of whole chunks, fixed by the row length (not
/// by the thread count, so results are the same on any number of threads); segments run on
/// OpenMP threads and their partial results merge in order.
struct row_segments {
  static constexpr std::size_t max_segments = 32;
  std::size_t size = 0;   // values per segment
  std::size_t count = 0;  // segments

  explicit row_segments(std::size_t n) noexcept
      : size(std::max<std::size_t>(8 * detail::chunk, (n / max_segments + detail::chunk) / detail::chunk * detail::chunk)),
        count((n + size - 1) / size) {}
  [[nodiscard]] std::size_t begin(std::size_t k) const noexcept { return k * size; }
  [[nodiscard]] std::size_t end(std::size_t k, std::size_t n) const noexcept { return std::min(n, (k + 1) * size); }
  /// Segment k of a row.
  [[nodiscard]] std::span<const float> slice(std::span<const float> row, std::size_t k) const noexcept {
    return row.subspan(begin(k), end(k, row.size()) - begin(k));
  }

  /// f(k) for every segment k, on up to `threads` OpenMP threads (0: OpenMP's default). Static
  /// schedule: consecutive passes over one row give a segment to the same thread, whose cache
  /// still holds it.
  template <class F>
  void run(int threads, F&& f) const {
#ifdef _OPENMP
    const int nt = std::min<int>(threads > 0 ? threads : omp_get_max_threads(), static_cast<int>(count));
    if (nt > 1 && !omp_in_parallel()) {
#pragma omp parallel for schedule(static) num_threads(nt)
      for (std::ptrdiff_t k = 0; k < static_cast<std::ptrdiff_t>(count); ++k) f(static_cast<std::size_t>(k));
      return;
    }
#else
    (void)threads;
#endif
    for (std::size_t k = 0; k < count; ++k) f(k);
  }
};

/// softmax(z * inv_t) as shift = max(z) * inv_t and inv_sum = 1 / sum_j exp(z_j * inv_t - shift),
/// with each segment's share of the mass (bonus draws walk only the segment they land in).
struct softmax_normaliser {
  float inv_t = 1.f;
  float shift = 0.f;
  float inv_sum = 0.f;
  std::array<double, row_segments::max_segments> mass{};  // (segments) probability per segment

  [[nodiscard]] float operator()(float z_j) const noexcept { return detail::exp1(z_j * inv_t - shift) * inv_sum; }

  /// One read pass over z, split over threads. z: (n), n > 0
  static softmax_normaliser of(std::span<const float> z, float inv_t, int threads = 0) {
    const row_segments seg(z.size());
    partials part;
    seg.run(threads, [&](std::size_t k) { part[k] = segment(seg.slice(z, k), inv_t); });
    return merge(part, seg.count, inv_t);
  }

  /// Per segment: (max * inv_t, sum of exp(z * inv_t - that)).
  using partials = std::array<std::pair<float, double>, row_segments::max_segments>;

  /// The normaliser from the segments' partial results, merged in segment order.
  static softmax_normaliser merge(const partials& part, std::size_t count, float inv_t) noexcept {
    softmax_normaliser n{inv_t, -std::numeric_limits<float>::infinity(), 0.f, {}};
    for (std::size_t k = 0; k < count; ++k) n.shift = std::max(n.shift, part[k].first);
    double total = 0;
    for (std::size_t k = 0; k < count; ++k) total += (n.mass[k] = part[k].second * std::exp(double(part[k].first) - n.shift));
    n.inv_sum = static_cast<float>(1.0 / total);
    for (std::size_t k = 0; k < count; ++k) n.mass[k] /= total;
    return n;
  }

  /// One segment's partial result: chunk maxima rescale the running sums (an online softmax per
  /// chunk), so the segment is read from memory once. The exp pass is compute-bound, so it also
  /// prefetches the next chunk and, when given, the same range of `companion` (a row the caller
  /// reads next, e.g. the drafter's q). z: (n); companion: (n) or null
  [[gnu::flatten]] static std::pair<float, double> segment(std::span<const float> z, float inv_t,
                                                           const float* companion = nullptr) noexcept {
    using detail::fbatch, detail::lanes;
    const fbatch kb(inv_t);
    float shift = -std::numeric_limits<float>::infinity();
    fbatch acc(0.f);
    float tail = 0.f;  // sum over scalar tails, same shift as acc
    for (std::size_t c = 0; c < z.size(); c += detail::chunk) {
      const std::span<const float> part = z.subspan(c, std::min(detail::chunk, z.size() - c));
      const float m = detail::max_of(part) * inv_t;
      if (m > shift) {
        const float k = std::isinf(shift) ? 0.f : std::exp(shift - m);
        acc *= fbatch(k);
        tail *= k;
        shift = m;
      }
      const fbatch mb(shift);
      const std::size_t next = std::min(z.size() - 1, c + detail::chunk);
      std::size_t i = 0;
      for (; i + lanes <= part.size(); i += lanes) {  // one cache line per batch
        __builtin_prefetch(z.data() + std::min(z.size() - 1, next + i));
        if (companion) __builtin_prefetch(companion + c + i);
        acc += xsimd::exp(fbatch::load_unaligned(part.data() + i) * kb - mb);
      }
      for (; i < part.size(); ++i) tail += detail::exp1(part[i] * inv_t - shift);
    }
    return {shift, static_cast<double>(xsimd::hadd(acc)) + tail};
  }

  /// out <- the whole row. z, out: (n)
  [[gnu::flatten]] void write(std::span<const float> z, std::span<float> out) const noexcept {
    using detail::fbatch, detail::lanes;
    const fbatch kb(inv_t), mb(shift), sb(inv_sum);
    std::size_t i = 0;
    for (; i + lanes <= z.size(); i += lanes)
      (xsimd::exp(fbatch::load_unaligned(z.data() + i) * kb - mb) * sb).store_unaligned(out.data() + i);
    for (; i < z.size(); ++i) out[i] = (*this)(z[i]);
  }

};

/// Extra weight on a few tokens: (token index, weight added to p_j), sorted by index.
using sparse_weights = std::vector<std::pair<std::uint32_t, double>>;

/// Inverse-CDF draw from w_j = softmax(z * inv_t)_j + extra_j without writing the row: one
/// uniform from g; segments and then batches are skipped by their sums, the crossing batch is
/// walked. Matches sample_weights on the materialised weights up to float rounding at CDF boundaries.
[[nodiscard, gnu::flatten]] inline token sample_softmax(std::span<const float> z, const softmax_normaliser& n,
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
    if (u < acc) return static_cast<token>(i);
  }
  if (last == end)  // rounding carried u past the crossing batch: the segment's last token with weight
    for (std::size_t j = end; j-- > seg.begin(k);)
      if (n(z[j]) > 0.f || std::any_of(extra.begin(), extra.end(), [&](const auto& x) { return x.first == j; }))
        return static_cast<token>(j);
  return static_cast<token>(last);
}

/// The target's processed distribution at one position, read entry by entry: pointwise from the
/// logits and their normaliser (plain temperature), or from a row written out (greedy, top-k, top-p).
class target_row {
public:
  target_row(std::span<const float> z, softmax_normaliser n) : z_(z), norm_(n) {}
  explicit target_row(std::span<const float> written) : row_(written) {}

  [[nodiscard]] float operator()(std::size_t j) const noexcept { return row_.empty() ? norm_(z_[j]) : row_[j]; }
  [[nodiscard]] bool pointwise() const noexcept { return row_.empty(); }

  /// The whole row (written into scratch when pointwise). scratch: (n_vocab)
  std::span<const float> materialise(std::span<float> scratch) const noexcept {
    if (!pointwise()) return row_;
    norm_.write(z_, scratch);
    return scratch;
  }

  /// A draw from p_j + extra_j (extra: see sparse_weights).
  [[nodiscard]] token sample(const sparse_weights& extra, std::span<float> scratch, rng& g) const {
    if (pointwise()) return sample_softmax(z_, norm_, extra, g);
    std::span<const float> w = row_;
    if (!extra.empty()) {
      std::copy(row_.begin(), row_.end(), scratch.begin());
      for (const auto& [j, add] : extra) scratch[j] += static_cast<float>(add);
      w = scratch;
    }
    return sample_weights(w, g);
  }

private:
  std::span<const float> z_;    // (n_vocab) logits, pointwise mode
  softmax_normaliser norm_{};
  std::span<const float> row_;  // (n_vocab) written probabilities, otherwise
};

/// p = processed(z) as a target_row: pointwise when the maker allows it, else written into
/// scratch. z, scratch: (n_vocab)
inline target_row target_distribution(distribution_maker& make_p, std::span<const float> z, std::span<float> scratch,
                                      int threads = 0) {
  if (make_p.pointwise()) return {z, softmax_normaliser::of(z, 1.f / make_p.options().temperature, threads)};
  make_p(z, scratch);
  return target_row(std::span<const float>(scratch));
}

/// RAPID's plausible set M = {j : q_j >= alpha * max q}. index: sorted token ids.
struct plausible_set {
  std::vector<std::uint32_t> index;

  /// Two passes over q, split over threads: segment maxima (from memory), then each segment's
  /// tokens >= alpha * max q (from cache: a row is 0.6 MB). Returns false when more than `limit`
  /// tokens qualify (a flat q, or alpha = 0): use full rows then.
  bool find(std::span<const float> q, float alpha, std::size_t limit, int threads = 0) {
    const row_segments seg(q.size());
    maxima seg_max;
    seg.run(threads, [&](std::size_t k) { seg_max[k] = detail::max_of(seg.slice(q, k)); });
    return find_from_maxima(q, seg_max, alpha, limit, threads);
  }

  /// Per segment (row_segments of q): the largest q.
  using maxima = std::array<float, row_segments::max_segments>;

  /// find()'s second pass, given the segment maxima of q.
  bool find_from_maxima(std::span<const float> q, const maxima& seg_max, float alpha, std::size_t limit, int threads = 0) {
    const row_segments seg(q.size());
    std::array<bool, row_segments::max_segments> overflow{};  // (segments) more than `limit` members
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
    using detail::fbatch, detail::lanes;
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

  std::array<std::vector<std::uint32_t>, row_segments::max_segments> parts_;  // (segments) members per segment
};

/// RAPID's two row passes at one position fused: per segment, the target's softmax partial over
/// z (compute-bound exps) while q's segment is prefetched, then q's segment max from cache; then
/// M. Returns p as a target_row; `found` is false when M is too large for the pointwise path.
/// z, q: (n_vocab)
inline target_row normalise_with_plausible(std::span<const float> z, float inv_t, std::span<const float> q, float alpha,
                                           std::size_t limit, int threads, plausible_set& m, bool& found) {
  const row_segments seg(z.size());
  softmax_normaliser::partials part;
  plausible_set::maxima q_max;
  seg.run(threads, [&](std::size_t k) {
    part[k] = softmax_normaliser::segment(seg.slice(z, k), inv_t, q.data() + seg.begin(k));
    q_max[k] = detail::max_of(seg.slice(q, k));
  });
  found = m.find_from_maxima(q, q_max, alpha, limit, threads);
  return {z, softmax_normaliser::merge(part, seg.count, inv_t)};
}

/// RAPID's shift exp(eta (q_j - p_j)) over M, as extra weights p_j (exp(...) - 1) on p (so that
/// 1 + their sum normalises p_hat). q: the drafter's probability of a token.
template <class Q>
void shifted_extra(const target_row& p, const Q& q, const plausible_set& m, float eta, sparse_weights& extra) {
  extra.clear();
  for (const std::uint32_t j : m.index) {
    const double pj = p(j);
    extra.emplace_back(j, pj * (std::exp(static_cast<double>(eta) * (static_cast<double>(q(j)) - pj)) - 1.0));
  }
}

/// p_hat(x) = (p_x + extra_x) / (1 + sum extra).
[[nodiscard]] inline float shifted_at(const target_row& p, const sparse_weights& extra, token x) {
  double total = 1.0, px = p(static_cast<std::size_t>(x));
  for (const auto& [j, add] : extra) {
    total += add;
    if (j == static_cast<std::uint32_t>(x)) px += add;
  }
  return static_cast<float>(px / total);
}

} // namespace rapid::spec
