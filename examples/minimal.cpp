// Minimal embedding: answer one question about a long document with RAPID (self-speculation:
// the target's own weights draft from the retrieved chunks). usage: minimal MODEL.gguf DOC.txt QUESTION
#include <fstream>
#include <iostream>
#include <iterator>

#include "rapid/rapid.hpp"

int main(int argc, char** argv) try {
  if (argc != 4) return std::cerr << "usage: minimal MODEL.gguf DOCUMENT.txt QUESTION\n", 2;
  auto weights = std::make_shared<const rapid::model::model>(argv[1]);
  const auto tok = rapid::model::tokenizer::from_gguf(weights->file());
  std::ifstream in(argv[2]);
  const std::string document{std::istreambuf_iterator<char>(in), {}};
  rapid::retrieval::bm25 retriever;
  rapid::qa::prompt_options options;
  options.rag.budget_tokens = 1024;  // the drafter sees at most 1024 retrieved tokens
  const auto prompts = rapid::qa::build_prompts(tok, document, argv[3], retriever, options);

  // RAPID is a choice of policies; change one type for an ablation (e.g. speculative_sampling = SD).
  using namespace rapid::spec;
  using rapid_decoder = speculative_decoder<rag_drafter, long_context_target, retrieval_augmented>;
  long_context_target target(weights, rapid::model::transformer_options{.n_ctx = prompts.full.size() + 64});
  rag_drafter drafter(weights, {.n_ctx = prompts.retrieved.size() + 80});
  rapid_decoder decoder(target, drafter, {.gamma = 4, .acceptance = {.sampling = {.temperature = 0.7f}, .eta = 10.f},
                                          .max_new_tokens = 64, .stop_tokens = tok.end_of_generation_tokens()});
  const auto out = decoder.generate({.full = prompts.full, .retrieved = prompts.retrieved});
  std::cout << tok.decode(out.tokens, {.skip_special = true}) << "\n(acceptance " << out.stats.acceptance_rate()
            << ", tau " << out.stats.tau() << ", " << out.stats.decode_tokens_per_second() << " tokens/s)\n";
} catch (const rapid::error& e) {
  std::cerr << "error: " << e.what() << "\n";
  return 1;
}
