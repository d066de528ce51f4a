#pragma once
// The run-time knobs every acceptance rule is constructed from (the acceptance_rule concept
// requires a constructor from them): the sampling applied to target and drafter logits alike,
// RAPID's eta and alpha, and the threads for passes over a vocabulary row.
#include <cmath>
#include <string>

#include "rapid/core/error.hpp"
#include "rapid/model/sampling_options.hpp"

namespace rapid::spec {

struct acceptance_options {
  model::sampling_options sampling;  // applied to target and drafter logits alike
  float eta = 10.f;                  // RAPID transfer strength (retrieval_augmented*)
  float alpha = 0.1f;                // RAPID plausibility mask: shift only where q >= alpha * max q
  int threads = 0;                   // OpenMP threads for passes over a vocabulary row (0: OpenMP's default)

  void validate() const {
    sampling.validate();
    if (!std::isfinite(eta) || eta < 0.f) throw invalid_argument("eta must be a finite number >= 0, got " + std::to_string(eta));
    if (!(alpha >= 0.f && alpha <= 1.f)) throw invalid_argument("alpha must be in [0, 1], got " + std::to_string(alpha));
    if (threads < 0) throw invalid_argument("acceptance threads must be >= 0 (0: OpenMP's default), got " + std::to_string(threads));
  }
};

} // namespace rapid::spec
