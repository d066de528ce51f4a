#pragma once
// Shared by the retrieval tests: a byte-level tokenizer with no merges (one token per byte, so
// token counts are byte counts), the essays corpus, and the cached MiniLM encoder.
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "rapid/model/encoder.hpp"
#include "rapid/model/tokenizer.hpp"
#include "test_support.hpp"

namespace rapid::test {

inline model::tokenizer byte_tokenizer() {
  model::vocabulary v;
  v.pre = "gpt2";
  for (int b = 0; b < 256; ++b) {
    std::string s;
    unicode::append_utf8(s, unicode::byte_to_codepoint(static_cast<std::uint8_t>(b)));
    v.tokens.push_back(s);
  }
  v.types.assign(256, model::token_type::normal);
  return model::tokenizer(v, "byte-tokenizer");
}

/// All essays concatenated (sorted by file name), or nullopt when not cached.
inline std::optional<std::string> essays() {
  const auto dir = cached("data/paul_graham_essays");
  if (!dir) return std::nullopt;
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(*dir))
    if (e.path().extension() == ".txt") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::string all;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    all += ss.str();
    all += "\n\n";
  }
  return all;
}

inline std::shared_ptr<const model::bert_encoder> minilm_encoder() {
  static std::shared_ptr<const model::bert_encoder> enc = [] () -> std::shared_ptr<const model::bert_encoder> {
    const auto p = cached("models/all-minilm-l6-v2/model.safetensors");
    if (!p) return nullptr;
    return std::make_shared<const model::bert_encoder>(model::bert_encoder::from_directory(p->parent_path()));
  }();
  return enc;
}

} // namespace rapid::test
