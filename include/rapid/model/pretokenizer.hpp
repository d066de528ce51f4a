#pragma once
// Pre-tokenizers of byte-level BPE vocabularies, selected by GGUF `tokenizer.ggml.pre`. Each one is
// a hand-written scanner with the exact semantics of a backtracking regex (the regexes are the
// ones of the HF tokenizer.json files and llama.cpp's llama-vocab.cpp); no std::regex.
//
//   gpt2   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   smollm every \p{N} is split off on its own first, then gpt2 on the text between digits
//          (HF: Sequence[Digits(individual_digits), ByteLevel]); also starcoder, refact, command-r
//   qwen2  (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*
//          |\s*[\r\n]+|\s+(?!\S)|\s+                                 (also stablelm2, deepseek-r1-qwen)
//   llama3 the qwen2 regex with \p{N}{1,3} instead of \p{N}          (llama-bpe)
//
// \p{L}, \p{N} are general categories, \s is White_Space (rapid/model/unicode_tables.hpp). Input
// need not be valid UTF-8: a byte outside any well-formed sequence is one character of the class
// [^\s\p{L}\p{N}], like U+FFFD, so every byte lands in exactly one piece.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "rapid/model/unicode.hpp"

namespace rapid::model {

enum class pretokenizer_kind : std::uint8_t { gpt2, smollm, qwen2, llama3 };

[[nodiscard]] constexpr std::string_view name_of(pretokenizer_kind k) noexcept {
  switch (k) {
    case pretokenizer_kind::gpt2: return "gpt2";
    case pretokenizer_kind::smollm: return "smollm";
    case pretokenizer_kind::qwen2: return "qwen2";
    case pretokenizer_kind::llama3: return "llama3";
  }
  return "unknown";
}

/// The pre-tokenizer for a GGUF `tokenizer.ggml.pre` value, or nullopt when rapid has none.
[[nodiscard]] constexpr std::optional<pretokenizer_kind> pretokenizer_from_name(std::string_view pre) noexcept {
  if (pre == "gpt2" || pre == "gpt-2" || pre == "mpt" || pre == "olmo") return pretokenizer_kind::gpt2;
  if (pre == "smollm" || pre == "starcoder" || pre == "refact" || pre == "command-r" || pre == "codeshell")
    return pretokenizer_kind::smollm;
  if (pre == "qwen2" || pre == "stablelm2" || pre == "deepseek-r1-qwen") return pretokenizer_kind::qwen2;
  if (pre == "llama3" || pre == "llama-bpe") return pretokenizer_kind::llama3;
  return std::nullopt;
}

namespace detail {

enum class char_class : std::uint8_t { other, letter, number, space, end };

struct char_info {
  char32_t cp;        // code point; 0xFFFFFFFF for an invalid byte or past the end
  std::uint32_t len;  // bytes
  char_class cls;
};

inline constexpr char32_t no_codepoint = 0xFFFFFFFF;

/// Classes of the 128 ASCII characters (letters, digits, the six White_Space controls and space).
inline constexpr auto ascii_classes = [] {
  std::array<char_class, 128> t{};
  for (int c = 0; c < 128; ++c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) t[c] = char_class::letter;
    else if (c >= '0' && c <= '9') t[c] = char_class::number;
    else if (c == ' ' || (c >= 0x09 && c <= 0x0D)) t[c] = char_class::space;
    else t[c] = char_class::other;
  }
  return t;
}();

class char_reader {
public:
  explicit char_reader(std::string_view text) noexcept
      : p_(text.data()), n_(text.size()), props_(unicode::detail::properties()) {}

  [[nodiscard]] std::size_t size() const noexcept { return n_; }

  /// The character at byte offset `pos` (class `end` at or past the end).
  [[nodiscard]] char_info at(std::size_t pos) const noexcept {
    if (pos >= n_) return {no_codepoint, 0, char_class::end};
    const auto b = static_cast<unsigned char>(p_[pos]);
    if (b < 0x80) return {b, 1, ascii_classes[b]};
    const auto u = unicode::decode_utf8(p_ + pos, p_ + n_);
    if (!u.valid) return {no_codepoint, 1, char_class::other};
    const auto prop = props_(u.cp);
    char_class cls = char_class::other;
    if (prop & unicode::detail::property_table::white_space_bit) cls = char_class::space;
    else if (unicode::is_letter(static_cast<unicode::category>(prop & 0x1F))) cls = char_class::letter;
    else if (unicode::is_number(static_cast<unicode::category>(prop & 0x1F))) cls = char_class::number;
    return {u.cp, u.length, cls};
  }

private:
  const char* p_;
  std::size_t n_;
  const unicode::detail::property_table& props_;
};

} // namespace detail

/// Splits text (which holds no special tokens) into pieces for BPE.
class pretokenizer {
public:
  explicit pretokenizer(pretokenizer_kind kind = pretokenizer_kind::gpt2) noexcept : kind_(kind) {}
  [[nodiscard]] pretokenizer_kind kind() const noexcept { return kind_; }

  /// Calls sink(begin, end) with the byte range of each piece, in order; the pieces tile `text`.
  template <class Sink> void split(std::string_view text, Sink&& sink) const {
    const detail::char_reader r(text);
    switch (kind_) {
      case pretokenizer_kind::gpt2: split_gpt2(r, false, sink); break;
      case pretokenizer_kind::smollm: split_gpt2(r, true, sink); break;
      case pretokenizer_kind::qwen2: split_qwen2(r, 1, sink); break;
      case pretokenizer_kind::llama3: split_qwen2(r, 3, sink); break;
    }
  }

private:
  using cc = detail::char_class;

  // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ on each fragment; with
  // `isolate_numbers`, each \p{N} is a fragment of its own and ends the fragment before it.
  template <class Sink> static void split_gpt2(const detail::char_reader& r, bool isolate_numbers, Sink& sink) {
    // A character as the regex sees it inside the current fragment: numbers end the fragment.
    auto peek = [&](std::size_t pos) {
      auto c = r.at(pos);
      if (isolate_numbers && c.cls == cc::number) c.cls = cc::end;
      return c;
    };
    std::size_t pos = 0;
    const std::size_t n = r.size();
    while (pos < n) {
      const auto c = r.at(pos);
      if (isolate_numbers && c.cls == cc::number) {
        sink(pos, pos + c.len);
        pos += c.len;
        continue;
      }
      if (c.cp == '\'') {  // 's|'t|'re|'ve|'m|'ll|'d (case-sensitive)
        const auto c1 = peek(pos + 1);
        if (c1.cp == 's' || c1.cp == 't' || c1.cp == 'm' || c1.cp == 'd') {
          sink(pos, pos + 2);
          pos += 2;
          continue;
        }
        if (c1.cp == 'r' || c1.cp == 'v' || c1.cp == 'l') {
          const auto c2 = peek(pos + 2);
          if ((c1.cp != 'l' && c2.cp == 'e') || (c1.cp == 'l' && c2.cp == 'l')) {
            sink(pos, pos + 3);
            pos += 3;
            continue;
          }
        }
      }
      // ' ?' followed by a run of one class: letters, numbers, or [^\s\p{L}\p{N}].
      std::size_t p = pos;
      cc run = c.cls;
      if (c.cp == ' ') {
        const auto c1 = peek(pos + 1);
        if (c1.cls == cc::letter || c1.cls == cc::number || c1.cls == cc::other) {
          run = c1.cls;
          p = pos + 1;
        }
      }
      if (run != cc::space) {
        for (auto x = peek(p); x.cls == run; x = peek(p)) p += x.len;
        sink(pos, p);
        pos = p;
        continue;
      }
      // Whitespace: \s+(?!\S) keeps the last space for the next piece unless the run ends the fragment.
      std::size_t q = pos, last = pos, count = 0;
      for (auto x = peek(q); x.cls == cc::space; x = peek(q)) {
        last = q;
        q += x.len;
        ++count;
      }
      const std::size_t end = (peek(q).cls == cc::end || count == 1) ? q : last;
      sink(pos, end);
      pos = end;
    }
  }

  // (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max_digits}| ?[^\s\p{L}\p{N}]+[\r\n]*
  // |\s*[\r\n]+|\s+(?!\S)|\s+
  template <class Sink> static void split_qwen2(const detail::char_reader& r, int max_digits, Sink& sink) {
    // Simple case folding for the contraction letters: ASCII, and U+017F LATIN SMALL LETTER LONG S
    // which folds to 's' (Oniguruma matches it under (?i)).
    auto fold = [](char32_t cp) -> char32_t {
      if (cp >= 'A' && cp <= 'Z') return cp + 32;
      if (cp == 0x17F) return 's';
      return cp;
    };
    std::size_t pos = 0;
    const std::size_t n = r.size();
    while (pos < n) {
      const auto c = r.at(pos);
      if (c.cp == '\'') {
        const auto c1 = r.at(pos + 1);
        const auto f1 = fold(c1.cp);
        if (f1 == 's' || f1 == 't' || f1 == 'm' || f1 == 'd') {
          sink(pos, pos + 1 + c1.len);
          pos += 1 + c1.len;
          continue;
        }
        if (f1 == 'r' || f1 == 'v' || f1 == 'l') {
          const auto c2 = r.at(pos + 1 + c1.len);
          const auto f2 = fold(c2.cp);
          if ((f1 != 'l' && f2 == 'e') || (f1 == 'l' && f2 == 'l')) {
            sink(pos, pos + 1 + c1.len + c2.len);
            pos += 1 + c1.len + c2.len;
            continue;
          }
        }
      }
      // [^\r\n\p{L}\p{N}]?\p{L}+
      std::size_t letters = n;  // where the letter run starts, if this alternative matches
      if (c.cls == cc::letter) letters = pos;
      else if (c.cls != cc::number && c.cp != '\r' && c.cp != '\n' && r.at(pos + c.len).cls == cc::letter)
        letters = pos + c.len;
      if (letters != n) {
        std::size_t p = letters;
        for (auto x = r.at(p); x.cls == cc::letter; x = r.at(p)) p += x.len;
        sink(pos, p);
        pos = p;
        continue;
      }
      // \p{N}{1,max_digits}
      if (c.cls == cc::number) {
        std::size_t p = pos;
        int k = 0;
        for (auto x = c; x.cls == cc::number && k < max_digits; x = r.at(p), ++k) p += x.len;
        sink(pos, p);
        pos = p;
        continue;
      }
      // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
      std::size_t others = n;
      if (c.cls == cc::other) others = pos;
      else if (c.cp == ' ' && r.at(pos + 1).cls == cc::other) others = pos + 1;
      if (others != n) {
        std::size_t p = others;
        for (auto x = r.at(p); x.cls == cc::other; x = r.at(p)) p += x.len;
        for (auto x = r.at(p); x.cp == '\r' || x.cp == '\n'; x = r.at(p)) p += 1;
        sink(pos, p);
        pos = p;
        continue;
      }
      // Whitespace (the only class left). \s*[\r\n]+ ends after the run's last \r or \n; otherwise
      // \s+(?!\S) keeps the last space for the next piece unless the run ends the text; else \s+.
      std::size_t q = pos, last = pos, count = 0, after_newline = n + 1;
      for (auto x = c; x.cls == cc::space; x = r.at(q)) {
        if (x.cp == '\r' || x.cp == '\n') after_newline = q + 1;
        last = q;
        q += x.len;
        ++count;
      }
      std::size_t end;
      if (after_newline != n + 1) end = after_newline;
      else if (q >= n || count == 1) end = q;
      else end = last;
      sink(pos, end);
      pos = end;
    }
  }

  pretokenizer_kind kind_;
};

} // namespace rapid::model
