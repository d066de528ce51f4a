#pragma once
// x86 integer dot kernels (AVX2, with AVX-512 VNNI/BW instructions where compiled in) for one
// weight block times one 8-bit activation block. xsimd 8.1 has no u8 x s8 -> i16/i32
// multiply-add, so these use intrinsics. Each kernel is split into unpack (weights only) and
// accumulate (weights x activations): matvec calls both per block, matmul unpacks a block once
// and accumulates it into every batch row. Both run the same float operations per output, so
// matmul rows are bit-identical to matvec.
//
// Integer sums are exact (no i16 saturation: codes <= 63 or |q8| <= 128 times |a| <= 127, in
// pairs), so AVX2 and VNNI give identical results.
#if defined(__AVX2__)
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "rapid/core/fp16.hpp"
#include "rapid/core/quant_blocks.hpp"

#define RAPID_INT8_X86 1
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
#define RAPID_INT8_VNNI 1
#endif

namespace rapid::ops::detail::x86 {

#if defined(RAPID_INT8_VNNI)
inline constexpr const char* int8_arch = "avx512vnni";
#else
inline constexpr const char* int8_arch = "avx2";
#endif

struct vacc {
  __m256 v = _mm256_setzero_ps(); // 8 partial sums of one output
  __m256 m = _mm256_setzero_ps(); // partial sums subtracted at the end (K-quant mins): a separate chain
  float s = 0;                    // scalar partial sum (Q4_1/Q5_1 offsets)
};

inline __m256 fmadd(__m256 a, __m256 b, __m256 c) noexcept {
#if defined(__FMA__)
  return _mm256_fmadd_ps(a, b, c);
#else
  return _mm256_add_ps(_mm256_mul_ps(a, b), c);
#endif
}

inline float hsum(__m256 v) noexcept {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline __m256i load256(const void* p) noexcept { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

/// 8 x i32: lane i = sum of u[k] * s[k] over bytes k = 4i..4i+3 (u unsigned, s signed).
inline __m256i dot_u8s8(__m256i u, __m256i s) noexcept {
#if defined(RAPID_INT8_VNNI)
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#else
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}

/// 32 nibbles of a 32-block: low nibbles of qs[0..15] then their high nibbles.
inline __m256i nibbles32(const std::uint8_t* qs) noexcept {
  const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(15));
}

/// Byte i = 0x10 where bit i of the little-endian u32 qh is set (bit 4 of Q5 codes).
inline __m256i high_bits32(const std::uint8_t* qh) noexcept {
  std::uint32_t bits;
  std::memcpy(&bits, qh, 4);
#if defined(__AVX512BW__) && defined(__AVX512VL__)
  return _mm256_and_si256(_mm256_movm_epi8(bits), _mm256_set1_epi8(0x10));
#else
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(static_cast<int>(bits)),
      _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  const __m256i bit = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ull));
  return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), _mm256_set1_epi8(0x10));
#endif
}

/// shuffle_epi8 control for i16 lanes (a x4, b x4 | c x4, d x4): elements a..d (0..7) taken
/// within each 128-bit lane, a and b for the low lane, c and d for the high one.
inline __m256i broadcast_i16_quads(int a, int b, int c, int d) noexcept {
  alignas(32) char ctl[32];
  const int e[4] = {a, b, c, d};
  for (int i = 0; i < 16; ++i) {
    ctl[2 * i] = static_cast<char>(2 * e[i / 4]);
    ctl[2 * i + 1] = static_cast<char>(2 * e[i / 4] + 1);
  }
  return _mm256_load_si256(reinterpret_cast<const __m256i*>(ctl));
}

/// sum_j sc[j] * (q[j] . a[32j..32j+31]) over 8 groups of 32 codes: 8 x i32 (how the lanes split
/// the groups is the kernel's business: only their sum is used). scale_vectors: how many i16
/// scale vectors sc holds, in the layout unpack writes for this build.
#if defined(RAPID_INT8_VNNI)
/// VNNI: half the scale multiplies. dpbusd sums 4 products per i32 (|sum| <= 4 * 63 * 127 < 2^15,
/// so it fits an i16), packs_epi32 puts two groups' sums side by side as i16 (no saturation, by
/// that bound), and one dpwssd scales both. sc[p] matches packs_epi32(dot(q[2p]), dot(q[2p+1])):
/// lane-local quads of 4 i16 per i32 group.
inline constexpr int scale_vectors = 4;
inline __m256i scaled_dot8(const __m256i* q, const __m256i* sc, const std::int8_t* a) noexcept {
  __m256i s[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
  for (int p = 0; p < 4; ++p) {
    const __m256i d0 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), q[2 * p], load256(a + 64 * p));
    const __m256i d1 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), q[2 * p + 1], load256(a + 64 * p + 32));
    s[p & 1] = _mm256_dpwssd_epi32(s[p & 1], _mm256_packs_epi32(d0, d1), sc[p]);
  }
  return _mm256_add_epi32(s[0], s[1]);
}
#else
/// AVX2: madd(maddubs(q[j], a), sc[j]) per group, sc[j] the group's scales broadcast to i16. Four
/// independent chains: one chain of 8 dependent multiply-adds is latency-bound.
inline constexpr int scale_vectors = 8;
inline __m256i scaled_dot8(const __m256i* q, const __m256i* sc, const std::int8_t* a) noexcept {
  __m256i s[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
  for (int j = 0; j < 8; ++j)
    s[j & 3] = _mm256_add_epi32(s[j & 3], _mm256_madd_epi16(_mm256_maddubs_epi16(q[j], load256(a + 32 * j)), sc[j]));
  return _mm256_add_epi32(_mm256_add_epi32(s[0], s[1]), _mm256_add_epi32(s[2], s[3]));
}
#endif

inline __m256i lane0(int v) noexcept { return _mm256_setr_epi32(v, 0, 0, 0, 0, 0, 0, 0); }

// ---- 32-value blocks x block_q8_act32 ------------------------------------------------------

/// Q4_0 / Q5_0: d * (q - offset).
template <class Block, int Offset>
struct k_sym32 {
  using wblock = Block;
  using ablock = block_q8_act32;
  struct unpacked {
    __m256i q; // (32) unsigned codes
    float d;
  };
  static unpacked unpack(const Block& b) noexcept {
    __m256i q = nibbles32(b.qs);
    if constexpr (Offset == 16) q = _mm256_or_si256(q, high_bits32(b.qh));
    return {q, fp16_to_f32(b.d)};
  }
  static void accumulate(const unpacked& w, const ablock& a, vacc& acc) noexcept {
    const __m256i s = _mm256_sub_epi32(dot_u8s8(w.q, load256(a.qs)), lane0(Offset * a.sum)); // exact
    acc.v = fmadd(_mm256_cvtepi32_ps(s), _mm256_set1_ps(w.d * a.d), acc.v);
  }
};

/// Q4_1 / Q5_1: d * q + m.
template <class Block, bool Five>
struct k_affine32 {
  using wblock = Block;
  using ablock = block_q8_act32;
  struct unpacked {
    __m256i q;
    float d, m;
  };
  static unpacked unpack(const Block& b) noexcept {
    __m256i q = nibbles32(b.qs);
    if constexpr (Five) q = _mm256_or_si256(q, high_bits32(b.qh));
    return {q, fp16_to_f32(b.d), fp16_to_f32(b.m)};
  }
  static void accumulate(const unpacked& w, const ablock& a, vacc& acc) noexcept {
    const __m256i s = dot_u8s8(w.q, load256(a.qs));
    acc.v = fmadd(_mm256_cvtepi32_ps(s), _mm256_set1_ps(w.d * a.d), acc.v);
    acc.s += w.m * a.d * static_cast<float>(a.sum);
  }
};

/// Q8_0: d * q, q signed: |q| x (a with q's sign) keeps the u8 x s8 form.
struct k_q8_0 {
  using wblock = block_q8_0;
  using ablock = block_q8_act32;
  struct unpacked {
    __m256i q, abs_q;
    float d;
  };
  static unpacked unpack(const block_q8_0& b) noexcept {
    const __m256i q = load256(b.qs);
    return {q, _mm256_abs_epi8(q), fp16_to_f32(b.d)};
  }
  static void accumulate(const unpacked& w, const ablock& a, vacc& acc) noexcept {
    const __m256i s = dot_u8s8(w.abs_q, _mm256_sign_epi8(load256(a.qs), w.q));
    acc.v = fmadd(_mm256_cvtepi32_ps(s), _mm256_set1_ps(w.d * a.d), acc.v);
  }
};

// ---- K-quants x block_q8_k -------------------------------------------------------------------

/// Q4_K / Q5_K: d*sc[j]*q - dmin*m[j] over 8 sub-blocks of 32.
template <class Block, bool Five>
struct k_q45_k {
  using wblock = Block;
  using ablock = block_q8_k;
  struct unpacked {
    __m256i q[8];              // (8, 32) unsigned codes per sub-block
    __m256i sc[scale_vectors]; // (scale_vectors, 16) i16 sub-block scales, laid out as scaled_dot8 reads them
    __m256i m;     // (16) i16 sub-block mins, each twice (one per group of 16 activations)
    float d, dmin;
  };
  static unpacked unpack(const Block& b) noexcept {
    unpacked u;
    const __m256i m4 = _mm256_set1_epi8(15);
    for (int c = 0; c < 4; ++c) {
      const __m256i raw = load256(b.qs + 32 * c);
      u.q[2 * c] = _mm256_and_si256(raw, m4);
      u.q[2 * c + 1] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
    }
    if constexpr (Five) {
      const __m256i qh = load256(b.qh), bit4 = _mm256_set1_epi8(0x10);
      // bit j of qh[l] is bit 4 of code 32j+l; move it to bit 4 inside each byte
      u.q[0] = _mm256_or_si256(u.q[0], _mm256_and_si256(_mm256_slli_epi16(qh, 4), bit4));
      u.q[1] = _mm256_or_si256(u.q[1], _mm256_and_si256(_mm256_slli_epi16(qh, 3), bit4));
      u.q[2] = _mm256_or_si256(u.q[2], _mm256_and_si256(_mm256_slli_epi16(qh, 2), bit4));
      u.q[3] = _mm256_or_si256(u.q[3], _mm256_and_si256(_mm256_slli_epi16(qh, 1), bit4));
      u.q[4] = _mm256_or_si256(u.q[4], _mm256_and_si256(qh, bit4));
      u.q[5] = _mm256_or_si256(u.q[5], _mm256_and_si256(_mm256_srli_epi16(qh, 1), bit4));
      u.q[6] = _mm256_or_si256(u.q[6], _mm256_and_si256(_mm256_srli_epi16(qh, 2), bit4));
      u.q[7] = _mm256_or_si256(u.q[7], _mm256_and_si256(_mm256_srli_epi16(qh, 3), bit4));
    }
    // 6-bit scales and mins in general-purpose registers (idle while the vector units work):
    // bytes sc0..7 and m0..7 from the u32 words (a, b, c) of scales[12]
    std::uint32_t w[3];
    std::memcpy(w, b.scales, 12);
    const std::uint64_t sc = (w[0] & 0x3f3f3f3fu) | (std::uint64_t((w[2] & 0x0f0f0f0fu) | ((w[0] >> 2) & 0x30303030u)) << 32);
    const std::uint64_t mn = (w[1] & 0x3f3f3f3fu) | (std::uint64_t(((w[2] >> 4) & 0x0f0f0f0fu) | ((w[1] >> 2) & 0x30303030u)) << 32);
    const __m256i sc16 = _mm256_cvtepu8_epi16(_mm_set1_epi64x(static_cast<long long>(sc)));
    const __m128i mins = _mm_cvtsi64_si128(static_cast<long long>(mn));
#if defined(RAPID_INT8_VNNI)
    for (int p = 0; p < 4; ++p) u.sc[p] = _mm256_shuffle_epi8(sc16, broadcast_i16_quads(2 * p, 2 * p + 1, 2 * p, 2 * p + 1));
#else
    for (int j = 0; j < 8; ++j) u.sc[j] = _mm256_shuffle_epi8(sc16, broadcast_i16_quads(j, j, j, j));
#endif
    u.m = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mins, mins)); // (m0 m0 m1 m1 .. m7 m7) as i16
    u.d = fp16_to_f32(b.d);
    u.dmin = fp16_to_f32(b.dmin);
    return u;
  }
  static void accumulate(const unpacked& w, const ablock& a, vacc& acc) noexcept {
    const __m256i s = scaled_dot8(w.q, w.sc, a.qs);
    const __m256i mins = _mm256_madd_epi16(w.m, load256(a.bsums)); // (8) m[j] * (bsum[2j] + bsum[2j+1])
    acc.v = fmadd(_mm256_cvtepi32_ps(s), _mm256_set1_ps(w.d * a.d), acc.v);
    acc.m = fmadd(_mm256_cvtepi32_ps(mins), _mm256_set1_ps(w.dmin * a.d), acc.m);
  }
};

/// Q6_K: d * sc[k] * (q - 32) over 16 sub-blocks of 16.
struct k_q6_k {
  using wblock = block_q6_k;
  using ablock = block_q8_k;
  struct unpacked {
    __m256i q[8];              // (8, 32) codes 0..63 per group of 32
    __m256i sc[scale_vectors]; // (scale_vectors, 16) i16 scales of the 16-value sub-blocks, laid out as scaled_dot8 reads them
    __m256i sc16;  // (16) i16 scales, for the -32 offset
    float d;
  };
  static unpacked unpack(const block_q6_k& b) noexcept {
    unpacked u;
    const __m256i m4 = _mm256_set1_epi8(15);
    for (int h = 0; h < 2; ++h) {
      const __m256i ql0 = load256(b.ql + 64 * h), ql1 = load256(b.ql + 64 * h + 32), qh = load256(b.qh + 32 * h);
#if defined(__AVX512VL__)
      // code = low 4 bits from ql | 2 bits of qh at bits 4-5. With qh's pairs pre-masked (t: bit pairs
      // 0-1 and 4-5, v: 2-3 and 6-7), each shifted copy has zeros at bits 6-7 and a ternary
      // select (bits 0-3 from ql, 4-7 from qh: imm 0xe4) replaces the and/and/or per output.
      const __m256i t = _mm256_and_si256(qh, _mm256_set1_epi8(0x33)), v = _mm256_and_si256(qh, _mm256_set1_epi8(-52)); // 0xcc
      u.q[4 * h + 0] = _mm256_ternarylogic_epi32(ql0, _mm256_slli_epi16(t, 4), m4, 0xe4);
      u.q[4 * h + 1] = _mm256_ternarylogic_epi32(ql1, _mm256_slli_epi16(v, 2), m4, 0xe4);
      u.q[4 * h + 2] = _mm256_ternarylogic_epi32(_mm256_srli_epi16(ql0, 4), t, m4, 0xe4);
      u.q[4 * h + 3] = _mm256_ternarylogic_epi32(_mm256_srli_epi16(ql1, 4), _mm256_srli_epi16(v, 2), m4, 0xe4);
#else
      const __m256i m30 = _mm256_set1_epi8(0x30);
      u.q[4 * h + 0] = _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
      u.q[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
      u.q[4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), _mm256_and_si256(qh, m30));
      u.q[4 * h + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                                       _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
#endif
    }
    u.sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales))); // (sc0..7 | sc8..15)
    const __m256i first = _mm256_permute4x64_epi64(u.sc16, 0x44), second = _mm256_permute4x64_epi64(u.sc16, 0xee);
#if defined(RAPID_INT8_VNNI)
    // packs_epi32(dot(group 2p), dot(group 2p+1)) in scaled_dot8: low lane holds sub-blocks 4p and 4p+2, high 4p+1 and 4p+3
    for (int p = 0; p < 2; ++p) {
      const __m256i ctl = broadcast_i16_quads(4 * p, 4 * p + 2, 4 * p + 1, 4 * p + 3);
      u.sc[p] = _mm256_shuffle_epi8(first, ctl);
      u.sc[p + 2] = _mm256_shuffle_epi8(second, ctl);
    }
#else
    for (int g = 0; g < 4; ++g) { // group g: (sc[2g] x 8 | sc[2g+1] x 8)
      const __m256i ctl = broadcast_i16_quads(2 * g, 2 * g, 2 * g + 1, 2 * g + 1);
      u.sc[g] = _mm256_shuffle_epi8(first, ctl);
      u.sc[g + 4] = _mm256_shuffle_epi8(second, ctl);
    }
#endif
    u.d = fp16_to_f32(b.d);
    return u;
  }
  static void accumulate(const unpacked& w, const ablock& a, vacc& acc) noexcept {
    __m256i s = scaled_dot8(w.q, w.sc, a.qs);
    const __m256i off = _mm256_madd_epi16(w.sc16, load256(a.bsums)); // (8) sum of sc[k] * bsum[k] in pairs
    s = _mm256_sub_epi32(s, _mm256_slli_epi32(off, 5));               // exact: - 32 * sum sc * bsum
    acc.v = fmadd(_mm256_cvtepi32_ps(s), _mm256_set1_ps(w.d * a.d), acc.v);
  }
};

/// The output from the two accumulators a row alternates between (even and odd blocks).
inline float finish(const vacc& even, const vacc& odd) noexcept {
  return hsum(_mm256_sub_ps(_mm256_add_ps(even.v, odd.v), _mm256_add_ps(even.m, odd.m))) + (even.s + odd.s);
}

using k_q4_0 = k_sym32<block_q4_0, 8>;
using k_q5_0 = k_sym32<block_q5_0, 16>;
using k_q4_1 = k_affine32<block_q4_1, false>;
using k_q5_1 = k_affine32<block_q5_1, true>;
using k_q4_k = k_q45_k<block_q4_k, false>;
using k_q5_k = k_q45_k<block_q5_k, true>;

} // namespace rapid::ops::detail::x86
#endif // __AVX2__
