// The policy seam from outside the library: a target that is not model::transformer (a test
// double given its role by spec::target_role) composes with every drafter and every rule, and a
// toy acceptance rule and a toy drafter, written here against the public concepts only, run
// through the decoder; the model-based drafters run on an engine that is not model::transformer.
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "rapid/model/tokenizer.hpp"
#include "rapid/ops/row.hpp"
#include "rapid/spec/methods.hpp"
#include "spec/synthetic.hpp"
#include "test_support.hpp"

using namespace rapid;
using spec::token;

namespace {

/// The synthetic model as a bare engine (no role of its own): it is a target_model, nothing more.
class double_engine {
public:
  double_engine(std::uint64_t salt, std::size_t vocab) : m_(salt, vocab) {}
  std::span<const float> forward(std::span<const token> t) { return m_.forward(t); }
  std::span<const float> prefill(std::span<const token> t, std::size_t chunk, const spec::progress_fn& p) {
    return m_.prefill(t, chunk, p);
  }
  void truncate(std::size_t n) { m_.truncate(n); }
  void reset() { m_.reset(); }
  [[nodiscard]] std::size_t size() const { return m_.size(); }
  [[nodiscard]] std::size_t capacity() const { return m_.capacity(); }
  [[nodiscard]] std::size_t vocab_size() const { return m_.vocab_size(); }

private:
  test::synthetic_target m_;
};
using double_target = spec::full_context_target<double_engine>;
static_assert(spec::target_policy<double_target>);
static_assert(!spec::snapshot_cache<double_target> && !spec::shares_model<double_target>);  // offered only when the engine has them

/// Toy rule: accepts no draft and emits the target's argmax, so its output is greedy decoding.
struct reject_all {
  static constexpr bool wants_next_q = false;
  static constexpr bool greedy_drafts = true;
  static constexpr const char* name = "reject_all";
  explicit reject_all(const spec::acceptance_options& = {}) {}
  spec::verdict verify(const spec::draft_block&, std::span<const float> z, std::size_t n_vocab, rng&) const {
    return {0, ops::argmax(z.first(n_vocab))};
  }
};
static_assert(spec::acceptance_rule<reject_all>);

/// Toy drafter: proposes the last committed token gamma times (one-hot, no model).
class repeat_last {
public:
  static constexpr spec::context_kind context = spec::context_kind::full;
  explicit repeat_last(std::size_t vocab) : vocab_(vocab) {}
  [[nodiscard]] std::size_t vocab_size() const noexcept { return vocab_; }
  void start(std::span<const token> prompt, const spec::progress_fn& = {}) { last_ = prompt.back(); }
  const spec::draft_block& draft(const spec::draft_request& r, rng&) {
    block_.clear(vocab_);
    block_.one_hot = true;
    block_.tokens.assign(r.gamma, last_);
    return block_;
  }
  void commit(std::span<const token> emitted) { last_ = emitted.back(); }

private:
  std::size_t vocab_;
  token last_ = 0;
  spec::draft_block block_;
};
static_assert(spec::drafter<repeat_last>);

template <class Drafter, class Rule>
std::vector<token> decode(double_target& target, Drafter& d, std::span<const token> full, std::span<const token> retrieved,
                          spec::decoder_options o) {
  spec::speculative_decoder<Drafter, double_target, Rule> dec(target, d, o);
  return dec.generate({.full = full, .retrieved = retrieved}).tokens;
}

/// Every rule after drafter d: greedy_match and the toy rule give the target's greedy decoding;
/// at a temperature, retrieval_augmented with eta = 0 decides as speculative_sampling does.
template <class Drafter>
void every_rule(double_target& target, Drafter& d, std::span<const token> full, std::span<const token> retrieved,
                const std::vector<token>& greedy) {
  using namespace spec;
  decoder_options o{.gamma = 3, .max_new_tokens = greedy.size()};
  CHECK(decode<Drafter, greedy_match>(target, d, full, retrieved, o) == greedy);
  CHECK(decode<Drafter, reject_all>(target, d, full, retrieved, o) == greedy);
  o.acceptance = {.sampling = {.temperature = 0.8f}, .eta = 0.f};
  const auto sd = decode<Drafter, speculative_sampling>(target, d, full, retrieved, o);
  CHECK(sd.size() == greedy.size());
  CHECK(decode<Drafter, retrieval_augmented>(target, d, full, retrieved, o) == sd);
  o.acceptance.eta = 5.f;
  CHECK(decode<Drafter, retrieval_augmented>(target, d, full, retrieved, o).size() == greedy.size());
  CHECK(decode<Drafter, retrieval_augmented_exact>(target, d, full, retrieved, o).size() == greedy.size());
}

} // namespace

TEST_CASE("a toy rule and a toy drafter written against the concepts run through the decoder") {
  constexpr std::size_t vocab = 50;
  double_target target(7, vocab);
  const std::vector<token> prompt = {3, 1, 4, 1, 5};
  spec::no_drafter none(vocab);
  const auto greedy = decode<spec::no_drafter, spec::greedy_match>(target, none, prompt, prompt, {.max_new_tokens = 24});
  REQUIRE(greedy.size() == 24);
  repeat_last d(vocab);
  CHECK(decode<repeat_last, reject_all>(target, d, prompt, prompt, {.gamma = 4, .max_new_tokens = 24}) == greedy);
  CHECK(decode<repeat_last, spec::greedy_match>(target, d, prompt, prompt, {.gamma = 4, .max_new_tokens = 24}) == greedy);
  CHECK(decode<spec::no_drafter, reject_all>(target, none, prompt, prompt, {.max_new_tokens = 24}) == greedy);
  every_rule(target, d, prompt, prompt, greedy);
}

TEST_CASE("the model-based drafters run on any engine: a drafter over the test double") {
  constexpr std::size_t vocab = 50;
  double_target target(7, vocab);
  const std::vector<token> prompt = {3, 1, 4, 1, 5, 9, 2, 6};
  spec::no_drafter none(vocab);
  const auto greedy = decode<spec::no_drafter, spec::greedy_match>(target, none, prompt, prompt, {.max_new_tokens = 24});
  using same_engine = spec::model_drafter_on<double_engine>;
  static_assert(spec::drafter<same_engine> && !spec::snapshot_cache<same_engine> && !spec::shares_model<same_engine>);
  SUBCASE("the target's own engine as drafter: every draft is accepted") {
    same_engine d(double_engine(7, vocab));
    spec::speculative_decoder<same_engine, double_target, spec::greedy_match> dec(target, d, {.gamma = 4, .max_new_tokens = 24});
    const auto out = dec.generate({.full = prompt, .retrieved = prompt});
    CHECK(out.tokens == greedy);
    CHECK(out.stats.drafted > 0);
    CHECK(out.stats.accepted == out.stats.drafted);
  }
  SUBCASE("another engine as drafter: every rule keeps the target's decisions") {
    spec::rag_drafter_on<double_engine> d(double_engine(8, vocab));
    every_rule(target, d, prompt, prompt, greedy);
  }
}

TEST_CASE("a target that is not model::transformer composes with every drafter and every rule") {
  const auto path = test::cached("models/smollm2-135m-instruct-q4_1.gguf");
  if (!path) return;
  auto m = std::make_shared<const model::model>(path->string());
  const auto tok = model::tokenizer::from_gguf(m->file());
  const auto full = tok.encode("Speculative decoding drafts a few tokens with a small model and verifies them with a "
                               "large one in a single forward pass, keeping the ones the large model agrees with.");
  const std::vector<token> retrieved(full.end() - 12, full.end());
  double_target target(11, m->config().n_vocab);  // the drafters' vocabulary, its own logits
  spec::no_drafter none(target.vocab_size());
  const auto greedy = decode<spec::no_drafter, spec::greedy_match>(target, none, full, retrieved, {.max_new_tokens = 16});
  REQUIRE(greedy.size() == 16);
  const model::transformer_options to{.n_ctx = 256, .threads = 2};
  using namespace spec;
  SUBCASE("no drafter") { every_rule(target, none, full, retrieved, greedy); }
  SUBCASE("prompt lookup") {
    prompt_lookup d(target.vocab_size());
    every_rule(target, d, full, retrieved, greedy);
  }
  SUBCASE("rag drafter") {
    rag_drafter d(m, to);
    every_rule(target, d, full, retrieved, greedy);
  }
  SUBCASE("model drafter") {
    model_drafter d(m, to);
    every_rule(target, d, full, retrieved, greedy);
  }
  SUBCASE("streaming drafter") {
    streaming_drafter d(m, {.n_ctx = 4 + 60 + 64, .threads = 2}, {.sink = 4, .window = 60}, 64);
    every_rule(target, d, full, retrieved, greedy);
  }
}
