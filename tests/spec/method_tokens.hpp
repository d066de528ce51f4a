#pragma once
// One decoding of a method's decoder type on SmolLM2, for the registry's no-behaviour-change test:
// a fixed prompt (its last 24 tokens as the retrieved one), 20 new tokens, fixed sampling and
// seed. Built only from policy types, so the same code recorded the expected tokens on the code
// before the method registry existed.
#include <cstddef>
#include <memory>
#include <type_traits>
#include <vector>

#include "rapid/spec/methods.hpp"

namespace rapid::test {

template <class Method>
std::vector<spec::token> method_tokens(const std::shared_ptr<const model::model>& m, const std::vector<spec::token>& full,
                                       float temperature, std::uint64_t seed) {
  using namespace spec;
  using D = typename Method::drafter_type;
  using T = typename Method::target_type;
  const std::vector<token> retrieved(full.end() - 24, full.end());
  const model::transformer_options o{.n_ctx = 160, .threads = 2};
  T target(m, o);
  auto make_drafter = [&] {
    if constexpr (std::is_same_v<D, no_drafter> || std::is_same_v<D, prompt_lookup>) return D(target.vocab_size());
    else if constexpr (std::is_same_v<D, streaming_drafter>) return D(m, {.n_ctx = 4 + 32 + 64, .threads = 2}, {.sink = 4, .window = 32}, 64);
    else return D(m, o);
  };
  D drafter = make_drafter();
  decoder_options opts{.gamma = 4, .acceptance = {.sampling = {.temperature = temperature}, .eta = 5.f}, .seed = seed,
                       .max_new_tokens = 20};
  Method dec(target, drafter, opts);
  return dec.generate({.full = full, .retrieved = retrieved}).tokens;
}

} // namespace rapid::test
