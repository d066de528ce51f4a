#pragma once
// e^x in 16 AVX-512 lanes for the softmax of attention, whose arguments (a score minus its row's
// max) are never positive: a few FMAs where a general exp also handles overflow.
#if defined(__AVX512F__)
#include <immintrin.h>

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

} // namespace rapid::ops::detail
#endif
