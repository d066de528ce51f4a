#pragma once
// BERT's uncased WordPiece tokenizer (all-MiniLM-L6-v2 and other bert-base-uncased vocabularies),
// exact to HF `tokenizers` (BertNormalizer + BertPreTokenizer + WordPiece):
//   1. normalize: drop controls, U+0000 and U+FFFD; whitespace -> ' '; CJK ideographs padded with
//      spaces; NFD, nonspacing marks dropped (accent stripping), full lower-casing. Per code point,
//      from rapid/model/wordpiece_tables.hpp (generated from HF; Hangul syllables computed).
//   2. split on whitespace (dropped) and punctuation (each mark its own word).
//   3. each word: greedy longest-match-first over the vocabulary, "##" on continuations; a word with
//      a piece that matches nothing, or longer than max_input_chars_per_word, is [UNK].
// Ill-formed UTF-8 bytes are treated as U+FFFD (removed), since HF only accepts valid strings.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "rapid/core/error.hpp"
#include "rapid/model/unicode.hpp"
#include "rapid/model/wordpiece_tables.hpp"

namespace rapid::model {

namespace detail {
struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

template <std::size_t N>
[[nodiscard]] inline std::uint8_t run_value(const std::array<std::uint32_t, N>& runs, char32_t cp) noexcept {
  // the last run starting at or before cp
  const auto it = std::upper_bound(runs.begin(), runs.end(), static_cast<std::uint32_t>(cp),
                                   [](std::uint32_t c, std::uint32_t run) { return c < (run >> 8); });
  return it == runs.begin() ? 0 : static_cast<std::uint8_t>(*(it - 1) & 0xFF);
}

/// Lookups with an ASCII fast path.
struct wordpiece_classes {
  std::array<std::uint8_t, 128> ascii_norm{}, ascii_split{};
  wordpiece_classes() {
    for (char32_t c = 0; c < 128; ++c) {
      ascii_norm[c] = run_value(wordpiece_tables::norm_runs, c);
      ascii_split[c] = run_value(wordpiece_tables::split_runs, c);
    }
  }
  [[nodiscard]] wordpiece_tables::norm_kind norm(char32_t cp) const noexcept {
    return static_cast<wordpiece_tables::norm_kind>(cp < 128 ? ascii_norm[cp] : run_value(wordpiece_tables::norm_runs, cp));
  }
  [[nodiscard]] wordpiece_tables::split_kind split(char32_t cp) const noexcept {
    return static_cast<wordpiece_tables::split_kind>(cp < 128 ? ascii_split[cp] : run_value(wordpiece_tables::split_runs, cp));
  }
};
inline const wordpiece_classes& classes() {
  static const wordpiece_classes c;
  return c;
}
} // namespace detail

/// BERT normalization (step 1 above) of UTF-8 text, as code points.
[[nodiscard]] inline std::u32string bert_normalize(std::string_view text) {
  using wordpiece_tables::norm_kind;
  const auto& cls = detail::classes();
  std::u32string out;
  out.reserve(text.size());
  const char* p = text.data();
  const char* end = p + text.size();
  while (p < end) {
    const auto u = unicode::decode_utf8(p, end);
    p += u.length;
    if (!u.valid) continue; // as U+FFFD: removed
    const char32_t cp = u.cp;
    switch (cls.norm(cp)) {
    case norm_kind::keep: out.push_back(cp); break;
    case norm_kind::remove: break;
    case norm_kind::space: out.push_back(U' '); break;
    case norm_kind::pad: out.push_back(U' '); out.push_back(cp); out.push_back(U' '); break;
    case norm_kind::map:
      if (cp >= 0xAC00 && cp <= 0xD7A3) { // Hangul syllable -> L V (T) jamo
        const char32_t s = cp - 0xAC00;
        out.push_back(0x1100 + s / 588);
        out.push_back(0x1161 + (s % 588) / 28);
        if (s % 28) out.push_back(0x11A7 + s % 28);
      } else {
        const auto& keys = wordpiece_tables::map_keys;
        const auto it = std::lower_bound(keys.begin(), keys.end(), static_cast<std::uint32_t>(cp));
        if (it == keys.end() || *it != cp) { out.push_back(cp); break; } // cannot happen with a consistent table
        const std::uint32_t span = wordpiece_tables::map_spans[static_cast<std::size_t>(it - keys.begin())];
        for (std::uint32_t i = 0; i < (span & 0xFF); ++i) out.push_back(wordpiece_tables::map_pool[(span >> 8) + i]);
      }
      break;
    }
  }
  return out;
}

/// Splits normalized text into words (step 2), each as UTF-8.
[[nodiscard]] inline std::vector<std::string> bert_pre_tokenize(std::u32string_view normalized) {
  using wordpiece_tables::split_kind;
  const auto& cls = detail::classes();
  std::vector<std::string> words;
  std::string word;
  auto flush = [&] {
    if (!word.empty()) words.push_back(std::move(word));
    word.clear();
  };
  for (const char32_t cp : normalized) {
    switch (cls.split(cp)) {
    case split_kind::whitespace: flush(); break;
    case split_kind::punctuation:
      flush();
      unicode::append_utf8(word, cp);
      flush();
      break;
    default: unicode::append_utf8(word, cp); break;
    }
  }
  flush();
  return words;
}

struct wordpiece_options {
  std::size_t max_input_chars_per_word = 100; // longer words become [UNK] (HF's default)
};

/// A WordPiece vocabulary and the uncased BERT pipeline. Immutable; const members are thread-safe.
class wordpiece {
public:
  /// `tokens[i]` is the piece of id i. `name` (a path) prefixes error messages.
  explicit wordpiece(std::vector<std::string> tokens, std::string name = {}, wordpiece_options options = {})
      : tokens_(std::move(tokens)), name_(std::move(name)), options_(options) {
    if (tokens_.empty()) throw format_error("the WordPiece vocabulary is empty", {name_, "vocab", {}});
    ids_.reserve(tokens_.size());
    for (std::size_t i = 0; i < tokens_.size(); ++i) {
      ids_.emplace(tokens_[i], static_cast<std::int32_t>(i)); // a duplicate keeps its first id, as HF does
      max_piece_bytes_ = std::max(max_piece_bytes_, tokens_[i].size());
    }
    unk_ = require("[UNK]");
    cls_ = require("[CLS]");
    sep_ = require("[SEP]");
    pad_ = require("[PAD]");
  }

  /// Reads a vocab.txt (one piece per line; the line number is the id).
  [[nodiscard]] static wordpiece from_vocab_file(const std::string& path, wordpiece_options options = {}) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw io_error("cannot open the WordPiece vocabulary (expected vocab.txt, one piece per line)", {path, {}, {}});
    std::vector<std::string> tokens;
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      tokens.push_back(line);
    }
    return wordpiece(std::move(tokens), path, options);
  }

  /// Ids of `text` without [CLS]/[SEP].
  [[nodiscard]] std::vector<std::int32_t> encode(std::string_view text) const {
    std::vector<std::int32_t> out;
    for (const auto& word : bert_pre_tokenize(bert_normalize(text))) encode_word(word, out);
    return out;
  }

  /// [CLS] ids [SEP], keeping the first max_length - 2 ids (HF's truncation). max_length >= 2.
  [[nodiscard]] std::vector<std::int32_t> encode_for_model(std::string_view text, std::size_t max_length) const {
    if (max_length < 2) throw invalid_argument("max_length " + std::to_string(max_length) + " leaves no room for [CLS] and [SEP]; use at least 2");
    auto ids = encode(text);
    if (ids.size() > max_length - 2) ids.resize(max_length - 2);
    ids.insert(ids.begin(), cls_);
    ids.push_back(sep_);
    return ids;
  }

  [[nodiscard]] std::size_t size() const noexcept { return tokens_.size(); }
  [[nodiscard]] const std::string& piece(std::int32_t id) const {
    if (id < 0 || static_cast<std::size_t>(id) >= tokens_.size())
      throw invalid_argument("token id " + std::to_string(id) + " is outside the vocabulary of " + std::to_string(tokens_.size()), {name_, {}, {}});
    return tokens_[static_cast<std::size_t>(id)];
  }
  [[nodiscard]] std::int32_t unk() const noexcept { return unk_; }
  [[nodiscard]] std::int32_t cls() const noexcept { return cls_; }
  [[nodiscard]] std::int32_t sep() const noexcept { return sep_; }
  [[nodiscard]] std::int32_t pad() const noexcept { return pad_; }
  [[nodiscard]] const std::string& name() const noexcept { return name_; }

private:
  std::int32_t require(std::string_view piece) const {
    const auto it = ids_.find(piece);
    if (it == ids_.end())
      throw format_error("the vocabulary has no " + std::string(piece) + " piece (is this a BERT WordPiece vocab.txt?)", {name_, "vocab", {}});
    return it->second;
  }

  void encode_word(const std::string& word, std::vector<std::int32_t>& out) const {
    // char boundaries: (n_chars + 1) byte offsets
    std::vector<std::size_t> bounds;
    for (std::size_t i = 0; i < word.size(); ++i)
      if ((static_cast<unsigned char>(word[i]) & 0xC0) != 0x80) bounds.push_back(i);
    bounds.push_back(word.size());
    const std::size_t n_chars = bounds.size() - 1;
    if (n_chars > options_.max_input_chars_per_word) { out.push_back(unk_); return; }
    const std::size_t mark = out.size();
    std::string candidate;
    std::size_t start = 0;
    while (start < n_chars) {
      std::size_t end = n_chars;
      // no piece is longer than max_piece_bytes_, so longer candidates cannot match
      const std::size_t budget = max_piece_bytes_ + 2;
      while (end > start && bounds[end] - bounds[start] + (start > 0 ? 2 : 0) > budget) --end;
      std::int32_t found = -1;
      for (; end > start; --end) {
        candidate.assign(start > 0 ? "##" : "");
        candidate.append(word, bounds[start], bounds[end] - bounds[start]);
        if (const auto it = ids_.find(std::string_view(candidate)); it != ids_.end()) { found = it->second; break; }
      }
      if (found < 0) { out.resize(mark); out.push_back(unk_); return; }
      out.push_back(found);
      start = end;
    }
  }

  std::vector<std::string> tokens_;
  std::unordered_map<std::string, std::int32_t, detail::string_hash, std::equal_to<>> ids_;
  std::string name_;
  wordpiece_options options_;
  std::size_t max_piece_bytes_ = 0;
  std::int32_t unk_ = 0, cls_ = 0, sep_ = 0, pad_ = 0;
};

} // namespace rapid::model
