#pragma once
// x86 integer dot kernels (AVX2, with AVX-512 VNNI/BW instructions where compiled in) for one
// weight block times one 8-bit activation block. xsimd 8.1 has no u8 x s8 -> i16/i32
// multiply-add, so these use intrinsics. Each kernel is split into unpack (weights only, into
// registers) and accumulate (weights x one activation row): dot.hpp's rows_dot unpacks a block
// once and accumulates it into every activation row of the call, so an output's float operations
// never depend on how many rows came with it (matmul rows are bit-identical to matvec).
//
// Each kernel names its accumulator (`acc`, one output's partial sums) and `finish` turns it into
// the output. With AVX-512 VNNI the K-quants work on 512-bit vectors: 64 codes per vpdpbusd, half
// the instructions of the 256-bit form, which is what a multi-row verification is bound by.
//
// Integer sums are exact (no i16 saturation: codes <= 63 or |q8| <= 128 times |a| <= 127, in
// pairs), so only the float accumulation order differs between the AVX2 and VNNI builds.
//
// 512-bit broadcasts and inserts are written in their all-ones zero-masking forms (the same
// instructions): GCC 12's plain forms start from _mm512_undefined_* and warn (-Wuninitialized,
// GCC PR 105593) in whatever code they are inlined into.
#if defined(__AVX2__)
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "rapid/core/fp16.hpp"
#include "rapid/core/quant_blocks.hpp"

#define RAPID_INT8_X86 1
#if defined(__AVX512VNNI__) && defined(__AVX512VL__) && defined(__AVX512BW__)
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

#if !defined(RAPID_INT8_VNNI)
/// sum_j sc[j] * (q[j] . a[32j..32j+31]) over 8 groups of 32 codes: 8 x i32 (how the lanes split
/// the groups is the kernel's business: only their sum is used); sc[j]: group j's scales as i16.
/// madd(maddubs(q[j], a), sc[j]) per group, in four independent chains (one chain of 8
/// dependent multiply-adds is latency-bound).
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
  using accumulator = vacc;
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
  using accumulator = vacc;
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
  using accumulator = vacc;
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

// ---- K-quants x block_q8_k_act -------------------------------------------------------------------

/// The 6-bit scales (bytes sc0..7) and mins (m0..7) of a Q4_K/Q5_K block, decoded in
/// general-purpose registers (idle while the vector units work) from the u32 words of scales[12].
inline void k_scales_mins_u64(const std::uint8_t* scales, std::uint64_t& sc, std::uint64_t& mn) noexcept {
  std::uint32_t w[3];
  std::memcpy(w, scales, 12);
  sc = (w[0] & 0x3f3f3f3fu) | (std::uint64_t((w[2] & 0x0f0f0f0fu) | ((w[0] >> 2) & 0x30303030u)) << 32);
  mn = (w[1] & 0x3f3f3f3fu) | (std::uint64_t(((w[2] >> 4) & 0x0f0f0f0fu) | ((w[1] >> 2) & 0x30303030u)) << 32);
}

#if !defined(RAPID_INT8_VNNI)
// AVX2: 256-bit vectors, one per sub-block of 32 codes.

/// Q4_K / Q5_K: d*sc[j]*q - dmin*m[j] over 8 sub-blocks of 32.
template <class Block, bool Five>
struct k_q45_k {
  using wblock = Block;
  using ablock = block_q8_k_act;
  using accumulator = vacc;
  struct unpacked {
    __m256i q[8];              // (8, 32) unsigned codes per sub-block
    __m256i sc[8]; // (8, 16) i16 sub-block scales, one vector per sub-block
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
    std::uint64_t sc, mn;
    k_scales_mins_u64(b.scales, sc, mn);
    const __m256i sc16 = _mm256_cvtepu8_epi16(_mm_set1_epi64x(static_cast<long long>(sc)));
    const __m128i mins = _mm_cvtsi64_si128(static_cast<long long>(mn));
    for (int j = 0; j < 8; ++j) u.sc[j] = _mm256_shuffle_epi8(sc16, broadcast_i16_quads(j, j, j, j));
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
  using ablock = block_q8_k_act;
  using accumulator = vacc;
  struct unpacked {
    __m256i q[8];              // (8, 32) codes 0..63 per group of 32
    __m256i sc[8]; // (8, 16) i16 scales: group g of 32 codes is (sc[2g] x 8 | sc[2g+1] x 8)
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
    for (int g = 0; g < 4; ++g) { // group g: (sc[2g] x 8 | sc[2g+1] x 8)
      const __m256i ctl = broadcast_i16_quads(2 * g, 2 * g, 2 * g + 1, 2 * g + 1);
      u.sc[g] = _mm256_shuffle_epi8(first, ctl);
      u.sc[g + 4] = _mm256_shuffle_epi8(second, ctl);
    }
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

#else
// AVX-512 VNNI: 512-bit vectors, one per chunk c of 64 codes (a 256-value block is 4 chunks).
// Per chunk, vpmaddubsw sums code x activation pairs into 32 i16 lanes (exact: codes <= 63 and
// |a| <= 127, so 2 * 63 * 127 < 2^15) and vpdpwssd multiplies each lane by its sub-block's scale
// (the chunk's scale vector, built once per block) into the block's one i32 accumulator: two
// instructions per 64 codes per activation row, the fewest of the forms measured here.

/// vpermw indices that give word i of a scale vector the scale of sub-block first + i / span.
struct scale_index {
  alignas(64) std::int16_t words[32];
  constexpr scale_index(int first, int span) : words{} {
    for (int i = 0; i < 32; ++i) words[i] = static_cast<std::int16_t>(first + i / span);
  }
  [[nodiscard]] __m512i load() const noexcept { return _mm512_load_si512(words); }
};
/// The 4 chunks' scale vectors from the block's scales as i16 words (sub-blocks of `span` codes
/// / 2 pairs: 16 for 32-code sub-blocks, 8 for 16-code ones). sc16: scales in words 0..
template <int Span>
inline void chunk_scales(__m512i sc16, __m512i* sc) noexcept {
  constexpr int per_chunk = 32 / Span;  // sub-blocks per chunk
  static constexpr scale_index index[4] = {{0 * per_chunk, Span}, {1 * per_chunk, Span}, {2 * per_chunk, Span}, {3 * per_chunk, Span}};
  for (int c = 0; c < 4; ++c) sc[c] = _mm512_permutexvar_epi16(index[c].load(), sc16);
}

/// 16 i32 lanes whose total is sum over sub-blocks of sc(sub-block) * (q . a) for one block.
inline __m512i scaled_dot_chunks(const __m512i* q, const __m512i* sc, const std::int8_t* a) noexcept {
  const auto pairs = [&](int c) { return _mm512_maddubs_epi16(q[c], _mm512_loadu_si512(a + 64 * c)); };
  // two chains of two: one chain of four dependent vpdpwssd left the kernel latency-bound
  const __m512i s0 = _mm512_dpwssd_epi32(_mm512_madd_epi16(pairs(0), sc[0]), pairs(1), sc[1]);
  const __m512i s1 = _mm512_dpwssd_epi32(_mm512_madd_epi16(pairs(2), sc[2]), pairs(3), sc[3]);
  return _mm512_add_epi32(s0, s1);
}

// No 512 -> 256-bit casts or extracts below: GCC 12 implements them with an undefined operand
// and warns (-Wuninitialized) inside its own headers, in every user's build.

/// [s folded to 8 lanes | low]: lanes 0-7 hold the 8 sums of s's two halves (only their total
/// is meaningful), lanes 8-15 the 8 i32 of `low`.
inline __m512i fold_and_append(__m512i s, __m256i low) noexcept {
  return _mm512_maskz_inserti64x4(0xff, _mm512_add_epi32(s, _mm512_maskz_shuffle_i64x2(0xff, s, s, 0xee)), low, 1);
}

/// One output of a K-quant row: scaled code sums in lanes 0-7, minus the scaled terms in lanes
/// 8-15 (Q4_K/Q5_K mins, Q6_K's 32-offset).
struct vacc512 {
  __m512 v = _mm512_setzero_ps();
};
inline float finish(const vacc512& a) noexcept {
  alignas(64) float lanes[16]; // (16)
  _mm512_store_ps(lanes, a.v);
  float t[8];
  for (int i = 0; i < 8; ++i) t[i] = lanes[i] - lanes[i + 8];
  return ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]));
}

/// Q4_K / Q5_K: d*sc[j]*q - dmin*m[j] over 8 sub-blocks of 32.
template <class Block, bool Five>
struct k_q45_k {
  using wblock = Block;
  using ablock = block_q8_k_act;
  using accumulator = vacc512;
  struct unpacked {
    __m512i q[4];  // (4, 64) unsigned codes per chunk: sub-blocks 2c and 2c + 1
    __m512i sc[4]; // (4, 32) i16 scale of each code pair's sub-block, per chunk
    __m256i m;     // (16) i16 sub-block mins, each twice (one per group of 16 activations)
    __m512 dd;     // (16) d in lanes 0-7, dmin in lanes 8-15
  };
  static unpacked unpack(const Block& b) noexcept {
    unpacked u;
    const __m512i m4 = _mm512_set1_epi8(15);
    for (int c = 0; c < 4; ++c) { // chunk c: the 32 low nibbles of qs[32c..], then their high nibbles
      const __m512i raw = _mm512_maskz_broadcast_i64x4(0xff, load256(b.qs + 32 * c));
      u.q[c] = _mm512_and_si512(_mm512_mask_srli_epi16(raw, 0xffff0000u, raw, 4), m4);
    }
    if constexpr (Five) { // bit j of qh[l] is bit 4 of code 32j + l: sub-block 2c (low half), 2c + 1 (high half)
      const __m512i qh = _mm512_maskz_broadcast_i64x4(0xff, load256(b.qh)), bit4 = _mm512_set1_epi8(0x10);
      for (int c = 0; c < 4; ++c) {
        const __m512i sel = _mm512_maskz_inserti64x4(0xff, _mm512_set1_epi8(static_cast<char>(1 << (2 * c))),
                                               _mm256_set1_epi8(static_cast<char>(1 << (2 * c + 1))), 1);
        u.q[c] = _mm512_mask_add_epi8(u.q[c], _mm512_test_epi8_mask(qh, sel), u.q[c], bit4);
      }
    }
    std::uint64_t sc, mn;
    k_scales_mins_u64(b.scales, sc, mn);
    chunk_scales<16>(_mm512_maskz_broadcast_i32x4(0xffff, _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<long long>(sc)))), u.sc);
    const __m128i mins = _mm_cvtsi64_si128(static_cast<long long>(mn));
    u.m = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mins, mins)); // (m0 m0 m1 m1 .. m7 m7) as i16
    u.dd = _mm512_maskz_insertf32x8(0xffff, _mm512_set1_ps(fp16_to_f32(b.d)), _mm256_set1_ps(fp16_to_f32(b.dmin)), 1);
    return u;
  }
  static void accumulate(const unpacked& w, const ablock& a, vacc512& acc) noexcept {
    const __m256i mins = _mm256_madd_epi16(w.m, load256(a.bsums)); // (8) m[j] * (bsum[2j] + bsum[2j+1])
    const __m512i both = fold_and_append(scaled_dot_chunks(w.q, w.sc, a.qs), mins);
    acc.v = _mm512_fmadd_ps(_mm512_cvtepi32_ps(both), _mm512_mul_ps(w.dd, _mm512_set1_ps(a.d)), acc.v);
  }
};

/// Q6_K: d * sc[k] * (q - 32) over 16 sub-blocks of 16.
struct k_q6_k {
  using wblock = block_q6_k;
  using ablock = block_q8_k_act;
  using accumulator = vacc512;
  struct unpacked {
    __m512i q[4];  // (4, 64) codes 0..63 per chunk: sub-blocks 4c .. 4c + 3
    __m512i sc[4]; // (4, 32) i16 scale of each code pair's sub-block, per chunk
    __m256i sc16;  // (16) i16 scales, for the -32 offset
    float d;
  };
  static unpacked unpack(const block_q6_k& b) noexcept {
    unpacked u;
    const __m512i m4 = _mm512_set1_epi8(15), m30 = _mm512_set1_epi8(0x30);
    // qh bit pairs to bits 4-5: chunk 2h takes pairs (0-1 | 2-3), chunk 2h + 1 pairs (4-5 | 6-7)
    const __m512i left = _mm512_maskz_inserti64x4(0xff, _mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    const __m512i right = _mm512_maskz_inserti64x4(0xff, _mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    for (int h = 0; h < 2; ++h) {
      const __m512i ql = _mm512_loadu_si512(b.ql + 64 * h), qh = _mm512_maskz_broadcast_i64x4(0xff, load256(b.qh + 32 * h));
      // code = (low nibble & 15) | high pair: ternary (A & C) | B, imm 0xec
      u.q[2 * h] = _mm512_ternarylogic_epi32(ql, _mm512_and_si512(_mm512_sllv_epi16(qh, left), m30), m4, 0xec);
      u.q[2 * h + 1] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(ql, 4), _mm512_and_si512(_mm512_srlv_epi16(qh, right), m30),
                                                 m4, 0xec);
    }
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales));
    u.sc16 = _mm256_cvtepi8_epi16(raw); // (sc0..7 | sc8..15)
    chunk_scales<8>(_mm512_maskz_inserti64x4(0xff, _mm512_setzero_si512(), u.sc16, 0), u.sc);
    u.d = fp16_to_f32(b.d);
    return u;
  }
  static void accumulate(const unpacked& w, const ablock& a, vacc512& acc) noexcept {
    const __m256i off = _mm256_madd_epi16(w.sc16, load256(a.bsums)); // (8) sum of sc[k] * bsum[k] in pairs
    const __m512i both = fold_and_append(scaled_dot_chunks(w.q, w.sc, a.qs), _mm256_slli_epi32(off, 5)); // - 32 * sum sc * bsum
    acc.v = _mm512_fmadd_ps(_mm512_cvtepi32_ps(both), _mm512_set1_ps(w.d * a.d), acc.v);
  }
};

/// 4 activation bytes broadcast to 16 lanes (folded into vpdpbusd as an embedded-broadcast operand).
inline __m512i broadcast_word(const void* p) noexcept {
  std::int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

// The float steps of the interleaved kernels, shared by their VNNI and AMX forms (int8_amx.hpp):
// both compute the same exact integer sums, so these make a row's output the same in both.

/// block_sum (+)= s * scale: one sub-block's exact sums (16 rows) times its scales.
inline void add_scaled(__m512i s, __m512 scale, bool first, __m512& block_sum) noexcept {
  block_sum = first ? _mm512_mul_ps(_mm512_cvtepi32_ps(s), scale) : _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), scale, block_sum);
}
/// acc += a_d * (block_sum - dmin * min_sums): a Q4_K group block's outputs for one activation row.
inline void add_q4_k_block(__m512 block_sum, __m512i min_sums, __m512 dmin, float a_d, __m512& acc) noexcept {
  const __m512 ad = _mm512_set1_ps(a_d);
  acc = _mm512_fmadd_ps(block_sum, ad, acc);
  acc = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(min_sums), _mm512_mul_ps(dmin, ad), acc);
}
/// acc += s * dw * a_d: one 32-column block (exact sums s, weight scales dw, activation scale a_d).
inline void add_x16_32_block(__m512i s, __m512 dw, float a_d, __m512& acc) noexcept {
  acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw, _mm512_set1_ps(a_d)), acc);
}
/// Prefetches into L2 slice `part` of `Parts` of the group block `blocks` blocks after b (the
/// address is never dereferenced). The kernels call it once per sub-block, so a block's lines are
/// requested evenly over the work on the blocks before it. Measured on the 1.5B's shapes: a burst
/// of L1 prefetches at each block's start (the first form) holds the line-fill buffers and stalls
/// the multiply-adds behind it; spread L2 prefetches made a 5-row pass 15 % and a matvec 8 % faster.
template <std::size_t Parts = 1, class Group>
inline void prefetch_ahead(const Group* b, std::size_t blocks, std::size_t part = 0) noexcept {
  constexpr std::size_t lines = sizeof(Group) / 64;
  const std::uintptr_t ahead = reinterpret_cast<std::uintptr_t>(b) + blocks * sizeof(Group);
  for (std::size_t l = part * lines / Parts; l < (part + 1) * lines / Parts; ++l)
    __builtin_prefetch(reinterpret_cast<const void*>(ahead + 64 * l), 0, 2);  // locality 2: prefetcht1
}

/// The 8 code vectors of sub-block j of an interleaved Q4_K group block: vector q holds columns
/// 32j + 4q .. 32j + 4q + 3 of the 16 rows (4 bytes per row), codes 0..15.
inline void q4_kx16_codes(const block_q4_kx16& b, int j, __m512i* c) noexcept {
  const __m512i m4 = _mm512_set1_epi8(15);
  for (int p = 0; p < 4; ++p) {
    const __m512i raw = _mm512_loadu_si512(b.qs[j][p]);
    c[2 * p] = _mm512_and_si512(raw, m4);
    c[2 * p + 1] = _mm512_and_si512(_mm512_srli_epi16(raw, 4), m4);
  }
}
/// (16) d * sc[j] of each row of an interleaved Q4_K group block; dv = its d as f32.
inline __m512 q4_kx16_scale(const block_q4_kx16& b, int j, __m512 dv) noexcept {
  return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.sc[j])))), dv);
}
/// (16) i32 sum over sub-blocks of min * (activation sum) for one activation row: what d_min
/// times the activation scale multiplies. mins: (4, 16 rows x 2) i16 mins of sub-blocks 2q, 2q + 1.
inline __m512i q4_kx16_min_sums(const __m512i* mins, const block_q8_k_act& a) noexcept {
  __m512i ms = _mm512_dpwssd_epi32(_mm512_setzero_si512(), mins[0], broadcast_word(a.bsum32));
  for (int q = 1; q < 4; ++q) ms = _mm512_dpwssd_epi32(ms, mins[q], broadcast_word(a.bsum32 + 2 * q));
  return ms;
}

/// Outputs of 16 interleaved Q4_K weight rows (ops/interleave.hpp) for R activation rows. Each
/// sub-block's codes are decoded once and applied to all R rows; lane r of an accumulator is
/// weight row r, so scales apply to 16 outputs at once and nothing is summed across lanes. One
/// accumulator per activation row, blocks and sub-blocks in order: an output never depends on R.
/// g: (nb) group blocks; act: (R, act_stride) bytes; out + k * out_stride: (16) outputs of row k
template <std::size_t R>
inline void rows_dot_q4_kx16(const block_q4_kx16* g, std::size_t nb, const std::byte* act, std::size_t act_stride,
                             float* out, std::size_t out_stride) noexcept {
  const block_q8_k_act* a[R];
  for (std::size_t k = 0; k < R; ++k) a[k] = reinterpret_cast<const block_q8_k_act*>(act + k * act_stride);
  __m512 acc[R];
  for (std::size_t k = 0; k < R; ++k) acc[k] = _mm512_setzero_ps();
  for (std::size_t i = 0; i < nb; ++i) {
    const block_q4_kx16& b = g[i];
    const __m512 dv = _mm512_cvtph_ps(load256(b.d));
    __m512 block_sum[R];  // (R, 16) sum over sub-blocks of d * sc * (codes . a), this block
    for (int j = 0; j < 8; ++j) {
      prefetch_ahead<8>(&b, 2, j);
      const __m512 scale = q4_kx16_scale(b, j, dv);
      __m512i c[8];  // (8, 16 rows x 4) codes of columns 32j + 4c .. 32j + 4c + 3
      q4_kx16_codes(b, j, c);
      for (std::size_t k = 0; k < R; ++k) {
        const std::int8_t* x = a[k][i].qs + 32 * j;
        // two chains of 4 (exact integer sums, so the split changes nothing but latency)
        __m512i s0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), c[0], broadcast_word(x));
        __m512i s1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), c[1], broadcast_word(x + 4));
        for (int q = 2; q < 8; q += 2) {
          s0 = _mm512_dpbusd_epi32(s0, c[q], broadcast_word(x + 4 * q));
          s1 = _mm512_dpbusd_epi32(s1, c[q + 1], broadcast_word(x + 4 * q + 4));
        }
        add_scaled(_mm512_add_epi32(s0, s1), scale, j == 0, block_sum[k]);
      }
    }
    __m512i mins[4];  // (4, 16 rows x 2) i16 mins of sub-blocks 2q, 2q + 1
    for (int q = 0; q < 4; ++q) mins[q] = _mm512_cvtepu8_epi16(load256(b.m[q]));
    const __m512 dmin = _mm512_cvtph_ps(load256(b.dmin));
    for (std::size_t k = 0; k < R; ++k) add_q4_k_block(block_sum[k], q4_kx16_min_sums(mins, a[k][i]), dmin, a[k][i].d, acc[k]);
  }
  for (std::size_t k = 0; k < R; ++k) _mm512_storeu_ps(out + k * out_stride, acc[k]);
}

/// The 4 code vectors of sub-block s of an interleaved Q6_K group block: vector q holds columns
/// 16s + 4q .. 16s + 4q + 3 of the 16 rows, codes 0..63 ((low nibble & 15) | high pair << 4).
inline void q6_kx16_codes(const block_q6_kx16& b, int s, __m512i* c) noexcept {
  const __m512i m4 = _mm512_set1_epi8(15), m30 = _mm512_set1_epi8(0x30);
  const __m512i lo0 = _mm512_loadu_si512(b.ql[2 * s]), lo1 = _mm512_loadu_si512(b.ql[2 * s + 1]);
  const __m512i hi = _mm512_loadu_si512(b.qh[s]);
  // ternary (A & C) | B, imm 0xec
  c[0] = _mm512_ternarylogic_epi32(lo0, _mm512_and_si512(_mm512_slli_epi16(hi, 4), m30), m4, 0xec);
  c[1] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(lo0, 4), _mm512_and_si512(_mm512_slli_epi16(hi, 2), m30), m4, 0xec);
  c[2] = _mm512_ternarylogic_epi32(lo1, _mm512_and_si512(hi, m30), m4, 0xec);
  c[3] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(lo1, 4), _mm512_and_si512(_mm512_srli_epi16(hi, 2), m30), m4, 0xec);
}
/// (16) d * sc[s] of each row of an interleaved Q6_K group block; dv = its d as f32.
inline __m512 q6_kx16_scale(const block_q6_kx16& b, int s, __m512 dv) noexcept {
  return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.sc[s])))), dv);
}

/// rows_dot_q4_kx16 for interleaved Q6_K: d * sc[s] * (q - 32) over 16 sub-blocks of 16 columns.
template <std::size_t R>
inline void rows_dot_q6_kx16(const block_q6_kx16* g, std::size_t nb, const std::byte* act, std::size_t act_stride,
                             float* out, std::size_t out_stride) noexcept {
  const block_q8_k_act* a[R];
  for (std::size_t k = 0; k < R; ++k) a[k] = reinterpret_cast<const block_q8_k_act*>(act + k * act_stride);
  __m512 acc[R];
  for (std::size_t k = 0; k < R; ++k) acc[k] = _mm512_setzero_ps();
  for (std::size_t i = 0; i < nb; ++i) {
    const block_q6_kx16& b = g[i];
    const __m512 dv = _mm512_cvtph_ps(load256(b.d));
    __m512 block_sum[R];  // (R, 16) sum over sub-blocks of d * sc * (codes - 32) . a, this block
    for (int s = 0; s < 16; ++s) {
      prefetch_ahead<16>(&b, 2, s);
      const __m512 scale = q6_kx16_scale(b, s, dv);
      __m512i c[4];  // (4, 16 rows x 4) codes of columns 16s + 4q .. 16s + 4q + 3
      q6_kx16_codes(b, s, c);
      for (std::size_t k = 0; k < R; ++k) {
        const std::int8_t* x = a[k][i].qs + 16 * s;
        __m512i t = _mm512_dpbusd_epi32(_mm512_setzero_si512(), c[0], broadcast_word(x));
        for (int q = 1; q < 4; ++q) t = _mm512_dpbusd_epi32(t, c[q], broadcast_word(x + 4 * q));
        t = _mm512_sub_epi32(t, _mm512_set1_epi32(32 * a[k][i].bsums[s]));  // exact: the -32 offset
        add_scaled(t, scale, s == 0, block_sum[k]);
      }
    }
    for (std::size_t k = 0; k < R; ++k) acc[k] = _mm512_fmadd_ps(block_sum[k], _mm512_set1_ps(a[k][i].d), acc[k]);
  }
  for (std::size_t k = 0; k < R; ++k) _mm512_storeu_ps(out + k * out_stride, acc[k]);
}

/// The interleaved 32-value layouts: group block type, the code offset, and the 8 code vectors
/// of block `blk` of a group block (vector k: columns 32 blk + 4k .. + 3 of the 16 rows).
struct x16_q5_0 {
  using group = block_q5_0x16;
  static constexpr int offset = 16;
  static void codes(const block_q5_0x16& b, int blk, __m512i* c) noexcept {
    const __m512i m4 = _mm512_set1_epi8(15), bit4 = _mm512_set1_epi8(0x10), hi = _mm512_loadu_si512(b.qh[blk]);
    for (int p = 0; p < 4; ++p) {
      const __m512i raw = _mm512_loadu_si512(b.qs[4 * blk + p]);
      c[2 * p] = _mm512_and_si512(raw, m4);
      c[2 * p + 1] = _mm512_and_si512(_mm512_srli_epi16(raw, 4), m4);
    }
    for (int k = 0; k < 8; ++k)
      c[k] = _mm512_mask_add_epi8(c[k], _mm512_test_epi8_mask(hi, _mm512_set1_epi8(static_cast<char>(1 << k))), c[k], bit4);
  }
};
struct x16_q8_0 {
  using group = block_q8_0x16;
  static constexpr int offset = 128;
  static void codes(const block_q8_0x16& b, int blk, __m512i* c) noexcept {
    for (int k = 0; k < 8; ++k) c[k] = _mm512_loadu_si512(b.qs[8 * blk + k]);
  }
};
/// rows_dot_q4_kx16 for the interleaved 32-value types (x16_q5_0, x16_q8_0): d * (q - offset)
/// per block of 32 columns, two blocks per group block.
template <class Layout, std::size_t R, class Group = typename Layout::group>
inline void rows_dot_x16_32(const Group* g, std::size_t nb, const std::byte* act, std::size_t act_stride, float* out,
                            std::size_t out_stride) noexcept {
  const block_q8_act32* a[R];
  for (std::size_t k = 0; k < R; ++k) a[k] = reinterpret_cast<const block_q8_act32*>(act + k * act_stride);
  __m512 acc[R];
  for (std::size_t k = 0; k < R; ++k) acc[k] = _mm512_setzero_ps();
  for (std::size_t i = 0; i < nb; ++i) {
    const Group& b = g[i];
    for (int blk = 0; blk < 2; ++blk) {
      prefetch_ahead<2>(&b, 4, blk);
      const __m512 dw = _mm512_cvtph_ps(load256(b.d[blk]));
      __m512i c[8];  // (8, 16 rows x 4) codes of columns 32 blk + 4k .. + 3
      Layout::codes(b, blk, c);
      for (std::size_t k = 0; k < R; ++k) {
        const block_q8_act32& x = a[k][2 * i + blk];
        __m512i s0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), c[0], broadcast_word(x.qs));
        __m512i s1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), c[1], broadcast_word(x.qs + 4));
        for (int q = 2; q < 8; q += 2) {
          s0 = _mm512_dpbusd_epi32(s0, c[q], broadcast_word(x.qs + 4 * q));
          s1 = _mm512_dpbusd_epi32(s1, c[q + 1], broadcast_word(x.qs + 4 * q + 4));
        }
        add_x16_32_block(_mm512_sub_epi32(_mm512_add_epi32(s0, s1), _mm512_set1_epi32(Layout::offset * x.sum)), dw, x.d, acc[k]);  // exact
      }
    }
  }
  for (std::size_t k = 0; k < R; ++k) _mm512_storeu_ps(out + k * out_stride, acc[k]);
}

#endif

/// The output from its accumulator.
inline float finish(const vacc& a) noexcept { return hsum(_mm256_sub_ps(a.v, a.m)) + a.s; }

using k_q4_0 = k_sym32<block_q4_0, 8>;
using k_q5_0 = k_sym32<block_q5_0, 16>;
using k_q4_1 = k_affine32<block_q4_1, false>;
using k_q5_1 = k_affine32<block_q5_1, true>;
using k_q4_k = k_q45_k<block_q4_k, false>;
using k_q5_k = k_q45_k<block_q5_k, true>;

} // namespace rapid::ops::detail::x86
#endif // __AVX2__
