#pragma once
// Attention over a chunk of a BF16 cache on AMX tiles (Intel Sapphire Rapids and later): the
// scores of all the chunk's positions and their softmax-weighted values as bf16 tile products
// with f32 accumulation, 16 query rows x 16 positions (or dimensions) x 32 per instruction, where
// the f32 FMA kernels of attention.hpp do 16 x 1 x 1. Keys and values are B operands as the cache
// stores them (kv_layout.hpp: key tiles of dimension pairs, values in position pairs), loaded
// straight into the tiles. A verification's rows then cost about what reading the cache costs,
// as one row does.
//
// Two passes per chunk (at most kv_chunk positions): every score first, so each row's softmax
// has the chunk's exact max and the value products accumulate in tiles across the whole chunk
// (no rescaling of partial sums, no accumulator round trips per block). Four accumulator tiles
// share each A operand (query rows, then weights) across four B operands.
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
#include <limits>
#include <vector>

#include <immintrin.h>

#include "rapid/ops/softmax_avx512.hpp"

namespace rapid::ops::detail::amx {

inline constexpr std::size_t rows = 16;    // rows per tile
inline constexpr std::size_t pair_k = 32;  // bf16 values per tile row: the K step of one product
inline constexpr std::size_t fan = 4;      // accumulator tiles sharing one A operand

// Tile registers (numbers, because the tile intrinsics take literals): tmm0-3 accumulators (query
// rows x 16 positions or dimensions), tmm4/tmm5 the A operand's hi/lo parts (rows of 64 bytes, as
// many as configure() sets), tmm6/tmm7 B operands in turn (16 rows of 64 bytes).

/// Loads the tile shapes above into this thread's tile configuration, with `m` (1-16) query rows
/// in the accumulator and A tiles: min(rows, 16) for a call's rows (each output element is
/// computed the same whatever m).
inline void configure(std::size_t m) noexcept {
  tile_config c;
  for (int t = 0; t < 8; ++t) c.shape(t, t >= 6 ? 16 : m, 64);
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
  line_vector<float> sc;                  // (rows16, width) scores
  line_vector<std::uint16_t> p_hi, p_lo;  // (rows16, width) softmax weights, split
  line_vector<std::uint16_t> tail;        // (16, hd, 2) the chunk's last value pairs, zero past its positions
  line_vector<float> acc;                 // (rows16, hd) output sums
};
inline buffers& thread_buffers() {
  thread_local buffers b;
  return b;
}

// c[j] += (A hi + A lo) * B_j for the first `count` (1-4) accumulators, B_j loaded from
// b + j * step (rows of `stride` bytes) into tmm6 and tmm7 in turn, so a load never waits for the
// product before it to release its B tile. (A macro: the tile intrinsics take literal registers.)
#define RAPID_AMX_PRODUCT(J, BT)                                      \
  _tile_loadd(BT, b + (J) * step, static_cast<long>(stride));         \
  _tile_dpbf16ps(J, 4, BT);                                           \
  _tile_dpbf16ps(J, 5, BT)
inline void products(std::size_t count, const std::byte* b, std::size_t step, std::size_t stride) noexcept {
  RAPID_AMX_PRODUCT(0, 6);
  if (count > 1) { RAPID_AMX_PRODUCT(1, 7); }
  if (count > 2) { RAPID_AMX_PRODUCT(2, 6); }
  if (count > 3) { RAPID_AMX_PRODUCT(3, 7); }
}
#undef RAPID_AMX_PRODUCT
/// Clears the first `count` accumulators.
inline void zero(std::size_t count) noexcept {
  _tile_zero(0);
  if (count > 1) _tile_zero(1);
  if (count > 2) _tile_zero(2);
  if (count > 3) _tile_zero(3);
}
/// Stores the first `count` accumulators at out + j * step (bytes), rows of `stride` bytes.
inline void store(std::size_t count, std::byte* out, std::size_t step, std::size_t stride) noexcept {
  const auto s = static_cast<long>(stride);
  _tile_stored(0, out, s);
  if (count > 1) _tile_stored(1, out + step, s);
  if (count > 2) _tile_stored(2, out + 2 * step, s);
  if (count > 3) _tile_stored(3, out + 3 * step, s);
}
/// The A operand's hi and lo parts into tmm4 and tmm5.
inline void load_a(const std::uint16_t* hi, const std::uint16_t* lo, std::size_t stride) noexcept {
  _tile_loadd(4, hi, static_cast<long>(stride));
  _tile_loadd(5, lo, static_cast<long>(stride));
}

/// Calls to Prefetch::step() that attend_positions makes for n_rows query rows and n positions.
[[nodiscard]] inline std::size_t chunk_steps(std::size_t n_rows, std::size_t n, std::size_t hd) noexcept {
  const std::size_t row_tiles = (n_rows + rows - 1) / rows, key_tiles = (n + 15) / 16, chunks = (n + pair_k - 1) / pair_k;
  return row_tiles * ((key_tiles + fan - 1) / fan * (hd / pair_k) + (hd / 16 + fan - 1) / fan * chunks);
}

/// Attends n_rows query rows q (n_rows, hd), times `scale`, to the n (1 to 256) positions of a
/// BF16 slab from `keys` / `values` (the first position's key tile and value pair: a multiple of
/// 32), row r seeing the first clamp(horizon + r / group, 0, n) of them. Writes state[r] = {max,
/// sum of exp(score - max)} ({-inf, 0} for a row seeing none) and acc (n_rows, hd), the sums of
/// exp(score - max) times values. `ahead` steps chunk_steps(n_rows, n, hd) times.
template <class State, class Prefetch>
inline void attend_positions(const float* q, std::size_t n_rows, std::size_t hd, float scale, const std::uint16_t* keys,
                             const std::uint16_t* values, std::size_t n, std::ptrdiff_t horizon, std::size_t group,
                             State* state, float* acc, Prefetch& prefetch) {
  Prefetch ahead = prefetch;  // a copy in registers: the tile instructions clobber memory
  buffers& b = thread_buffers();
  const std::size_t rows16 = (n_rows + rows - 1) / rows * rows;
  const std::size_t width = (n + pair_k - 1) / pair_k * pair_k;  // positions the value products read
  const std::size_t key_tiles = (n + 15) / 16, pair_row = 2 * hd;  // pair_row: elements per position pair
  b.q_hi.resize(rows16 * hd);
  b.q_lo.resize(rows16 * hd);
  b.sc.resize(rows16 * width);
  b.p_hi.resize(rows16 * width);
  b.p_lo.resize(rows16 * width);
  b.acc.resize(rows16 * hd);
  // Query rows times scale, split. Rows from n_rows to rows16 are left as they are: a tile
  // product's output row reads only its own A row, and those outputs are never read.
  const __m512 sv = _mm512_set1_ps(scale);
  for (std::size_t r = 0; r < n_rows; ++r)
    for (std::size_t d = 0; d < hd; d += 16)
      split_rounded(_mm512_mul_ps(_mm512_loadu_ps(q + r * hd + d), sv), b.q_hi.data() + r * hd + d, b.q_lo.data() + r * hd + d);
  configure(std::min(n_rows, rows));

  // Scores: sc[r][p] = q_r . k_p for p < 16 * key_tiles (lanes past n are garbage, never read).
  const auto* key_bytes = reinterpret_cast<const std::byte*>(keys);
  const std::size_t tile_bytes = 16 * hd * 2;  // one key tile
  for (std::size_t a = 0; a < rows16; a += rows)
    for (std::size_t t = 0; t < key_tiles; t += fan) {
      const std::size_t count = std::min(fan, key_tiles - t);
      zero(count);
      for (std::size_t c = 0; c < hd; c += pair_k) {
        ahead.step();
        load_a(b.q_hi.data() + a * hd + c, b.q_lo.data() + a * hd + c, hd * 2);
        // key tile t + j, dimensions c..c+31: 16 rows of dimension pairs, 64 bytes each
        products(count, key_bytes + t * tile_bytes + c * 16 * 2, tile_bytes, 64);
      }
      store(count, reinterpret_cast<std::byte*>(b.sc.data() + a * width + t * 16), 16 * 4, width * 4);
    }

  // Softmax weights per row over what it sees, with the chunk's own max; zero past that.
  for (std::size_t r = 0; r < n_rows; ++r) {
    const std::ptrdiff_t h = horizon + static_cast<std::ptrdiff_t>(r / group);
    const std::size_t seen = h <= 0 ? 0 : std::min(n, static_cast<std::size_t>(h));
    const float* sr = b.sc.data() + r * width;
    std::uint16_t* hi = b.p_hi.data() + r * width;
    std::uint16_t* lo = b.p_lo.data() + r * width;
    const float m = max_below(sr, seen);
    const float sum = exp_below(sr, seen, width, m, [&](std::size_t p, __m512 e) { split_rounded(e, hi + p, lo + p); });
    state[r] = {m, sum};  // (-inf, 0) for a row that sees none of the chunk
  }

  // Values: acc[r] = sum_p w_r[p] v_p, 32 positions (16 pairs) per product, four 16-dimension
  // accumulators per pass over the chunk. The last 32 positions come from `tail` when the chunk
  // ends inside them: positions from n on zero, whatever the slab holds there (a zero weight
  // times a stale infinity would still be NaN).
  const std::size_t whole = n / pair_k;
  if (whole * pair_k < n) {
    const std::size_t held = n - whole * pair_k;  // positions of the last 32 in use, 1-31
    b.tail.assign(16 * pair_row, 0);
    std::copy_n(values + whole * 16 * pair_row, (held + 1) / 2 * pair_row, b.tail.begin());
    if (held % 2 != 0)  // the last pair's second position is past n
      for (std::size_t d = 0; d < hd; ++d) b.tail[held / 2 * pair_row + 2 * d + 1] = 0;
  }
  for (std::size_t a = 0; a < rows16; a += rows)
    for (std::size_t d = 0; d < hd; d += fan * 16) {
      const std::size_t count = std::min(fan, (hd - d) / 16);
      zero(count);
      for (std::size_t c = 0; c < width / pair_k; ++c) {
        ahead.step();
        load_a(b.p_hi.data() + a * width + c * pair_k, b.p_lo.data() + a * width + c * pair_k, width * 2);
        const std::uint16_t* pairs = c < whole ? values + c * 16 * pair_row : b.tail.data();
        // 16 pairs x (16 dimensions x 2 positions) per B operand, dimensions d + 16 j
        products(count, reinterpret_cast<const std::byte*>(pairs + 2 * d), 16 * 2 * 2, pair_row * 2);
      }
      store(count, reinterpret_cast<std::byte*>(b.acc.data() + a * hd + d), 16 * 4, hd * 4);
    }
  _tile_release();
  std::copy_n(b.acc.data(), n_rows * hd, acc);
  prefetch = ahead;
}

} // namespace rapid::ops::detail::amx
#endif
