#pragma once
// Answer scoring for the evaluation tasks, SQuAD style: both sides are normalised (ASCII lower
// case, ASCII punctuation deleted, the articles a/an/the dropped, whitespace collapsed), then
// compared as whole strings (exact match), as a run of whole words (contains), or as bags of words
// (token F1). Every score is the best over the accepted answers.
#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "rapid/core/error.hpp"

namespace rapid::eval {

namespace detail {

inline bool is_ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
inline bool is_ascii_punct(char c) { return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') || (c >= '{' && c <= '~'); }

/// Whitespace-separated words of an already normalised string.
inline std::vector<std::string_view> words(std::string_view s) {
  std::vector<std::string_view> out;
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t e = std::min(s.find(' ', i), s.size());
    if (e > i) out.push_back(s.substr(i, e - i));
    i = e + 1;
  }
  return out;
}

inline void require_answers(const std::vector<std::string>& answers) {
  if (answers.empty()) throw invalid_argument("no accepted answers to score against; pass at least one");
}

} // namespace detail

/// SQuAD normalisation. Punctuation is deleted, not replaced ("don't" -> "dont", "x-ray" -> "xray");
/// bytes outside ASCII (UTF-8 letters, curly quotes) are kept as they are.
[[nodiscard]] inline std::string normalize_answer(std::string_view text) {
  std::string kept; // lower case, no punctuation, whitespace as single spaces
  for (const char c : text) {
    if (detail::is_ascii_punct(c)) continue;
    kept += detail::is_ascii_space(c) ? ' ' : (c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  std::string out;
  for (const auto w : detail::words(kept)) {
    if (w == "a" || w == "an" || w == "the") continue;
    if (!out.empty()) out += ' ';
    out += w;
  }
  return out;
}

/// 1 when the normalised prediction equals a normalised accepted answer.
[[nodiscard]] inline bool exact_match(std::string_view prediction, const std::vector<std::string>& answers) {
  detail::require_answers(answers);
  const std::string p = normalize_answer(prediction);
  return std::any_of(answers.begin(), answers.end(), [&](const std::string& a) { return normalize_answer(a) == p; });
}

/// 1 when a normalised accepted answer occurs in the normalised prediction as whole words
/// ("4821" is not found in "48213"). An answer that normalises to nothing matches only an empty
/// prediction.
[[nodiscard]] inline bool contains_answer(std::string_view prediction, const std::vector<std::string>& answers) {
  detail::require_answers(answers);
  const std::string p = ' ' + normalize_answer(prediction) + ' ';
  return std::any_of(answers.begin(), answers.end(), [&](const std::string& a) {
    const std::string n = normalize_answer(a);
    return n.empty() ? p == "  " : p.find(' ' + n + ' ') != std::string::npos;
  });
}

/// Best word-overlap F1 (2PR / (P + R), words counted with multiplicity) over the answers. Two
/// empty normalised strings score 1, one empty side 0.
[[nodiscard]] inline double token_f1(std::string_view prediction, const std::vector<std::string>& answers) {
  detail::require_answers(answers);
  const std::string p = normalize_answer(prediction);
  const auto pw = detail::words(p);
  double best = 0;
  for (const auto& answer : answers) {
    const std::string a = normalize_answer(answer);
    const auto aw = detail::words(a);
    if (pw.empty() || aw.empty()) {
      best = std::max(best, pw.empty() && aw.empty() ? 1.0 : 0.0);
      continue;
    }
    std::unordered_map<std::string_view, std::size_t> left; // answer words not yet matched
    for (const auto w : aw) ++left[w];
    std::size_t common = 0;
    for (const auto w : pw)
      if (auto it = left.find(w); it != left.end() && it->second > 0) --it->second, ++common;
    if (common == 0) continue;
    const double precision = double(common) / double(pw.size()), recall = double(common) / double(aw.size());
    best = std::max(best, 2 * precision * recall / (precision + recall));
  }
  return best;
}

struct scores {
  double exact = 0;    // exact_match, 0 or 1
  double contains = 0; // contains_answer, 0 or 1
  double f1 = 0;       // token_f1 in [0, 1]
};

/// The three scores of one prediction.
[[nodiscard]] inline scores score(std::string_view prediction, const std::vector<std::string>& answers) {
  return {exact_match(prediction, answers) ? 1.0 : 0.0, contains_answer(prediction, answers) ? 1.0 : 0.0,
          token_f1(prediction, answers)};
}

} // namespace rapid::eval
