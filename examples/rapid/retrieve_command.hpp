#pragma once
// `rapid retrieve --model TARGET.gguf --document FILE --question Q [--retriever bm25|dense|hybrid]
// [--budget N]` chunks the document with the target's tokenizer, builds the RAG context for the
// question and prints the chosen chunks (document order) with their scores and byte offsets.
#include <cstdio>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "commands.hpp"
#include "rapid/core/error.hpp"
#include "rapid/model/encoder.hpp"
#include "rapid/model/tokenizer.hpp"
#include "rapid/retrieval/bm25.hpp"
#include "rapid/retrieval/chunker.hpp"
#include "rapid/retrieval/dense.hpp"
#include "rapid/retrieval/hybrid.hpp"
#include "rapid/retrieval/rag_context.hpp"

namespace rapid::cli {
namespace retrieve_detail {

struct retrieve_args {
  std::string model, document, question, retriever = "bm25", encoder;
  std::size_t budget = 0, chunk_tokens = 512;
  float threshold = 0.3f;
  bool no_text = false;
};

inline void print_context(const retrieval::rag_context& ctx, std::span<const retrieval::chunk> chunks, const retrieve_args& a) {
  std::printf("retriever %s: %zu of %zu chunks, %zu of %zu budget tokens (document %zu tokens)%s, %.3f s (index %.3f s, search %.3f s)\n",
              a.retriever.c_str(), ctx.chosen.size(), chunks.size(), ctx.n_tokens, ctx.budget_tokens, ctx.document_tokens,
              ctx.fell_back ? ", nothing passed: fell back to the best chunk" : "", ctx.seconds, ctx.index_seconds,
              ctx.search_seconds);
  for (const auto& s : ctx.chosen) {
    const auto& c = chunks[s.index];
    std::printf("\n== chunk %zu  score %.4f  offset %zu  bytes %zu  tokens %zu\n", s.index, static_cast<double>(s.score),
                c.offset, c.text.size(), c.n_tokens);
    if (!a.no_text) std::printf("%s\n", c.text.c_str());
  }
}

inline void retrieve(const retrieve_args& a) {
  if (a.question.find_first_not_of(" \t\r\n") == std::string::npos)
    throw invalid_argument("the question is empty; pass --question \"...\"");
  const auto tok = model::tokenizer::from_gguf(a.model);
  const std::string doc = read_text_file(a.document);
  const auto chunks = retrieval::split_document(doc, tok, {.max_tokens = a.chunk_tokens});
  if (chunks.empty()) throw invalid_argument("the document is empty; nothing to retrieve from", {a.document, {}, {}});
  const retrieval::rag_options o{.budget_tokens = a.budget};
  auto encoder = [&] {
    const std::string dir = a.encoder.empty() ? default_encoder_dir() : a.encoder;
    return std::make_shared<const model::bert_encoder>(model::bert_encoder::from_directory(dir));
  };
  if (a.retriever == "bm25") {
    retrieval::bm25 r;
    print_context(retrieval::build_rag_context(r, chunks, a.question, o), chunks, a);
  } else if (a.retriever == "dense") {
    retrieval::dense r(encoder(), {.threshold = a.threshold});
    print_context(retrieval::build_rag_context(r, chunks, a.question, o), chunks, a);
  } else {
    retrieval::hybrid r(encoder(), {.dense = {.threshold = a.threshold}});
    print_context(retrieval::build_rag_context(r, chunks, a.question, o), chunks, a);
  }
}

} // namespace retrieve_detail

inline void add_retrieve(CLI::App& app) {
  auto a = std::make_shared<retrieve_detail::retrieve_args>();
  auto* cmd = app.add_subcommand("retrieve", "print the RAG context (chosen chunks, scores, offsets) for a question");
  cmd->add_option("--model,-m", a->model, "target GGUF model (its tokenizer measures chunks and the budget)")->required();
  cmd->add_option("--document,-d", a->document, "long document (text file)")->required();
  cmd->add_option("--question,-q", a->question, "the question (the retrieval query)")->required();
  cmd->add_option("--retriever,-r", a->retriever, "bm25, dense or hybrid")->check(CLI::IsMember({"bm25", "dense", "hybrid"}));
  cmd->add_option("--budget,-b", a->budget, "context budget in target tokens (0: max(4096, L/24) capped at L)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--chunk-tokens", a->chunk_tokens, "maximum chunk length in target tokens")->check(CLI::PositiveNumber);
  cmd->add_option("--threshold", a->threshold, "minimum cosine for dense retrieval")->check(CLI::Range(-1.0, 1.0));
  cmd->add_option("--encoder", a->encoder, "MiniLM directory (default: the model cache's all-minilm-l6-v2)");
  cmd->add_flag("--no-text", a->no_text, "list chunks without their text");
  cmd->callback([a] { retrieve_detail::retrieve(*a); });
}

} // namespace rapid::cli
