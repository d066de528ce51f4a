#pragma once
// IEEE binary16 (fp16) and bfloat16 <-> float conversions.
// The portable versions are exact bit manipulations: float -> half rounds to nearest even,
// handles subnormals, overflow to infinity, and keeps NaNs NaN (quieted, sign and top payload
// bits kept). F16C intrinsics are only a fast path for the same results at run time.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#if defined(__F16C__)
#include <immintrin.h>
#endif

namespace rapid {

/// Exact fp16 -> float (every half value is representable as a float).
[[nodiscard]] constexpr float fp16_to_f32_portable(std::uint16_t h) noexcept {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1fu;
  std::uint32_t mant = h & 0x3ffu;
  std::uint32_t bits = 0;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13); // inf, or NaN with its payload
  } else if (exp != 0) {
    bits = sign | ((exp + (127 - 15)) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign; // signed zero
  } else {
    // Subnormal half: value = mant * 2^-24; normalise the mantissa into a float.
    std::uint32_t e = 127 - 15 + 1;
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --e;
    }
    bits = sign | (e << 23) | ((mant & 0x3ffu) << 13);
  }
  return std::bit_cast<float>(bits);
}

/// float -> fp16, round to nearest even (the IEEE default and what F16C's _MM_FROUND_TO_NEAREST_INT does).
[[nodiscard]] constexpr std::uint16_t f32_to_fp16_portable(float f) noexcept {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  const auto sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
  const std::uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) // NaN: keep the top payload bits, force the quiet bit so it stays NaN
    return static_cast<std::uint16_t>(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
  if (ax >= 0x477ff000u) // >= 65520 rounds (ties to even) to infinity; includes inf itself
    return static_cast<std::uint16_t>(sign | 0x7c00u);
  if (ax < 0x38800000u) { // below 2^-14: a half subnormal (or zero)
    if (ax <= 0x33000000u) return sign; // <= 2^-25 rounds to zero (2^-25 is a tie, to even 0)
    const std::uint32_t e = ax >> 23;             // 102..112
    const std::uint32_t m = (ax & 0x7fffffu) | 0x800000u;
    const std::uint32_t shift = 126 - e;          // value / 2^-24 = m >> shift, 14..24
    std::uint32_t q = m >> shift;
    const std::uint32_t rem = m & ((1u << shift) - 1);
    const std::uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1u))) ++q; // may carry into the smallest normal: right
    return static_cast<std::uint16_t>(sign | q);
  }
  // Normal: rebias the exponent, round the 13 dropped bits to nearest even (carry may bump exponent).
  const std::uint32_t rounded = ax + 0xfffu + ((ax >> 13) & 1u);
  return static_cast<std::uint16_t>(sign | ((rounded - ((127u - 15u) << 23)) >> 13));
}

/// Exact bf16 -> float (bf16 is the top half of a float).
[[nodiscard]] constexpr float bf16_to_f32(std::uint16_t h) noexcept {
  return std::bit_cast<float>(static_cast<std::uint32_t>(h) << 16);
}

/// float -> bf16, round to nearest even; NaN stays NaN (quieted), overflow rounds to infinity.
[[nodiscard]] constexpr std::uint16_t f32_to_bf16(float f) noexcept {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((x >> 16) | 0x40u);
  return static_cast<std::uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

/// fp16 -> float; uses F16C when the translation unit is compiled with it (same result).
[[nodiscard]] constexpr float fp16_to_f32(std::uint16_t h) noexcept {
#if defined(__F16C__)
  if (!std::is_constant_evaluated()) return _cvtsh_ss(h);
#endif
  return fp16_to_f32_portable(h);
}

/// float -> fp16 (round to nearest even); uses F16C when available (same result).
[[nodiscard]] constexpr std::uint16_t f32_to_fp16(float f) noexcept {
#if defined(__F16C__)
  if (!std::is_constant_evaluated()) return static_cast<std::uint16_t>(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT));
#endif
  return f32_to_fp16_portable(f);
}

/// Row conversions. in/out: (n)
inline void fp16_to_f32_row(const std::uint16_t* in, float* out, std::size_t n) noexcept {
  std::size_t i = 0;
#if defined(__F16C__) && defined(__AVX__)
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i))));
#endif
  for (; i < n; ++i) out[i] = fp16_to_f32(in[i]);
}

inline void bf16_to_f32_row(const std::uint16_t* in, float* out, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) out[i] = bf16_to_f32(in[i]); // vectorises: a widening shift
}

inline void f32_to_fp16_row(const float* in, std::uint16_t* out, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) out[i] = f32_to_fp16(in[i]);
}

inline void f32_to_bf16_row(const float* in, std::uint16_t* out, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) out[i] = f32_to_bf16(in[i]);
}

} // namespace rapid
