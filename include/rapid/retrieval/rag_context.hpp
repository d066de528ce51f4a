#pragma once
// The RAG context for the drafter (RAPID, section 3): retrieve with the question alone, take the
// best chunks while they fit a budget of target tokens, restore document order, join them.
//   budget:    rag_options::budget_tokens, or by default max(4096, L / 24) capped at L, where L is
//              the document's length in target tokens (the sum of the chunks' n_tokens).
//   selection: chunks in rank order; one that does not fit the remaining budget is skipped and the
//              next ones are still tried; each separator after the first chunk is charged
//              separator_tokens (1: "\n\n" is one token for Qwen2.5 and most BPE vocabularies).
//   fallback:  when nothing is selected (no chunk passes the thresholds, or none fits), the single
//              best chunk ignoring thresholds (retriever::best if it has one, else chunk 0) is used,
//              even if it exceeds the budget, and fell_back is set.
//   no chunks: an empty document gives an empty context (no fallback).
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rapid/core/error.hpp"
#include "rapid/retrieval/chunk.hpp"
#include "rapid/retrieval/retriever.hpp"

namespace rapid::retrieval {

struct rag_options {
  std::size_t budget_tokens = 0;     // 0: max(4096, L / 24) capped at L (the paper's default)
  std::optional<float> threshold;    // extra minimum score on top of the retriever's own threshold
  bool index = true;                 // call r.index(chunks) first; false when r already indexed them
  std::string separator = "\n\n";    // between chosen chunks
  std::size_t separator_tokens = 1;  // budget charged per separator
};

struct rag_context {
  std::string text;                  // chosen chunks in document order, joined with the separator
  std::vector<scored_chunk> chosen;  // document order (ascending index)
  std::size_t n_tokens = 0;          // chosen chunks' tokens + separator_tokens per separator
  bool fell_back = false;            // nothing passed: the best chunk was used instead
  double seconds = 0;                // index_seconds + search_seconds + assembly
  double index_seconds = 0;          // r.index (0 when rag_options::index is false)
  double search_seconds = 0;         // r.search (and r.best on fallback)
  std::size_t budget_tokens = 0;     // the budget used (default resolved)
  std::size_t document_tokens = 0;   // L
  std::size_t candidates = 0;        // chunks returned by search
};

/// The paper's default budget for a document of L tokens: max(4096, L / 24), capped at L.
[[nodiscard]] constexpr std::size_t default_rag_budget(std::size_t document_tokens) noexcept {
  return std::min(document_tokens, std::max<std::size_t>(4096, document_tokens / 24));
}

template <retriever R>
[[nodiscard]] rag_context build_rag_context(R& r, std::span<const chunk> chunks, std::string_view question,
                                            const rag_options& o = {}) {
  using clock = std::chrono::steady_clock;
  const auto since = [](clock::time_point t) { return std::chrono::duration<double>(clock::now() - t).count(); };
  const auto start = clock::now();
  if (question.find_first_not_of(" \t\r\n") == std::string_view::npos)
    throw invalid_argument("the RAG question is empty; retrieval needs the question text", {{}, "question", {}});
  rag_context out;
  for (const auto& c : chunks) out.document_tokens += c.n_tokens;
  out.budget_tokens = o.budget_tokens > 0 ? o.budget_tokens : default_rag_budget(out.document_tokens);
  if (chunks.empty()) return out;

  if (o.index) {
    const auto t = clock::now();
    r.index(chunks);
    out.index_seconds = since(t);
  }
  const auto t_search = clock::now();
  auto ranked = r.search(question, chunks.size());
  out.candidates = ranked.size();
  auto check = [&](const scored_chunk& s) {
    if (s.index >= chunks.size())
      throw invalid_argument("the retriever returned chunk " + std::to_string(s.index) + " of " + std::to_string(chunks.size()) +
                             "; it was indexed on other chunks (set rag_options::index = true)");
  };
  std::size_t used = 0;
  for (const auto& s : ranked) {
    check(s);
    if (o.threshold && s.score < *o.threshold) continue;
    const std::size_t cost = chunks[s.index].n_tokens + (out.chosen.empty() ? 0 : o.separator_tokens);
    if (used + cost > out.budget_tokens) continue;
    used += cost;
    out.chosen.push_back(s);
  }
  if (out.chosen.empty()) {
    out.fell_back = true;
    std::vector<scored_chunk> best;
    if constexpr (has_best<R>) best = r.best(question);
    if (best.empty()) best.push_back({0, 0.f});
    check(best.front());
    out.chosen.push_back(best.front());
    used = chunks[best.front().index].n_tokens;
  }
  out.search_seconds = since(t_search);
  std::sort(out.chosen.begin(), out.chosen.end(), [](const scored_chunk& a, const scored_chunk& b) { return a.index < b.index; });
  for (std::size_t i = 0; i < out.chosen.size(); ++i) {
    if (i) out.text += o.separator;
    out.text += chunks[out.chosen[i].index].text;
  }
  out.n_tokens = used;
  out.seconds = since(start);
  return out;
}

} // namespace rapid::retrieval
