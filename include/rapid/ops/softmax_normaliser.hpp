#pragma once
// A temperature softmax read entry by entry: p_j = exp(z_j * inv_t - shift) * inv_sum needs only
// the normaliser, one read pass over the logits, so acceptance tests that read a few entries of
// p never write the row.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <span>
#include <utility>

#include <xsimd/xsimd.hpp>

#include "rapid/ops/row.hpp"
#include "rapid/ops/row_segments.hpp"

namespace rapid::ops {

namespace detail {
/// exp(x) for one value through the same vector code as the row passes, so a pointwise p_j is
/// bit-identical to the written row's entry. [[gnu::flatten]] here and on the row passes
/// inlines xsimd's exp everywhere: an out-of-line copy trips a GCC 12 -Wuninitialized false
/// positive inside the AVX-512 intrinsics.
[[gnu::flatten]] inline float exp1(float x) noexcept { return xsimd::exp(fbatch(x)).get(0); }
} // namespace detail

/// softmax(z * inv_t) as shift = max(z) * inv_t and inv_sum = 1 / sum_j exp(z_j * inv_t - shift),
/// with each segment's share of the mass (draws walk only the segment they land in).
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
    for (std::size_t c = 0; c < z.size(); c += row_chunk) {
      const std::span<const float> part = z.subspan(c, std::min(row_chunk, z.size() - c));
      const float m = max_of(part) * inv_t;
      if (m > shift) {
        const float k = std::isinf(shift) ? 0.f : std::exp(shift - m);
        acc *= fbatch(k);
        tail *= k;
        shift = m;
      }
      const fbatch mb(shift);
      const std::size_t next = std::min(z.size() - 1, c + row_chunk);
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

} // namespace rapid::ops
