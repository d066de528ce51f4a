#pragma once
// Unicode helpers for the tokenizer: strict UTF-8 decoding that never throws (an ill-formed byte is
// reported as one invalid unit), code point properties from the generated tables, and GPT-2's
// byte <-> code point map used by byte-level BPE vocabularies.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rapid/model/unicode_tables.hpp"

namespace rapid::unicode {

// ---- UTF-8 ---------------------------------------------------------------------------------------

/// One decoded unit: a code point of `length` bytes, or (valid == false) one byte that does not
/// start a well-formed UTF-8 sequence; then `cp` holds that byte's value and `length` is 1.
struct utf8_unit {
  char32_t cp;
  std::uint8_t length;
  bool valid;
};

/// Expected sequence length from a lead byte: 1..4, or 0 for bytes that never start a sequence
/// (continuation bytes 80..BF, C0, C1, F5..FF).
[[nodiscard]] constexpr int utf8_sequence_length(unsigned char lead) noexcept {
  if (lead < 0x80) return 1;
  if (lead < 0xC2) return 0;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  if (lead < 0xF5) return 4;
  return 0;
}

/// Range allowed for the second byte after `lead` (Unicode Table 3-7: no overlongs, no surrogates,
/// nothing above U+10FFFF). Later continuation bytes are always 80..BF.
[[nodiscard]] constexpr bool utf8_second_byte_ok(unsigned char lead, unsigned char b) noexcept {
  switch (lead) {
    case 0xE0: return b >= 0xA0 && b <= 0xBF;
    case 0xED: return b >= 0x80 && b <= 0x9F;
    case 0xF0: return b >= 0x90 && b <= 0xBF;
    case 0xF4: return b >= 0x80 && b <= 0x8F;
    default: return b >= 0x80 && b <= 0xBF;
  }
}

/// Decodes the unit starting at `p` (p < end). Well-formed sequences follow Unicode Table 3-7
/// exactly (the same rule as Python's and Rust's UTF-8 decoders); anything else is one invalid byte.
[[nodiscard]] inline utf8_unit decode_utf8(const char* p, const char* end) noexcept {
  const auto b0 = static_cast<unsigned char>(p[0]);
  if (b0 < 0x80) return {b0, 1, true};
  const int n = utf8_sequence_length(b0);
  if (n == 0 || end - p < n) return {b0, 1, false};
  const auto b1 = static_cast<unsigned char>(p[1]);
  if (!utf8_second_byte_ok(b0, b1)) return {b0, 1, false};
  if (n == 2) return {static_cast<char32_t>(((b0 & 0x1Fu) << 6) | (b1 & 0x3Fu)), 2, true};
  const auto b2 = static_cast<unsigned char>(p[2]);
  if ((b2 & 0xC0) != 0x80) return {b0, 1, false};
  if (n == 3) return {static_cast<char32_t>(((b0 & 0x0Fu) << 12) | ((b1 & 0x3Fu) << 6) | (b2 & 0x3Fu)), 3, true};
  const auto b3 = static_cast<unsigned char>(p[3]);
  if ((b3 & 0xC0) != 0x80) return {b0, 1, false};
  return {static_cast<char32_t>(((b0 & 0x07u) << 18) | ((b1 & 0x3Fu) << 12) | ((b2 & 0x3Fu) << 6) | (b3 & 0x3Fu)),
          4, true};
}

/// Byte offset of the first byte that is not part of a well-formed sequence, or nullopt.
[[nodiscard]] inline std::optional<std::size_t> first_invalid_utf8(std::string_view s) noexcept {
  const char* p = s.data();
  const char* end = p + s.size();
  while (p < end) {
    if (static_cast<unsigned char>(*p) < 0x80) { ++p; continue; }
    const auto u = decode_utf8(p, end);
    if (!u.valid) return static_cast<std::size_t>(p - s.data());
    p += u.length;
  }
  return std::nullopt;
}

/// Length of the suffix of `s` that is an incomplete but still completable UTF-8 sequence (a
/// proper prefix of a well-formed sequence), 0..3. Streaming decoders hold these bytes back.
[[nodiscard]] inline std::size_t incomplete_utf8_suffix(std::string_view s) noexcept {
  const std::size_t n = s.size();
  for (std::size_t k = 1; k <= 3 && k <= n; ++k) {
    const auto lead = static_cast<unsigned char>(s[n - k]);
    if ((lead & 0xC0) == 0x80) continue;  // a continuation byte: look further back for the lead
    const int len = utf8_sequence_length(lead);
    if (len <= static_cast<int>(k)) return 0;  // ASCII, invalid lead, or a sequence already complete
    if (k >= 2 && !utf8_second_byte_ok(lead, static_cast<unsigned char>(s[n - k + 1]))) return 0;
    return k;  // bytes after the second are continuation bytes (checked by the loop above)
  }
  return 0;
}

inline void append_utf8(std::string& out, char32_t cp);

/// `s` with each maximal ill-formed subsequence (Unicode's "maximal subpart" practice, as WHATWG
/// and Python's errors="replace") replaced by U+FFFD.
[[nodiscard]] inline std::string replace_invalid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  const char* p = s.data();
  const char* end = p + s.size();
  while (p < end) {
    const auto u = decode_utf8(p, end);
    if (u.valid) {
      out.append(p, u.length);
      p += u.length;
      continue;
    }
    // Skip the lead byte and the continuation bytes that still fit a well-formed sequence.
    const auto lead = static_cast<unsigned char>(*p);
    const int n = utf8_sequence_length(lead);
    std::ptrdiff_t k = 1;
    if (n > 1 && k < end - p && utf8_second_byte_ok(lead, static_cast<unsigned char>(p[1]))) {
      ++k;
      while (k < n && k < end - p && (static_cast<unsigned char>(p[k]) & 0xC0) == 0x80) ++k;
    }
    append_utf8(out, 0xFFFD);
    p += k;
  }
  return out;
}

/// Appends the UTF-8 encoding of `cp` (which must be a scalar value <= U+10FFFF).
inline void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// ---- properties ----------------------------------------------------------------------------------

namespace detail {

/// Per code point: bits 0-4 the general category, bit 5 White_Space. Two-stage table (256-entry
/// blocks, identical blocks shared), built once from the generated runs on first use.
struct property_table {
  static constexpr std::uint8_t white_space_bit = 0x20;
  std::array<std::uint16_t, 0x110000 / 256> block_of{};
  std::vector<std::uint8_t> blocks;

  property_table() {
    std::vector<std::uint8_t> flat(0x110000, 0);
    const auto& runs = tables::category_runs;
    for (std::size_t i = 0; i < runs.size(); ++i) {
      const std::uint32_t first = runs[i] >> 8;
      const std::uint32_t last = i + 1 < runs.size() ? (runs[i + 1] >> 8) : 0x110000;
      const auto cat = static_cast<std::uint8_t>(runs[i] & 0xFF);
      for (std::uint32_t cp = first; cp < last; ++cp) flat[cp] = cat;
    }
    for (auto cp : tables::white_space) flat[cp] |= white_space_bit;
    // Deduplicate blocks with a map from block content to index.
    std::vector<std::uint32_t> hashes;
    for (std::size_t b = 0; b < block_of.size(); ++b) {
      const std::uint8_t* blk = flat.data() + b * 256;
      std::uint32_t h = 2166136261u;
      for (int i = 0; i < 256; ++i) h = (h ^ blk[i]) * 16777619u;
      std::size_t found = hashes.size();
      for (std::size_t k = 0; k < hashes.size(); ++k) {
        if (hashes[k] == h && std::equal(blk, blk + 256, blocks.data() + k * 256)) { found = k; break; }
      }
      if (found == hashes.size()) {
        hashes.push_back(h);
        blocks.insert(blocks.end(), blk, blk + 256);
      }
      block_of[b] = static_cast<std::uint16_t>(found);
    }
  }

  [[nodiscard]] std::uint8_t operator()(char32_t cp) const noexcept {
    if (cp >= 0x110000) return 0;
    return blocks[static_cast<std::size_t>(block_of[cp >> 8]) * 256 + (cp & 0xFF)];
  }
};

inline const property_table& properties() {
  static const property_table table;
  return table;
}

} // namespace detail

[[nodiscard]] inline category category_of(char32_t cp) {
  return static_cast<category>(detail::properties()(cp) & 0x1F);
}
[[nodiscard]] inline bool is_white_space(char32_t cp) {
  return (detail::properties()(cp) & detail::property_table::white_space_bit) != 0;
}
/// \p{L}: Lu, Ll, Lt, Lm, Lo.
[[nodiscard]] constexpr bool is_letter(category c) noexcept { return c >= category::Lu && c <= category::Lo; }
/// \p{M}: Mn, Mc, Me.
[[nodiscard]] constexpr bool is_mark(category c) noexcept { return c >= category::Mn && c <= category::Me; }
/// \p{N}: Nd, Nl, No.
[[nodiscard]] constexpr bool is_number(category c) noexcept { return c >= category::Nd && c <= category::No; }
/// \p{P}: Pc .. Po.
[[nodiscard]] constexpr bool is_punctuation(category c) noexcept { return c >= category::Pc && c <= category::Po; }
/// \p{S}: Sm .. So.
[[nodiscard]] constexpr bool is_symbol(category c) noexcept { return c >= category::Sm && c <= category::So; }

// ---- GPT-2 byte-level map ------------------------------------------------------------------------

/// GPT-2's bytes_to_unicode: printable Latin-1 bytes (21-7E, A1-AC, AE-FF) map to themselves, the
/// other 68 bytes to U+0100.. in byte order, so every byte has a visible code point.
[[nodiscard]] constexpr char32_t byte_to_codepoint(std::uint8_t b) noexcept {
  auto printable = [](int c) { return (c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF); };
  if (printable(b)) return b;
  int n = 0;
  for (int c = 0; c < b; ++c) n += printable(c) ? 0 : 1;
  return static_cast<char32_t>(0x100 + n);
}

/// Inverse of byte_to_codepoint, or -1 for code points outside the map.
[[nodiscard]] constexpr int codepoint_to_byte(char32_t cp) noexcept {
  constexpr auto inverse = [] {
    std::array<std::int16_t, 0x144> inv{};
    for (auto& x : inv) x = -1;
    for (int b = 0; b < 256; ++b) inv[byte_to_codepoint(static_cast<std::uint8_t>(b))] = static_cast<std::int16_t>(b);
    return inv;
  }();
  return cp < inverse.size() ? inverse[cp] : -1;
}

} // namespace rapid::unicode
