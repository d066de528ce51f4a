#pragma once
// Causal grouped-query attention over a KV cache with a blocked, numerically stable online
// softmax (running max and normaliser per query row, as in FlashAttention), so no (rows, context)
// score matrix is ever materialised. Work is split over (kv head, query tile, kv split); the KV
// range is split only when there are fewer (head, tile) items than threads, and the partial
// results are merged exactly (rescaled by their maxima).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include <xsimd/xsimd.hpp>

#include "rapid/core/fp16.hpp"
#include "rapid/ops/vector.hpp"

namespace rapid::ops {

struct attention_shape {
  std::size_t n_tokens;    // new query tokens in this call
  std::size_t pos0;        // position of the first new token; token i sees positions [0, pos0 + i]
  std::size_t n_heads;     // query heads
  std::size_t n_kv_heads;  // key/value heads; query head h uses kv head h / (n_heads / n_kv_heads)
  std::size_t head_dim;
};

/// One (kv head)'s cache: (capacity, head_dim) F16 or F32 values.
struct kv_slab {
  const std::byte* keys;
  const std::byte* values;
  bool f16;
};

namespace detail {
inline constexpr std::size_t kv_block = 64;   // positions converted to f32 at a time
inline constexpr std::size_t query_tile = 16; // tokens per work item

inline void load_rows(const std::byte* base, bool f16, std::size_t first, std::size_t n, std::size_t head_dim, float* out) {
  if (f16) fp16_to_f32_row(reinterpret_cast<const std::uint16_t*>(base) + first * head_dim, out, n * head_dim);
  else std::copy_n(reinterpret_cast<const float*>(base) + first * head_dim, n * head_dim, out);
}

// Running softmax state of one query row over part of the KV range.
struct row_state {
  float max = -std::numeric_limits<float>::infinity();
  float sum = 0;
};

// sc[p] = scale * (q . k_p) for p < n. q: (hd); k: (n, hd)
inline void block_scores(const float* q, const float* k, std::size_t n, std::size_t hd, float scale, float* sc) noexcept {
  for (std::size_t p = 0; p < n; ++p) sc[p] = dot_f32(q, k + p * hd, hd) * scale;
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

// Attends query rows of tokens [t0, t1) of one kv head's group to positions [p0, p1).
// q: (n_tokens, n_heads, head_dim); state: (n_tokens * group); acc: (n_tokens * group, head_dim)
inline void attend_range(const float* q, const attention_shape& s, const kv_slab& kv, std::size_t g,
                         std::size_t t0, std::size_t t1, std::size_t p0, std::size_t p1, float scale,
                         row_state* state, float* acc) {
  const std::size_t group = s.n_heads / s.n_kv_heads, hd = s.head_dim;
  std::vector<float> kb(kv_block * hd), vb(kv_block * hd), sc(kv_block);  // (kv_block, hd) x2, (kv_block)
  for (std::size_t b = p0; b < p1; b += kv_block) {
    const std::size_t nb = std::min(kv_block, p1 - b);
    if (b > s.pos0 + (t1 - 1)) break;  // no token in the tile sees this block (causal)
    load_rows(kv.keys, kv.f16, b, nb, hd, kb.data());
    load_rows(kv.values, kv.f16, b, nb, hd, vb.data());
    for (std::size_t t = t0; t < t1; ++t) {
      const std::size_t visible = s.pos0 + t + 1;  // positions this token may attend to
      if (visible <= b) continue;
      const std::size_t n = std::min(nb, visible - b);
      for (std::size_t j = 0; j < group; ++j) {
        const std::size_t h = g * group + j, r = t * group + j;
        block_scores(q + (t * s.n_heads + h) * hd, kb.data(), n, hd, scale, sc.data());
        const float m = std::max(state[r].max, *std::max_element(sc.begin(), sc.begin() + static_cast<std::ptrdiff_t>(n)));
        const float corr = std::exp(state[r].max - m);  // 0 on the first block (max was -inf)
        float* a = acc + r * hd;
        if (corr != 1.f) scale_inplace(corr, a, hd);
        const float sum = exp_shifted(sc.data(), n, m);
        for (std::size_t p = 0; p < n; ++p) axpy(sc[p], vb.data() + p * hd, a, hd);
        state[r] = {m, state[r].sum * corr + sum};
      }
    }
  }
}
} // namespace detail

/// out = softmax(q k^T * scale, causal) v for every new token and query head.
/// q: (n_tokens, n_heads, head_dim); slabs: (n_kv_heads) caches holding positions [0, pos0 + n_tokens);
/// out: (n_tokens, n_heads, head_dim). threads: 0 = omp_get_max_threads().
inline void attention(const float* q, const attention_shape& s, const kv_slab* slabs, float* out, int threads = 0) {
  const std::size_t group = s.n_heads / s.n_kv_heads, hd = s.head_dim;
  const float scale = 1.f / std::sqrt(static_cast<float>(hd));
  const std::size_t tiles = (s.n_tokens + detail::query_tile - 1) / detail::query_tile;
  const std::size_t items = s.n_kv_heads * tiles;
  int nt = 1;
#ifdef _OPENMP
  nt = threads > 0 ? threads : omp_get_max_threads();
  if (omp_in_parallel()) nt = 1;
#else
  (void)threads;
#endif
  const std::size_t context = s.pos0 + s.n_tokens;
  // Split the KV range when there are fewer items than threads and the context is long enough.
  std::size_t splits = 1;
  if (items < static_cast<std::size_t>(nt) && context >= 4 * detail::kv_block)
    splits = std::min<std::size_t>((static_cast<std::size_t>(nt) + items - 1) / items, context / (2 * detail::kv_block));
  const std::size_t rows = s.n_tokens * group;  // query rows per kv head
  // Partial results per (kv head, split): state (rows), acc (rows, hd).
  std::vector<detail::row_state> state(s.n_kv_heads * splits * rows);
  std::vector<float> acc(s.n_kv_heads * splits * rows * hd, 0.f);
  const auto work = static_cast<std::ptrdiff_t>(items * splits);
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (nt > 1 && work > 1)
#endif
  for (std::ptrdiff_t w = 0; w < work; ++w) {
    const auto u = static_cast<std::size_t>(w);
    const std::size_t split = u % splits, tile = (u / splits) % tiles, g = u / (splits * tiles);
    const std::size_t t0 = tile * detail::query_tile, t1 = std::min(s.n_tokens, t0 + detail::query_tile);
    // Split boundaries are multiples of kv_block so blocks never straddle two splits.
    const std::size_t blocks = (context + detail::kv_block - 1) / detail::kv_block;
    const std::size_t p0 = std::min(context, blocks * split / splits * detail::kv_block);
    const std::size_t p1 = std::min(context, blocks * (split + 1) / splits * detail::kv_block);
    const std::size_t base = (g * splits + split) * rows;
    detail::attend_range(q, s, slabs[g], g, t0, t1, p0, p1, scale, state.data() + base, acc.data() + base * hd);
  }
  // Merge the splits of each row and normalise.
  for (std::size_t g = 0; g < s.n_kv_heads; ++g)
    for (std::size_t r = 0; r < rows; ++r) {
      const std::size_t t = r / group, h = g * group + r % group;
      float m = -std::numeric_limits<float>::infinity();
      for (std::size_t sp = 0; sp < splits; ++sp) m = std::max(m, state[(g * splits + sp) * rows + r].max);
      float* o = out + (t * s.n_heads + h) * hd;
      std::fill_n(o, hd, 0.f);
      float sum = 0;
      for (std::size_t sp = 0; sp < splits; ++sp) {
        const auto& st = state[(g * splits + sp) * rows + r];
        if (st.sum == 0) continue;  // this split saw no visible position
        const float c = std::exp(st.max - m);
        sum += st.sum * c;
        axpy(c, acc.data() + ((g * splits + sp) * rows + r) * hd, o, hd);
      }
      scale_inplace(1.f / sum, o, hd);
    }
}

} // namespace rapid::ops
