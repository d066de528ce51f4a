#pragma once
// Portable integer dot kernels: the fallback when the translation unit has no AVX2. Same
// unpack/accumulate/accumulator interface as int8_x86.hpp, plain integer loops (compilers
// vectorise them with whatever SIMD the flags allow), one float accumulation per block.
#include <cstdint>

#include "rapid/core/fp16.hpp"
#include "rapid/core/quant_blocks.hpp"
#include "rapid/ops/reference.hpp"

namespace rapid::ops::detail::generic {

inline constexpr const char* int8_arch = "generic";

struct vacc {
  float v = 0;
};
inline float finish(const vacc& a) noexcept { return a.v; }

template <int N>
inline int dot_u8s8(const std::uint8_t* q, const std::int8_t* a) noexcept {
  int s = 0;
  for (int l = 0; l < N; ++l) s += q[l] * a[l];
  return s;
}

/// Q4_0 / Q5_0 (Offset 8 / 16) and Q4_1 / Q5_1 (Offset 0, with m).
template <class Block, int Offset, bool Five, bool Affine>
struct k_32 {
  using wblock = Block;
  using ablock = block_q8_act32;
  using accumulator = vacc;
  struct unpacked {
    std::uint8_t q[qk32]; // (32) unsigned codes
    float d, m;
  };
  static unpacked unpack(const Block& b) noexcept {
    unpacked u;
    if constexpr (Five) reference::detail::codes5(b, u.q);
    else reference::detail::codes(b, u.q);
    u.d = fp16_to_f32(b.d);
    if constexpr (Affine) u.m = fp16_to_f32(b.m);
    else u.m = 0;
    return u;
  }
  static void accumulate(const unpacked& w, const ablock& a, vacc& acc) noexcept {
    const int s = dot_u8s8<32>(w.q, a.qs) - Offset * a.sum;
    acc.v += w.d * a.d * static_cast<float>(s);
    if constexpr (Affine) acc.v += w.m * a.d * static_cast<float>(a.sum);
  }
};

struct k_q8_0 {
  using wblock = block_q8_0;
  using ablock = block_q8_act32;
  using accumulator = vacc;
  struct unpacked {
    const std::int8_t* q; // (32) points into the weight block
    float d;
  };
  static unpacked unpack(const block_q8_0& b) noexcept { return {b.qs, fp16_to_f32(b.d)}; }
  static void accumulate(const unpacked& w, const ablock& a, vacc& acc) noexcept {
    int s = 0;
    for (int l = 0; l < 32; ++l) s += w.q[l] * a.qs[l];
    acc.v += w.d * a.d * static_cast<float>(s);
  }
};

template <class Block>
struct k_q45_k {
  using wblock = Block;
  using ablock = block_q8_k_act;
  using accumulator = vacc;
  struct unpacked {
    std::uint8_t q[qk_k]; // (256) unsigned codes
    std::uint8_t sc[8], m[8];
    float d, dmin;
  };
  static unpacked unpack(const Block& b) noexcept {
    unpacked u;
    reference::detail::codes(b, u.q);
    k_scales_mins(b.scales, u.sc, u.m);
    u.d = fp16_to_f32(b.d);
    u.dmin = fp16_to_f32(b.dmin);
    return u;
  }
  static void accumulate(const unpacked& w, const ablock& a, vacc& acc) noexcept {
    int s = 0, mins = 0;
    for (int j = 0; j < 8; ++j) {
      s += w.sc[j] * dot_u8s8<32>(w.q + 32 * j, a.qs + 32 * j);
      mins += w.m[j] * (a.bsums[2 * j] + a.bsums[2 * j + 1]);
    }
    acc.v += w.d * a.d * static_cast<float>(s);
    acc.v -= w.dmin * a.d * static_cast<float>(mins);
  }
};

struct k_q6_k {
  using wblock = block_q6_k;
  using ablock = block_q8_k_act;
  using accumulator = vacc;
  struct unpacked {
    std::uint8_t q[qk_k]; // (256) codes 0..63
    const std::int8_t* sc; // (16) points into the weight block
    float d;
  };
  static unpacked unpack(const block_q6_k& b) noexcept {
    unpacked u;
    reference::detail::codes(b, u.q);
    u.sc = b.scales;
    u.d = fp16_to_f32(b.d);
    return u;
  }
  static void accumulate(const unpacked& w, const ablock& a, vacc& acc) noexcept {
    int s = 0;
    for (int k = 0; k < 16; ++k) s += w.sc[k] * (dot_u8s8<16>(w.q + 16 * k, a.qs + 16 * k) - 32 * a.bsums[k]);
    acc.v += w.d * a.d * static_cast<float>(s);
  }
};

using k_q4_0 = k_32<block_q4_0, 8, false, false>;
using k_q5_0 = k_32<block_q5_0, 16, true, false>;
using k_q4_1 = k_32<block_q4_1, 0, false, true>;
using k_q5_1 = k_32<block_q5_1, 0, true, true>;
using k_q4_k = k_q45_k<block_q4_k>;
using k_q5_k = k_q45_k<block_q5_k>;

} // namespace rapid::ops::detail::generic
