#pragma once
// What a front end knows when it builds a method's drafter: the loaded models, the prompts'
// lengths and the run's options. Every library drafter builds itself from it (`D::make(setup)`,
// in the drafter's own header), so a front end runs any registered method (spec/registry.hpp)
// without naming drafter types, and a new drafter is its header plus one registry line.
#include <concepts>
#include <cstddef>
#include <memory>

#include "rapid/model/kv_cache.hpp"

namespace rapid::model {
class model;
}

namespace rapid::spec {

struct drafter_setup {
  std::shared_ptr<const model::model> target_model;   // the long-context model (self-drafting reads it)
  std::shared_ptr<const model::model> drafter_model;  // the drafter model (the target's for self-speculation)
  std::size_t vocab_size = 0;        // the target's vocabulary
  std::size_t full_ctx = 0;          // positions of the target's cache (document + question + new tokens)
  std::size_t retrieved_tokens = 0;  // length of the retrieved-context prompt
  std::size_t max_new_tokens = 0;
  std::size_t gamma = 0;             // the largest draft length of the run
  model::kv_type kv = model::kv_type::f16;
  int threads = 0;                   // 0: all OpenMP threads
  std::size_t sink = 4, window = 4092;  // streaming (StreamingLLM) drafters: cache kept
  std::size_t prefill_chunk = 512;
};

/// D::make(setup) builds a drafter of type D.
template <class D>
concept made_from_setup = requires(const drafter_setup& s) {
  { D::make(s) } -> std::same_as<D>;
};

} // namespace rapid::spec
