#pragma once
// Text to index terms for lexical retrieval: BERT's Unicode normalization (lower-casing, accent
// stripping, CJK ideographs as single characters; rapid/model/wordpiece.hpp), words as maximal runs
// of letters, marks and numbers, optional English stop words and plural stripping (Harman's
// S-stemmer: "policies" -> "policy", "cases" -> "case", "dogs" -> "dog").
#include <algorithm>
#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "rapid/model/unicode.hpp"
#include "rapid/model/wordpiece.hpp"

namespace rapid::retrieval {

struct term_options {
  bool stop_words = true; // drop common English function words
  bool stem = true;       // strip English plurals
};

namespace detail {
inline constexpr std::array<std::string_view, 124> stop_words{
    "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are", "as", "at", "be",
    "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could", "did", "do",
    "does", "doing", "down", "during", "each", "few", "for", "from", "further", "had", "has", "have", "having", "he",
    "her", "here", "hers", "herself", "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its",
    "itself", "just", "me", "more", "most", "my", "myself", "no", "nor", "not", "now", "of", "off", "on", "once",
    "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "same", "she", "should", "so", "some",
    "such", "than", "that", "the", "their", "theirs", "them", "themselves", "then", "there", "these", "they", "this",
    "those", "through", "to", "too", "under", "until", "up", "very", "was", "we", "were", "what", "when", "where",
    "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours"};

[[nodiscard]] inline bool is_stop_word(std::string_view w) noexcept {
  static const auto sorted = [] {
    auto s = stop_words;
    std::sort(s.begin(), s.end());
    return s;
  }();
  return std::binary_search(sorted.begin(), sorted.end(), w);
}

inline void strip_plural(std::string& w) {
  auto ends = [&](std::string_view s) { return w.size() > s.size() && std::string_view(w).substr(w.size() - s.size()) == s; };
  if (w.size() <= 3) return;
  if (ends("ies") && !ends("eies") && !ends("aies")) w.replace(w.size() - 3, 3, "y");
  else if (ends("es") && !ends("aes") && !ends("ees") && !ends("oes")) w.pop_back();
  else if (ends("s") && !ends("us") && !ends("ss")) w.pop_back();
}
} // namespace detail

/// The index terms of `text`, in order (repeats kept).
[[nodiscard]] inline std::vector<std::string> terms_of(std::string_view text, const term_options& o = {}) {
  std::vector<std::string> out;
  std::string word;
  auto flush = [&] {
    if (word.empty()) return;
    if (!(o.stop_words && detail::is_stop_word(word))) {
      if (o.stem) detail::strip_plural(word);
      out.push_back(std::move(word));
    }
    word.clear();
  };
  for (const char32_t cp : model::bert_normalize(text)) {
    const auto c = unicode::category_of(cp);
    if (unicode::is_letter(c) || unicode::is_number(c) || unicode::is_mark(c)) unicode::append_utf8(word, cp);
    else flush();
  }
  flush();
  return out;
}

} // namespace rapid::retrieval
