// The speculative decoder loop: multi-step output distributions on synthetic models (chi-square
// over 100,000 generations), greedy identity on a real model for every drafter, KV rollback and
// the StreamingLLM window.
#include <algorithm>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <cstdlib>
#include <string_view>
#include <memory>
#include <numeric>
#include <vector>

#include <doctest/doctest.h>

#include "rapid/model/tokenizer.hpp"
#include "rapid/spec/methods.hpp"
#include "spec/synthetic.hpp"
#include "test_support.hpp"

using namespace rapid;
using spec::token;

namespace {

constexpr std::size_t vocab = 6, new_tokens = 3, runs = 100'000;

/// Exact probability of every 3-token continuation of `prompt` when each position is drawn from
/// `next(prev, len)` (a distribution over the vocabulary). Index: t0 * V^2 + t1 * V + t2.
template <class Next>
std::vector<double> sequence_probabilities(const std::vector<token>& prompt, Next next) {
  std::vector<double> probs(vocab * vocab * vocab);
  for (std::size_t i = 0; i < probs.size(); ++i) {
    const token seq[3] = {token(i / (vocab * vocab)), token(i / vocab % vocab), token(i % vocab)};
    double pr = 1;
    token prev = prompt.back();
    std::size_t len = prompt.size();
    for (const token t : seq) {
      pr *= next(prev, len)[static_cast<std::size_t>(t)];
      prev = t;
      ++len;
    }
    probs[i] = pr;
  }
  return probs;
}

template <class Decoder>
std::vector<std::size_t> sequence_counts(Decoder& dec, const std::vector<token>& prompt) {
  std::vector<std::size_t> counts(vocab * vocab * vocab, 0);
  for (std::size_t r = 0; r < runs; ++r) {
    dec.reseed(1000 + r);
    const auto out = dec.generate({.full = prompt, .retrieved = prompt});
    REQUIRE(out.tokens.size() == new_tokens);
    ++counts[static_cast<std::size_t>(out.tokens[0]) * vocab * vocab + static_cast<std::size_t>(out.tokens[1]) * vocab +
             static_cast<std::size_t>(out.tokens[2])];
  }
  return counts;
}

void check_fits(std::span<const std::size_t> counts, std::span<const double> probs) {
  const auto [stat, df] = test::chi_square(counts, probs);
  INFO("chi2 = " << stat << ", df = " << df << ", critical(1e-4) = " << test::chi_square_critical(df));
  REQUIRE(df >= 10);
  CHECK(stat < test::chi_square_critical(df));
}

} // namespace

TEST_CASE("speculative decoding with speculative_sampling reproduces the target's sequence distribution") {
  const std::vector<token> prompt = {1, 4};
  for (float temperature : {0.8f, 1.3f})
    for (std::size_t gamma : {1u, 3u}) {
      CAPTURE(temperature); CAPTURE(gamma);
      test::synthetic_target target(1, vocab);
      test::synthetic_drafter drafter(2, vocab);
      spec::decoder_options o{.gamma = gamma, .acceptance = {.sampling = {.temperature = temperature}}, .max_new_tokens = new_tokens};
      spec::speculative_decoder<test::synthetic_drafter, test::synthetic_target, spec::speculative_sampling> dec(target, drafter, o);
      const auto counts = sequence_counts(dec, prompt);
      spec::distribution_maker make_p(o.acceptance.sampling);
      const auto expected = sequence_probabilities(prompt, [&](token prev, std::size_t len) {
        std::vector<float> p(vocab);
        make_p(target.logits_after(prev, len), p);
        return p;
      });
      check_fits(counts, expected);
      const auto [stat_q, df_q] = test::chi_square(counts, sequence_probabilities(prompt, [&](token prev, std::size_t len) {
        std::vector<float> q(vocab);
        make_p(drafter.logits_after(prev, len), q);
        return q;
      }));
      CHECK(stat_q > 10 * test::chi_square_critical(df_q));  // power: far from the drafter's distribution
    }
}

TEST_CASE("speculative decoding with retrieval_augmented_exact reproduces p_hat over whole sequences") {
  const std::vector<token> prompt = {2, 5};
  for (float temperature : {0.8f, 1.3f})
    for (std::size_t gamma : {1u, 3u}) {
      CAPTURE(temperature); CAPTURE(gamma);
      test::synthetic_target target(3, vocab);
      test::synthetic_drafter drafter(4, vocab);
      const float eta = 5.f;
      spec::decoder_options o{.gamma = gamma, .acceptance = {.sampling = {.temperature = temperature}, .eta = eta}, .max_new_tokens = new_tokens};
      spec::speculative_decoder<test::synthetic_drafter, test::synthetic_target, spec::retrieval_augmented_exact> dec(target, drafter, o);
      const auto counts = sequence_counts(dec, prompt);
      spec::distribution_maker make_p(o.acceptance.sampling);
      const auto expected = sequence_probabilities(prompt, [&](token prev, std::size_t len) {
        std::vector<float> p(vocab), q(vocab), p_hat(vocab);
        make_p(target.logits_after(prev, len), p);
        make_p(drafter.logits_after(prev, len), q);
        spec::shift_toward_drafter(p, q, eta, 0.1f, p_hat);
        return p_hat;
      });
      check_fits(counts, expected);
    }
}

TEST_CASE("decoder statistics follow their definitions") {
  test::synthetic_target target(1, vocab);
  test::synthetic_drafter drafter(1, vocab);  // the same function: every draft is accepted
  spec::decoder_options o{.gamma = 4, .acceptance = {.sampling = {.temperature = 1.f}}, .max_new_tokens = 23};
  spec::speculative_decoder<test::synthetic_drafter, test::synthetic_target, spec::speculative_sampling> dec(target, drafter, o);
  const std::vector<token> prompt = {0, 1, 2};
  const auto out = dec.generate({.full = prompt, .retrieved = prompt});
  const auto& s = out.stats;
  CHECK(out.tokens.size() == 23);
  CHECK(s.acceptance_rate() == doctest::Approx(1.0));
  CHECK(s.steps == 5);  // 4 full steps of 5 tokens, then a last step capped at 3 (2 drafts + bonus)
  CHECK(s.tau() == doctest::Approx(23.0 / 5.0));
  CHECK(s.drafted == 4 * 4 + 2);
  CHECK(s.accepted_hist.at(4) == 4);
  CHECK(s.accepted_hist.at(2) == 1);
  CHECK(target.size() == prompt.size() + 23 - 1);  // committed sequence; the last token is pending
}

TEST_CASE("decoder refuses bad options and mismatched policies") {
  test::synthetic_target target(1, vocab, 16);
  test::synthetic_drafter drafter(1, vocab + 1);
  using dec_t = spec::speculative_decoder<test::synthetic_drafter, test::synthetic_target, spec::speculative_sampling>;
  CHECK_THROWS_AS(dec_t(target, drafter, {}), invalid_argument);  // vocabulary sizes differ
  test::synthetic_drafter ok(1, vocab);
  CHECK_THROWS_AS(dec_t(target, ok, {.max_new_tokens = 0}), invalid_argument);
  CHECK_THROWS_AS(dec_t(target, ok, {.acceptance = {.eta = -1.f}}), invalid_argument);
  dec_t dec(target, ok, {.max_new_tokens = 10});
  const std::vector<token> prompt(10, 1), empty;
  CHECK_THROWS_AS(dec.generate({.full = prompt, .retrieved = prompt}), capacity_error);  // 10 + 10 - 1 > 16
  CHECK_THROWS_AS(dec.generate({.full = empty, .retrieved = empty}), invalid_argument);
}

// ---- real model --------------------------------------------------------------------------------

namespace {

struct smollm2 {
  std::shared_ptr<const model::model> m;
  model::tokenizer tok;
  std::vector<token> full, retrieved;
};

std::optional<smollm2> load_smollm2() {
  const auto path = test::cached("models/smollm2-135m-instruct-q4_1.gguf");
  const auto essay = test::cached("data/paul_graham_essays/avg.txt");
  if (!path || !essay) return std::nullopt;
  auto m = std::make_shared<const model::model>(path->string());
  auto tok = model::tokenizer::from_gguf(m->file());
  std::ifstream in(*essay);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto doc = tok.encode(text);
  // A 400-token "document" prompt and a 120-token "retrieved" one (its last part).
  std::vector<token> full(doc.begin(), doc.begin() + 400), retrieved(doc.begin() + 280, doc.begin() + 400);
  return smollm2{m, std::move(tok), std::move(full), std::move(retrieved)};
}

template <class Method>
std::vector<token> run(typename Method::target_type& target, typename Method::drafter_type& drafter, const smollm2& s,
                       spec::decoder_options o, spec::decode_stats* stats = nullptr) {
  Method dec(target, drafter, o);
  auto out = dec.generate({.full = s.full, .retrieved = s.retrieved});
  if (stats) *stats = out.stats;
  return out.tokens;
}

} // namespace

TEST_CASE("greedy_match: every drafter reproduces the target's greedy decoding on SmolLM2") {
  const auto s = load_smollm2();
  if (!s) return;
  const model::transformer_options to{.n_ctx = 1024, .threads = 2};
  spec::decoder_options o{.gamma = 5, .max_new_tokens = 40};
  spec::long_context_target target(s->m, to);
  spec::no_drafter none(target.vocab_size());
  using namespace spec;
  const auto reference = run<speculative_decoder<no_drafter, long_context_target, greedy_match>>(target, none, *s, o);
  REQUIRE(reference.size() == 40);

  {
    INFO("rag drafter on the retrieved prompt");
    rag_drafter d(s->m, to);
    decode_stats st;
    CHECK(run<speculative_decoder<rag_drafter, long_context_target, greedy_match>>(target, d, *s, o, &st) == reference);
    MESSAGE("rag drafter acceptance " << st.acceptance_rate() << ", tau " << st.tau());
    CHECK(st.steps < 40);  // it did speculate
  }
  {
    INFO("model drafter (self) on the full prompt: every draft accepted");
    model_drafter d(s->m, to);
    decode_stats st;
    CHECK(run<speculative_decoder<model_drafter, long_context_target, greedy_match>>(target, d, *s, o, &st) == reference);
    CHECK(st.acceptance_rate() > 0.95);
  }
  {
    INFO("streaming drafter (sink 4, window 124)");
    streaming_drafter d(s->m, {.n_ctx = 4 + 124 + 128, .threads = 2}, {.sink = 4, .window = 124}, 128);
    CHECK(run<speculative_decoder<streaming_drafter, long_context_target, greedy_match>>(target, d, *s, o) == reference);
    CHECK(d.engine().size() == 128);
    CHECK(d.engine().position() == s->full.size() + 40);  // the prompt and every emitted token
  }
  {
    INFO("prompt lookup");
    prompt_lookup d(target.vocab_size());
    CHECK(run<speculative_decoder<prompt_lookup, long_context_target, greedy_match>>(target, d, *s, o) == reference);
  }
  {
    INFO("gamma auto: draft lengths change, greedy output does not; the calibration is timed and counted");
    rag_drafter d(s->m, to);
    decode_stats st;
    auto oa = o;
    oa.gamma_auto = true;
    CHECK(run<speculative_decoder<rag_drafter, long_context_target, greedy_match>>(target, d, *s, oa, &st) == reference);
    CHECK(st.calibration_s > 0);
    CHECK(st.offered_at.size() <= oa.gamma);
    CHECK(st.decode_seconds() >= st.calibration_s + st.verify_s);
  }
  {
    INFO("gamma auto on a given cost table (a verify_cost_cache's): nothing is timed, the table decides");
    model_drafter d(s->m, to);
    auto oa = o;
    oa.gamma_auto = true;
    oa.verify_costs = {0, 1, 2, 3, 4, 5, 6};  // a forward of k tokens costs k steps: one draft per step pays best
    speculative_decoder<model_drafter, long_context_target, greedy_match> one(target, d, oa);
    const auto out = one.generate({.full = s->full, .retrieved = s->retrieved});
    CHECK(out.tokens == reference);
    CHECK(out.verify_costs == oa.verify_costs);
    CHECK(out.stats.drafted <= 4 + (out.stats.steps - 1));  // the first step's 4, then 1 per step
    CHECK(out.stats.steps > 10);
    oa.verify_costs = {0, 1, 1, 1, 1, 1, 1};  // width-free verification: the longest drafts
    speculative_decoder<model_drafter, long_context_target, greedy_match> all(target, d, oa);
    const auto wide = all.generate({.full = s->full, .retrieved = s->retrieved});
    CHECK(wide.tokens == reference);
    CHECK(wide.stats.steps < out.stats.steps);
    oa.verify_costs = {0, 1, 1};  // too short for gamma 5: refused before decoding
    CHECK_THROWS_AS(oa.validate(), rapid::invalid_argument);
  }
  {
    INFO("a target prefill reused through target_cached gives the same output");
    target.reset();
    target.prefill(std::span<const token>(s->full).first(s->full.size() - 1));
    speculative_decoder<no_drafter, long_context_target, greedy_match> dec(target, none, o);
    auto p = spec::prompts{.full = s->full, .retrieved = s->retrieved, .target_cached = s->full.size() - 1};
    const auto out = dec.generate(p);
    CHECK(out.tokens == reference);
    CHECK(out.stats.target_prefill_s < 0.05);  // nothing was recomputed
  }
}

TEST_CASE("a RAG drafter resumed from a snapshot of its prompt prefix decodes exactly as one started from scratch") {
  const auto s = load_smollm2();
  if (!s) return;
  using namespace spec;
  using rapid_decoder = speculative_decoder<rag_drafter, long_context_target, retrieval_augmented>;
  const model::transformer_options to{.n_ctx = 1024, .threads = 2};
  // Sampling with eta > 0: every draft's q enters the acceptance test and p_hat, so a drafter
  // state that differed in any logit would show in the tokens or the acceptance counts.
  const decoder_options o{.gamma = 4, .acceptance = {.sampling = {.temperature = 0.7f}, .eta = 10.f}, .seed = 7, .max_new_tokens = 40};
  long_context_target target(s->m, to);
  rag_drafter scratch(s->m, to);
  rapid_decoder a(target, scratch, o);
  const auto ref = a.generate({.full = s->full, .retrieved = s->retrieved});

  // The snapshot: the drafter's cache after all but the last retrieved token.
  const auto prefix = std::span<const token>(s->retrieved).first(s->retrieved.size() - 1);
  rag_drafter primer(s->m, to);
  primer.start(prefix);
  std::stringstream snapshot;
  primer.save_cache(snapshot);

  rag_drafter resumed(s->m, {.n_ctx = 512, .threads = 2});  // another capacity: a snapshot only needs room
  resumed.restore_cache(snapshot);
  rapid_decoder b(target, resumed, o);
  const auto out = b.generate({.full = s->full, .retrieved = s->retrieved, .drafter_cached = prefix.size()});
  CHECK(out.tokens == ref.tokens);
  CHECK(out.stats.accepted == ref.stats.accepted);
  CHECK(out.stats.drafted == ref.stats.drafted);
  CHECK(out.stats.accepted_at == ref.stats.accepted_at);
  MESSAGE("resumed drafter: " << out.stats.accepted << " of " << out.stats.drafted << " drafts accepted, as from scratch");

  // What cannot resume says so.
  rag_drafter empty(s->m, to);
  rapid_decoder c(target, empty, o);
  CHECK_THROWS_WITH_AS(c.generate({.full = s->full, .retrieved = s->retrieved, .drafter_cached = prefix.size()}),
                       doctest::Contains("cache holds 0"), invalid_argument);
  CHECK_THROWS_WITH_AS(b.generate({.full = s->full, .retrieved = s->retrieved, .drafter_cached = s->retrieved.size()}),
                       doctest::Contains("at least the last"), invalid_argument);
  streaming_drafter window(s->m, {.n_ctx = 4 + 124 + 128, .threads = 2}, {.sink = 4, .window = 124}, 128);
  window.start(std::span<const token>(s->full).first(100));
  speculative_decoder<streaming_drafter, long_context_target, speculative_sampling> w(target, window, o);
  CHECK_THROWS_WITH_AS(w.generate({.full = s->full, .retrieved = s->retrieved, .drafter_cached = 100}),
                       doctest::Contains("streaming-window"), invalid_argument);
  prompt_lookup lookup(target.vocab_size());
  speculative_decoder<prompt_lookup, long_context_target, speculative_sampling> l(target, lookup, o);
  CHECK_THROWS_WITH_AS(l.generate({.full = s->full, .retrieved = s->retrieved, .drafter_cached = 10}),
                       doctest::Contains("cannot resume"), invalid_argument);
}

TEST_CASE("streaming window: the cache holds sink + window entries at their true positions") {
  const auto s = load_smollm2();
  if (!s) return;
  const std::size_t sink = 4, window = 60, chunk = 32;
  spec::streaming_drafter d(s->m, {.n_ctx = sink + window + chunk, .kv = model::kv_type::f32, .threads = 2}, {sink, window}, chunk);
  model::transformer full(s->m, {.n_ctx = 1024, .kv = model::kv_type::f32, .threads = 2});
  const std::span<const token> prompt = std::span<const token>(s->full).first(200);
  d.start(prompt);
  CHECK(d.engine().size() == sink + window);
  CHECK(d.engine().position() == 200);
  full.forward(prompt);
  // Layer-0 keys depend only on the token and its RoPE position: kept slots must equal the full
  // run's keys at the original positions (slot j >= sink holds position j + evicted).
  const auto& dc = d.engine().cache();
  const auto& fc = full.cache();
  const std::size_t hd = dc.head_dim(), evicted = 200 - sink - window;
  // Key of a slot as a vector (keys are stored in transposed tiles, ops::key_offset).
  auto key = [hd](const model::kv_cache& c, std::size_t slot) {
    const auto* k = reinterpret_cast<const float*>(c.keys(0, 0));
    std::vector<float> out(hd);
    for (std::size_t d = 0; d < hd; ++d) out[d] = k[ops::key_offset(slot, d, hd)];
    return out;
  };
  for (std::size_t slot : {std::size_t(0), sink - 1, sink, sink + window - 1}) {
    const std::size_t pos = slot < sink ? slot : slot + evicted;
    CAPTURE(slot);
    CHECK(key(dc, slot) == key(fc, pos));
  }
  // Draft and commit: still sink + window afterwards, positions advance by what was emitted.
  rng g(1);
  const auto& block = d.draft({.gamma = 5, .sampling = {}}, g);
  REQUIRE(block.size() == 5);
  std::vector<token> emitted(block.tokens.begin(), block.tokens.begin() + 3);
  emitted.push_back(7);
  d.commit(emitted);
  CHECK(d.engine().size() == sink + window);
  CHECK(d.engine().position() == 204);
  full.forward(emitted);
  const auto& dc2 = d.engine().cache();
  CHECK(key(dc2, sink + window - 1) == key(fc, 203));
  // A cache too small for its window is refused.
  CHECK_THROWS_AS(spec::streaming_drafter(s->m, {.n_ctx = 64}, {sink, window}, chunk), invalid_argument);
}

TEST_CASE("drafter and target with different tokenizers are refused at construction") {
  const auto qwen = test::cached("models/qwen2.5-coder-0.5b.gguf");
  const auto s = load_smollm2();
  if (!qwen || !s) return;
  auto q = std::make_shared<const model::model>(qwen->string());
  spec::long_context_target target(s->m, model::transformer_options{.n_ctx = 256});
  spec::rag_drafter d(q, {.n_ctx = 256});
  try {
    spec::methods::sd dec(target, d, {});
    FAIL("a tokenizer mismatch was accepted");
  } catch (const invalid_argument& e) {
    CHECK(std::string(e.what()).find("tokenizer") != std::string::npos);
  }
}

TEST_CASE("greedy_match: every drafter reproduces greedy decoding on Qwen2.5-Coder-1.5B (big; RAPID_REQUIRE_BIG_MODELS=1)") {
  const char* env = std::getenv("RAPID_REQUIRE_BIG_MODELS");
  if (!env || std::string_view(env) != "1") {
    MESSAGE("skipped: set RAPID_REQUIRE_BIG_MODELS=1 to run the Qwen2.5-Coder-1.5B greedy identity (minutes on 2 cores)");
    return;
  }
  const auto big = test::cached("models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf");
  const auto small = test::cached("models/qwen2.5-coder-0.5b.gguf");
  const auto essay = test::cached("data/paul_graham_essays/avg.txt");
  if (!big || !small || !essay) return;
  auto m = std::make_shared<const model::model>(big->string());
  auto m_small = std::make_shared<const model::model>(small->string());
  const auto tok = model::tokenizer::from_gguf(m->file());
  std::ifstream in(*essay);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto doc = tok.encode(text);
  REQUIRE(doc.size() >= 1000);
  const smollm2 s{m, tok, {doc.begin(), doc.begin() + 1000}, {doc.begin() + 700, doc.begin() + 1000}};
  const model::transformer_options to{.n_ctx = 1100, .threads = 2};
  spec::decoder_options o{.gamma = 6, .max_new_tokens = 32};
  using namespace spec;
  long_context_target target(m, to);
  no_drafter none(target.vocab_size());
  const auto reference = run<speculative_decoder<no_drafter, long_context_target, greedy_match>>(target, none, s, o);
  rag_drafter rag(m_small, to);
  CHECK(run<speculative_decoder<rag_drafter, long_context_target, greedy_match>>(target, rag, s, o) == reference);
  model_drafter naive(m_small, to);
  CHECK(run<speculative_decoder<model_drafter, long_context_target, greedy_match>>(target, naive, s, o) == reference);
  streaming_drafter stream(m, {.n_ctx = 512 + 128, .threads = 2}, {.sink = 4, .window = 508}, 128);
  CHECK(run<speculative_decoder<streaming_drafter, long_context_target, greedy_match>>(target, stream, s, o) == reference);
  prompt_lookup lookup(target.vocab_size());
  CHECK(run<speculative_decoder<prompt_lookup, long_context_target, greedy_match>>(target, lookup, s, o) == reference);
}
