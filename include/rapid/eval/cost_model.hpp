#pragma once
// Roofline cost model of decoding (issue 8, item 4): what one forward pass reads and computes
// (`model_cost`), what a machine sustains (`machine`), how long a forward takes, and the decode
// speedup a speculative method (RAPID, SD, MagicDec, ...) should reach over plain long-context
// decoding (LC) from a measured tau or acceptance rate. benchmarks/cost_projection.cpp checks it
// against our CPU measurements and projects it to 8B/70B models on H100s.
//
// Units: bytes, FLOP (a multiply-add is 2), seconds, token positions. Everything is a double so
// that a mean position (context + generated / 2) or a mean commit width is allowed.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include "rapid/core/error.hpp"
#include "rapid/model/config.hpp"

namespace rapid::eval {

namespace detail {
inline void require_finite_nonnegative(double v, const char* what, const std::string& owner) {
  if (!std::isfinite(v) || v < 0)
    throw invalid_argument(std::string(what) + " must be a finite value >= 0, got " + std::to_string(v), {{}, owner, {}});
}
inline void require_positive(double v, const char* what, const std::string& owner) {
  if (!std::isfinite(v) || v <= 0)
    throw invalid_argument(std::string(what) + " must be a finite value > 0, got " + std::to_string(v), {{}, owner, {}});
}
} // namespace detail

// ---- what a model reads and computes ------------------------------------------------------------

/// Per-forward traffic and work of a decoder-only transformer. Aggregate: for a model you only know
/// by its numbers, fill the fields; for a rapid model use `cost_of`; for a published shape use
/// `cost_from_config` with a `shapes::` config.
struct model_cost {
  std::string name;
  double weight_bytes = 0;                  // bytes of weight matrices read per forward (each once, output head included)
  double kv_bytes_per_position = 0;         // bytes of K and V per cached position, all layers together
  double matmul_flops_per_token = 0;        // FLOP per new token in the matrix products (2 x matrix parameters)
  double attention_flops_per_position = 0;  // FLOP per (new token, attended position): QK^T and PV, 4 x layers x heads x head_dim

  /// Parameters in the matrices a token goes through (the embedding lookup table not counted).
  [[nodiscard]] double parameters() const noexcept { return matmul_flops_per_token / 2; }

  void validate() const {
    const std::string who = name.empty() ? "model_cost" : name;
    detail::require_positive(weight_bytes, "weight_bytes", who);
    detail::require_finite_nonnegative(kv_bytes_per_position, "kv_bytes_per_position", who);
    detail::require_positive(matmul_flops_per_token, "matmul_flops_per_token", who);
    detail::require_finite_nonnegative(attention_flops_per_position, "attention_flops_per_position", who);
  }
};

/// Matrix parameters one token goes through: per layer Q, K, V, O and the SwiGLU gate/up/down,
/// plus the output head (read even when tied to the embedding). Biases and norms are negligible.
[[nodiscard]] inline double matrix_parameters(const model::model_config& c) {
  const double embd = double(c.n_embd), q = double(c.q_width()), kv = double(c.kv_width()), ff = double(c.n_ff);
  const double per_layer = embd * q + 2 * embd * kv + q * embd + 3 * embd * ff;
  return double(c.n_layers) * per_layer + double(c.n_vocab) * embd;
}

/// Cost from a config and the bytes its weights really take (quantized files mix types, so the
/// byte count comes from the file: `model::model::weight_bytes_per_token()`).
/// kv_element_bytes: 2 for an F16/BF16 cache (rapid's default), 4 for F32.
[[nodiscard]] inline model_cost cost_from_config(const model::model_config& c, double weight_bytes,
                                                 double kv_element_bytes = 2.0, std::string name = {}) {
  if (c.n_layers == 0 || c.n_embd == 0 || c.n_heads == 0 || c.n_kv_heads == 0 || c.head_dim == 0 || c.n_ff == 0 ||
      c.n_vocab == 0)
    throw invalid_argument("the config has a zero layer, width, head, FFN or vocabulary count; fill every shape field",
                           {{}, name.empty() ? "model_config" : name, {}});
  detail::require_positive(kv_element_bytes, "kv_element_bytes", name);
  model_cost m;
  m.name = name.empty() ? c.arch : std::move(name);
  m.weight_bytes = weight_bytes;
  m.kv_bytes_per_position = 2.0 * double(c.n_layers) * double(c.kv_width()) * kv_element_bytes;
  m.matmul_flops_per_token = 2.0 * matrix_parameters(c);
  m.attention_flops_per_position = 4.0 * double(c.n_layers) * double(c.q_width());
  m.validate();
  return m;
}

/// Cost of a model stored at one precision: bytes_per_parameter 2 for FP16/BF16, 1 for FP8/int8.
[[nodiscard]] inline model_cost cost_from_config_uniform(const model::model_config& c, double bytes_per_parameter,
                                                         double kv_element_bytes = 2.0, std::string name = {}) {
  detail::require_positive(bytes_per_parameter, "bytes_per_parameter", name);
  return cost_from_config(c, matrix_parameters(c) * bytes_per_parameter, kv_element_bytes, std::move(name));
}

/// Cost of a loaded rapid model (`model::model`, or anything with config() and weight_bytes_per_token()).
template <class Model>
[[nodiscard]] model_cost cost_of(const Model& m, double kv_element_bytes = 2.0, std::string name = {}) {
  return cost_from_config(m.config(), double(m.weight_bytes_per_token()), kv_element_bytes, std::move(name));
}

/// Published shapes (from the models' config.json), for projections without the weights.
namespace shapes {
inline model::model_config make(const char* arch, std::size_t layers, std::size_t embd, std::size_t heads,
                                std::size_t kv_heads, std::size_t head_dim, std::size_t ff, std::size_t vocab,
                                std::size_t ctx) {
  model::model_config c;
  c.arch = arch;
  c.n_layers = layers, c.n_embd = embd, c.n_heads = heads, c.n_kv_heads = kv_heads, c.head_dim = head_dim;
  c.n_ff = ff, c.n_vocab = vocab, c.n_ctx_train = ctx;
  return c;
}
/// LLaMA-3.1-8B: 32 layers, GQA 32/8 heads of 128, FFN 14336 (7.5e9 matrix parameters).
inline model::model_config llama31_8b() { return make("llama", 32, 4096, 32, 8, 128, 14336, 128256, 131072); }
/// LLaMA-3.1-70B: 80 layers, GQA 64/8 heads of 128, FFN 28672 (69.5e9 matrix parameters).
inline model::model_config llama31_70b() { return make("llama", 80, 8192, 64, 8, 128, 28672, 128256, 131072); }
/// LLaMA-3.2-1B: 16 layers, GQA 32/8 heads of 64, FFN 8192 (tied head, still read every token).
inline model::model_config llama32_1b() { return make("llama", 16, 2048, 32, 8, 64, 8192, 128256, 131072); }
/// Qwen2.5-7B(-Instruct): 28 layers, GQA 28/4 heads of 128, FFN 18944; 128K context with YaRN.
inline model::model_config qwen25_7b() { return make("qwen2", 28, 3584, 28, 4, 128, 18944, 152064, 131072); }
} // namespace shapes

// ---- what a machine sustains --------------------------------------------------------------------

struct machine {
  std::string name;
  double read_bytes_per_s = 0;       // sustained read bandwidth (bytes/s) a decode kernel reaches
  double matmul_ops_per_s = 0;       // matrix-product throughput at the weights' precision (FLOP/s)
  double attention_flops_per_s = 0;  // attention throughput (FLOP/s); 0 means the same as matmul_ops_per_s
  double overhead_s = 0;             // fixed cost per forward pass (s): kernel launches, fork/join, sampling
  // A kernel that takes activation rows in tiles (ours: 4, ops/matmul.hpp) runs the rows left
  // over after the full tiles one at a time, at another throughput; 0 rows: no tiling.
  std::size_t matmul_tile_rows = 0;
  double matmul_remainder_ops_per_s = 0;  // FLOP/s of those leftover rows
  // Attention over several new tokens at once (verification) can read each KV tile once for all
  // of them and so run faster per row than one-token decode; 0: the one-row throughput.
  double multirow_attention_flops_per_s = 0;

  /// Attention throughput of a forward over `new_tokens` tokens.
  [[nodiscard]] double attention_throughput(double new_tokens = 1) const noexcept {
    if (new_tokens > 1 && multirow_attention_flops_per_s > 0) return multirow_attention_flops_per_s;
    return attention_flops_per_s > 0 ? attention_flops_per_s : matmul_ops_per_s;
  }

  /// Seconds of matrix-product compute for `rows` activation rows of `flops_per_row` each.
  [[nodiscard]] double matmul_compute_seconds(double rows, double flops_per_row) const noexcept {
    const bool tiled = matmul_tile_rows > 0 && matmul_remainder_ops_per_s > 0;
    const double tile = double(matmul_tile_rows);
    const double in_tiles = tiled ? std::floor(rows / tile) * tile : rows;
    return flops_per_row * (in_tiles / matmul_ops_per_s + (tiled ? (rows - in_tiles) / matmul_remainder_ops_per_s : 0.0));
  }

  /// This machine with a tiled matmul kernel (see matmul_tile_rows).
  [[nodiscard]] machine with_matmul_tiles(std::size_t rows, double remainder_ops_per_s) const {
    machine m = *this;
    m.matmul_tile_rows = rows;
    m.matmul_remainder_ops_per_s = remainder_ops_per_s;
    m.validate();
    return m;
  }

  /// This machine with a multi-row attention throughput (see multirow_attention_flops_per_s).
  [[nodiscard]] machine with_multirow_attention(double flops_per_s) const {
    machine m = *this;
    m.multirow_attention_flops_per_s = flops_per_s;
    m.validate();
    return m;
  }

  void validate() const {
    const std::string who = name.empty() ? "machine" : name;
    detail::require_positive(read_bytes_per_s, "read bandwidth (bytes/s)", who);
    detail::require_positive(matmul_ops_per_s, "matmul throughput (FLOP/s)", who);
    detail::require_finite_nonnegative(attention_flops_per_s, "attention throughput (FLOP/s)", who);
    detail::require_finite_nonnegative(overhead_s, "per-forward overhead (s)", who);
    if (matmul_tile_rows > 0) detail::require_positive(matmul_remainder_ops_per_s, "matmul throughput outside full tiles (FLOP/s)", who);
    detail::require_finite_nonnegative(multirow_attention_flops_per_s, "multi-row attention throughput (FLOP/s)", who);
  }

  /// A machine described by measured numbers (read bandwidth from benchmarks/read_bandwidth.hpp,
  /// matmul throughput from `matmul_ops_per_s_from_bench`, attention from a micro-benchmark).
  [[nodiscard]] static machine measured(std::string name, double read_bytes_per_s, double matmul_ops_per_s,
                                        double attention_flops_per_s = 0, double overhead_s = 0) {
    machine m{std::move(name), read_bytes_per_s, matmul_ops_per_s, attention_flops_per_s, overhead_s, 0, 0, 0};
    m.validate();
    return m;
  }

  /// `gpus` NVIDIA H100 SXM5 80 GB with ideal tensor-parallel scaling (the all-reduces between
  /// layers belong in overhead_s). Peak: 3.35 TB/s HBM3, 989 TFLOP/s dense BF16.
  /// Why these efficiencies (published figures, not measured by us): read/copy micro-benchmarks
  /// sustain ~2.6-3.0 TB/s of the 3.35 and tuned decode-attention kernels (FlashDecoding,
  /// FlashInfer) are reported at ~70-90 % of peak bandwidth, so 0.80; cuBLAS BF16 GEMMs of LLM
  /// shapes sustain ~600-700 TFLOP/s, so 0.60. Decode and verification of <= ~200 tokens lie far
  /// below the ridge point (~220 FLOP/byte), so projections hinge on the bandwidth factor and
  /// barely on the compute factor; HF-style eager code with launch gaps would need overhead_s.
  [[nodiscard]] static machine h100_sxm(unsigned gpus = 1, double bandwidth_efficiency = 0.80,
                                        double compute_efficiency = 0.60, double overhead_s = 0) {
    if (gpus == 0) throw invalid_argument("an H100 machine needs at least one GPU", {{}, "h100_sxm", {}});
    if (!(bandwidth_efficiency > 0 && bandwidth_efficiency <= 1) || !(compute_efficiency > 0 && compute_efficiency <= 1))
      throw invalid_argument("efficiency factors must lie in (0, 1], got bandwidth " + std::to_string(bandwidth_efficiency) +
                                 " and compute " + std::to_string(compute_efficiency),
                             {{}, "h100_sxm", {}});
    const double n = double(gpus);
    return measured(std::to_string(gpus) + "x H100 SXM", n * 3.35e12 * bandwidth_efficiency,
                    n * 989e12 * compute_efficiency, 0, overhead_s);
  }
};

/// Matrix-product throughput from a benchmark of a (rows x cols) weight matrix times `batch`
/// activation rows: BM_matmul's rows_per_s counter -> FLOP/s. Calibrate at the batch the forward
/// uses (gamma + 1 rows for verification): small-batch int8 kernels are not yet at peak.
[[nodiscard]] inline double matmul_ops_per_s_from_bench(std::size_t rows, std::size_t cols, double activation_rows_per_s) {
  if (rows == 0 || cols == 0) throw invalid_argument("benchmark matrix shape must be non-zero", {{}, "matmul bench", {}});
  detail::require_positive(activation_rows_per_s, "rows_per_s", "matmul bench");
  return 2.0 * double(rows) * double(cols) * activation_rows_per_s;
}

// ---- one forward pass ---------------------------------------------------------------------------

/// Time of one forward, by phase. Each phase is its own roofline, max(bytes / bandwidth, FLOP /
/// throughput), and the phases add up: the dense layers and attention run one after the other, so
/// neither hides the other. (On our CPU one-row attention is compute-bound while the weight reads
/// are bandwidth-bound; a single max over the whole forward would let one hide the other.)
struct forward_cost {
  double weights_s = 0;    // dense layers: max(weight bytes / bw, matmul FLOP / throughput)
  double attention_s = 0;  // attention: max(KV bytes / bw, attention FLOP / throughput)
  double overhead_s = 0;   // the machine's fixed per-forward cost
  bool weights_compute_bound = false;
  bool attention_compute_bound = false;

  [[nodiscard]] double seconds() const noexcept { return weights_s + attention_s + overhead_s; }
};

/// `new_tokens` tokens (1 for LC decode, gamma + 1 for verification) after `context` cached
/// positions. The KV cache is read once per forward whatever new_tokens is; weights once; FLOPs
/// scale with new_tokens (each new token attends to the context plus, causally, the new ones before it).
[[nodiscard]] inline forward_cost forward_breakdown(const model_cost& m, const machine& hw, double new_tokens, double context) {
  m.validate();
  hw.validate();
  detail::require_positive(new_tokens, "new_tokens", m.name);
  detail::require_finite_nonnegative(context, "context", m.name);
  forward_cost f;
  const double w_mem = m.weight_bytes / hw.read_bytes_per_s;
  const double w_cmp = hw.matmul_compute_seconds(new_tokens, m.matmul_flops_per_token);
  f.weights_s = std::max(w_mem, w_cmp);
  f.weights_compute_bound = w_cmp > w_mem;
  const double kv_mem = (context + new_tokens) * m.kv_bytes_per_position / hw.read_bytes_per_s;
  const double attended = context + (new_tokens + 1) / 2;  // mean positions one new token attends to
  const double kv_cmp = new_tokens * attended * m.attention_flops_per_position / hw.attention_throughput(new_tokens);
  f.attention_s = std::max(kv_mem, kv_cmp);
  f.attention_compute_bound = kv_cmp > kv_mem;
  f.overhead_s = hw.overhead_s;
  return f;
}

[[nodiscard]] inline double forward_seconds(const model_cost& m, const machine& hw, double new_tokens, double context) {
  return forward_breakdown(m, hw, new_tokens, context).seconds();
}

// ---- speculative decoding -----------------------------------------------------------------------

/// Expected tokens per step with per-draft acceptance a (algorithm.md section 4):
/// (1 - a^(gamma+1)) / (1 - a); gamma + 1 at a = 1.
[[nodiscard]] inline double expected_tokens_per_step(double acceptance, int gamma) {
  if (gamma < 1) throw invalid_argument("gamma must be >= 1, got " + std::to_string(gamma), {{}, "gamma", {}});
  if (!(acceptance >= 0 && acceptance <= 1))
    throw invalid_argument("acceptance must lie in [0, 1], got " + std::to_string(acceptance), {{}, "acceptance", {}});
  if (acceptance > 1 - 1e-12) return gamma + 1.0;
  return (1 - std::pow(acceptance, gamma + 1)) / (1 - acceptance);
}

/// The per-draft acceptance whose expected tokens per step is tau (bisection; tau in [1, gamma + 1]).
[[nodiscard]] inline double acceptance_for_tau(double tau, int gamma) {
  if (gamma < 1) throw invalid_argument("gamma must be >= 1, got " + std::to_string(gamma), {{}, "gamma", {}});
  if (!(tau >= 1 && tau <= gamma + 1.0))
    throw invalid_argument("tau must lie in [1, gamma + 1] = [1, " + std::to_string(gamma + 1) + "], got " + std::to_string(tau),
                           {{}, "tau", {}});
  double lo = 0, hi = 1;
  for (int i = 0; i < 100; ++i) {
    const double mid = (lo + hi) / 2;
    (expected_tokens_per_step(mid, gamma) < tau ? lo : hi) = mid;
  }
  return (lo + hi) / 2;
}

/// One speculative method on one input. A step (spec/decoder.hpp with transformer_drafter) is:
/// gamma - 1 one-token drafter forwards while drafting, one target forward of gamma + 1 tokens,
/// and one drafter "commit" forward of the emitted tokens not yet in its cache: 1 token, or 2
/// (last draft + bonus) when all gamma drafts were accepted, probability a^gamma. A rule that
/// wants q after the last draft (retrieval_augmented_exact) forwards every draft while drafting:
/// gamma one-token forwards, then a 1-token commit. Either way about gamma drafter forwards.
struct spec_config {
  model_cost target;
  std::optional<model_cost> drafter;  // nullopt: a model-free drafter (prompt lookup) whose cost is nil
  double target_context = 0;          // positions the target attends to (the long prompt, + generated)
  double drafter_context = 0;         // positions the drafter attends to (retrieved prompt, or a streaming window)
  int gamma = 4;                      // drafts per step
  bool drafter_wants_next_q = false;  // retrieval_augmented_exact: one more one-token drafter forward per step

  void validate() const {
    target.validate();
    if (drafter) drafter->validate();
    if (gamma < 1) throw invalid_argument("gamma must be >= 1 for speculative decoding, got " + std::to_string(gamma), {{}, "gamma", {}});
    detail::require_finite_nonnegative(target_context, "target_context", target.name);
    detail::require_finite_nonnegative(drafter_context, "drafter_context", drafter ? drafter->name : "drafter");
  }
};

/// Predicted per-token costs and speedup of a speculative method against LC on the same target.
struct spec_estimate {
  double tau = 0;         // tokens emitted per step
  double acceptance = 0;  // per-draft acceptance consistent with tau
  double lc_token_s = 0;  // LC: one one-token target forward at target_context (s)
  double draft_s = 0;     // drafter forwards of one step (s)
  double verify_s = 0;    // one target forward of gamma + 1 tokens (s)
  double speedup = 0;     // LC seconds per token / speculative seconds per token

  [[nodiscard]] double step_s() const noexcept { return draft_s + verify_s; }
  [[nodiscard]] double seconds_per_token() const noexcept { return step_s() / tau; }
};

namespace detail {
inline spec_estimate predict(const spec_config& s, const machine& hw, double tau, double acceptance) {
  spec_estimate e;
  e.tau = tau;
  e.acceptance = acceptance;
  e.lc_token_s = forward_seconds(s.target, hw, 1, s.target_context);
  e.verify_s = forward_seconds(s.target, hw, s.gamma + 1.0, s.target_context);
  if (s.drafter) {
    const double one = forward_seconds(*s.drafter, hw, 1, s.drafter_context);
    if (s.drafter_wants_next_q) {
      e.draft_s = (s.gamma + 1.0) * one;
    } else {
      const double commit_tokens = 1 + std::pow(acceptance, s.gamma);  // expected width of the commit forward
      e.draft_s = (s.gamma - 1.0) * one + forward_seconds(*s.drafter, hw, commit_tokens, s.drafter_context);
    }
  }
  e.speedup = e.lc_token_s / e.seconds_per_token();
  return e;
}
} // namespace detail

/// From a measured tau (emitted / steps); the acceptance is the one the formula ties to it.
[[nodiscard]] inline spec_estimate predict_from_tau(const spec_config& s, const machine& hw, double tau) {
  s.validate();
  hw.validate();
  return detail::predict(s, hw, tau, acceptance_for_tau(tau, s.gamma));
}

/// From a per-draft acceptance rate, through the expected-tokens formula.
[[nodiscard]] inline spec_estimate predict_from_acceptance(const spec_config& s, const machine& hw, double acceptance) {
  s.validate();
  hw.validate();
  return detail::predict(s, hw, expected_tokens_per_step(acceptance, s.gamma), acceptance);
}

/// A free drafter (prompt lookup) whose steps offer a varying number of drafts: each verification
/// is as wide as its step's drafts + 1, and a forward's cost is not linear in its rows (matmul
/// tiles), so the step cost is averaged over the measured widths rather than taken at the mean.
/// steps_with[k]: how many steps (or what share of them) offered exactly k drafts; tau: tokens
/// emitted per step. The acceptance returned is accepted drafts (tau - 1) per offered draft.
[[nodiscard]] inline spec_estimate predict_free_drafter(const model_cost& target, const machine& hw, double target_context,
                                                        double tau, std::span<const double> steps_with) {
  target.validate();
  hw.validate();
  detail::require_finite_nonnegative(target_context, "target_context", target.name);
  double steps = 0, offered = 0, verify = 0;
  for (std::size_t k = 0; k < steps_with.size(); ++k) {
    detail::require_finite_nonnegative(steps_with[k], "steps_with (a count of steps)", target.name);
    steps += steps_with[k];
    offered += double(k) * steps_with[k];
    if (steps_with[k] > 0) verify += steps_with[k] * forward_seconds(target, hw, double(k) + 1, target_context);
  }
  if (!(steps > 0)) throw invalid_argument("predict_free_drafter: steps_with counts no steps", {{}, "steps_with", {}});
  if (!(tau >= 1 && tau <= 1 + double(steps_with.size() - 1)))
    throw invalid_argument("tau must lie in [1, widest step + 1] = [1, " + std::to_string(steps_with.size()) + "], got " +
                               std::to_string(tau),
                           {{}, "tau", {}});
  spec_estimate e;
  e.tau = tau;
  e.acceptance = offered > 0 ? std::min(1.0, (tau - 1) * steps / offered) : 0.0;
  e.lc_token_s = forward_seconds(target, hw, 1, target_context);
  e.verify_s = verify / steps;
  e.speedup = e.lc_token_s / e.seconds_per_token();
  return e;
}

/// The gamma in [1, max_gamma] with the highest predicted speedup at this acceptance.
[[nodiscard]] inline int best_gamma(spec_config s, const machine& hw, double acceptance, int max_gamma = 16) {
  if (max_gamma < 1) throw invalid_argument("max_gamma must be >= 1, got " + std::to_string(max_gamma), {{}, "max_gamma", {}});
  int best = 1;
  double best_speedup = -1;
  for (int g = 1; g <= max_gamma; ++g) {
    s.gamma = g;
    if (const double v = predict_from_acceptance(s, hw, acceptance).speedup; v > best_speedup) best = g, best_speedup = v;
  }
  return best;
}

/// The paper's retrieval budget for a context of L tokens: max(4096, L / 24) tokens.
[[nodiscard]] inline double paper_rag_budget(double context) { return std::max(4096.0, context / 24.0); }

/// The smallest target context (positions, within 1) at which the method reaches speedup 1 at
/// this acceptance; nullopt when it does not within max_context. drafter_context_for maps a target
/// context to the drafter's (e.g. paper_rag_budget); empty keeps s.drafter_context. The speedup
/// need not grow monotonically with the context (a compute-bound verification can grow faster
/// than LC), so the range is scanned on a grid and the first crossing bisected.
[[nodiscard]] inline std::optional<double> break_even_context(spec_config s, const machine& hw, double acceptance,
                                                              double max_context,
                                                              const std::function<double(double)>& drafter_context_for = {}) {
  detail::require_positive(max_context, "max_context", "break_even_context");
  const auto speedup_at = [&](double ctx) {
    s.target_context = ctx;
    if (drafter_context_for) s.drafter_context = drafter_context_for(ctx);
    return predict_from_acceptance(s, hw, acceptance).speedup;
  };
  if (speedup_at(0) >= 1) return 0.0;
  constexpr int grid = 1024;
  double lo = 0;
  for (int i = 1; i <= grid; ++i) {
    double hi = max_context * i / grid;
    if (speedup_at(hi) >= 1) {
      while (hi - lo > 1) {
        const double mid = (lo + hi) / 2;
        (speedup_at(mid) >= 1 ? hi : lo) = mid;
      }
      return hi;
    }
    lo = hi;
  }
  return std::nullopt;
}

} // namespace rapid::eval
