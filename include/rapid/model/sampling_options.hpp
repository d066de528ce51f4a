#pragma once
// How logits become a next-token distribution: temperature, top-k, top-p, repetition penalty.
// Its own header so that the speculative policies' vocabulary (spec/types.hpp) names the options
// without pulling in the sampler.
#include <cmath>
#include <cstddef>
#include <string>

#include "rapid/core/error.hpp"

namespace rapid::model {

struct sampling_options {
  float temperature = 0.f;         // 0: greedy (argmax)
  std::size_t top_k = 0;           // 0: no top-k cut
  float top_p = 1.f;               // 1: no nucleus cut
  float repetition_penalty = 1.f;  // 1: off; > 1 discourages tokens seen in the last `penalty_window`
  std::size_t penalty_window = 64;

  /// Throws invalid_argument naming the first invalid option.
  void validate() const {
    if (!(temperature >= 0.f) || !std::isfinite(temperature))
      throw invalid_argument("temperature must be a finite number >= 0, got " + std::to_string(temperature));
    if (!(top_p > 0.f && top_p <= 1.f)) throw invalid_argument("top-p must be in (0, 1], got " + std::to_string(top_p));
    if (!(repetition_penalty > 0.f) || !std::isfinite(repetition_penalty))
      throw invalid_argument("repetition penalty must be a finite number > 0, got " + std::to_string(repetition_penalty));
  }
  [[nodiscard]] bool greedy() const noexcept { return temperature == 0.f; }
};

} // namespace rapid::model
