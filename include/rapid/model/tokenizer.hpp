#pragma once
// Byte-level BPE tokenizer built from GGUF metadata (`tokenizer.ggml.model = gpt2`), exact to the
// HF `tokenizers` library built from the same vocabulary, merges and pre-tokenizer regex.
//
// Encoding: (1) added tokens are split out of the text first: user-defined tokens (GGUF token type
// 4, e.g. Qwen's <tool_call>) always, control tokens (type 3: <|im_start|>, <|endoftext|>, ...) only
// with `parse_special`; at each position the longest token wins, the leftmost position first.
// (2) The text between them is cut into pre-tokens by the pre-tokenizer named by
// `tokenizer.ggml.pre` (rapid/model/pretokenizer.hpp). (3) Each pre-token's bytes start as byte
// tokens (GPT-2's bytes_to_unicode) and are merged by rank (rapid/model/bpe.hpp); results of short
// pre-tokens are cached.
//
// Invalid UTF-8: by default bytes are encoded as they are (byte-level BPE can represent any byte);
// a byte outside a well-formed UTF-8 sequence counts as one character of the class
// [^\s\p{L}\p{N}] for pre-tokenization, so decode(encode(x)) == x for every byte string. With
// `strict_utf8` such input is refused with an invalid_argument naming the byte offset.
//
// Bytes without a byte token: a vocabulary may lack some of the 256 byte tokens (SmolLM2 lacks 21:
// 04 06 13 14 16 1D C0 C1 F1 F2 F5-FF). Such bytes are dropped before merging, as HF tokenizers
// does (llama.cpp drops them too, after merging), so for those vocabularies
// decode(encode(x)) == representable(x).
//
// A tokenizer is immutable after construction and its const members are safe to call from several
// threads; `encoder` keeps a pre-token cache across calls for one thread.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rapid/core/error.hpp"
#include "rapid/io/gguf.hpp"
#include "rapid/model/bpe.hpp"
#include "rapid/model/chat_template.hpp"
#include "rapid/model/pretokenizer.hpp"
#include "rapid/model/unicode.hpp"

namespace rapid::model {

/// GGUF token types (llama.cpp's llama_token_type).
enum class token_type : std::int32_t {
  undefined = 0, normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6,
};

/// The tokenizer's data as GGUF stores it; build one by hand for tests or synthetic vocabularies.
struct vocabulary {
  std::vector<std::string> tokens;   // byte-level text of each token (e.g. "Ġworld")
  std::vector<token_type> types;     // one per token; empty means all normal
  std::vector<std::string> merges;   // "left right", highest priority first
  std::string pre = "gpt2";          // tokenizer.ggml.pre
  std::optional<token> bos, eos, eot, unk, sep, pad;
  bool add_bos = false, add_eos = false;
  std::string chat_template;

  /// Reads the `tokenizer.*` keys. Throws unsupported_error for a non-BPE model.
  static vocabulary from_gguf(const io::gguf_file& f) {
    const auto model = f.get_or<std::string>("tokenizer.ggml.model", "");
    if (model != "gpt2")
      throw unsupported_error("tokenizer model '" + model + "' is not supported (rapid reads byte-level BPE, 'gpt2')",
                              {f.name(), "tokenizer.ggml.model", {}});
    vocabulary v;
    v.tokens = f.get<std::vector<std::string>>("tokenizer.ggml.tokens");
    if (f.contains("tokenizer.ggml.token_type")) {
      const auto types = f.get<std::vector<std::int32_t>>("tokenizer.ggml.token_type");
      if (types.size() != v.tokens.size())
        throw format_error("has " + std::to_string(types.size()) + " entries for " + std::to_string(v.tokens.size()) +
                           " tokens", {f.name(), "tokenizer.ggml.token_type", {}});
      v.types.reserve(types.size());
      for (auto t : types) v.types.push_back(static_cast<token_type>(t));
    }
    v.merges = f.get<std::vector<std::string>>("tokenizer.ggml.merges");
    v.pre = f.get_or<std::string>("tokenizer.ggml.pre", "gpt2");
    auto id = [&](std::string_view key) -> std::optional<token> {
      const auto* value = f.find(key);
      if (!value) return std::nullopt;
      const auto x = f.get<std::int64_t>(key);
      if (x == -1 || x == 0xFFFFFFFF) return std::nullopt;  // "none" as some converters write it
      if (x < 0 || x >= static_cast<std::int64_t>(v.tokens.size()))
        throw format_error("token id " + std::to_string(x) + " is outside the vocabulary of " +
                           std::to_string(v.tokens.size()), {f.name(), std::string(key), {}});
      return static_cast<token>(x);
    };
    v.bos = id("tokenizer.ggml.bos_token_id");
    v.eos = id("tokenizer.ggml.eos_token_id");
    v.eot = id("tokenizer.ggml.eot_token_id");
    v.unk = id("tokenizer.ggml.unknown_token_id");
    v.sep = id("tokenizer.ggml.seperator_token_id");  // sic: the GGUF key is spelled this way
    v.pad = id("tokenizer.ggml.padding_token_id");
    v.add_bos = f.get_or<bool>("tokenizer.ggml.add_bos_token", false);
    v.add_eos = f.get_or<bool>("tokenizer.ggml.add_eos_token", false);
    v.chat_template = f.get_or<std::string>("tokenizer.chat_template", "");
    return v;
  }
};

struct encode_options {
  bool parse_special = false;  // recognise control tokens (<|im_start|>, ...) written in the text
  bool add_special = false;    // add BOS / EOS where the model asks for them (add_bos_token, ...)
  bool strict_utf8 = false;    // refuse ill-formed UTF-8 (invalid_argument with the byte offset)
};

struct decode_options {
  bool skip_special = false;   // leave control tokens out of the text
};

/// Reusable state of encoding: the pre-token cache and the merge loop's scratch space.
struct encode_state {
  piece_cache cache;
  bpe_scratch scratch;
};

class tokenizer {
public:
  /// Builds from GGUF data; `name` (a path) prefixes error messages.
  explicit tokenizer(const vocabulary& v, std::string name = {}) : name_(std::move(name)) { build(v); }

  static tokenizer from_gguf(const io::gguf_file& f) { return tokenizer(vocabulary::from_gguf(f), f.name()); }
  static tokenizer from_gguf(const std::string& path) { return from_gguf(io::gguf_file(path)); }

  // ---- encoding --------------------------------------------------------------------------------

  [[nodiscard]] std::vector<token> encode(std::string_view text, const encode_options& o = {}) const {
    encode_state state;
    std::vector<token> out;
    out.reserve(text.size() / 3 + 4);
    encode(text, out, o, state);
    return out;
  }

  /// Appends the tokens of `text` to `out`, using (and filling) `state`'s cache.
  void encode(std::string_view text, std::vector<token>& out, const encode_options& o, encode_state& state) const {
    if (text.size() >= 0x7FFFFFFF)
      throw capacity_error("text of " + std::to_string(text.size()) + " bytes is too long to encode at once (limit 2 GiB)");
    if (o.strict_utf8) {
      if (const auto at = unicode::first_invalid_utf8(text))
        throw invalid_argument("the text is not valid UTF-8 here (without strict_utf8 its bytes are encoded as they are)",
                               {"", "text", static_cast<std::uint64_t>(*at)});
    }
    if (o.add_special && add_bos_ && bos_) out.push_back(*bos_);
    const std::uint8_t mask = o.parse_special ? (starts_user | starts_control) : starts_user;
    std::size_t segment = 0;
    for (std::size_t pos = 0; pos < text.size();) {
      const auto b = static_cast<unsigned char>(text[pos]);
      if (!(first_byte_[b] & mask)) { ++pos; continue; }
      const auto id = match_added(text.substr(pos), b, o.parse_special);
      if (id < 0) { ++pos; continue; }
      encode_plain(text.substr(segment, pos - segment), out, state);
      out.push_back(id);
      pos += token_text(id).size();
      segment = pos;
    }
    encode_plain(text.substr(segment), out, state);
    if (o.add_special && add_eos_ && eos_) out.push_back(*eos_);
  }

  /// Encodes text without looking for added tokens: pre-tokenize, then BPE.
  void encode_plain(std::string_view text, std::vector<token>& out, encode_state& state) const {
    pre_.split(text, [&](std::size_t begin, std::size_t end) {
      const auto piece = text.substr(begin, end - begin);
      if (piece.size() == 1) {
        if (const token id = byte_tokens_[static_cast<unsigned char>(piece[0])]; id >= 0) out.push_back(id);
        return;
      }
      const bool cacheable = piece.size() <= piece_cache::max_key_bytes;
      const auto hash = cacheable ? detail::hash_bytes(piece) : 0;
      if (cacheable && state.cache.find(piece, hash, out)) return;
      const auto before = out.size();
      bpe_merge(piece, byte_tokens_.data(), merges_, state.scratch, out);
      if (cacheable) state.cache.insert(piece, hash, std::span<const token>(out).subspan(before));
    });
  }

  // ---- decoding --------------------------------------------------------------------------------

  /// The bytes of the tokens, concatenated. Throws invalid_argument for an id outside the vocabulary.
  [[nodiscard]] std::string decode(std::span<const token> ids, const decode_options& o = {}) const {
    std::string out;
    for (const auto id : ids) append_bytes(id, out, o);
    return out;
  }
  void append_bytes(token id, std::string& out, const decode_options& o = {}) const {
    check(id);
    if (o.skip_special && types_[static_cast<std::size_t>(id)] == token_type::control) return;
    out += token_bytes(id);
  }

  // ---- vocabulary ------------------------------------------------------------------------------

  [[nodiscard]] std::size_t size() const noexcept { return types_.size(); }
  /// The token's text as stored in the GGUF (byte-level form, e.g. "Ġworld").
  [[nodiscard]] std::string_view token_text(token id) const {
    check(id);
    return std::string_view(text_).substr(text_off_[id], text_off_[id + 1] - text_off_[id]);
  }
  /// The bytes the token stands for (e.g. " world"; control tokens: their text).
  [[nodiscard]] std::string_view token_bytes(token id) const {
    check(id);
    return std::string_view(bytes_).substr(bytes_off_[id], bytes_off_[id + 1] - bytes_off_[id]);
  }
  [[nodiscard]] token_type type_of(token id) const { check(id); return types_[static_cast<std::size_t>(id)]; }
  /// The id of the token whose GGUF text is exactly `text`.
  [[nodiscard]] std::optional<token> find(std::string_view text) const noexcept {
    if (index_.empty()) return std::nullopt;
    const std::size_t mask = index_.size() - 1;
    for (std::size_t i = detail::hash_bytes(text) & mask;; i = (i + 1) & mask) {
      const token id = index_[i];
      if (id < 0) return std::nullopt;
      if (std::string_view(text_).substr(text_off_[id], text_off_[id + 1] - text_off_[id]) == text) return id;
    }
  }
  /// The token of one byte (the start of every pre-token's merging), or nullopt for a byte the
  /// vocabulary cannot represent: encoding drops such bytes (as HF tokenizers does).
  [[nodiscard]] std::optional<token> byte_token(std::uint8_t b) const noexcept {
    return byte_tokens_[b] < 0 ? std::nullopt : std::optional<token>(byte_tokens_[b]);
  }
  /// `text` without the bytes this vocabulary cannot represent: what decode(encode(text)) gives.
  [[nodiscard]] std::string representable(std::string_view text) const {
    std::string out;
    out.reserve(text.size());
    for (const char c : text)
      if (byte_tokens_[static_cast<unsigned char>(c)] >= 0) out += c;
    return out;
  }

  [[nodiscard]] pretokenizer_kind pre() const noexcept { return pre_.kind(); }
  [[nodiscard]] std::size_t merge_count() const noexcept { return merge_pairs_.size(); }
  /// Whether long pre-tokens may use the bucket-queue merge loop (see bpe_merge).
  [[nodiscard]] bool monotone_merges() const noexcept { return merges_.monotone(); }
  [[nodiscard]] std::optional<token> bos() const noexcept { return bos_; }
  [[nodiscard]] std::optional<token> eos() const noexcept { return eos_; }
  [[nodiscard]] std::optional<token> eot() const noexcept { return eot_; }
  [[nodiscard]] std::optional<token> pad() const noexcept { return pad_; }
  [[nodiscard]] bool add_bos() const noexcept { return add_bos_; }
  [[nodiscard]] bool add_eos() const noexcept { return add_eos_; }
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  /// True for tokens that end a generated turn: EOS, EOT, and ChatML's <|im_end|> / <|endoftext|>.
  [[nodiscard]] bool is_end_of_generation(token id) const noexcept {
    return (eos_ && id == *eos_) || (eot_ && id == *eot_) || (im_end_ && id == *im_end_) ||
           (endoftext_ && id == *endoftext_);
  }

  /// Every id is_end_of_generation() accepts (stop tokens for a decoder).
  [[nodiscard]] std::vector<token> end_of_generation_tokens() const {
    std::vector<token> out;
    for (const auto& id : {eos_, eot_, im_end_, endoftext_})
      if (id && std::find(out.begin(), out.end(), *id) == out.end()) out.push_back(*id);
    return out;
  }

  // ---- chat ------------------------------------------------------------------------------------

  [[nodiscard]] const std::string& chat_template() const noexcept { return chat_template_; }
  [[nodiscard]] const chat_template_info& chat_format() const noexcept { return chat_info_; }

  /// Renders a conversation as the model's ChatML template does. Throws unsupported_error when the
  /// GGUF's template is not ChatML or the vocabulary lacks <|im_start|> / <|im_end|>.
  [[nodiscard]] std::string apply_chat_template(std::span<const chat_message> messages, bool add_generation_prompt) const {
    if (chat_info_.kind == chat_template_kind::unsupported)
      throw unsupported_error("the model's chat template is not ChatML; rapid formats ChatML conversations only",
                              {name_, "tokenizer.chat_template", {}});
    if (!im_start_ || !im_end_)
      throw unsupported_error("the vocabulary has no <|im_start|>/<|im_end|> tokens for ChatML", {name_, "tokenizer.ggml.tokens", {}});
    return render_chatml(messages, add_generation_prompt, chat_info_.default_system);
  }

  // ---- identity --------------------------------------------------------------------------------

  /// A 64-bit digest of everything that decides token ids: tokens, types, merges, pre-tokenizer,
  /// special ids and BOS/EOS flags.
  [[nodiscard]] std::uint64_t fingerprint() const noexcept { return fingerprint_; }

  /// Why two tokenizers would give different ids or text, or nullopt when they are the same.
  [[nodiscard]] friend std::optional<std::string> vocabulary_difference(const tokenizer& a, const tokenizer& b) {
    if (a.size() != b.size())
      return "vocabulary sizes differ (" + std::to_string(a.size()) + " vs " + std::to_string(b.size()) + ")";
    for (token id = 0; id < static_cast<token>(a.size()); ++id) {
      if (a.token_text(id) != b.token_text(id))
        return "token " + std::to_string(id) + " differs ('" + std::string(a.token_text(id)) + "' vs '" +
               std::string(b.token_text(id)) + "')";
      if (a.types_[id] != b.types_[id]) return "token " + std::to_string(id) + " has different types";
    }
    if (a.merge_pairs_.size() != b.merge_pairs_.size())
      return "merge counts differ (" + std::to_string(a.merge_pairs_.size()) + " vs " +
             std::to_string(b.merge_pairs_.size()) + ")";
    for (std::size_t i = 0; i < a.merge_pairs_.size(); ++i)
      if (a.merge_pairs_[i] != b.merge_pairs_[i]) return "merge " + std::to_string(i) + " differs";
    if (a.pre() != b.pre())
      return "pre-tokenizers differ (" + std::string(name_of(a.pre())) + " vs " + std::string(name_of(b.pre())) + ")";
    auto show = [](std::optional<token> t) { return t ? std::to_string(*t) : std::string("none"); };
    const std::pair<const char*, std::pair<std::optional<token>, std::optional<token>>> ids[] = {
        {"BOS", {a.bos_, b.bos_}}, {"EOS", {a.eos_, b.eos_}}, {"EOT", {a.eot_, b.eot_}},
        {"UNK", {a.unk_, b.unk_}}, {"SEP", {a.sep_, b.sep_}}, {"PAD", {a.pad_, b.pad_}}};
    for (const auto& [what, pair] : ids)
      if (pair.first != pair.second)
        return std::string(what) + " ids differ (" + show(pair.first) + " vs " + show(pair.second) + ")";
    if (a.add_bos_ != b.add_bos_ || a.add_eos_ != b.add_eos_) return "add_bos_token/add_eos_token differ";
    return std::nullopt;
  }

private:
  static constexpr std::uint8_t starts_user = 1, starts_control = 2;

  void check(token id) const {
    if (id < 0 || static_cast<std::size_t>(id) >= types_.size())
      throw invalid_argument("token id " + std::to_string(id) + " is outside the vocabulary of " +
                             std::to_string(types_.size()), {name_, "token", {}});
  }

  /// The longest added token at the start of `s` (first byte `b`), or -1.
  [[nodiscard]] token match_added(std::string_view s, unsigned char b, bool parse_special) const noexcept {
    for (const token id : added_by_byte_[b]) {  // longest first
      if (!parse_special && types_[id] == token_type::control) continue;
      const auto t = std::string_view(text_).substr(text_off_[id], text_off_[id + 1] - text_off_[id]);
      if (s.size() >= t.size() && s.compare(0, t.size(), t) == 0) return id;
    }
    return -1;
  }

  void build(const vocabulary& v) {
    const std::size_t n = v.tokens.size();
    auto fail = [&](const std::string& what, std::string key) { return format_error(what, {name_, std::move(key), {}}); };
    if (n == 0) throw fail("the vocabulary is empty", "tokenizer.ggml.tokens");
    if (n >= 0x7FFFFFFF) throw fail("the vocabulary is too large", "tokenizer.ggml.tokens");
    if (!v.types.empty() && v.types.size() != n)
      throw fail("token types do not match the tokens", "tokenizer.ggml.token_type");
    const auto kind = pretokenizer_from_name(v.pre);
    if (!kind)
      throw unsupported_error("pre-tokenizer '" + v.pre + "' is not supported (rapid has gpt2, smollm, qwen2, llama3 "
                              "and their aliases)", {name_, "tokenizer.ggml.pre", {}});
    pre_ = pretokenizer(*kind);

    types_ = v.types.empty() ? std::vector<token_type>(n, token_type::normal) : v.types;
    text_off_.reserve(n + 1);
    bytes_off_.reserve(n + 1);
    text_off_.push_back(0);
    bytes_off_.push_back(0);
    for (std::size_t i = 0; i < n; ++i) {
      const auto& t = v.tokens[i];
      text_ += t;
      text_off_.push_back(static_cast<std::uint32_t>(text_.size()));
      const auto type = types_[i];
      if (type == token_type::control || type == token_type::user_defined) {
        bytes_ += t;
      } else {
        // Byte-level text back to bytes; a token with a character outside the map keeps its UTF-8
        // (the HF ByteLevel decoder does the same).
        std::string raw;
        bool mapped = true;
        for (std::size_t p = 0; p < t.size();) {
          const auto u = unicode::decode_utf8(t.data() + p, t.data() + t.size());
          const int b = u.valid ? unicode::codepoint_to_byte(u.cp) : -1;
          if (b < 0) { mapped = false; break; }
          raw += static_cast<char>(b);
          p += u.length;
        }
        bytes_ += mapped ? raw : t;
      }
      bytes_off_.push_back(static_cast<std::uint32_t>(bytes_.size()));
    }
    if (text_.size() > 0xFFFFFFFFull || bytes_.size() > 0xFFFFFFFFull)
      throw fail("the token texts are too large", "tokenizer.ggml.tokens");

    // Text -> id index (first occurrence wins, as for the merges' token lookup in HF and llama.cpp).
    std::size_t cap = 16;
    while (cap < n * 2) cap <<= 1;
    index_.assign(cap, -1);
    for (std::size_t i = 0; i < n; ++i) {
      const auto t = std::string_view(text_).substr(text_off_[i], text_off_[i + 1] - text_off_[i]);
      for (std::size_t s = detail::hash_bytes(t) & (cap - 1);; s = (s + 1) & (cap - 1)) {
        if (index_[s] < 0) { index_[s] = static_cast<token>(i); break; }
        if (token_text(index_[s]) == t) break;  // duplicate text: keep the first id
      }
    }

    int missing = 0;
    for (int b = 0; b < 256; ++b) {
      std::string ch;
      unicode::append_utf8(ch, unicode::byte_to_codepoint(static_cast<std::uint8_t>(b)));
      const auto id = find(ch);
      byte_tokens_[b] = id ? *id : -1;
      missing += id ? 0 : 1;
    }
    if (missing == 256) throw fail("the vocabulary has no byte tokens: it is not a byte-level BPE", "tokenizer.ggml.tokens");

    merges_.reserve(v.merges.size());
    merge_pairs_.reserve(v.merges.size());
    for (std::size_t r = 0; r < v.merges.size(); ++r) {
      const std::string_view m = v.merges[r];
      const auto space = m.find(' ', 1);
      auto bad = [&](const std::string& why) {
        return fail("merge " + std::to_string(r) + " ('" + std::string(m) + "') " + why, "tokenizer.ggml.merges");
      };
      if (space == std::string_view::npos) throw bad("is not two tokens separated by a space");
      const auto left = m.substr(0, space), right = m.substr(space + 1);
      const auto l = find(left), rr = find(right);
      std::string joined(left);
      joined += right;
      const auto result = find(joined);
      if (!l || !rr || !result) throw bad("names a token that is not in the vocabulary");
      merges_.insert(*l, *rr, {static_cast<std::uint32_t>(r), *result});  // a repeated pair keeps its first rank
      merge_pairs_.emplace_back(*l, *rr);
    }
    // Monotone merge list: each merge's inputs are bytes or results of merges of lower rank.
    {
      std::vector<std::int64_t> created(n, -1);  // highest rank of a merge that yields the token
      for (std::size_t r = 0; r < merge_pairs_.size(); ++r) {
        const auto m = merges_.find(merge_pairs_[r].first, merge_pairs_[r].second);
        if (m.rank == r) created[static_cast<std::size_t>(m.result)] = static_cast<std::int64_t>(r);
      }
      bool monotone = true;
      for (std::size_t r = 0; monotone && r < merge_pairs_.size(); ++r) {
        const auto [l, rr] = merge_pairs_[r];
        if (merges_.find(l, rr).rank != r) continue;  // a repeated pair never applies at this rank
        const auto rank = static_cast<std::int64_t>(r);
        monotone = created[static_cast<std::size_t>(l)] < rank && created[static_cast<std::size_t>(rr)] < rank;
      }
      merges_.set_monotone(monotone);
    }

    // Added tokens: user-defined always split out, control tokens on request.
    for (std::size_t i = 0; i < n; ++i) {
      const auto type = types_[i];
      if (type != token_type::control && type != token_type::user_defined) continue;
      const auto t = token_text(static_cast<token>(i));
      if (t.empty()) continue;
      const auto b = static_cast<unsigned char>(t[0]);
      added_by_byte_[b].push_back(static_cast<token>(i));
      first_byte_[b] |= type == token_type::control ? starts_control : starts_user;
    }
    for (auto& list : added_by_byte_)
      std::stable_sort(list.begin(), list.end(), [&](token x, token y) { return token_text(x).size() > token_text(y).size(); });

    auto checked = [&](std::optional<token> id, const char* key) {
      if (id && (*id < 0 || static_cast<std::size_t>(*id) >= n))
        throw fail("token id " + std::to_string(*id) + " is outside the vocabulary", key);
      return id;
    };
    bos_ = checked(v.bos, "tokenizer.ggml.bos_token_id");
    eos_ = checked(v.eos, "tokenizer.ggml.eos_token_id");
    eot_ = checked(v.eot, "tokenizer.ggml.eot_token_id");
    unk_ = checked(v.unk, "tokenizer.ggml.unknown_token_id");
    sep_ = checked(v.sep, "tokenizer.ggml.seperator_token_id");
    pad_ = checked(v.pad, "tokenizer.ggml.padding_token_id");
    add_bos_ = v.add_bos;
    add_eos_ = v.add_eos;
    im_start_ = find("<|im_start|>");
    im_end_ = find("<|im_end|>");
    endoftext_ = find("<|endoftext|>");
    chat_template_ = v.chat_template;
    chat_info_ = inspect_chat_template(chat_template_);

    // Fingerprint: FNV-style fold of the hashes of everything that decides ids.
    std::uint64_t h = 0xcbf29ce484222325ULL;
    auto fold = [&](std::uint64_t x) { h = detail::mix64(h ^ x) * 0x100000001b3ULL; };
    fold(detail::hash_bytes(text_));
    for (auto o : text_off_) fold(o);
    for (auto t : types_) fold(static_cast<std::uint64_t>(t));
    for (auto [l, r] : merge_pairs_) fold((static_cast<std::uint64_t>(l) << 32) | static_cast<std::uint32_t>(r));
    fold(static_cast<std::uint64_t>(pre_.kind()));
    for (auto id : {bos_, eos_, eot_, unk_, sep_, pad_}) fold(id ? static_cast<std::uint64_t>(*id) : ~0ULL);
    fold((add_bos_ ? 1u : 0u) | (add_eos_ ? 2u : 0u));
    fingerprint_ = h;
  }

  std::string name_;
  pretokenizer pre_;
  std::vector<token_type> types_;
  std::string text_, bytes_;                      // token texts / token bytes, concatenated
  std::vector<std::uint32_t> text_off_, bytes_off_;
  std::vector<token> index_;                      // open-addressing text -> id, -1 empty
  std::array<token, 256> byte_tokens_{};
  merge_table merges_;
  std::vector<std::pair<token, token>> merge_pairs_;
  std::array<std::vector<token>, 256> added_by_byte_;
  std::array<std::uint8_t, 256> first_byte_{};
  std::optional<token> bos_, eos_, eot_, unk_, sep_, pad_, im_start_, im_end_, endoftext_;
  bool add_bos_ = false, add_eos_ = false;
  std::string chat_template_;
  chat_template_info chat_info_;
  std::uint64_t fingerprint_ = 0;
};

/// Refuses a drafter whose tokenizer differs from the target's (ids would mean different text).
inline void require_same_vocabulary(const tokenizer& target, const tokenizer& drafter) {
  if (target.fingerprint() == drafter.fingerprint() && !vocabulary_difference(target, drafter)) return;
  if (const auto why = vocabulary_difference(target, drafter))
    throw invalid_argument("drafter " + drafter.name() + " and target " + target.name() + " do not share a tokenizer: " + *why,
                           {drafter.name(), "tokenizer", {}});
}

/// Encodes many texts on one thread, keeping the pre-token cache between calls.
class encoder {
public:
  explicit encoder(const tokenizer& t) noexcept : t_(&t) {}
  [[nodiscard]] std::vector<token> encode(std::string_view text, const encode_options& o = {}) {
    std::vector<token> out;
    t_->encode(text, out, o, state_);
    return out;
  }
  void encode(std::string_view text, std::vector<token>& out, const encode_options& o = {}) {
    t_->encode(text, out, o, state_);
  }
  void clear_cache() noexcept { state_.cache.clear(); }
  [[nodiscard]] const tokenizer& model() const noexcept { return *t_; }

private:
  const tokenizer* t_;
  encode_state state_;
};

/// Turns a stream of token ids into text that never ends inside a UTF-8 character: bytes of an
/// incomplete (but still completable) sequence are held back until the next token completes it.
/// Bytes that can never become valid UTF-8 are passed through unchanged, so the concatenated
/// output equals tokenizer::decode of the same ids; with `replace_invalid`, each maximal ill-formed
/// subsequence becomes U+FFFD instead (for display).
class stream_decoder {
public:
  explicit stream_decoder(const tokenizer& t, decode_options o = {}, bool replace_invalid = false)
      : t_(&t), options_(o), replace_(replace_invalid) {}

  /// Text ready to print after `id`.
  [[nodiscard]] std::string push(token id) {
    t_->append_bytes(id, pending_, options_);
    const std::size_t keep = unicode::incomplete_utf8_suffix(pending_);
    std::string out = pending_.substr(0, pending_.size() - keep);
    pending_.erase(0, pending_.size() - keep);
    return replace_ ? unicode::replace_invalid_utf8(out) : out;
  }
  /// The bytes still held back at the end of the stream (an incomplete sequence), then resets.
  [[nodiscard]] std::string finish() {
    std::string out;
    out.swap(pending_);
    return replace_ ? unicode::replace_invalid_utf8(out) : out;
  }
  [[nodiscard]] std::size_t pending() const noexcept { return pending_.size(); }

private:
  const tokenizer* t_;
  decode_options options_;
  bool replace_;
  std::string pending_;
};

} // namespace rapid::model
