#pragma once
// The unit of retrieval: a piece of a document, and a retriever's answer about it.
#include <cstddef>
#include <string>

namespace rapid::retrieval {

/// A contiguous piece of a document. Chunks of one document, in order, cover it exactly.
struct chunk {
  std::size_t offset = 0;   // byte offset of text in the document
  std::string text;
  std::size_t n_tokens = 0; // length in target-tokenizer tokens (no BOS/EOS)
};

/// One retrieved chunk: `index` into the chunks given to index(), higher score is better.
struct scored_chunk {
  std::size_t index = 0;
  float score = 0.f;
  friend bool operator==(const scored_chunk&, const scored_chunk&) = default;
};

} // namespace rapid::retrieval
