#pragma once
// The softmax of one attention score row in 16 AVX-512 lanes: a masked max, and e^x for arguments
// (a score minus its row's max) that are never positive: a few FMAs where a general exp also
// handles overflow. Shared by the portable kernels (attention.hpp) and the AMX ones.
#if defined(__AVX512F__)
#include <immintrin.h>

#include <cstddef>
#include <limits>

namespace rapid::ops::detail {

// e^x for x <= 0: x = k ln2 + r with |r| <= ln2 / 2 (ln2 in two parts, so k ln2 is exact), a
// degree-7 Taylor polynomial for e^r (truncation under 2^-27), times 2^k. Measured within 0.9 ulp
// of the exact value over [-104, 0] (xsimd's exp: 1.5). Under -103 the result is 0; NaN stays NaN.
inline __m512 exp_nonpositive(__m512 x) noexcept {
  x = _mm512_max_ps(_mm512_set1_ps(-103.f), x);  // max returns its second operand when one is NaN
  const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693359375f), x);  // ln2's first 9 bits: k * them is exact
  r = _mm512_fnmadd_ps(k, _mm512_set1_ps(-2.12194440e-4f), r);      // the rest of ln2
  __m512 p = _mm512_set1_ps(1.f / 5040);
  for (const float c : {1.f / 720, 1.f / 120, 1.f / 24, 1.f / 6, 1.f / 2, 1.f, 1.f}) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c));
  return _mm512_scalef_ps(p, k);
}

// The lanes [first, first + 16) that lie below n: all, some or none.
inline __mmask16 lanes_below(std::size_t n, std::size_t first) noexcept {
  return static_cast<__mmask16>(n >= first + 16 ? 0xffffu : n <= first ? 0u : (1u << (n - first)) - 1);
}

// The largest of x's lanes, in 512-bit zero-masked forms with every lane set: GCC 12's own
// reduction (and its casts to 256 bits) pass an undefined vector for the masked-off lanes, which
// -Wuninitialized flags once inlined into some fully unrolled loops.
inline float lanes_max(__m512 x) noexcept {
  x = _mm512_maskz_max_ps(0xffff, x, _mm512_maskz_shuffle_f32x4(0xffff, x, x, 0x4e));  // 256-bit halves
  x = _mm512_maskz_max_ps(0xffff, x, _mm512_maskz_shuffle_f32x4(0xffff, x, x, 0xb1));  // 128-bit quarters
  x = _mm512_maskz_max_ps(0xffff, x, _mm512_maskz_permute_ps(0xffff, x, 0x4e));        // pairs within a quarter
  x = _mm512_maskz_max_ps(0xffff, x, _mm512_maskz_permute_ps(0xffff, x, 0xb1));        // neighbours
  return _mm512_cvtss_f32(x);
}

// max of x[0, n); -inf for n = 0. Reads nothing from n on.
inline float max_below(const float* x, std::size_t n) noexcept {
  const __m512 none = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  __m512 top = none;
  for (std::size_t p = 0; p < n; p += 16) top = _mm512_max_ps(top, _mm512_mask_loadu_ps(none, lanes_below(n, p), x + p));
  return lanes_max(top);
}

// Softmax weights of a row x whose first n scores are seen: for p = 0, 16, ... below width,
// use(p, e) with e = exp(x[p + i] - m) in the lanes below n and 0 from n on (x is not read
// there). Returns the weights' sum.
template <class Use>
inline float exp_below(const float* x, std::size_t n, std::size_t width, float m, Use&& use) {
  const __m512 mv = _mm512_set1_ps(m);
  __m512 total = _mm512_setzero_ps();
  for (std::size_t p = 0; p < width; p += 16) {
    const __mmask16 seen = lanes_below(n, p);
    const __m512 e = _mm512_maskz_mov_ps(seen, exp_nonpositive(_mm512_sub_ps(_mm512_maskz_loadu_ps(seen, x + p), mv)));
    use(p, e);
    total = _mm512_add_ps(total, e);
  }
  return _mm512_reduce_add_ps(total);
}

} // namespace rapid::ops::detail
#endif
