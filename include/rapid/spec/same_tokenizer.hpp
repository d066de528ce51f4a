#pragma once
// The model-based policies' tokenizer check: a drafter and a target on different GGUF files must
// tokenize alike, or the drafts would be nonsense to the target. The decoder calls it for any two
// policies that share_model (found by argument-dependent lookup), without knowing the model type.
#include "rapid/model/tokenizer.hpp"
#include "rapid/model/transformer.hpp"
#include "rapid/spec/abilities.hpp"

namespace rapid::spec {

/// Throws invalid_argument when two models would tokenize differently (model::require_same_vocabulary).
inline void require_same_tokenizer(const model::model& target, const model::model& drafter) {
  if (&target == &drafter) return;
  model::require_same_vocabulary(model::tokenizer::from_gguf(target.file()), model::tokenizer::from_gguf(drafter.file()));
}

/// The same for two policies, each on its loaded model.
template <shares_model Target, shares_model Drafter>
void require_same_tokenizer(const Target& target, const Drafter& drafter) {
  require_same_tokenizer(*target.shared_model(), *drafter.shared_model());
}

} // namespace rapid::spec
