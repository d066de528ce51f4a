#pragma once
// The interleaved multi-row kernels (int8_x86.hpp's rows_dot_*x16) on AMX tiles (Sapphire Rapids
// and later): the code . activation sums of a sub-block for all m activation rows and 16 weight
// rows are one tile product (tdpbssd), where the VNNI form needs 8 vpdpbusd per activation row.
// Left on the vector units: decoding the codes (once per sub-block, for all rows), storing them
// for the tile loads, and the float steps (per row).
//
// Where it pays (BM_matmul, ffn_up 8960 x 1536, 2 threads, Sapphire Rapids): a tile product
// costs about 9 ns at any row count (load, product, store; they do not overlap one another), so
// for a few rows the VNNI kernels are as fast or faster (Q4_K, 5 rows: 573 vs 517 us); from 9 rows,
// where VNNI needs a second pass, tiles win (Q4_K 11 rows 645 vs 809 us, 128 rows 4.0 vs 5.5 ms).
// Q5_0 won from 5 rows (539 vs 586 us) until the VNNI kernels prefetched into L2 (session 19); now
// VNNI wins up to 8 rows there too (5 rows: 463 vs 507 us, 8: 526 vs 548) and tiles from 9 (11:
// 575 vs 750 us, 32: 1.26 vs 1.71 ms; 2026-12-06). Q6_K's 16-column sub-blocks make twice the tile
// products and never won by more than 5 %, so it has no tile kernel. interleaved_rows chooses
// (tiles_pay in matrix_rows.hpp).
//
// Exactness. Codes enter as signed bytes with their offset taken off (Q5_0's 16, Q8_0's 128), so
// a tile's int32 sums are the VNNI kernel's exact sums after its offset correction; both forms
// then run the same float steps (add_scaled, add_q4_k_block, add_x16_32_block) in the same order.
// A row's outputs are therefore bit-identical whichever form computes them and however many rows
// came with it: matvec (one row, VNNI) equals a row of matmul (tiles) bit for bit.
#include "rapid/ops/detail/amx.hpp"
#include "rapid/ops/detail/int8_x86.hpp"
#if defined(RAPID_AMX) && defined(__AMX_INT8__) && defined(RAPID_INT8_VNNI)
#define RAPID_INT8_AMX 1
#include <cstddef>
#include <cstdint>

#include <immintrin.h>

namespace rapid::ops::detail::amx {

/// Activation rows per tile product.
inline constexpr std::size_t max_rows = 16;

/// Columns of one tile product: a Q4_K sub-block, a Q5_0 / Q8_0 block.
inline constexpr std::size_t k_bytes = 32;

// Tiles: tmm0/tmm1 the A operand (m activation rows x k_bytes), tmm2/tmm3 the B operand
// (k_bytes / 4 rows of 16 weight rows x 4 codes), tmm4/tmm5 the int32 sums (m x 16): two sets,
// so that two sub-blocks' products are in flight (tile registers are not renamed).
/// Configures this thread's tiles for m activation rows.
inline void configure_int8(std::size_t m) noexcept {
  tile_config c;
  for (int set = 0; set < 2; ++set) c.shape(set, m, k_bytes).shape(2 + set, k_bytes / 4, 64).shape(4 + set, m, 64);
  c.load();
}

/// One sub-block's sums on tile set 0 (tmm0, tmm2, tmm4) or 1 (tmm1, tmm3, tmm5): sums = a rows
/// . b_tile. a: row 0's activations. (The tile intrinsics take register numbers as literals.)
template <int Set>
inline void tile_product(const void* b_tile, const std::int8_t* a, std::size_t act_stride, std::int32_t* sums) noexcept {
  if constexpr (Set == 0) {
    _tile_loadd(2, b_tile, 64);
    _tile_loadd(0, a, act_stride);
    _tile_zero(4);
    _tile_dpbssd(4, 0, 2);
    _tile_stored(4, sums, 64);
  } else {
    _tile_loadd(3, b_tile, 64);
    _tile_loadd(1, a, act_stride);
    _tile_zero(5);
    _tile_dpbssd(5, 1, 3);
    _tile_stored(5, sums, 64);
  }
}

/// Sub-block sums of nb group blocks, block by block: sums[u][k] = the exact sum over the
/// k_bytes columns of sub-block u of signed code x activation, weight rows 0..15 in lanes,
/// activation rows k < m; finish(i, sums) then runs block i's float steps. codes(b, u, c) writes
/// the k_bytes / 4 signed code vectors of sub-block u of group block b; a_of(i) points at activation row 0's
/// values of block i's first sub-block, a_step bytes to the next sub-block, act_stride to the
/// next row.
///
/// The tile unit and the vector units overlap only when neither waits on the other's memory: a
/// tile load of codes just stored waits for the stores, and a vector load of sums just stored
/// from a tile waits for the tile. So while block i's products run, the vectors finish block
/// i - 1 and write block i + 1's codes (both buffers twice).
template <int Subblocks, class Group, class Codes, class ActivationsOf, class Finish>
inline void tile_blocks(const Group* g, std::size_t nb, Codes codes, ActivationsOf a_of, std::size_t a_step,
                        std::size_t act_stride, Finish finish) {
  static_assert(Subblocks % 2 == 0);
  constexpr std::size_t groups = k_bytes / 4;
  alignas(64) std::int8_t b_tiles[2][Subblocks][groups][64];  // (block parity, sub-block, 4-column group, 16 rows x 4)
  alignas(64) std::int32_t sums[2][Subblocks][max_rows][16];  // (block parity, sub-block, activation row, weight row)
  const auto write = [&](std::size_t i) {
    for (int u = 0; u < Subblocks; ++u) {
      __m512i c[groups];
      codes(g[i], u, c);
      for (std::size_t q = 0; q < groups; ++q) _mm512_store_si512(b_tiles[i & 1][u][q], c[q]);
    }
  };
  if (nb == 0) return;
  write(0);
  for (std::size_t i = 0; i < nb; ++i) {
    const std::int8_t* a0 = a_of(i);
    for (int u = 0; u < Subblocks; u += 2) {
      tile_product<0>(b_tiles[i & 1][u], a0 + u * a_step, act_stride, sums[i & 1][u][0]);
      tile_product<1>(b_tiles[i & 1][u + 1], a0 + (u + 1) * a_step, act_stride, sums[i & 1][u + 1][0]);
    }
    if (i > 0) finish(i - 1, sums[(i - 1) & 1]);
    if (i + 1 < nb) write(i + 1);
  }
  finish(nb - 1, sums[(nb - 1) & 1]);
}

inline __m512i load_sums(const std::int32_t* p) noexcept { return _mm512_load_si512(p); }

/// x86::rows_dot_q4_kx16 for m (1-16) activation rows, tiles configured with configure_int8(m).
inline void rows_dot_q4_kx16(const block_q4_kx16* g, std::size_t nb, const std::byte* act, std::size_t act_stride,
                             std::size_t m, float* out, std::size_t out_stride) noexcept {
  using namespace x86;
  const auto row = [&](std::size_t k, std::size_t i) -> const block_q8_k_act& {
    return reinterpret_cast<const block_q8_k_act*>(act + k * act_stride)[i];
  };
  __m512 acc[max_rows];  // (m, 16) outputs
  for (std::size_t k = 0; k < m; ++k) acc[k] = _mm512_setzero_ps();
  const auto codes = [](const block_q4_kx16& b, int j, __m512i* c) { q4_kx16_codes(b, j, c); };
  const auto finish = [&](std::size_t i, const std::int32_t (*sums)[max_rows][16]) {
    const block_q4_kx16& b = g[i];
    prefetch_ahead(&b, 4);
    const __m512 dv = _mm512_cvtph_ps(load256(b.d)), dmin = _mm512_cvtph_ps(load256(b.dmin));
    __m512 scale[8];  // (8, 16) d * sc of each sub-block
    for (int j = 0; j < 8; ++j) scale[j] = q4_kx16_scale(b, j, dv);
    __m512i mins[4];  // (4, 16 rows x 2) i16 mins of sub-blocks 2q, 2q + 1
    for (int q = 0; q < 4; ++q) mins[q] = _mm512_cvtepu8_epi16(load256(b.m[q]));
    for (std::size_t k = 0; k < m; ++k) {
      __m512 block_sum;
      for (int j = 0; j < 8; ++j) add_scaled(load_sums(sums[j][k]), scale[j], j == 0, block_sum);
      add_q4_k_block(block_sum, q4_kx16_min_sums(mins, row(k, i)), dmin, row(k, i).d, acc[k]);
    }
  };
  tile_blocks<8>(g, nb, codes, [&](std::size_t i) { return row(0, i).qs; }, k_bytes, act_stride, finish);
  for (std::size_t k = 0; k < m; ++k) _mm512_storeu_ps(out + k * out_stride, acc[k]);
}

/// x86::rows_dot_x16_32 for m (1-16) activation rows, tiles configured with configure_int8(m).
template <class Layout, class Group = typename Layout::group>
inline void rows_dot_x16_32(const Group* g, std::size_t nb, const std::byte* act, std::size_t act_stride, std::size_t m,
                            float* out, std::size_t out_stride) noexcept {
  using namespace x86;
  const auto row = [&](std::size_t k, std::size_t blk) -> const block_q8_act32& {
    return reinterpret_cast<const block_q8_act32*>(act + k * act_stride)[blk];
  };
  __m512 acc[max_rows];  // (m, 16) outputs
  for (std::size_t k = 0; k < m; ++k) acc[k] = _mm512_setzero_ps();
  const auto codes = [](const Group& b, int blk, __m512i* c) {
    Layout::codes(b, blk, c);
    // signed: the offset taken off (128 wraps to -128 as a byte: the same difference mod 256)
    for (int q = 0; q < 8; ++q) c[q] = _mm512_sub_epi8(c[q], _mm512_set1_epi8(static_cast<char>(Layout::offset)));
  };
  const auto finish = [&](std::size_t i, const std::int32_t (*sums)[max_rows][16]) {
    const Group& b = g[i];
    prefetch_ahead(&b, 8);
    for (int blk = 0; blk < 2; ++blk) {
      const __m512 dw = _mm512_cvtph_ps(load256(b.d[blk]));
      for (std::size_t k = 0; k < m; ++k) add_x16_32_block(load_sums(sums[blk][k]), dw, row(k, 2 * i + blk).d, acc[k]);
    }
  };
  tile_blocks<2>(g, nb, codes, [&](std::size_t i) { return row(0, 2 * i).qs; }, sizeof(block_q8_act32), act_stride, finish);
  for (std::size_t k = 0; k < m; ++k) _mm512_storeu_ps(out + k * out_stride, acc[k]);
}

} // namespace rapid::ops::detail::amx
#endif
