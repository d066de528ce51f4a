// Roofline cost model: hand-computed forwards in both regimes, the expected-tokens formula and its
// inverse, speedup predictions, monotonicity, break-even consistency and bad input.
#include <doctest/doctest.h>

#include <cmath>
#include <optional>
#include <vector>

#include "rapid/eval/cost_model.hpp"

using namespace rapid::eval;

namespace {
// Round numbers so every expectation below can be checked by hand.
model_cost toy_target() {
  return {.name = "toy", .weight_bytes = 1e9, .kv_bytes_per_position = 1e5, .matmul_flops_per_token = 2e9,
          .attention_flops_per_position = 1e4};
}
model_cost toy_drafter() {
  return {.name = "toy-drafter", .weight_bytes = 1e8, .kv_bytes_per_position = 1e4, .matmul_flops_per_token = 2e8,
          .attention_flops_per_position = 1e3};
}
machine toy_machine(double overhead_s = 0) {
  return machine::measured("toy", /*bw*/ 1e10, /*matmul*/ 1e12, /*attention*/ 1e11, overhead_s);
}
} // namespace

TEST_CASE("cost model: a memory-bound forward is bytes over bandwidth, plus the overhead") {
  // 1 token after 1000 positions: weights 1e9 B / 1e10 B/s = 0.1 s (FLOPs: 2e9 / 1e12 = 2 ms);
  // KV (1000 + 1) x 1e5 B / 1e10 = 10.01 ms (FLOPs: 1 x 1001 x 1e4 / 1e11 = 0.1 ms).
  const auto f = forward_breakdown(toy_target(), toy_machine(0.005), 1, 1000);
  CHECK(f.weights_s == doctest::Approx(0.1));
  CHECK(f.attention_s == doctest::Approx(0.01001));
  CHECK(f.overhead_s == doctest::Approx(0.005));
  CHECK_FALSE(f.weights_compute_bound);
  CHECK_FALSE(f.attention_compute_bound);
  CHECK(f.seconds() == doctest::Approx(0.11501));
  CHECK(forward_seconds(toy_target(), toy_machine(0.005), 1, 1000) == doctest::Approx(0.11501));
}

TEST_CASE("cost model: a compute-bound forward is FLOPs over throughput") {
  // 100 tokens after 1000 positions: matmul 100 x 2e9 / 1e12 = 0.2 s beats 0.1 s of weight reads;
  // attention reads 1100 x 1e5 / 1e10 = 11 ms against 100 x 1050.5 x 1e4 / 1e11 = 10.5 ms of FLOPs.
  const auto f = forward_breakdown(toy_target(), toy_machine(), 100, 1000);
  CHECK(f.weights_compute_bound);
  CHECK(f.weights_s == doctest::Approx(0.2));
  CHECK_FALSE(f.attention_compute_bound);
  CHECK(f.attention_s == doctest::Approx(0.011));
  // 1000 tokens after 1e5 positions: attention FLOPs 1000 x (1e5 + 500.5) x 1e4 / 1e11 = 10.05005 s
  // against 1.01 s of KV reads.
  const auto g = forward_breakdown(toy_target(), toy_machine(), 1000, 1e5);
  CHECK(g.attention_compute_bound);
  CHECK(g.attention_s == doctest::Approx(10.05005));
  CHECK(g.weights_s == doctest::Approx(2.0));
  CHECK(g.seconds() == doctest::Approx(12.05005));
}

TEST_CASE("cost model: a tiled matmul runs the rows outside full tiles at the remainder rate") {
  // Tiles of 4 rows at 1e12 FLOP/s, leftover rows at 5e11. 100 tokens = 25 tiles: as untiled.
  const machine tiled = toy_machine().with_matmul_tiles(4, 5e11);
  CHECK(forward_breakdown(toy_target(), tiled, 100, 1000).weights_s == doctest::Approx(0.2));
  // 103 tokens: 100 x 2e9 / 1e12 + 3 x 2e9 / 5e11 = 0.2 + 0.012 s.
  CHECK(forward_breakdown(toy_target(), tiled, 103, 1000).weights_s == doctest::Approx(0.212));
  // 3 tokens, no full tile: 3 x 2e9 / 5e11 = 12 ms, still under the 0.1 s of weight reads.
  const auto f = forward_breakdown(toy_target(), tiled, 3, 1000);
  CHECK_FALSE(f.weights_compute_bound);
  CHECK(tiled.matmul_compute_seconds(3, 2e9) == doctest::Approx(0.012));
  CHECK(tiled.matmul_compute_seconds(5, 2e9) == doctest::Approx(4 * 2e9 / 1e12 + 2e9 / 5e11));
  // Untiled (the default) ignores the remainder rate.
  CHECK(toy_machine().matmul_compute_seconds(3, 2e9) == doctest::Approx(3 * 2e9 / 1e12));
  CHECK_THROWS_WITH_AS((void)toy_machine().with_matmul_tiles(4, 0), doctest::Contains("outside full tiles"),
                       rapid::invalid_argument);
}

TEST_CASE("cost model: a multi-row attention rate applies to forwards of several tokens only") {
  // One-row attention at 5e8 FLOP/s, so even one token is compute-bound. 5 tokens after 1e5
  // positions: FLOPs 5 x (1e5 + 3) x 1e4 = 5.00015e9 -> 10.0003 s (KV reads (1e5 + 5) x 1e5 / 1e10 =
  // 1.0005 s); one token: 1.00001e9 -> 2.00002 s against 1.00001 s of reads.
  const machine slow = machine::measured("slow attention", 1e10, 1e12, 5e8);
  CHECK(forward_breakdown(toy_target(), slow, 5, 1e5).attention_s == doctest::Approx(10.0003));
  CHECK(forward_breakdown(toy_target(), slow, 1, 1e5).attention_s == doctest::Approx(2.00002));
  // Multi-row at 2.5e9: 2.00006 s for the 5 tokens; the one-token forward keeps the one-row rate
  // (at 2.5e9 it would be memory-bound, 1.00001 s).
  const machine shared = slow.with_multirow_attention(2.5e9);
  CHECK(forward_breakdown(toy_target(), shared, 5, 1e5).attention_s == doctest::Approx(2.00006));
  CHECK(forward_breakdown(toy_target(), shared, 1, 1e5).attention_s == doctest::Approx(2.00002));
  CHECK(shared.attention_throughput(1) == 5e8);
  CHECK(shared.attention_throughput(5) == 2.5e9);
  CHECK(slow.attention_throughput(5) == 5e8);  // unset: the one-row rate
  CHECK_THROWS_WITH_AS((void)slow.with_multirow_attention(-1), doctest::Contains("multi-row attention"), rapid::invalid_argument);
}

TEST_CASE("cost model: costs from a config count the matrices, the KV cache and the attention work") {
  // Qwen2.5-Coder-1.5B's shape: 28 layers, 1536 wide, 12/2 heads of 128, FFN 8960, vocab 151936.
  const auto c = shapes::make("qwen2", 28, 1536, 12, 2, 128, 8960, 151936, 32768);
  const double per_layer = 1536.0 * 1536 + 2 * 1536.0 * 256 + 1536.0 * 1536 + 3 * 1536.0 * 8960;
  CHECK(matrix_parameters(c) == doctest::Approx(28 * per_layer + 151936.0 * 1536));
  const auto m = cost_from_config(c, 979'517'952.0);
  CHECK(m.weight_bytes == 979'517'952.0);
  CHECK(m.kv_bytes_per_position == 2.0 * 28 * 256 * 2);           // K and V, F16: 28,672 B
  CHECK(m.attention_flops_per_position == 4.0 * 28 * 12 * 128);   // QK^T and PV per query head
  CHECK(m.matmul_flops_per_token == doctest::Approx(2 * matrix_parameters(c)));
  CHECK(m.name == "qwen2");
  // Published shapes: LLaMA-3.1-8B has ~7.5e9 matrix parameters (8.0e9 with the embedding), 128 KiB
  // of BF16 KV per position; 70B ~69.5e9 and 320 KiB.
  const auto l8 = cost_from_config_uniform(shapes::llama31_8b(), 2.0);
  CHECK(l8.parameters() == doctest::Approx(7.50e9).epsilon(0.01));
  CHECK(l8.weight_bytes == doctest::Approx(2 * l8.parameters()));
  CHECK(l8.kv_bytes_per_position == 131072.0);
  const auto l70 = cost_from_config_uniform(shapes::llama31_70b(), 2.0);
  CHECK(l70.parameters() == doctest::Approx(69.5e9).epsilon(0.01));
  CHECK(l70.kv_bytes_per_position == 327680.0);
  // Anything with config() and weight_bytes_per_token() works, like model::model.
  struct fake_model {
    rapid::model::model_config c;
    const rapid::model::model_config& config() const { return c; }
    std::size_t weight_bytes_per_token() const { return 123456789; }
  } fake{c};
  CHECK(cost_of(fake).weight_bytes == 123456789.0);
  CHECK(cost_of(fake, 4.0).kv_bytes_per_position == 2.0 * 28 * 256 * 4);
}

TEST_CASE("cost model: machines") {
  const auto h = machine::h100_sxm();
  CHECK(h.read_bytes_per_s == doctest::Approx(3.35e12 * 0.80));
  CHECK(h.matmul_ops_per_s == doctest::Approx(989e12 * 0.60));
  CHECK(h.attention_throughput() == h.matmul_ops_per_s);
  const auto h4 = machine::h100_sxm(4, 1.0, 1.0, 1e-3);
  CHECK(h4.read_bytes_per_s == doctest::Approx(4 * 3.35e12));
  CHECK(h4.overhead_s == 1e-3);
  // BM_matmul's Q4_K 8960 x 1536 matrix at batch 4: 4797.2 rows/s -> 132 GFLOP/s.
  CHECK(matmul_ops_per_s_from_bench(8960, 1536, 4797.2) == doctest::Approx(2.0 * 8960 * 1536 * 4797.2));
  CHECK(toy_machine().attention_throughput() == 1e11);
}

TEST_CASE("cost model: expected tokens per step and its inverse") {
  CHECK(expected_tokens_per_step(0.5, 3) == doctest::Approx((1 - 0.0625) / 0.5));  // 1.875
  CHECK(expected_tokens_per_step(0.0, 10) == doctest::Approx(1.0));
  CHECK(expected_tokens_per_step(1.0, 10) == doctest::Approx(11.0));
  CHECK(expected_tokens_per_step(0.8, 10) == doctest::Approx((1 - std::pow(0.8, 11)) / 0.2));
  for (const double a : {0.0, 0.1, 0.5, 0.8, 0.95})
    for (const int g : {1, 4, 10}) CHECK(acceptance_for_tau(expected_tokens_per_step(a, g), g) == doctest::Approx(a).epsilon(1e-6));
  CHECK(acceptance_for_tau(11.0, 10) == doctest::Approx(1.0));
}

TEST_CASE("cost model: speedup by hand with a free drafter and with a model drafter") {
  const auto hw = toy_machine();
  // Free drafter (prompt lookup), gamma 1, tau 2: speedup = 2 x t(1 token) / t(2 tokens).
  spec_config s{.target = toy_target(), .drafter = std::nullopt, .target_context = 1000, .gamma = 1};
  const auto e = predict_from_tau(s, hw, 2.0);
  const double t1 = 0.1 + 1001 * 1e5 / 1e10;  // memory-bound in both phases
  const double t2 = 0.1 + 1002 * 1e5 / 1e10;
  CHECK(e.lc_token_s == doctest::Approx(t1));
  CHECK(e.verify_s == doctest::Approx(t2));
  CHECK(e.draft_s == 0);
  CHECK(e.acceptance == doctest::Approx(1.0));
  CHECK(e.speedup == doctest::Approx(2 * t1 / t2));
  // Model drafter at 100 positions, gamma 4, acceptance 0.5: 3 one-token forwards + a commit of
  // 1 + 0.5^4 tokens (all memory-bound: each is 0.01 s of weights + (100 + n) x 1e4 / 1e10 of KV).
  s.drafter = toy_drafter();
  s.drafter_context = 100;
  s.gamma = 4;
  const auto d = predict_from_acceptance(s, hw, 0.5);
  const double d1 = 0.01 + 101 * 1e4 / 1e10, dc = 0.01 + (100 + 1.0625) * 1e4 / 1e10;
  CHECK(d.draft_s == doctest::Approx(3 * d1 + dc));
  CHECK(d.tau == doctest::Approx(expected_tokens_per_step(0.5, 4)));
  CHECK(d.speedup == doctest::Approx(t1 / ((d.draft_s + d.verify_s) / d.tau)));
  CHECK(d.seconds_per_token() == doctest::Approx(d.step_s() / d.tau));
  // retrieval_augmented_exact forwards every draft and then commits one token: gamma + 1 forwards.
  s.drafter_wants_next_q = true;
  CHECK(predict_from_acceptance(s, hw, 0.5).draft_s == doctest::Approx(5 * d1));
}

TEST_CASE("cost model: a free drafter of varying width is costed at its measured widths") {
  const auto hw = machine::measured("toy", 1e10, /*matmul*/ 4e10, 1e11);  // weights: 1-2 rows memory-bound, 3 compute-bound
  const auto target = toy_target();
  const auto t = [&](double rows) { return forward_seconds(target, hw, rows, 1000); };
  // Every step at the same width: the same as predict_from_tau at that gamma.
  const spec_config s{.target = target, .drafter = std::nullopt, .target_context = 1000, .gamma = 2};
  const std::vector<double> all_two = {0, 0, 7};
  const auto same = predict_free_drafter(target, hw, 1000, 2.5, all_two);
  CHECK(same.speedup == doctest::Approx(predict_from_tau(s, hw, 2.5).speedup));
  CHECK(same.acceptance == doctest::Approx(0.75));  // 1.5 accepted of 2 offered per step
  // Half the steps draft nothing, half draft 2: the verification costs average t(1) and t(3),
  // which is not t(2) (the mean width) because t(3) is compute-bound.
  const std::vector<double> mixed = {5, 0, 5};
  const auto e = predict_free_drafter(target, hw, 1000, 1.5, mixed);
  CHECK(e.verify_s == doctest::Approx((t(1) + t(3)) / 2));
  CHECK(e.verify_s != doctest::Approx(t(2)));
  CHECK(e.speedup == doctest::Approx(1.5 * t(1) / e.verify_s));
  CHECK(e.acceptance == doctest::Approx(0.5));
  CHECK(e.draft_s == 0);
  // Nothing ever offered: one-token verifications, no acceptance.
  const std::vector<double> none = {4};
  CHECK(predict_free_drafter(target, hw, 1000, 1.0, none).speedup == doctest::Approx(1.0));
  // Bad input names what is wrong.
  const std::vector<double> empty = {0, 0}, negative = {1, -1};
  CHECK_THROWS_WITH_AS((void)predict_free_drafter(target, hw, 1000, 1.0, empty), doctest::Contains("no steps"), rapid::invalid_argument);
  CHECK_THROWS_AS((void)predict_free_drafter(target, hw, 1000, 1.0, negative), rapid::invalid_argument);
  CHECK_THROWS_WITH_AS((void)predict_free_drafter(target, hw, 1000, 3.5, mixed), doctest::Contains("tau"), rapid::invalid_argument);
}

TEST_CASE("cost model: monotonicity") {
  const auto hw = machine::h100_sxm();
  const auto l8 = cost_from_config_uniform(shapes::llama31_8b(), 2.0);
  // Verification cost never falls with more tokens or a longer context.
  double prev = 0;
  for (int n = 1; n <= 256; n *= 2) {
    const double t = forward_seconds(l8, hw, n, 65536);
    CHECK(t >= prev);
    prev = t;
  }
  CHECK(forward_seconds(l8, hw, 1, 131072) > forward_seconds(l8, hw, 1, 32768));
  // Speedup grows with acceptance.
  spec_config s{.target = l8, .drafter = cost_from_config_uniform(shapes::llama32_1b(), 2.0), .target_context = 131072,
                .drafter_context = 5461, .gamma = 10};
  prev = 0;
  for (double a = 0.0; a <= 1.0001; a += 0.05) {
    const double v = predict_from_acceptance(s, hw, std::min(a, 1.0)).speedup;
    CHECK(v > prev);
    prev = v;
  }
  // With a same-size drafter, a longer target context helps (the drafter's context is fixed).
  s.drafter = l8;
  s.target_context = 32768;
  const double short_ctx = predict_from_acceptance(s, hw, 0.8).speedup;
  s.target_context = 131072;
  CHECK(predict_from_acceptance(s, hw, 0.8).speedup > short_ctx);
  // best_gamma returns the argmax.
  const int g = best_gamma(s, hw, 0.8);
  s.gamma = g;
  const double at_best = predict_from_acceptance(s, hw, 0.8).speedup;
  for (int other = 1; other <= 16; ++other) {
    s.gamma = other;
    CHECK(predict_from_acceptance(s, hw, 0.8).speedup <= at_best + 1e-12);
  }
}

TEST_CASE("cost model: break-even context is where the speedup crosses 1") {
  const auto hw = machine::h100_sxm();
  const auto l8 = cost_from_config_uniform(shapes::llama31_8b(), 2.0);
  spec_config s{.target = l8, .drafter = l8, .gamma = 2};
  const auto be = break_even_context(s, hw, 0.8, 1 << 20, paper_rag_budget);
  REQUIRE(be.has_value());
  const auto speedup_at = [&](double ctx) {
    spec_config t = s;
    t.target_context = ctx;
    t.drafter_context = paper_rag_budget(ctx);
    return predict_from_acceptance(t, hw, 0.8).speedup;
  };
  CHECK(speedup_at(*be) >= 1.0);
  CHECK(speedup_at(*be - 2) < 1.0);
  CHECK(speedup_at(*be) == doctest::Approx(1.0).epsilon(1e-3));
  // Higher acceptance breaks even earlier; a drafter that is nearly free at any context, at once.
  const auto be_high = break_even_context(s, hw, 0.95, 1 << 20, paper_rag_budget);
  REQUIRE(be_high.has_value());
  CHECK(*be_high < *be);
  spec_config cheap{.target = l8, .drafter = cost_from_config_uniform(shapes::llama32_1b(), 2.0), .drafter_context = 4096, .gamma = 4};
  CHECK(break_even_context(cheap, hw, 0.8, 1 << 20) == std::optional<double>(0.0));
  // Acceptance 0 never pays (tau 1, extra drafting): no break-even.
  CHECK_FALSE(break_even_context(s, hw, 0.0, 1 << 20, paper_rag_budget).has_value());
}

TEST_CASE("cost model: bad input is refused with a named value") {
  CHECK_THROWS_AS((void)machine::measured("cpu", -1e9, 1e11), rapid::invalid_argument);
  CHECK_THROWS_WITH_AS((void)machine::measured("cpu", 1e10, 0), doctest::Contains("matmul throughput"), rapid::invalid_argument);
  CHECK_THROWS_AS((void)machine::measured("cpu", 1e10, 1e11, -1), rapid::invalid_argument);
  CHECK_THROWS_AS((void)machine::measured("cpu", 1e10, 1e11, 0, std::nan("")), rapid::invalid_argument);
  CHECK_THROWS_AS((void)machine::h100_sxm(0), rapid::invalid_argument);
  CHECK_THROWS_AS((void)machine::h100_sxm(1, 1.5), rapid::invalid_argument);
  CHECK_THROWS_AS((void)matmul_ops_per_s_from_bench(0, 1536, 1.0), rapid::invalid_argument);

  model_cost bad = toy_target();
  bad.weight_bytes = -5;
  CHECK_THROWS_WITH_AS((void)forward_seconds(bad, toy_machine(), 1, 0), doctest::Contains("weight_bytes"), rapid::invalid_argument);
  CHECK_THROWS_AS((void)forward_seconds(toy_target(), toy_machine(), 0, 10), rapid::invalid_argument);   // no new tokens
  CHECK_THROWS_AS((void)forward_seconds(toy_target(), toy_machine(), 1, -10), rapid::invalid_argument);  // negative context
  CHECK_THROWS_AS((void)cost_from_config(rapid::model::model_config{}, 1e9), rapid::invalid_argument);    // empty shape
  CHECK_THROWS_AS((void)cost_from_config_uniform(shapes::llama31_8b(), 0), rapid::invalid_argument);

  CHECK_THROWS_WITH_AS((void)expected_tokens_per_step(0.5, 0), doctest::Contains("gamma must be >= 1"), rapid::invalid_argument);
  CHECK_THROWS_AS((void)expected_tokens_per_step(1.5, 4), rapid::invalid_argument);
  CHECK_THROWS_AS((void)expected_tokens_per_step(-0.1, 4), rapid::invalid_argument);
  CHECK_THROWS_AS((void)acceptance_for_tau(0.5, 4), rapid::invalid_argument);  // below 1 token per step
  CHECK_THROWS_AS((void)acceptance_for_tau(6.0, 4), rapid::invalid_argument);  // above gamma + 1

  spec_config s{.target = toy_target(), .drafter = toy_drafter(), .target_context = 1000, .drafter_context = 100, .gamma = 0};
  CHECK_THROWS_WITH_AS((void)predict_from_acceptance(s, toy_machine(), 0.5), doctest::Contains("gamma"), rapid::invalid_argument);
  s.gamma = 4;
  CHECK_THROWS_AS((void)predict_from_tau(s, toy_machine(), 7.0), rapid::invalid_argument);
  s.drafter_context = -1;
  CHECK_THROWS_AS((void)predict_from_acceptance(s, toy_machine(), 0.5), rapid::invalid_argument);
  s.drafter_context = 100;
  CHECK_THROWS_AS((void)break_even_context(s, toy_machine(), 0.5, 0), rapid::invalid_argument);
  CHECK_THROWS_AS((void)best_gamma(s, toy_machine(), 0.5, 0), rapid::invalid_argument);
}
