#pragma once
// Causal grouped-query attention over a KV cache with a blocked, numerically stable online
// softmax (running max and normaliser per query row, as in FlashAttention), so no (rows, context)
// score matrix is ever materialised.
//
// The KV range is cut into chunks of kv_chunk positions at fixed (absolute) boundaries; each
// chunk yields a partial result per query row (max, normaliser, unnormalised output) and the
// partials are merged in chunk order. A work item is (kv head, query tile, chunk) when there are
// few query tiles (decode, draft verification: the chunks are what keeps every thread busy), or
// (kv head, query tile) walking its chunks in order (prefill). Both do the same arithmetic on
// every row, so a row's output never depends on the thread count nor on how many tokens came in
// the same call: N single-token calls equal one N-token call bit for bit.
//
// Keys are stored in tiles of key_tile positions transposed to (head_dim, key_tile), so the
// scores of 16 positions are head_dim broadcast-FMAs with no horizontal reduction, and each tile
// is read once for all query rows of a work item: every token of its query tile times every
// query head of its group (GQA), up to 12 rows per pass in registers (AVX-512). Values stay
// (position, head_dim) and are widened in registers, once per pass of up to 10 query rows. A Q8_0
// cache (kv_layout.hpp) is read in place: the query rows are rotated as its keys are and
// quantized to 8 bits per 32 dimensions, once per call, and scored with int8 dot products
// (vpdpbusd, 64 multiply-adds each); its values are summed in integers against the weights
// rounded to 15 bits (q8_weight_units; vpdpwssd, two positions per instruction). A BF16 cache is
// read by AMX tile products (attention_amx.hpp), 16 rows at a time, so many rows cost little
// more than one.
//
// The next block's keys and values are prefetched into L2 while the current block computes.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include <xsimd/xsimd.hpp>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define RAPID_ATTENTION_AVX2 1
#endif

#include "rapid/core/fp16.hpp"
#include "rapid/ops/activation.hpp"
#include "rapid/ops/attention_amx.hpp"
#include "rapid/ops/even_passes.hpp"
#include "rapid/ops/hadamard.hpp"
#include "rapid/ops/softmax_avx512.hpp"
#include "rapid/ops/kv_layout.hpp"
#include "rapid/ops/row.hpp"
#include "rapid/ops/threads.hpp"
#include "rapid/ops/vector.hpp"

namespace rapid::ops {

struct attention_shape {
  std::size_t n_tokens;    // new query tokens in this call
  std::size_t pos0;        // position of the first new token; token i sees positions [0, pos0 + i]
  std::size_t n_heads;     // query heads
  std::size_t n_kv_heads;  // key/value heads; query head h uses kv head h / (n_heads / n_kv_heads)
  std::size_t head_dim;
};

/// One (kv head)'s cache in the layout of ops/kv_layout.hpp: keys in key tiles, values in rows.
/// Slab capacities are multiples of key_tile.
struct kv_slab {
  const std::byte* keys;
  const std::byte* values;
  kv_type type;
};

namespace detail {
inline constexpr std::size_t kv_block = 64;    // positions widened to f32 at a time
inline constexpr std::size_t kv_chunk = 256;   // positions per partial result (a multiple of kv_block)
inline constexpr std::size_t query_tile = 16;  // tokens per work item

// F16 or F32 values of positions [first, first + n) widened to f32. out: (n, head_dim)
inline void load_rows(const std::byte* base, kv_type t, std::size_t first, std::size_t n, std::size_t head_dim, float* out) {
  if (t == kv_type::f16) fp16_to_f32_row(reinterpret_cast<const std::uint16_t*>(base) + first * head_dim, out, n * head_dim);
  else std::copy_n(reinterpret_cast<const float*>(base) + first * head_dim, n * head_dim, out);
}

// Weights times Q8_0 value scales as 15-bit integers: w * d in units of scale = top / 32767,
// top the largest w * d of one row over one block of positions (all its dimensions; 0 where the
// row sees none: every weight is then 0). Rounding costs at most 2^-16 of top per term, far
// below the values' own 8-bit codes; top comes from the row's weights alone (they are 0 past
// what its token sees), so a row's result never depends on its neighbours.
struct q8_weight_units {
  float scale, inverse;
  explicit q8_weight_units(float top) noexcept : scale(top / 32767.f), inverse(top > 0 ? 32767.f / top : 0.f) {}
};
inline constexpr std::size_t kv_max_blocks = kv_q8_max_head_dim / kv_q8_block;

// sum[i] += sum_{p < n} wq[p] * code_p[i] for the 32 codes of the blocks v[0], v[stride], ...
// (exact: the order of the terms is free). AVX2: two positions per vpmaddwd, as vpdpwssd does
// in accumulate_q8_vnni; when n is odd the last position is paired with itself under weight
// wq[n] = 0 (position n may lie past the slab).
inline void sum_q8_codes(const std::int16_t* wq, const block_q8_0* v, std::size_t n, std::size_t stride, std::int32_t* sum) noexcept {
#if RAPID_ATTENTION_AVX2
  __m256i s[4];  // dimensions 0-7, 8-15, 16-23, 24-31
  for (std::size_t i = 0; i < 4; ++i) s[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sum + 8 * i));
  for (std::size_t p = 0; p < n; p += 2) {
    std::int32_t pair;  // the weights of positions p and p + 1
    std::memcpy(&pair, wq + p, 4);
    const __m256i wp = _mm256_set1_epi32(pair);
    for (std::size_t h = 0; h < 2; ++h) {
      const __m128i x0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(v[p * stride].qs + 16 * h));
      const __m128i x1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(v[std::min(p + 1, n - 1) * stride].qs + 16 * h));
      s[2 * h] = _mm256_add_epi32(s[2 * h], _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm_unpacklo_epi8(x0, x1)), wp));
      s[2 * h + 1] = _mm256_add_epi32(s[2 * h + 1], _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm_unpackhi_epi8(x0, x1)), wp));
    }
  }
  for (std::size_t i = 0; i < 4; ++i) _mm256_storeu_si256(reinterpret_cast<__m256i*>(sum + 8 * i), s[i]);
#else
  for (std::size_t p = 0; p < n; ++p)
    for (std::size_t i = 0; i < kv_q8_block; ++i) sum[i] += wq[p] * v[p * stride].qs[i];
#endif
}

// acc_r += sum_{p < n} w_r[p] * d_p * code_p over Q8_0 value rows, a block of positions at a
// time: round(w_r[p] * d_p / scale) (q8_weight_units) times the codes summed exactly in int32,
// then acc += sum * scale. The portable twin of accumulate_q8_vnni, bit for bit.
// w: (rows, kv_block) weights, 0 from n on; v: (n, nblk) blocks; acc: (rows, nblk * 32)
inline void accumulate_q8(const float* w, const block_q8_0* v, std::size_t n, std::size_t nblk, std::size_t rows, float* acc) noexcept {
  const std::size_t hd = nblk * kv_q8_block;
  float d[kv_max_blocks][kv_block];  // (nblk, n) the scales, widened once for all rows
  float dtop[kv_block] = {};         // (n) each position's largest scale
  for (std::size_t b = 0; b < nblk; ++b)
    for (std::size_t p = 0; p < n; ++p) dtop[p] = std::max(dtop[p], d[b][p] = fp16_to_f32(v[p * nblk + b].d));
  for (std::size_t r = 0; r < rows; ++r) {
    const float* wr = w + r * kv_block;
    float top = 0;  // max over p and b of w * d_b (w >= 0)
    for (std::size_t p = 0; p < n; ++p) top = std::max(top, wr[p] * dtop[p]);
    const q8_weight_units units(top);
    float wu[kv_block];  // (n) the row's weights times units.inverse, as accumulate_q8_vnni scales them
    for (std::size_t p = 0; p < n; ++p) wu[p] = wr[p] * units.inverse;
    for (std::size_t b = 0; b < nblk; ++b) {
      std::int16_t wq[kv_block + 1] = {};  // (n + 1) the weights in units; 0 from n on
      for (std::size_t p = 0; p < n; ++p) wq[p] = static_cast<std::int16_t>(std::min(std::nearbyint(wu[p] * d[b][p]), 32767.f));
      std::int32_t sum[kv_q8_block] = {};
      sum_q8_codes(wq, v + b, n, nblk, sum);
      for (std::size_t i = 0; i < kv_q8_block; ++i) {
        float& out = acc[r * hd + b * kv_q8_block + i];
        out = std::fma(static_cast<float>(sum[i]), units.scale, out);
      }
    }
  }
}

// Running softmax state of one query row over part of the KV range.
struct row_state {
  float max = -std::numeric_limits<float>::infinity();
  float sum = 0;
};

// Brings the keys and values of positions [first, first + n) into L2 while the kernels work on
// the block before: they call step() from their inner loops, and the lines are spread evenly
// over the `steps` calls the block is expected to take (the last block's count). The hardware
// prefetchers alone leave a one-row attention at under half the read bandwidth, and a burst of
// prefetches stalls on the memory queue instead of overlapping with the arithmetic.
class line_prefetcher {
public:
  line_prefetcher() = default;
  line_prefetcher(const kv_slab& kv, std::size_t first, std::size_t n, std::size_t hd, std::size_t steps) noexcept {
    key_ = kv.keys + key_bytes(kv.type, hd, first) - (first % key_tile != 0 ? key_tile_bytes(kv.type, hd) : 0);
    key_end_ = kv.keys + key_bytes(kv.type, hd, first + n);
    value_ = kv.values + first * value_row_bytes(kv.type, hd);
    value_end_ = kv.values + (first + n) * value_row_bytes(kv.type, hd);
    lines_ = static_cast<std::size_t>((key_end_ - key_) + (value_end_ - value_)) / line;
    steps_ = steps ? steps : std::max<std::size_t>(lines_, 1);  // unknown: a line per step
  }
  [[nodiscard]] std::size_t calls() const noexcept { return calls_; }
  void step() noexcept {
    ++calls_;
    for (credit_ += lines_; credit_ >= steps_; credit_ -= steps_) {
      // locality 2: into L2 (prefetcht1); L1 would not hold this block and the next
      if (key_ < key_end_) {
        __builtin_prefetch(key_, 0, 2);
        key_ += line;
      } else if (value_ < value_end_) {
        __builtin_prefetch(value_, 0, 2);
        value_ += line;
      }
    }
  }

private:
  static constexpr std::size_t line = 64;
  const std::byte *key_ = nullptr, *key_end_ = nullptr, *value_ = nullptr, *value_end_ = nullptr;
  std::size_t lines_ = 0, steps_ = 1, credit_ = 0, calls_ = 0;
};

#if RAPID_ATTENTION_AVX2
// Thin wrappers over one SIMD width, so the kernels below are written once for AVX2 and AVX-512.
struct simd256 {
  using type = __m256;
  static constexpr std::size_t lanes = 8;
  template <bool F16>
  static type load(const void* p, std::size_t i) noexcept {  // lanes cache values widened to f32, from element i
    if constexpr (F16) return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const std::uint16_t*>(p) + i)));
    else return _mm256_loadu_ps(static_cast<const float*>(p) + i);
  }
  static type loadf(const float* p) noexcept { return _mm256_loadu_ps(p); }
  static void store(float* p, type v) noexcept { _mm256_storeu_ps(p, v); }
  static type zero() noexcept { return _mm256_setzero_ps(); }
  static type bcast(const float* p) noexcept { return _mm256_broadcast_ss(p); }
  static type fma(type a, type b, type c) noexcept { return _mm256_fmadd_ps(a, b, c); }
  static type mul(type a, type b) noexcept { return _mm256_mul_ps(a, b); }
};
#if defined(__AVX512F__)
#define RAPID_ATTENTION_AVX512 1
struct simd512 {
  using type = __m512;
  static constexpr std::size_t lanes = 16;
  template <bool F16>
  static type load(const void* p, std::size_t i) noexcept {
    // the zero-masked form with every lane set: the plain one trips GCC 12's -Wuninitialized
    // inside its own header once the loop around it is fully known (a constant head_dim)
    if constexpr (F16) return _mm512_maskz_cvtph_ps(0xffff, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const std::uint16_t*>(p) + i)));
    else return _mm512_loadu_ps(static_cast<const float*>(p) + i);
  }
  static type loadf(const float* p) noexcept { return _mm512_loadu_ps(p); }
  static void store(float* p, type v) noexcept { _mm512_storeu_ps(p, v); }
  static type zero() noexcept { return _mm512_setzero_ps(); }
  static type bcast(const float* p) noexcept { return _mm512_set1_ps(*p); }
  static type fma(type a, type b, type c) noexcept { return _mm512_fmadd_ps(a, b, c); }
  static type mul(type a, type b) noexcept { return _mm512_mul_ps(a, b); }
};
using simd_wide = simd512;
inline constexpr std::size_t score_rows = 12;     // query rows per pass over the key tiles
inline constexpr std::size_t tiles_per_pass = 2;  // key tiles per pass: 16 accumulator chains
inline constexpr std::size_t value_rows = 10;     // query rows per pass over the values
#else
using simd_wide = simd256;
inline constexpr std::size_t score_rows = 4;
inline constexpr std::size_t tiles_per_pass = 1;  // 16 ymm registers: 8 chains per tile already
inline constexpr std::size_t value_rows = 4;
#endif

// sc[j * kv_block + p] = scale * (q_j . k_p) for rows j < R and positions p in [0, T * key_tile)
// of the T key tiles from `tile` on. q: (R, hd) rows. HD: hd as a constant (0: hd at run time):
// the R values of one dimension then sit at fixed offsets from one pointer, where R row pointers
// spill registers (a tenth of this loop's time at head_dim 128). A score is one FMA chain over d
// in order: it depends only on q_j and k_p, never on R, T, HD, the SIMD width or the neighbours.
template <class V, std::size_t R, std::size_t T, bool F16, std::size_t HD>
inline void tile_scores_pass(const float* q, std::size_t head_dim, const void* keys, std::size_t tile, float scale, float* sc,
                             line_prefetcher& prefetch) noexcept {
  line_prefetcher ahead = prefetch;  // a copy in registers: through the reference GCC stores its fields on every step
  const std::size_t hd = HD ? HD : head_dim;
  constexpr std::size_t nv = T * key_tile / V::lanes;  // vectors per key row of the T tiles
  constexpr std::size_t per_tile = key_tile / V::lanes;
  const std::size_t tile_elems = hd * key_tile;
  typename V::type acc[R][nv];
  for (std::size_t j = 0; j < R; ++j)
    for (std::size_t v = 0; v < nv; ++v) acc[j][v] = V::zero();
  for (std::size_t d = 0; d < hd; ++d) {
    ahead.step();
    typename V::type k[nv];
    for (std::size_t v = 0; v < nv; ++v)
      k[v] = V::template load<F16>(keys, (tile + v / per_tile) * tile_elems + d * key_tile + v % per_tile * V::lanes);
    for (std::size_t j = 0; j < R; ++j) {
      const typename V::type qj = V::bcast(q + j * hd + d);
      for (std::size_t v = 0; v < nv; ++v) acc[j][v] = V::fma(qj, k[v], acc[j][v]);
    }
  }
  const typename V::type vs = V::bcast(&scale);
  for (std::size_t j = 0; j < R; ++j)
    for (std::size_t v = 0; v < nv; ++v) V::store(sc + j * kv_block + v * V::lanes, V::mul(acc[j][v], vs));
  prefetch = ahead;
}

// tile_scores_pass over `tiles` key tiles from tile0 on, tiles_per_pass at a time. q: (R, hd)
template <class V, std::size_t R, bool F16, std::size_t HD>
inline void tile_scores_simd(const float* q, std::size_t hd, const void* keys, std::size_t tile0, std::size_t tiles,
                             float scale, float* sc, line_prefetcher& ahead) noexcept {
  std::size_t i = 0;
  for (; i + tiles_per_pass <= tiles; i += tiles_per_pass)
    tile_scores_pass<V, R, tiles_per_pass, F16, HD>(q, hd, keys, tile0 + i, scale, sc + i * key_tile, ahead);
  for (; i < tiles; ++i) tile_scores_pass<V, R, 1, F16, HD>(q, hd, keys, tile0 + i, scale, sc + i * key_tile, ahead);
}

// acc[r] += sum_{p < n} w[r * kv_block + p] * v[p] for the R rows. v: (n, hd) F16 or F32 cache
// rows; acc: (R, hd); hd a multiple of 2 * V::lanes. Each output lane is one FMA chain over p in
// order, whatever R or the SIMD width. (The weights' row stride is a constant: the R broadcasts
// of a position then sit at fixed offsets from one pointer.)
template <class V, std::size_t R, bool F16>
inline void accumulate_simd(const float* w, const void* v, std::size_t n, std::size_t hd, float* acc,
                            line_prefetcher& prefetch) noexcept {
  line_prefetcher ahead = prefetch;  // a copy in registers, as in tile_scores_pass
  constexpr std::size_t step = 2 * V::lanes;
  for (std::size_t d = 0; d < hd; d += step) {
    typename V::type lo[R], hi[R];
    for (std::size_t r = 0; r < R; ++r) {
      lo[r] = V::loadf(acc + r * hd + d);
      hi[r] = V::loadf(acc + r * hd + d + V::lanes);
    }
    for (std::size_t p = 0; p < n; ++p) {
      ahead.step();
      const typename V::type vl = V::template load<F16>(v, p * hd + d), vh = V::template load<F16>(v, p * hd + d + V::lanes);
      for (std::size_t r = 0; r < R; ++r) {
        const typename V::type wr = V::bcast(w + r * kv_block + p);
        lo[r] = V::fma(wr, vl, lo[r]);
        hi[r] = V::fma(wr, vh, hi[r]);
      }
    }
    for (std::size_t r = 0; r < R; ++r) {
      V::store(acc + r * hd + d, lo[r]);
      V::store(acc + r * hd + d + V::lanes, hi[r]);
    }
  }
  prefetch = ahead;
}

#if RAPID_ATTENTION_AVX512 && defined(__AVX512BW__) && defined(__AVX512VNNI__)
#define RAPID_ATTENTION_Q8_VNNI 1
inline constexpr std::size_t q8_score_rows = 10;  // 10 int32 + 10 f32 accumulators
inline constexpr std::size_t q8_value_rows = 10;  // 20 accumulators: fewer passes widening the codes

// acc + the int8 (vpdpbusd: u8 x s8, 4 per lane) or int16 (vpdpwssd: 2 per lane) dot products
// of x and the 32-bit word at *y in every lane, written as assembly: GCC 12 moves the
// intrinsics' accumulator to a fresh register and back on every use, two extra instructions
// each in loops issuing little else.
inline __m512i dpbusd_bcast(__m512i acc, __m512i x, const void* y) noexcept {
  asm("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(x), "m"(*static_cast<const std::int32_t*>(y)));
  return acc;
}
inline __m512i dpwssd_bcast(__m512i acc, __m512i x, const void* y) noexcept {
  asm("vpdpwssd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(x), "m"(*static_cast<const std::int32_t*>(y)));
  return acc;
}

// tile_scores_q8 for R rows with vpdpbusd: 16 positions x 4 dimensions per instruction, the
// codes + 128 as the unsigned operand, so the exact dot is the sum minus 128 * (sum of q codes).
// T key tiles per pass (few rows leave registers for two: more independent chains than the
// instruction's latency needs).
template <std::size_t R, std::size_t T = (R <= 6 ? 2 : 1)>
inline void tile_scores_q8_vnni(const block_q8_act32* q, std::size_t nblk, const std::byte* keys, std::size_t tile0,
                                std::size_t tiles, float scale, float* sc, line_prefetcher& prefetch) noexcept {
  line_prefetcher ahead = prefetch;  // a copy in registers, as in tile_scores_pass
  const std::size_t hd = nblk * kv_q8_block, tb = key_tile_bytes(kv_type::q8_0, hd);
  const __m512 vs = _mm512_set1_ps(scale);
  std::size_t i = 0;
  for (; i + T <= tiles; i += T) {
    const std::byte* tile = keys + (tile0 + i) * tb;  // T tiles from here, tb bytes apart
    __m512 s[T][R];
    for (std::size_t t = 0; t < T; ++t)
      for (std::size_t j = 0; j < R; ++j) s[t][j] = _mm512_setzero_ps();
    for (std::size_t b = 0; b < nblk; ++b) {
      ahead.step();
      __m512i dot[T][R];
      for (std::size_t t = 0; t < T; ++t)
        for (std::size_t j = 0; j < R; ++j) dot[t][j] = _mm512_setzero_si512();
      for (std::size_t g = 0; g < kv_q8_block / 4; ++g)
        for (std::size_t t = 0; t < T; ++t) {
          const __m512i codes = _mm512_loadu_si512(tile + t * tb + detail::q8_key_code(0, b * kv_q8_block + 4 * g));
          for (std::size_t j = 0; j < R; ++j) dot[t][j] = dpbusd_bcast(dot[t][j], codes, q[j * nblk + b].qs + 4 * g);
        }
      for (std::size_t t = 0; t < T; ++t) {
        const __m512 kd = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(tile + t * tb + detail::q8_key_scale(0, b, hd))));
        for (std::size_t j = 0; j < R; ++j) {
          const block_q8_act32& qb = q[j * nblk + b];
          const __m512i exact = _mm512_sub_epi32(dot[t][j], _mm512_set1_epi32(128 * qb.sum));
          s[t][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(exact), _mm512_mul_ps(kd, _mm512_set1_ps(qb.d)), s[t][j]);
        }
      }
    }
    for (std::size_t t = 0; t < T; ++t)
      for (std::size_t j = 0; j < R; ++j) _mm512_storeu_ps(sc + j * kv_block + (i + t) * key_tile, _mm512_mul_ps(s[t][j], vs));
  }
  if constexpr (T > 1)
    if (i < tiles) tile_scores_q8_vnni<R, 1>(q, nblk, keys, tile0 + i, tiles - i, scale, sc + i * key_tile, ahead);
  prefetch = ahead;
}

// accumulate_q8 (below) with vpdpwssd: a 32-bit lane holds dimension d of two positions as
// 16-bit codes and takes both 15-bit weights in one instruction, half the multiplies of f32 FMAs
// on widened codes. R rows, B blocks of 32 dimensions per pass over the positions. Integer sums
// are exact, so the floats equal accumulate_q8's bit for bit. w: (R, kv_block) weights, 0 from
// n on (an odd n's last position is paired with itself under weight 0); v: (n, nblk) blocks from
// the first position; acc: (R, hd), hd = 32 * nblk <= 512.
template <std::size_t R, std::size_t B = (R <= 4 ? 2 : 1)>
inline void accumulate_q8_vnni(const float* w, const block_q8_0* v, std::size_t n, std::size_t nblk, float* acc,
                               line_prefetcher& prefetch) noexcept {
  if (nblk % B != 0) return accumulate_q8_vnni<R, 1>(w, v, n, nblk, acc, prefetch);
  line_prefetcher ahead = prefetch;  // a copy in registers, as in tile_scores_pass
  constexpr std::size_t nv = kv_block / 16;  // 16-lane vectors per row of weights
  const std::size_t hd = nblk * kv_q8_block;
  alignas(64) std::int16_t wq[R][kv_max_blocks][kv_block];  // (R, nblk, kv_block) w * d in units of scale[r]
  float scale[R];
  __m512 d[kv_max_blocks][nv];  // the scales of the block's positions (0 from n on)
  const __m512i stride = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                            _mm512_set1_epi32(static_cast<int>(nblk * sizeof(block_q8_0))));
  for (std::size_t b = 0; b < nblk; ++b)
    for (std::size_t i = 0; i < nv; ++i) {
      // each d the low half of a 4-byte read inside its block; none past n, whose bytes may be
      // anything (a NaN scale times a zero weight would still be NaN)
      const auto* first = reinterpret_cast<const int*>(&v[16 * i * nblk + b].d);
      const __m512i raw = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), lanes_below(n, 16 * i), stride, first, 1);
      d[b][i] = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(raw));
    }
  __m512 dtop[nv];  // the largest scale of each position: max_b w * d_b = w * max_b d_b (w >= 0)
  for (std::size_t i = 0; i < nv; ++i) {
    dtop[i] = d[0][i];
    for (std::size_t b = 1; b < nblk; ++b) dtop[i] = _mm512_maskz_max_ps(0xffff, dtop[i], d[b][i]);
  }
  const __m512i in_order = _mm512_setr_epi64(0, 2, 4, 6, 1, 3, 5, 7);  // undoes the in-lane interleave of packs
  for (std::size_t r = 0; r < R; ++r) {
    __m512 wr[nv], top = _mm512_setzero_ps();
    for (std::size_t i = 0; i < nv; ++i) {
      wr[i] = _mm512_maskz_loadu_ps(lanes_below(n, 16 * i), w + r * kv_block + 16 * i);
      top = _mm512_maskz_max_ps(0xffff, top, _mm512_mul_ps(wr[i], dtop[i]));
    }
    const q8_weight_units units(lanes_max(top));
    scale[r] = units.scale;
    for (std::size_t i = 0; i < nv; ++i) wr[i] = _mm512_mul_ps(wr[i], _mm512_set1_ps(units.inverse));
    for (std::size_t b = 0; b < nblk; ++b)
      for (std::size_t i = 0; i < nv; i += 2) {
        const auto q = [&](std::size_t k) { return _mm512_cvtps_epi32(_mm512_mul_ps(wr[k], d[b][k])); };
        _mm512_store_si512(&wq[r][b][16 * i], _mm512_permutexvar_epi64(in_order, _mm512_packs_epi32(q(i), q(i + 1))));
      }
  }
  for (std::size_t b = 0; b < nblk; b += B) {
    // a[r][2k]: dimensions 0-7 and 16-23 of block b + k, a[r][2k + 1]: 8-15 and 24-31 (the
    // in-lane order of the byte interleave)
    __m512i a[R][2 * B];
    for (std::size_t r = 0; r < R; ++r)
      for (std::size_t i = 0; i < 2 * B; ++i) a[r][i] = _mm512_setzero_si512();
    for (std::size_t p = 0; p < n; p += 2) {
      ahead.step();
      for (std::size_t k = 0; k < B; ++k) {
        const __m256i x0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(v[p * nblk + b + k].qs));
        const __m256i x1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(v[std::min(p + 1, n - 1) * nblk + b + k].qs));
        const __m512i lo = _mm512_cvtepi8_epi16(_mm256_unpacklo_epi8(x0, x1)), hi = _mm512_cvtepi8_epi16(_mm256_unpackhi_epi8(x0, x1));
        for (std::size_t r = 0; r < R; ++r) {  // the weights of positions p and p + 1
          a[r][2 * k] = dpwssd_bcast(a[r][2 * k], lo, &wq[r][b + k][p]);
          a[r][2 * k + 1] = dpwssd_bcast(a[r][2 * k + 1], hi, &wq[r][b + k][p]);
        }
      }
    }
    for (std::size_t r = 0; r < R; ++r)
      for (std::size_t k = 0; k < B; ++k) {
        const __m512 f0 = _mm512_cvtepi32_ps(a[r][2 * k]), f1 = _mm512_cvtepi32_ps(a[r][2 * k + 1]), sv = _mm512_set1_ps(scale[r]);
        float* out = acc + r * hd + (b + k) * kv_q8_block;
        _mm512_storeu_ps(out, _mm512_fmadd_ps(_mm512_shuffle_f32x4(f0, f1, 0x44), sv, _mm512_loadu_ps(out)));
        _mm512_storeu_ps(out + 16, _mm512_fmadd_ps(_mm512_shuffle_f32x4(f0, f1, 0xee), sv, _mm512_loadu_ps(out + 16)));
      }
  }
  prefetch = ahead;
}
#endif
#endif

// Scores from Q8_0 keys: sc[j * kv_block + p] = scale * sum_b fma-chained (k codes . q codes of
// block b) * (fp16 kd_b * qd_b), blocks in order. The integer dots are exact, so every build
// and the vpdpbusd kernel give the same floats. q: (rows, nblk) quantized query rows.
inline void tile_scores_q8(const block_q8_act32* q, std::size_t rows, std::size_t nblk, const std::byte* keys, std::size_t tile0,
                           std::size_t tiles, float scale, float* sc, line_prefetcher& ahead) noexcept {
#if RAPID_ATTENTION_Q8_VNNI
  in_even_passes<q8_score_rows>(rows, [&](auto r, std::size_t j) {
    tile_scores_q8_vnni<decltype(r)::value>(q + j * nblk, nblk, keys, tile0, tiles, scale, sc + j * kv_block, ahead);
  });
#else
  (void)ahead;
  const std::size_t hd = nblk * kv_q8_block, tb = key_tile_bytes(kv_type::q8_0, hd);
  for (std::size_t j = 0; j < rows; ++j)
    for (std::size_t i = 0; i < tiles; ++i) {
      const std::byte* tile = keys + (tile0 + i) * tb;
      for (std::size_t l = 0; l < key_tile; ++l) {
        float s = 0;
        for (std::size_t b = 0; b < nblk; ++b) {
          const block_q8_act32& qb = q[j * nblk + b];
          std::int32_t dot = 0;
          for (std::size_t d = 0; d < kv_q8_block; ++d)
            dot += (static_cast<std::int32_t>(tile[detail::q8_key_code(l, b * kv_q8_block + d)]) - 128) * qb.qs[d];
          std::uint16_t kd;
          std::memcpy(&kd, tile + detail::q8_key_scale(l, b, hd), 2);
          s = std::fma(static_cast<float>(dot), fp16_to_f32(kd) * qb.d, s);
        }
        sc[j * kv_block + i * key_tile + l] = s * scale;
      }
    }
#endif
}

// sc: (rows, kv_block) scores of the positions of `tiles` key tiles from tile0 on. q: (rows, hd)
// query rows; qq: the same rows quantized (Q8_0 caches only).
inline void tile_scores(const float* q, const block_q8_act32* qq, std::size_t rows, std::size_t hd, const kv_slab& kv,
                        std::size_t tile0, std::size_t tiles, float scale, float* sc, line_prefetcher& ahead) noexcept {
  if (kv.type == kv_type::q8_0) return tile_scores_q8(qq, rows, hd / kv_q8_block, kv.keys, tile0, tiles, scale, sc, ahead);
#if RAPID_ATTENTION_AVX2
  const auto run = [&]<bool F16, std::size_t HD>() {
    in_even_passes<score_rows>(rows, [&](auto r, std::size_t j) {
      tile_scores_simd<simd_wide, decltype(r)::value, F16, HD>(q + j * hd, hd, kv.keys, tile0, tiles, scale, sc + j * kv_block, ahead);
    });
  };
  if (kv.type == kv_type::f32) run.template operator()<false, 0>();
  else if (hd == 128) run.template operator()<true, 128>();  // the common head sizes as constants
  else if (hd == 64) run.template operator()<true, 64>();
  else run.template operator()<true, 0>();
#else
  (void)ahead;
  const bool f16 = kv.type == kv_type::f16;
  float k[key_tile];
  for (std::size_t j = 0; j < rows; ++j)
    for (std::size_t i = 0; i < tiles; ++i) {
      float acc[key_tile] = {};
      const std::size_t base = (tile0 + i) * hd * key_tile;
      for (std::size_t d = 0; d < hd; ++d) {
        if (f16) fp16_to_f32_row(reinterpret_cast<const std::uint16_t*>(kv.keys) + base + d * key_tile, k, key_tile);
        else std::copy_n(reinterpret_cast<const float*>(kv.keys) + base + d * key_tile, key_tile, k);
        const float qd = q[j * hd + d];
        for (std::size_t l = 0; l < key_tile; ++l) acc[l] = std::fma(qd, k[l], acc[l]);
      }
      for (std::size_t l = 0; l < key_tile; ++l) sc[j * kv_block + i * key_tile + l] = acc[l] * scale;
    }
#endif
}

// acc += w v for the rows. w: (rows, kv_block) softmax weights; v: positions [first, first + n)
// of the values slab; vb: (kv_block, hd) scratch for widening; acc: (rows, hd)
inline void accumulate_rows(const float* w, const kv_slab& kv, std::size_t first, std::size_t n, std::size_t hd,
                            std::size_t rows, float* vb, float* acc, line_prefetcher& ahead) noexcept {
  if (kv.type == kv_type::q8_0) {
    const auto* v = reinterpret_cast<const block_q8_0*>(kv.values + first * value_row_bytes(kv.type, hd));
#if RAPID_ATTENTION_Q8_VNNI
    return in_even_passes<q8_value_rows>(rows, [&](auto r, std::size_t j) {
      accumulate_q8_vnni<decltype(r)::value>(w + j * kv_block, v, n, hd / kv_q8_block, acc + j * hd, ahead);
    });
#else
    return accumulate_q8(w, v, n, hd / kv_q8_block, rows, acc);
#endif
  }
#if RAPID_ATTENTION_AVX2
  const auto run = [&]<class V, std::size_t MaxR>() {
    const auto go = [&]<bool F16>(const auto* values) {  // values: positions [first, first + n)
      in_even_passes<MaxR>(rows, [&](auto r, std::size_t j) {
        accumulate_simd<V, decltype(r)::value, F16>(w + j * kv_block, values, n, hd, acc + j * hd, ahead);
      });
    };
    if (kv.type == kv_type::f32) go.template operator()<false>(reinterpret_cast<const float*>(kv.values) + first * hd);
    else go.template operator()<true>(reinterpret_cast<const std::uint16_t*>(kv.values) + first * hd);
  };
  if (hd % (2 * simd_wide::lanes) == 0) return run.template operator()<simd_wide, value_rows>();
  if (hd % 16 == 0) return run.template operator()<simd256, 4>();
#endif
  (void)ahead;
  load_rows(kv.values, kv.type, first, n, hd, vb);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t p = 0; p < n; ++p) axpy(w[r * kv_block + p], vb + p * hd, acc + r * hd, hd);
}


// sc[p] <- exp(sc[p] - m) for p < n; returns their sum.
inline float exp_shifted(float* sc, std::size_t n, float m) noexcept {
  using fbatch = xsimd::batch<float>;
  constexpr std::size_t w = fbatch::size;
  fbatch acc(0.f);
  std::size_t p = 0;
  for (; p + w <= n; p += w) {
    const fbatch e = xsimd::exp(fbatch::load_unaligned(sc + p) - fbatch(m));
    e.store_unaligned(sc + p);
    acc += e;
  }
  float sum = xsimd::hadd(acc);
  for (; p < n; ++p) sum += (sc[p] = std::exp(sc[p] - m));
  return sum;
}

// One row's online-softmax step over a block of nb <= kv_block scores sr, of which the row sees
// the first n >= 1: m = max(state.max, sr[0, n)); acc (hd) is rescaled by exp(state.max - m)
// (0 on the first block: the max was -inf); sr[p] <- exp(sr[p] - m) for p < n and 0 up to nb;
// state becomes (m, sum * correction + the new weights' sum).
inline void softmax_step(float* sr, std::size_t n, std::size_t nb, row_state& state, float* acc, std::size_t hd) noexcept {
#if RAPID_ATTENTION_AVX512
  static_assert(kv_block == 64);
  const float m = std::max(state.max, max_below(sr, n));
#else
  const float m = std::max(state.max, ops::max_of({sr, n}));
#endif
  // exp(0) is 1, and before the row's first weights (sum 0) acc is 0: skip the libm call and the rescale
  const float corr = m == state.max || state.sum == 0 ? 1.f : std::exp(state.max - m);
  if (corr != 1.f) scale_inplace(corr, acc, hd);
#if RAPID_ATTENTION_AVX512
  const float sum = exp_below(sr, n, nb, m, [&](std::size_t p, __m512 e) { _mm512_mask_storeu_ps(sr + p, lanes_below(nb, p), e); });
#else
  const float sum = exp_shifted(sr, n, m);
  std::fill(sr + n, sr + nb, 0.f);
#endif
  state = {m, state.sum * corr + sum};
}

// Per-thread buffers of attend_chunk (grown once, reused across calls).
struct attention_buffers {
  std::vector<float> vb;  // (kv_block, hd) values widened to f32 (portable path)
  std::vector<float> sc;  // (rows, kv_block) scores, then softmax weights
  std::vector<float> q;   // (rows, hd) the query rows of the tile, contiguous
};
inline attention_buffers& thread_buffers() {
  thread_local attention_buffers b;
  return b;
}

// Attends the query rows of tokens [t0, t1) of kv head g's group to positions [c0, c1) (one
// chunk, c0 a multiple of kv_block), from a fresh state. Every key tile and value row is read
// once for all rows (tokens x heads of the group): a verification of k tokens costs one pass
// over the cache, not k. q: (n_tokens, n_heads, head_dim); qq: the same rows rotated and quantized
// in quantize_queries' order (Q8_0 caches only, else null);
// state: ((t1 - t0) * group); acc: ((t1 - t0) * group, head_dim), row r = (t - t0) * group + j
// for query head g * group + j.
inline void attend_chunk(const float* q, const block_q8_act32* qq, const attention_shape& s, const kv_slab& kv, std::size_t g,
                         std::size_t t0, std::size_t t1, std::size_t c0, std::size_t c1, float scale, row_state* state,
                         float* acc) {
  const std::size_t group = s.n_heads / s.n_kv_heads, hd = s.head_dim, rows = (t1 - t0) * group;
  auto& buf = thread_buffers();
  buf.q.resize(query_tile * group * hd);
  float* const qt = buf.q.data();
  if (kv.type != kv_type::q8_0)  // (Q8_0 scores read qq)
    for (std::size_t t = t0; t < t1; ++t) std::copy_n(q + (t * s.n_heads + g * group) * hd, group * hd, qt + (t - t0) * group * hd);
  const std::size_t end = s.pos0 + t1;  // the last token of the tile sees positions [0, end); c0 < end
#if RAPID_ATTENTION_AMX
  if (kv.type == kv_type::bf16) {  // AMX tiles, two passes over the whole chunk (attention_amx.hpp)
    const std::size_t n = std::min(c1, end) - c0, context = s.pos0 + s.n_tokens;
    const std::size_t next_n = c1 < context ? std::min(kv_chunk, context - c1) : 0;
    line_prefetcher ahead(kv, c1, next_n, hd, amx::chunk_steps(rows, n, hd));  // the next chunk, over this one's work
    amx::attend_positions(qt, rows, hd, scale, reinterpret_cast<const std::uint16_t*>(kv.keys) + c0 * hd,
                          reinterpret_cast<const std::uint16_t*>(kv.values) + c0 * hd, n,
                          static_cast<std::ptrdiff_t>(s.pos0 + t0 + 1) - static_cast<std::ptrdiff_t>(c0), group, state, acc, ahead);
    return;
  }
#endif
  std::fill_n(state, rows, row_state{});
  std::fill_n(acc, rows * hd, 0.f);
  buf.vb.resize(kv_block * hd);  // used only where no SIMD kernel fits
  buf.sc.resize(query_tile * group * kv_block);
  float* const vb = buf.vb.data();
  float* const sc = buf.sc.data();
  // the tile's quantized rows, contiguous where quantize_queries put them
  const block_q8_act32* const tile_qq = qq ? qq + (g * s.n_tokens + t0) * group * (hd / kv_q8_block) : nullptr;
  std::size_t steps_per_block = 0;  // prefetcher steps the last block's kernels took
  for (std::size_t b = c0; b < c1 && b < end; b += kv_block) {
    const std::size_t nb = std::min({kv_block, c1 - b, end - b});  // positions anyone here sees
    // The next block (maybe in the next chunk), spread over this block's work as counted on the last.
    const std::size_t next = std::min(b + kv_block, s.pos0 + s.n_tokens), next_n = std::min(kv_block, s.pos0 + s.n_tokens - next);
    line_prefetcher ahead(kv, next, next_n, hd, steps_per_block);
    {  // this block's values, from L2 (prefetched during the last block) into L1 while the scores compute
      const std::size_t row = value_row_bytes(kv.type, hd);
      for (std::size_t o = 0; o < nb * row; o += 64) __builtin_prefetch(kv.values + b * row + o, 0, 3);
    }
    // Every row's scores from the key tiles covering [b, b + nb) (tiles may run past nb, and a
    // row past what its token sees: those lanes are never read).
    tile_scores(qt, tile_qq, rows, hd, kv, b / key_tile, (nb + key_tile - 1) / key_tile, scale, sc, ahead);
    for (std::size_t r = 0; r < rows; ++r) {
      float* sr = sc + r * kv_block;
      const std::size_t visible = s.pos0 + t0 + r / group + 1;
      if (visible <= b) {  // this row's token sees nothing of the block
        std::fill_n(sr, kv_block, 0.f);
        continue;
      }
      softmax_step(sr, std::min(nb, visible - b), nb, state[r], acc + r * hd, hd);
    }
    accumulate_rows(sc, kv, b, nb, hd, rows, vb, acc, ahead);
    steps_per_block = ahead.calls();
  }
}

// Folds one chunk's partial result into a row's running result (m, sum, out), in chunk order.
inline void merge_partial(row_state& run, float* out, const row_state& part, const float* acc, std::size_t hd) noexcept {
  if (part.sum == 0) return;  // the chunk held no position this row sees
  const float m = std::max(run.max, part.max);
  // one of the two factors is exp(0) = 1: skip its libm call
  const float a = run.max == m ? 1.f : std::exp(run.max - m), c = part.max == m ? 1.f : std::exp(part.max - m);
  for (std::size_t d = 0; d < hd; ++d) out[d] = out[d] * a + acc[d] * c;
  run = {m, run.sum * a + part.sum * c};
}

// A Q8_0 cache's query rows, once per call: each (token, head) row rotated as the keys are
// (hadamard.hpp) and quantized to 8 bits per 32 dimensions with its own scales (as llama.cpp
// does for a q8_0 K cache), so a row's scores never depend on its neighbours. Returns the
// (n_kv_heads, n_tokens, group, head_dim / 32) blocks in a per-thread buffer: a kv head's rows
// for consecutive tokens lie together, so attend_chunk reads a query tile's rows in place.
inline const block_q8_act32* quantize_queries(const float* q, const attention_shape& s) {
  const std::size_t hd = s.head_dim, n_rows = s.n_tokens * s.n_heads, group = s.n_heads / s.n_kv_heads;
  thread_local std::vector<block_q8_act32> blocks;  // (n_rows, hd / 32)
  thread_local std::vector<float> row;              // (hd) one rotated row
  blocks.resize(n_rows * hd / kv_q8_block);
  row.resize(hd);
  for (std::size_t r = 0; r < n_rows; ++r) {  // r: (token, head)
    const std::size_t t = r / s.n_heads, h = r % s.n_heads, to = ((h / group) * s.n_tokens + t) * group + h % group;
    std::copy_n(q + r * hd, hd, row.data());
    hadamard_rotate(row.data(), hd);
    quantize_q8_act32(row.data(), blocks.data() + to * hd / kv_q8_block, hd);
  }
  return blocks.data();
}
} // namespace detail

/// Throws unless attention can read a cache of type t with heads of head_dim dimensions in this
/// build on this machine (BF16 needs AMX tiles).
inline void check_kv_readable(kv_type t, std::size_t head_dim) {
  check_kv_head_dim(t, head_dim);
#if RAPID_ATTENTION_AMX
  if (t != kv_type::bf16 || detail::amx::ready()) return;
#else
  if (t != kv_type::bf16) return;
#endif
  throw unsupported_error("a bf16 KV cache is read with AMX tiles (Intel Sapphire Rapids or later, Linux, a build with "
                          "-march enabling AMX-BF16, RAPID_NO_AMX unset); this machine or build has none (use --kv f16)");
}

/// The cache type attention reads fastest on this machine for heads of head_dim: bf16 where AMX
/// tiles read it (a verification's rows then cost little more than one row: docs/kernels.md),
/// else f16. bf16 rounds keys and values to 8 significant bits (perplexity +0.02 % on the 1.5B).
[[nodiscard]] inline kv_type fastest_kv_type(std::size_t head_dim) {
  try {
    check_kv_readable(kv_type::bf16, head_dim);
    return kv_type::bf16;
  } catch (const unsupported_error&) {
    return kv_type::f16;
  }
}

/// out = softmax(q k^T * scale, causal) v for every new token and query head.
/// q: (n_tokens, n_heads, head_dim); slabs: (n_kv_heads) caches holding positions [0, pos0 + n_tokens);
/// out: (n_tokens, n_heads, head_dim). threads: 0 = omp_get_max_threads().
/// Throws unsupported_error for a cache this build or machine cannot read (check_kv_readable).
inline void attention(const float* q, const attention_shape& s, const kv_slab* slabs, float* out, int threads = 0) {
  check_kv_readable(slabs[0].type, s.head_dim);
  using detail::kv_chunk;
  using detail::query_tile;
  const std::size_t group = s.n_heads / s.n_kv_heads, hd = s.head_dim;
  const float scale = 1.f / std::sqrt(static_cast<float>(hd));
  const std::size_t tiles = (s.n_tokens + query_tile - 1) / query_tile;
  const std::size_t context = s.pos0 + s.n_tokens;
  const std::size_t chunks = (context + kv_chunk - 1) / kv_chunk;
  const int nt = thread_count(threads);
  // Chunks become work items of their own when (kv head, tile) items are too few to keep the
  // threads busy and their partial results fit a small buffer.
  const std::size_t head_tiles = s.n_kv_heads * tiles;
  const bool split = chunks > 1 && head_tiles < 4 * static_cast<std::size_t>(nt) &&
                     s.n_tokens * s.n_heads * chunks * hd <= (std::size_t{1} << 20);
  const auto rows_of = [&](std::size_t tile) { return (std::min(s.n_tokens, (tile + 1) * query_tile) - tile * query_tile) * group; };
  const block_q8_act32* qq = slabs[0].type == kv_type::q8_0 ? detail::quantize_queries(q, s) : nullptr;

  if (split) {
    // Partials per (kv head, chunk, token, group row): state and acc.
    thread_local std::vector<detail::row_state> part_state;
    thread_local std::vector<float> part_acc;
    const std::size_t rows = s.n_tokens * group;  // query rows per kv head
    part_state.resize(s.n_kv_heads * chunks * rows);
    part_acc.resize(s.n_kv_heads * chunks * rows * hd);
    detail::row_state* const pst = part_state.data();
    float* const pacc = part_acc.data();
    const auto work = static_cast<std::ptrdiff_t>(head_tiles * chunks);
    // Each (kv head, row) then merges its chunks in order on one thread (at 32K a 30-row
    // verification has 128 chunks per row), in the same team: one fork, one barrier between.
    const auto merges = static_cast<std::ptrdiff_t>(s.n_kv_heads * rows);
#ifdef _OPENMP
#pragma omp parallel num_threads(nt) if (nt > 1)
#endif
    {
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
      for (std::ptrdiff_t w = 0; w < work; ++w) {
        const auto u = static_cast<std::size_t>(w);
        const std::size_t c = u % chunks, tile = (u / chunks) % tiles, g = u / (chunks * tiles);
        const std::size_t t0 = tile * query_tile, t1 = std::min(s.n_tokens, t0 + query_tile);
        const std::size_t base = (g * chunks + c) * rows + t0 * group;
        if (c * kv_chunk >= s.pos0 + t1) {  // beyond the causal horizon of the whole tile
          std::fill_n(pst + base, (t1 - t0) * group, detail::row_state{});
          continue;
        }
        detail::attend_chunk(q, qq, s, slabs[g], g, t0, t1, c * kv_chunk, std::min(context, (c + 1) * kv_chunk), scale,
                             pst + base, pacc + base * hd);
      }
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
      for (std::ptrdiff_t m = 0; m < merges; ++m) {
        const std::size_t g = static_cast<std::size_t>(m) / rows, r = static_cast<std::size_t>(m) % rows;
        float* o = out + ((r / group) * s.n_heads + g * group + r % group) * hd;
        std::fill_n(o, hd, 0.f);
        detail::row_state run;
        for (std::size_t c = 0; c < chunks; ++c) {
          const std::size_t i = (g * chunks + c) * rows + r;
          detail::merge_partial(run, o, pst[i], pacc + i * hd, hd);
        }
        scale_inplace(1.f / run.sum, o, hd);
      }
    }
    return;
  }

  const auto work = static_cast<std::ptrdiff_t>(head_tiles);
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (nt > 1 && work > 1)
#endif
  for (std::ptrdiff_t w = 0; w < work; ++w) {
    const auto u = static_cast<std::size_t>(w);
    const std::size_t tile = u % tiles, g = u / tiles;
    const std::size_t t0 = tile * query_tile, t1 = std::min(s.n_tokens, t0 + query_tile), rows = rows_of(tile);
    thread_local std::vector<detail::row_state> st, run;
    thread_local std::vector<float> acc;
    st.resize(rows);
    run.assign(rows, detail::row_state{});
    acc.resize(rows * hd);
    for (std::size_t t = t0; t < t1; ++t) std::fill_n(out + (t * s.n_heads + g * group) * hd, group * hd, 0.f);
    for (std::size_t c = 0; c * kv_chunk < s.pos0 + t1; ++c) {
      detail::attend_chunk(q, qq, s, slabs[g], g, t0, t1, c * kv_chunk, std::min(context, (c + 1) * kv_chunk), scale,
                           st.data(), acc.data());
      for (std::size_t r = 0; r < rows; ++r) {
        const std::size_t t = t0 + r / group;
        detail::merge_partial(run[r], out + (t * s.n_heads + g * group + r % group) * hd, st[r], acc.data() + r * hd, hd);
      }
    }
    for (std::size_t r = 0; r < rows; ++r) {
      const std::size_t t = t0 + r / group;
      scale_inplace(1.f / run[r].sum, out + (t * s.n_heads + g * group + r % group) * hd, hd);
    }
  }
}

} // namespace rapid::ops
