#pragma once
// Attention block kernels on AMX tiles (Intel Sapphire Rapids and later) for BF16 caches: the
// scores of a block of positions and its softmax-weighted values as bf16 tile products with f32
// accumulation, 16 query rows x 16 positions (or dimensions) x 32 per instruction, where the f32
// FMA kernels of attention.hpp do 16 x 1 x 1. Keys and values are B operands as the cache stores
// them (kv_layout.hpp: key tiles of dimension pairs, values in position pairs), loaded straight
// into the tiles.
// A verification's rows then cost about what reading the cache costs, as one row does.
//
// Precision. Keys and values are bf16 in the cache, so they enter exactly. Query rows (times the
// softmax scale) and softmax weights are f32; each is split into two rounded bf16 parts (hi + lo,
// residual under 2^-16 relative) and both parts are multiplied: a product term carries a relative
// error under 2^-16, against 2^-24 for f32 FMA chains and 2^-11 for llama.cpp's F16 flash
// attention, which rounds the query to fp16.
//
// A tile product computes each output element from its own A row and B column, and this path
// runs for every call on a BF16 cache, so a row's result never depends on how many rows came
// with it: N single-token calls equal one N-token call bit for bit.
//
// A BF16 cache is refused where amx::ready() is false (detail/amx.hpp).
#include "rapid/ops/detail/amx.hpp"
#if defined(RAPID_AMX) && defined(__AMX_BF16__) && defined(__AVX512BF16__)
#define RAPID_ATTENTION_AMX 1
#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <immintrin.h>

namespace rapid::ops::detail::amx {

inline constexpr std::size_t rows = 16;  // rows per tile
inline constexpr std::size_t pair_k = 32;  // bf16 values per tile row: the K step of one product

// Tile registers (numbers, because the tile intrinsics take literals): tmm0 the accumulator,
// tmm1/tmm2 the A operand's hi/lo parts (rows of 64 bytes, as many as configure() sets), tmm3 the
// B operand (16 rows of 64 bytes).
inline constexpr int tiles_used = 4;

/// Loads the tile shapes above into this thread's tile configuration, with `m` (1-16) query rows
/// in the accumulator and A tiles: min(rows, 16) for a call's rows, so a decode step's 6 rows cost
/// 6 rows of tile work, not 16 (a tile product's time grows with its rows; each output element
/// is computed the same whatever m).
inline void configure(std::size_t m) noexcept {
  tile_config c;
  for (int t = 0; t < tiles_used; ++t) c.shape(t, t == 3 ? 16 : m, 64);  // tmm3, the B operand: 16 pairs of K
  c.load();
}

// x = hi + lo + r with hi, lo bf16 (round to nearest even) and |r| <= 2^-16 |x|. 16 values each.
inline void split_rounded(__m512 x, std::uint16_t* hi, std::uint16_t* lo) noexcept {
  const __m256i h = std::bit_cast<__m256i>(_mm512_cvtneps_pbh(x));
  const __m512 back = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(hi), h);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(lo), std::bit_cast<__m256i>(_mm512_cvtneps_pbh(_mm512_sub_ps(x, back))));
}

/// Per-thread operand buffers (grown once).
struct buffers {
  line_vector<std::uint16_t> q_hi, q_lo;  // (rows16, hd) scaled query rows, split
  line_vector<std::uint16_t> p_hi, p_lo;  // (rows16, block) softmax weights, split
  line_vector<std::uint16_t> tail;        // (16, hd, 2) a block's last value pairs, zero past its positions
  line_vector<float> acc;                 // (rows16, hd) output accumulators
  line_vector<float> sc;                  // (rows16, block) scores, then softmax weights
};
inline buffers& thread_buffers() {
  thread_local buffers b;
  return b;
}

/// Splits the query rows times scale into q_hi/q_lo; rows from n to rows16 are zero. q: (n, hd).
inline void load_queries(const float* q, std::size_t n, std::size_t rows16, std::size_t hd, float scale, buffers& b) {
  b.q_hi.assign(rows16 * hd, 0);
  b.q_lo.assign(rows16 * hd, 0);
  const __m512 s = _mm512_set1_ps(scale);
  for (std::size_t r = 0; r < n; ++r)
    for (std::size_t d = 0; d < hd; d += 16)
      split_rounded(_mm512_mul_ps(_mm512_loadu_ps(q + r * hd + d), s), b.q_hi.data() + r * hd + d, b.q_lo.data() + r * hd + d);
}

// c += (a_hi + a_lo) * b; the operands are already in their tiles.
inline void product_split_a() noexcept {
  _tile_dpbf16ps(0, 1, 3);
  _tile_dpbf16ps(0, 2, 3);
}

/// sc[r * ldsc + p] = q_r . k_p (q already scaled) for rows r < rows16 and positions p in
/// [0, 16 * tiles) of the BF16 key tiles from `tile0` on (scores of positions the slab does not
/// hold are garbage, never read).
template <class Prefetch>
inline void block_scores(const std::uint16_t* keys, std::size_t hd, std::size_t tile0, std::size_t tiles, std::size_t rows16,
                         const buffers& b, float* sc, std::size_t ldsc, Prefetch& prefetch) noexcept {
  Prefetch ahead = prefetch;  // a copy in registers: the tile instructions clobber memory
  for (std::size_t t = 0; t < tiles; ++t) {
    // Chunk c (dimensions 32c..32c+31) of a key tile: 16 rows of dimension pairs, 64 bytes each.
    const std::uint16_t* kt = keys + (tile0 + t) * hd * 16;
    for (std::size_t a = 0; a < rows16; a += rows) {
      _tile_zero(0);
      for (std::size_t c = 0; c < hd; c += pair_k) {
        ahead.step();
        _tile_loadd(1, b.q_hi.data() + a * hd + c, hd * 2);
        _tile_loadd(2, b.q_lo.data() + a * hd + c, hd * 2);
        _tile_loadd(3, kt + c * 16, 64);
        product_split_a();
      }
      _tile_stored(0, sc + a * ldsc + t * 16, ldsc * 4);
    }
  }
  prefetch = ahead;
}

/// Splits softmax weights w (rows n of ldw, positions [0, valid)) into p_hi/p_lo of width
/// `block`; what the value product reads beyond them is zero: positions up to the next multiple
/// of 32 and rows n to rows16. Written in place each block (no clearing of the whole buffers).
inline void load_weights(const float* w, std::size_t ldw, std::size_t n, std::size_t valid, std::size_t rows16,
                         std::size_t block, buffers& b) {
  b.p_hi.resize(rows16 * block);
  b.p_lo.resize(rows16 * block);
  const std::size_t read = (valid + pair_k - 1) / pair_k * pair_k;  // columns block_values reads
  for (std::size_t r = 0; r < n; ++r)
    for (std::size_t p = 0; p < read; p += 16) {
      const auto m = static_cast<__mmask16>(valid <= p ? 0u : valid - p >= 16 ? 0xffffu : (1u << (valid - p)) - 1);
      split_rounded(_mm512_maskz_loadu_ps(m, w + r * ldw + p), b.p_hi.data() + r * block + p, b.p_lo.data() + r * block + p);
    }
  std::fill(b.p_hi.begin() + static_cast<std::ptrdiff_t>(n * block), b.p_hi.end(), std::uint16_t{0});
  std::fill(b.p_lo.begin() + static_cast<std::ptrdiff_t>(n * block), b.p_lo.end(), std::uint16_t{0});
}

/// b.acc[r] += sum_{p < valid} w_r[p] v[p] for rows r < rows16, the weights in p_hi/p_lo
/// (width `block`). v: the BF16 value pairs from the block's first position (an even one),
/// (valid / 2 rounded up, hd, 2): each 32-position chunk is a B operand for every 16 dimensions.
template <class Prefetch>
inline void block_values(const std::uint16_t* v, std::size_t hd, std::size_t valid, std::size_t rows16, std::size_t block,
                         buffers& b, Prefetch& prefetch) noexcept {
  Prefetch ahead = prefetch;  // a copy in registers: the tile instructions clobber memory
  const std::size_t pair_row = 2 * hd;                   // elements per position pair
  const std::size_t chunks = (valid + pair_k - 1) / pair_k;  // 32 positions per product
  const std::size_t whole = valid / pair_k;                  // chunks holding no position past `valid`
  if (whole < chunks) {
    // The last chunk with the positions from `valid` on zeroed, whatever the slab holds there
    // (a zero weight times a stale infinity would still be NaN).
    const std::size_t held = valid - whole * pair_k;  // positions of the chunk in use, 1-31
    const std::uint16_t* src = v + whole * 16 * pair_row;
    b.tail.assign(16 * pair_row, 0);
    std::copy_n(src, (held + 1) / 2 * pair_row, b.tail.begin());
    if (held % 2 != 0)  // the last pair's second position is past `valid`
      for (std::size_t d = 0; d < hd; ++d) b.tail[held / 2 * pair_row + 2 * d + 1] = 0;
  }
  for (std::size_t n = 0; n < hd; n += 16)
    for (std::size_t a = 0; a < rows16; a += rows) {
      _tile_loadd(0, b.acc.data() + a * hd + n, hd * 4);
      for (std::size_t c = 0; c < chunks; ++c) {
        ahead.step();
        const std::uint16_t* pairs = c < whole ? v + c * 16 * pair_row : b.tail.data();
        _tile_loadd(1, b.p_hi.data() + a * block + c * pair_k, block * 2);
        _tile_loadd(2, b.p_lo.data() + a * block + c * pair_k, block * 2);
        _tile_loadd(3, pairs + 2 * n, pair_row * 2);  // 16 pairs x (16 dimensions x 2 positions)
        product_split_a();
      }
      _tile_stored(0, b.acc.data() + a * hd + n, hd * 4);
    }
  prefetch = ahead;
}

} // namespace rapid::ops::detail::amx
#endif
