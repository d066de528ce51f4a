#pragma once
// Byte layouts of ggml's quantized blocks (as stored in GGUF files) and of the 8-bit activation
// blocks rapid's integer kernels use. Half-precision fields are raw fp16 bits (see fp16.hpp).
//
// Value of element i of a block (q: the unsigned code stored for it):
//   Q4_0  d * (q - 8)           q: 4 bits; elements 0..15 are low nibbles of qs[0..15], 16..31 high
//   Q4_1  d * q + m             same packing as Q4_0
//   Q5_0  d * (q - 16)          q: 4 low bits as Q4_0, bit 4 of element i is bit i of qh (LE u32)
//   Q5_1  d * q + m             same packing as Q5_0
//   Q8_0  d * qs[i]             qs signed
//   Q4_K  d*sc[j] * q - dmin*m[j]      256 values in 8 sub-blocks j of 32, 6-bit sc/m packed in
//                                       scales[12] (see k_scale_min); chunk c of 64 values: the
//                                       32 low nibbles of qs[32c..32c+31] then their 32 high nibbles
//   Q5_K  as Q4_K, plus bit 4 of element 32j+l is bit j of qh[l]
//   Q6_K  d * scales[k] * (q - 32)    16 sub-blocks k of 16; q: 4 low bits from ql, 2 high from qh;
//                                       per half h (128 values): for l < 32
//                                       v[l]    = ql[l]    & 15 | (qh[l] >> 0 & 3) << 4
//                                       v[l+32] = ql[l+32] & 15 | (qh[l] >> 2 & 3) << 4
//                                       v[l+64] = ql[l]    >> 4 | (qh[l] >> 4 & 3) << 4
//                                       v[l+96] = ql[l+32] >> 4 | (qh[l] >> 6 & 3) << 4
//                                       (ql advances 64, qh 32 per half); d is stored LAST
#include <cstddef>
#include <cstdint>

#include "rapid/core/dtype.hpp"

namespace rapid {

inline constexpr std::size_t qk32 = 32;   // values per block of the 32-block types
inline constexpr std::size_t qk_k = 256;  // values per super-block of the K-quants

struct block_q4_0 {
  std::uint16_t d;              // fp16 scale
  std::uint8_t qs[qk32 / 2];    // (32) nibbles
};
struct block_q4_1 {
  std::uint16_t d, m;           // fp16 scale, fp16 offset (the block minimum)
  std::uint8_t qs[qk32 / 2];
};
struct block_q5_0 {
  std::uint16_t d;
  std::uint8_t qh[4];           // bit 4 of each of the 32 values, little-endian u32
  std::uint8_t qs[qk32 / 2];
};
struct block_q5_1 {
  std::uint16_t d, m;
  std::uint8_t qh[4];
  std::uint8_t qs[qk32 / 2];
};
struct block_q8_0 {
  std::uint16_t d;
  std::int8_t qs[qk32];
};
struct block_q4_k {
  std::uint16_t d;              // fp16 super-block scale of the sub-block scales
  std::uint16_t dmin;           // fp16 super-block scale of the sub-block mins
  std::uint8_t scales[12];      // 8 x (6-bit scale, 6-bit min), see k_scale_min
  std::uint8_t qs[qk_k / 2];    // (256) nibbles
};
struct block_q5_k {
  std::uint16_t d, dmin;
  std::uint8_t scales[12];
  std::uint8_t qh[qk_k / 8];    // (256) high bits
  std::uint8_t qs[qk_k / 2];    // (256) low nibbles
};
struct block_q6_k {
  std::uint8_t ql[qk_k / 2];    // (256) low 4 bits
  std::uint8_t qh[qk_k / 4];    // (256) high 2 bits
  std::int8_t scales[qk_k / 16];// (16) signed 8-bit sub-block scales
  std::uint16_t d;              // fp16, stored last
};
/// ggml's Q8_K (its layout, for the dtype table; rapid's activations use block_q8_k_act).
struct block_q8_k {
  float d;                      // x ~= d * qs
  std::int8_t qs[qk_k];
  std::int16_t bsums[qk_k / 16];// (16) sum of qs over each group of 16
};
// rapid's activation blocks (not GGUF types). The codes come first and a block fills whole cache
// lines, so in a 64-byte aligned row (ops::activation_buffer) no vector load of codes straddles
// two lines: such loads made the multi-row kernels 1.6x slower. (Any 4-byte alignment is correct.)
/// Activation block for K-quant weights: Q8_K's fields, codes first, padded to 5 cache lines.
struct block_q8_k_act {
  std::int8_t qs[qk_k];
  std::int16_t bsums[qk_k / 16];// (16) sum of qs over each group of 16
  float d;                      // x ~= d * qs
  std::int16_t bsum32[qk_k / 32];// (8) sum of qs over each group of 32 (for block_q4_kx16's mins)
  std::uint8_t pad[12];
};
/// Activation block for the 32-value weight types: the codes, their scale and the integer sum
/// of qs, which the kernels need for weight offsets (Q4_0's -8, Q4_1's m, ...); one cache line.
struct block_q8_act32 {
  std::int8_t qs[qk32];
  float d;                      // x ~= d * qs
  std::int32_t sum;             // sum of qs
  std::uint8_t pad[24];
};

/// 16 rows of Q4_K blocks (the same 256 columns) interleaved at load time for the multi-row
/// kernels (ops/interleave.hpp): for each group of 4 columns the 16 rows' codes lie side by
/// side, so one vpdpbusd multiplies 16 rows by 4 activations and never needs a horizontal sum.
struct block_q4_kx16 {
  std::uint8_t qs[8][4][64];    // (sub-block j, pair p, 4 r + c): low nibble = code of row r, column
                                // 32j + 8p + c; high nibble = row r, column 32j + 8p + 4 + c
  std::uint8_t sc[8][16];       // (sub-block j, row r) 6-bit scale
  std::uint8_t m[4][32];        // (pair q, 2 r + e) 6-bit min of row r, sub-block 2q + e
  std::uint16_t d[16], dmin[16];// (row r) fp16 super-block scales
};

/// 16 rows of Q6_K blocks interleaved likewise: low 4 bits of the codes as block_q4_kx16's
/// nibbles, the high 2 bits of 4 column groups per byte (1 % padding: whole cache lines).
struct block_q6_kx16 {
  std::uint8_t ql[32][64];      // (pair p, 4 r + c): low nibble = low 4 bits of the code of row r,
                                // column 8p + c; high nibble = row r, column 8p + 4 + c
  std::uint8_t qh[16][64];      // (sub-block s, 4 r + c): bits 2k, 2k + 1 = high 2 bits of the code
                                // of row r, column 16s + 4k + c
  std::int8_t sc[16][16];       // (sub-block s, row r) scale
  std::uint16_t d[16];          // (row r) fp16 super-block scale
  std::uint8_t pad[32];
};

/// 16 rows of two Q5_0 blocks (64 columns) interleaved: low 4 bits as block_q4_kx16's nibbles,
/// bit 4 of 8 column groups per byte.
struct block_q5_0x16 {
  std::uint8_t qs[8][64];       // (pair p, 4 r + c): low nibble = low 4 bits of row r, column 8p + c;
                                // high nibble = row r, column 8p + 4 + c
  std::uint8_t qh[2][64];       // (block b, 4 r + c): bit k = bit 4 of row r, column 32b + 4k + c
  std::uint16_t d[2][16];       // (block b, row r) fp16 scale
};
/// 16 rows of two Q8_0 blocks (64 columns) interleaved, codes stored as q + 128 (unsigned, for
/// u8 x s8 products; the kernel subtracts 128 x the activation sum).
struct block_q8_0x16 {
  std::uint8_t qs[16][64];      // (group k, 4 r + c): q + 128 of row r, column 4k + c
  std::uint16_t d[2][16];       // (block b, row r) fp16 scale
};

static_assert(sizeof(block_q4_0) == info_of(dtype::q4_0).block_bytes);
static_assert(sizeof(block_q4_1) == info_of(dtype::q4_1).block_bytes);
static_assert(sizeof(block_q5_0) == info_of(dtype::q5_0).block_bytes);
static_assert(sizeof(block_q5_1) == info_of(dtype::q5_1).block_bytes);
static_assert(sizeof(block_q8_0) == info_of(dtype::q8_0).block_bytes);
static_assert(sizeof(block_q4_k) == info_of(dtype::q4_k).block_bytes);
static_assert(sizeof(block_q5_k) == info_of(dtype::q5_k).block_bytes);
static_assert(sizeof(block_q6_k) == info_of(dtype::q6_k).block_bytes);
static_assert(sizeof(block_q8_k) == info_of(dtype::q8_k).block_bytes);
static_assert(sizeof(block_q8_k_act) == 320);
static_assert(sizeof(block_q8_act32) == 64);
static_assert(sizeof(block_q4_kx16) == 16 * sizeof(block_q4_k) + 64);
static_assert(sizeof(block_q6_kx16) == 16 * sizeof(block_q6_k) + 32);
static_assert(sizeof(block_q5_0x16) == 32 * sizeof(block_q5_0));
static_assert(sizeof(block_q8_0x16) == 32 * sizeof(block_q8_0));

/// Scale and min (6 bits each) of sub-block j (0..7) of a Q4_K/Q5_K super-block.
/// Packing of the 12 bytes: bytes 0..3 hold scales 0..3 in their low 6 bits, bytes 4..7 mins
/// 0..3 likewise; bytes 8..11 hold the low 4 bits of scale 4..7 (low nibble) and of min 4..7
/// (high nibble), whose top 2 bits sit in the top 2 bits of bytes 0..3 (scales) and 4..7 (mins).
/// (Same result as ggml's get_scale_min_k4.)
constexpr void k_scale_min(int j, const std::uint8_t* scales, std::uint8_t& sc, std::uint8_t& m) noexcept {
  if (j < 4) {
    sc = scales[j] & 63;
    m = scales[j + 4] & 63;
  } else {
    sc = static_cast<std::uint8_t>((scales[j + 4] & 0x0f) | ((scales[j - 4] >> 6) << 4));
    m = static_cast<std::uint8_t>((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
  }
}

/// All 8 scales and mins at once (word-parallel form of k_scale_min). sc, m: (8)
constexpr void k_scales_mins(const std::uint8_t* scales, std::uint8_t* sc, std::uint8_t* m) noexcept {
  auto word = [&](int at) {
    return static_cast<std::uint32_t>(scales[at]) | static_cast<std::uint32_t>(scales[at + 1]) << 8 |
           static_cast<std::uint32_t>(scales[at + 2]) << 16 | static_cast<std::uint32_t>(scales[at + 3]) << 24;
  };
  const std::uint32_t a = word(0), b = word(4), c = word(8);
  const std::uint32_t s_lo = a & 0x3f3f3f3fu, m_lo = b & 0x3f3f3f3fu;
  const std::uint32_t s_hi = (c & 0x0f0f0f0fu) | ((a >> 2) & 0x30303030u);
  const std::uint32_t m_hi = ((c >> 4) & 0x0f0f0f0fu) | ((b >> 2) & 0x30303030u);
  for (int i = 0; i < 4; ++i) {
    sc[i] = static_cast<std::uint8_t>(s_lo >> (8 * i));
    sc[i + 4] = static_cast<std::uint8_t>(s_hi >> (8 * i));
    m[i] = static_cast<std::uint8_t>(m_lo >> (8 * i));
    m[i + 4] = static_cast<std::uint8_t>(m_hi >> (8 * i));
  }
}

} // namespace rapid
