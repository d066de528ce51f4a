#pragma once
// The paper's Table 1, each method one type away (algorithm.md section 5), plus our additions.
// Prompts: "full" = chat prompt with the whole document, "retrieved" = the same with the
// retrieved chunks in place of the document.
#include "rapid/spec/acceptance/greedy_match.hpp"
#include "rapid/spec/acceptance/retrieval_augmented.hpp"
#include "rapid/spec/acceptance/retrieval_augmented_exact.hpp"
#include "rapid/spec/acceptance/speculative_sampling.hpp"
#include "rapid/spec/decoder.hpp"
#include "rapid/spec/drafters/prompt_lookup.hpp"
#include "rapid/spec/drafters/transformer_drafter.hpp"
#include "rapid/spec/targets.hpp"

namespace rapid::spec::methods {

/// LC: the target alone on the whole document (the 1.00x reference).
using lc = speculative_decoder<no_drafter, long_context_target, speculative_sampling>;
/// RAG: the target alone on the retrieved chunks.
using rag = speculative_decoder<no_drafter, rag_target, speculative_sampling>;
/// SD: a RAG drafter with lossless speculative sampling (RAPID with eta = 0).
using sd = speculative_decoder<rag_drafter, long_context_target, speculative_sampling>;
/// RAPID: a RAG drafter with the retrieval-augmented target shift (not lossless for eta > 0).
using rapid = speculative_decoder<rag_drafter, long_context_target, retrieval_augmented>;
/// RAPID made lossless with respect to p_hat (our correction).
using rapid_exact = speculative_decoder<rag_drafter, long_context_target, retrieval_augmented_exact>;
/// MagicDec: self-speculation with a StreamingLLM cache.
using magicdec = speculative_decoder<streaming_drafter, long_context_target, speculative_sampling>;
/// Naive SD: a small model on the whole document.
using naive_sd = speculative_decoder<model_drafter, long_context_target, speculative_sampling>;
/// Prompt lookup: n-gram drafts copied from the context, no draft model.
using lookup = speculative_decoder<prompt_lookup, long_context_target, speculative_sampling>;

} // namespace rapid::spec::methods
