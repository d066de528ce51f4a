#pragma once
// The model-based policies' tokenizer check: a drafter and a target on different GGUF files must
// tokenize alike, or the drafts would be nonsense to the target. The decoder calls it for any two
// policies that share_model (found by argument-dependent lookup), without knowing the model type.
#include <string>

#include "rapid/core/error.hpp"
#include "rapid/model/tokenizer.hpp"
#include "rapid/model/transformer.hpp"
#include "rapid/spec/abilities.hpp"

namespace rapid::spec {

/// Throws invalid_argument when two models would tokenize differently.
inline void require_same_tokenizer(const model::model& target, const model::model& drafter) {
  if (&target == &drafter) return;
  const auto a = model::tokenizer::from_gguf(target.file()), b = model::tokenizer::from_gguf(drafter.file());
  if (auto why = vocabulary_difference(a, b))
    throw invalid_argument("drafter " + drafter.file().name() + " and target " + target.file().name() +
                           " do not share a tokenizer: " + *why);
}

/// The same for two policies, each on its loaded model.
template <shares_model Target, shares_model Drafter>
void require_same_tokenizer(const Target& target, const Drafter& drafter) {
  require_same_tokenizer(*target.shared_model(), *drafter.shared_model());
}

} // namespace rapid::spec
