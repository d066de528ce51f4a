#pragma once
// Long-context question answering prompts, as in the paper: the target's prompt holds the whole
// document and the question; the drafter's holds the retrieved chunks in the document's place.
// Both go through the model's chat template. Document and question are encoded as plain text
// (never parsed for control tokens), so a document cannot inject <|im_start|> or end a turn.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rapid/core/error.hpp"
#include "rapid/model/tokenizer.hpp"
#include "rapid/retrieval/chunker.hpp"
#include "rapid/retrieval/rag_context.hpp"
#include "rapid/retrieval/retriever.hpp"

namespace rapid::qa {

using token = model::token;

struct prompt_options {
  std::string instruction = "Read the document below and answer the question that follows it.";
  std::size_t max_prompt_tokens = 0;  // 0: no limit; else a longer target prompt is refused or truncated
  bool truncate_middle = false;       // keep the document's head and tail to fit (as LongBench does)
  std::size_t chunk_tokens = 512;     // retrieval chunk size in target tokens
  retrieval::rag_options rag;         // budget, threshold, separator
};

struct prompts {
  std::vector<token> full;       // chat prompt with the whole document (target)
  std::vector<token> retrieved;  // chat prompt with the retrieved chunks (RAG drafter / RAG baseline)
  std::size_t document_tokens = 0;   // the document alone, after any truncation
  std::size_t truncated_tokens = 0;  // document tokens removed by truncate_middle
  std::vector<retrieval::chunk> chunks;
  retrieval::rag_context rag;
  double chunk_seconds = 0;      // splitting the document into chunks
};

/// The chat prompt for (context, question): template and instruction parsed for control tokens,
/// context and question encoded as plain text.
[[nodiscard]] inline std::vector<token> chat_prompt(const model::tokenizer& tok, std::span<const token> context,
                                                    std::string_view question, const prompt_options& o = {}) {
  // Placeholders split the rendered template into the parts around context and question.
  const std::string user = o.instruction + "\n\n<document>\n\x01\n</document>\n\nQuestion: \x02\nAnswer:";
  const std::vector<model::chat_message> messages{{"user", user}};
  const std::string rendered = tok.apply_chat_template(messages, true);
  const auto c = rendered.find('\x01'), q = rendered.find('\x02');
  if (c == std::string::npos || q == std::string::npos || q < c)
    throw unsupported_error("the chat template of " + tok.name() + " reorders or drops the user message");
  std::vector<token> out = tok.encode(std::string_view(rendered).substr(0, c), {.parse_special = true, .add_special = true});
  out.insert(out.end(), context.begin(), context.end());
  const auto mid = tok.encode(std::string_view(rendered).substr(c + 1, q - c - 1), {.parse_special = true});
  out.insert(out.end(), mid.begin(), mid.end());
  const auto qs = tok.encode(question);
  out.insert(out.end(), qs.begin(), qs.end());
  const auto tail = tok.encode(std::string_view(rendered).substr(q + 1), {.parse_special = true});
  out.insert(out.end(), tail.begin(), tail.end());
  return out;
}

/// Both prompts of a request, retrieving with `r` (the question alone is the query).
template <retrieval::retriever R>
[[nodiscard]] prompts build_prompts(const model::tokenizer& tok, std::string_view document, std::string_view question,
                                    R& r, const prompt_options& o = {}) {
  if (document.find_first_not_of(" \t\r\n") == std::string_view::npos) throw invalid_argument("the document is empty");
  if (question.find_first_not_of(" \t\r\n") == std::string_view::npos) throw invalid_argument("the question is empty");
  prompts out;
  std::vector<token> doc = tok.encode(document);
  const std::size_t overhead = chat_prompt(tok, {}, question, o).size();
  if (o.max_prompt_tokens && overhead + doc.size() > o.max_prompt_tokens) {
    if (!o.truncate_middle || overhead >= o.max_prompt_tokens)
      throw capacity_error("the prompt needs " + std::to_string(overhead + doc.size()) + " tokens (document " +
                           std::to_string(doc.size()) + " + template and question " + std::to_string(overhead) +
                           ") but the context allows " + std::to_string(o.max_prompt_tokens) +
                           " (raise the context, or truncate the document's middle)");
    const std::size_t keep = o.max_prompt_tokens - overhead, head = keep / 2;
    out.truncated_tokens = doc.size() - keep;
    doc.erase(doc.begin() + static_cast<std::ptrdiff_t>(head), doc.end() - static_cast<std::ptrdiff_t>(keep - head));
  }
  out.document_tokens = doc.size();
  out.full = chat_prompt(tok, doc, question, o);

  // Retrieval runs on the text the target sees (after truncation).
  const std::string kept = out.truncated_tokens ? tok.decode(doc) : std::string(document);
  const auto t0 = std::chrono::steady_clock::now();
  retrieval::chunker_options chunking;  // (not a designated initializer: GCC 12 ICEs on its vector member)
  chunking.max_tokens = o.chunk_tokens;
  out.chunks = retrieval::split_document(kept, tok, chunking);
  out.chunk_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  out.rag = retrieval::build_rag_context(r, out.chunks, question, o.rag);
  out.retrieved = chat_prompt(tok, tok.encode(out.rag.text), question, o);
  return out;
}

} // namespace rapid::qa
