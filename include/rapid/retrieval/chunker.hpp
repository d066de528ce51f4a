#pragma once
// Token-aware recursive chunker. A piece longer than max_tokens target tokens is split at the
// coarsest separator it contains ("\n\n", then "\n", then sentence ends ". " "! " "? ", then "; ",
// ", ", " "), finally between UTF-8 characters; neighbouring parts are merged back greedily while
// they fit. Separators stay at the end of the part before them, so chunks in order are exactly the
// document (nothing lost, nothing added), each with its byte offset and exact token count.
#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "rapid/core/error.hpp"
#include "rapid/model/tokenizer.hpp"
#include "rapid/retrieval/chunk.hpp"

namespace rapid::retrieval {

struct chunker_options {
  std::size_t max_tokens = 512; // chunk length limit in target tokens, > 0
  /// Levels of separators, coarsest first; within a level the earliest occurrence splits.
  std::vector<std::vector<std::string>> separators{{"\n\n"}, {"\n"}, {". ", "! ", "? "}, {"; "}, {", "}, {" "}};
};

namespace detail {

class chunker {
public:
  chunker(std::string_view doc, const model::tokenizer& tok, const chunker_options& o) : doc_(doc), enc_(tok), o_(o) {}

  std::vector<chunk> run() {
    if (!doc_.empty()) split(0, doc_.size(), 0);
    return std::move(out_);
  }

private:
  std::size_t count(std::size_t b, std::size_t e) {
    ids_.clear(); // encode appends
    enc_.encode(doc_.substr(b, e - b), ids_);
    return ids_.size();
  }

  void emit(std::size_t b, std::size_t e, std::size_t n) { out_.push_back({b, std::string(doc_.substr(b, e - b)), n}); }

  void split(std::size_t b, std::size_t e, std::size_t level) {
    const std::size_t n = count(b, e);
    if (n <= o_.max_tokens) return emit(b, e, n);
    if (level >= o_.separators.size()) return split_characters(b, e);
    // parts [b, cut1), [cut1, cut2)...: each ends just after a separator of this level
    std::vector<std::size_t> cuts{b};
    for (std::size_t at = b; at < e;) {
      std::size_t best = std::string_view::npos, len = 0;
      for (const auto& sep : o_.separators[level]) {
        if (sep.empty()) continue;
        const auto found = doc_.substr(0, e).find(sep, at);
        if (found != std::string_view::npos && found < best) best = found, len = sep.size();
      }
      if (best == std::string_view::npos) break;
      at = best + len;
      if (at < e) cuts.push_back(at);
    }
    cuts.push_back(e);
    if (cuts.size() == 2) return split(b, e, level + 1);
    std::size_t cur_b = b, cur_e = b, cur_n = 0;
    auto flush = [&] {
      if (cur_e == cur_b) return;
      const std::size_t exact = count(cur_b, cur_e); // token counts are not exactly additive
      if (exact <= o_.max_tokens) emit(cur_b, cur_e, exact);
      else split(cur_b, cur_e, level + 1);
      cur_b = cur_e;
      cur_n = 0;
    };
    for (std::size_t i = 0; i + 1 < cuts.size(); ++i) {
      const std::size_t pb = cuts[i], pe = cuts[i + 1];
      const std::size_t pn = count(pb, pe);
      if (pn > o_.max_tokens) {
        flush();
        split(pb, pe, level + 1);
        cur_b = cur_e = pe;
        continue;
      }
      if (cur_e > cur_b && cur_n + pn > o_.max_tokens) flush();
      cur_e = pe;
      cur_n += pn;
    }
    flush();
  }

  /// Longest prefixes (in whole UTF-8 characters) that fit, one after another.
  void split_characters(std::size_t b, std::size_t e) {
    while (b < e) {
      std::vector<std::size_t> bounds; // character starts after b, then e
      for (std::size_t i = b + 1; i < e; ++i)
        if ((static_cast<unsigned char>(doc_[i]) & 0xC0) != 0x80) bounds.push_back(i);
      bounds.push_back(e);
      std::size_t lo = 0, hi = bounds.size() - 1; // the answer: largest index whose prefix fits (at least 0)
      while (lo < hi) {
        const std::size_t mid = (lo + hi + 1) / 2;
        if (count(b, bounds[mid]) <= o_.max_tokens) lo = mid;
        else hi = mid - 1;
      }
      const std::size_t end = bounds[lo];
      emit(b, end, count(b, end)); // one character may exceed a tiny max_tokens; it is kept whole
      b = end;
    }
  }

  std::string_view doc_;
  model::encoder enc_;
  const chunker_options& o_;
  std::vector<model::token> ids_; // (tokens of the piece being counted)
  std::vector<chunk> out_;
};

} // namespace detail

/// Splits `doc` into chunks of at most o.max_tokens tokens of `tok` (a single UTF-8 character
/// that alone exceeds the limit stays whole). An empty document gives no chunks; a document that
/// fits gives one chunk.
[[nodiscard]] inline std::vector<chunk> split_document(std::string_view doc, const model::tokenizer& tok,
                                                       const chunker_options& o = {}) {
  if (o.max_tokens == 0) throw invalid_argument("chunker max_tokens must be at least 1", {{}, "max_tokens", {}});
  return detail::chunker(doc, tok, o).run();
}

} // namespace rapid::retrieval
