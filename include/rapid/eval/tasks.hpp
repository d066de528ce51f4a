#pragma once
// Long-context evaluation tasks in the style of RULER and InfiniteBench, written for rapid: needles
// hidden in real text (single, multi-key, passkey), key-value retrieval, variable tracking, and
// cloze questions whose answer occurs once in the document. An instance is a function of its spec
// (kind, length, depth, seed, index) and the haystack text, so the same spec gives the same bytes.
// Lengths are in the caller's tokens: the document is cut at a sentence boundary so that document +
// question lands within a tolerance of the requested count, as measured by the caller's counter.
// Sizing costs two sample counts and usually one or two full counts, never a search over many cuts.
#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <numeric>
#include <optional>
#include <set>
#include <iterator>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "rapid/core/error.hpp"
#include "rapid/core/hash.hpp"
#include "rapid/core/rng.hpp"

namespace rapid::eval {

/// Tokens of a text in the tokenizer the prompts will use (e.g. a model's BPE, or words in tests).
using token_counter = std::function<std::size_t(std::string_view)>;

enum class task_kind { single_needle, multi_key_needle, passkey, kv_retrieval, variable_tracking, cloze_qa };

inline constexpr std::array<task_kind, 6> all_task_kinds{task_kind::single_needle, task_kind::multi_key_needle,
                                                         task_kind::passkey,       task_kind::kv_retrieval,
                                                         task_kind::variable_tracking, task_kind::cloze_qa};

[[nodiscard]] constexpr std::string_view name_of(task_kind k) noexcept {
  switch (k) {
  case task_kind::single_needle: return "single_needle";
  case task_kind::multi_key_needle: return "multi_key_needle";
  case task_kind::passkey: return "passkey";
  case task_kind::kv_retrieval: return "kv_retrieval";
  case task_kind::variable_tracking: return "variable_tracking";
  case task_kind::cloze_qa: return "cloze_qa";
  }
  return "unknown";
}

/// The kind called `name` (as name_of spells it).
[[nodiscard]] inline task_kind parse_task_kind(std::string_view name) {
  std::string known;
  for (const auto k : all_task_kinds) {
    if (name_of(k) == name) return k;
    known += known.empty() ? "" : ", ";
    known += name_of(k);
  }
  throw invalid_argument("unknown task '" + std::string(name) + "' (known: " + known + ")");
}

/// What identifies an instance; everything else about it follows from these and the haystack.
struct task_spec {
  task_kind kind = task_kind::single_needle;
  std::size_t tokens = 4096; // requested length of document + question, in the counter's tokens
  double depth = 0.5;        // where the evidence goes: 0 start of the document, 1 its end
  std::uint64_t seed = 0;
  std::size_t index = 0;     // instance number inside its (kind, tokens, depth) cell
};

/// Shape of the tasks; not part of the id, so keep them fixed across a sweep.
struct task_options {
  double tolerance = 0.03;          // measured tokens within tokens * (1 +- tolerance)
  std::size_t max_tokens = 0;       // 0: none; else the most tokens the caller can take (a model's context
                                    // less its template and answer): a longer spec aims at
                                    // max_tokens / (1 + tolerance) instead, its id unchanged
  std::size_t keys = 4;             // multi_key_needle: needles (one asked, the others distractors), 2..64
  std::size_t hops = 4;             // variable_tracking: variables in the asked chain, 1..16
  std::size_t distractor_chains = 1; // variable_tracking: chains holding other values, 0..8
  double chain_spread = 0.25;       // variable_tracking: fraction of the document the asked chain spans
};

/// A passage of the document that states (part of) the answer.
struct evidence_span {
  std::size_t offset = 0; // byte offset in the document
  std::string text;
};

struct task_instance {
  task_spec spec;                    // what was asked for (spec.kind is the task's kind)
  std::string id;                    // task_id(spec)
  std::string document;
  std::string question;
  std::vector<std::string> answers;  // accepted answers; any one is right
  double depth = 0;                  // where evidence[0] sits: filler bytes before it / filler bytes
  std::size_t n_tokens = 0;          // counter(document) + counter(question), measured
  std::vector<evidence_span> evidence; // in document order (variable tracking: every asked-chain statement)
};

/// "kind-tokens-d<depth>-s<seed>-i<index>", e.g. "passkey-4096-d0.25-s7-i3" (depth in shortest form).
[[nodiscard]] inline std::string task_id(const task_spec& s) {
  std::array<char, 32> depth{};
  const auto r = std::to_chars(depth.data(), depth.data() + depth.size(), s.depth);
  return std::string(name_of(s.kind)) + '-' + std::to_string(s.tokens) + "-d" + std::string(depth.data(), r.ptr) +
         "-s" + std::to_string(s.seed) + "-i" + std::to_string(s.index);
}

namespace detail {

inline bool blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
inline bool lower(char c) { return c >= 'a' && c <= 'z'; }
inline bool upper(char c) { return c >= 'A' && c <= 'Z'; }
inline bool letter(char c) { return lower(c) || upper(c); }

/// True where a document may be cut or a needle inserted: the ends; in line mode the start of a
/// line; else just after . ! ? (and closing quotes) followed by whitespace, or by an upper-case
/// letter glued to a lower-case word (the essays lost their paragraph breaks: "school.Computer").
inline bool boundary(std::string_view t, std::size_t p, bool lines) {
  if (p == 0 || p >= t.size()) return true;
  if (lines) return t[p - 1] == '\n';
  std::size_t q = p;
  while (q > 0 && (t[q - 1] == '"' || t[q - 1] == '\'' || t[q - 1] == ')')) --q;
  if (q == 0 || (t[q - 1] != '.' && t[q - 1] != '!' && t[q - 1] != '?')) return false;
  return blank(t[p]) || (upper(t[p]) && q >= 2 && lower(t[q - 2]));
}

inline constexpr std::size_t search_window = 4096; // bytes searched on each side for a boundary

/// The boundary nearest p (dir 0), at or before it (dir -1) or at or after it (dir 1). Text without
/// sentence ends nearby falls back to a space, then to an end of the text.
inline std::size_t boundary_near(std::string_view t, std::size_t p, int dir, bool lines) {
  p = std::min(p, t.size());
  auto find = [&](auto ok) -> std::optional<std::size_t> {
    for (std::size_t d = 0; d <= search_window; ++d) {
      if (dir <= 0 && d <= p && ok(p - d)) return p - d;
      if (dir >= 0 && p + d <= t.size() && ok(p + d)) return p + d;
    }
    return std::nullopt;
  };
  if (auto q = find([&](std::size_t i) { return boundary(t, i, lines); })) return *q;
  if (auto q = find([&](std::size_t i) { return i == 0 || i == t.size() || blank(t[i]); })) return *q;
  return dir < 0 || (dir == 0 && 2 * p < t.size()) ? 0 : t.size();
}

inline std::size_t skip_blanks(std::string_view t, std::size_t p) {
  while (p < t.size() && blank(t[p])) ++p;
  return p;
}

inline std::size_t occurrences(std::string_view text, std::string_view s) {
  std::size_t n = 0;
  for (auto at = text.find(s); at != std::string_view::npos; at = text.find(s, at + 1)) ++n;
  return n;
}

// Needle keys are adjective-noun pairs; no word is a prefix or suffix of another in its list, so
// one key never contains another.
inline constexpr std::array<std::string_view, 32> adjectives{
    "amber", "brisk", "calm", "dusty", "eager", "fuzzy", "gentle", "hollow", "icy", "jolly", "keen",
    "lively", "mellow", "nimble", "olive", "plucky", "quiet", "rusty", "silver", "tidy", "upbeat", "vivid",
    "witty", "young", "zesty", "bold", "crimson", "dapper", "frosty", "golden", "hazy", "lunar"};
inline constexpr std::array<std::string_view, 32> nouns{
    "anchor", "badger", "candle", "dolphin", "ember", "falcon", "glacier", "harbor", "island", "jigsaw", "kettle",
    "lantern", "meadow", "nectar", "orchid", "pebble", "quarry", "raven", "saddle", "tundra", "umbrella", "violin",
    "walrus", "yarrow", "zephyr", "beacon", "compass", "drum", "fjord", "goblet", "hammock", "igloo"};

inline std::string number(rng& g, int digits) {
  std::string s(1, static_cast<char>('1' + g() % 9));
  while (static_cast<int>(s.size()) < digits) s += static_cast<char>('0' + g() % 10);
  return s;
}
inline std::string key_name(rng& g) {
  const auto a = adjectives[g() % adjectives.size()], n = nouns[g() % nouns.size()];
  return std::string(a) + '-' + std::string(n);
}
inline std::string variable(rng& g) {
  std::string s;
  for (int i = 0; i < 5; ++i) s += static_cast<char>('A' + g() % 26);
  return s;
}
inline std::string uuid(rng& g) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) s += '-';
    s += hex[g() % 16];
  }
  return s;
}

/// A draw of `make` that is not in `used` and does not occur in `text`; it joins `used`.
template <class Make>
std::string fresh(rng& g, std::string_view text, std::set<std::string>& used, Make make) {
  for (int tries = 0; tries < 1000; ++tries) {
    std::string s = make(g);
    if (!used.contains(s) && text.find(s) == std::string_view::npos) return *used.insert(std::move(s)).first;
  }
  throw invalid_argument("could not draw a key or value that the haystack does not already contain (1000 tries); "
                         "pass ordinary prose as the haystack, or ask for fewer keys");
}

struct needle {
  std::string text; // a sentence, or a "key: value\n" line
  double at = 0;    // where it goes, as a fraction of the filler
};

/// Needles, question and answers of one instance (cloze questions are made after the cut).
struct plan {
  std::vector<needle> needles;
  std::vector<std::size_t> evidence; // needles stating the answer, in order
  std::string question;
  std::vector<std::string> answers;
  std::string unique; // must occur exactly once in the document
};

inline plan make_plan(const task_spec& spec, const task_options& o, rng& g, std::string_view window,
                      std::set<std::string>& used) {
  plan p;
  auto magic = [&](const std::string& key, const std::string& value, double at) {
    p.needles.push_back({"The special magic number for " + key + " is " + value + ".", at});
  };
  switch (spec.kind) {
  case task_kind::single_needle:
  case task_kind::multi_key_needle: {
    const std::size_t n = spec.kind == task_kind::single_needle ? 1 : o.keys;
    std::string asked;
    for (std::size_t i = 0; i < n; ++i) { // needle 0 is asked; distractors go anywhere
      const std::string key = fresh(g, window, used, key_name), value = fresh(g, window, used, [](rng& r) { return number(r, 7); });
      magic(key, value, i == 0 ? spec.depth : g.uniform());
      if (i == 0) asked = key, p.unique = value;
    }
    p.question = "What is the special magic number for " + asked + " mentioned in the document?";
    break;
  }
  case task_kind::passkey:
    p.unique = fresh(g, window, used, [](rng& r) { return number(r, 5); });
    p.needles.push_back({"The pass key is " + p.unique + ". Remember it.", spec.depth});
    p.question = "What is the pass key hidden in the document?";
    break;
  case task_kind::kv_retrieval: {
    const std::string key = fresh(g, window, used, uuid);
    p.unique = fresh(g, window, used, uuid);
    p.needles.push_back({key + ": " + p.unique + "\n", spec.depth});
    p.question = "In the list of key: value pairs above, what is the value for the key " + key + "?";
    break;
  }
  case task_kind::variable_tracking: {
    // The asked chain starts at depth and spans chain_spread after it (less near the end); a
    // distractor chain's statements go anywhere, in order.
    std::string names;
    for (std::size_t c = 0; c <= o.distractor_chains; ++c) {
      const std::string value = fresh(g, window, used, [](rng& r) { return number(r, 5); });
      std::vector<double> at(o.hops);
      const double spread = std::min(o.chain_spread, 1 - spec.depth);
      for (std::size_t k = 0; k < o.hops; ++k)
        at[k] = c == 0 ? spec.depth + (o.hops > 1 ? spread * double(k) / double(o.hops - 1) : 0) : g.uniform();
      std::sort(at.begin(), at.end());
      std::string previous = value;
      for (std::size_t k = 0; k < o.hops; ++k) {
        const std::string name = fresh(g, window, used, variable);
        if (c == 0) p.evidence.push_back(p.needles.size()), names += (k ? " " : "") + name;
        p.needles.push_back({"VAR " + name + " = " + previous + ".", at[k]});
        previous = name;
      }
      if (c == 0) {
        p.unique = value;
        p.question = "Which variables are assigned the value " + value +
                     ", directly or through other variables? Answer with all their names, separated by spaces.";
      }
    }
    p.answers = {names};
    break;
  }
  case task_kind::cloze_qa: break;
  }
  if (spec.kind != task_kind::variable_tracking && spec.kind != task_kind::cloze_qa) {
    p.evidence = {0};
    p.answers = {p.unique};
  }
  return p;
}

/// `bytes` or more of "key: value" lines with new uuids. Takes its generator and `used` by value:
/// called again with the same state, it gives the same lines (a longer call extends a shorter one).
inline std::string kv_lines(rng g, std::set<std::string> used, std::size_t bytes) {
  std::string out;
  while (out.size() < bytes) {
    const std::string key = fresh(g, {}, used, uuid);
    out += key + ": " + fresh(g, {}, used, uuid) + "\n";
  }
  return out;
}

struct assembled {
  std::string document;
  std::vector<std::size_t> offsets; // (needles) byte offset of each needle's text in the document
  std::vector<double> depths;       // (needles) filler bytes before it / filler bytes
};

/// `hay` with the needles inserted, in order of position, at the boundaries nearest their fractions.
inline assembled insert_needles(std::string_view hay, const std::vector<needle>& needles, bool lines) {
  std::vector<std::size_t> order(needles.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return needles[a].at < needles[b].at; });
  assembled out{{}, std::vector<std::size_t>(needles.size()), std::vector<double>(needles.size())};
  std::size_t from = 0;
  for (const std::size_t i : order) {
    const auto want = static_cast<std::size_t>(std::llround(needles[i].at * double(hay.size())));
    const std::size_t at = std::max(from, boundary_near(hay, want, 0, lines));
    out.document += hay.substr(from, at - from);
    if (!lines && !out.document.empty() && !blank(out.document.back())) out.document += ' ';
    out.offsets[i] = out.document.size();
    out.depths[i] = double(at) / double(hay.size());
    out.document += needles[i].text;
    if (!lines && at < hay.size() && !blank(hay[at])) out.document += ' ';
    from = at;
  }
  out.document += hay.substr(from);
  return out;
}

inline std::string lowered(std::string_view w) {
  std::string out(w);
  for (auto& c : out) c = upper(c) ? static_cast<char>(c - 'A' + 'a') : c;
  return out;
}

/// ASCII letter runs of `t`, lower-cased, with their counts.
inline std::unordered_map<std::string, std::size_t> word_counts(std::string_view t) {
  std::unordered_map<std::string, std::size_t> counts;
  for (std::size_t i = 0; i < t.size();) {
    if (!letter(t[i])) { ++i; continue; }
    const std::size_t w = i;
    while (i < t.size() && letter(t[i])) ++i;
    ++counts[lowered(t.substr(w, i - w))];
  }
  return counts;
}

inline constexpr std::string_view cloze_intro = "One word is missing from this sentence of the document, marked ____:\n\"";
inline constexpr std::string_view cloze_outro = "\"\nWhich word is missing?";

/// A sentence fit to quote: plain ASCII prose (letters and ordinary punctuation, no digits), 8 to 40
/// words, no words glued together by lost line breaks ("WeaponEric").
inline bool plain_sentence(std::string_view s) {
  std::size_t words = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (!letter(c) && !blank(c) && std::string_view(",;:'\"-()!?.").find(c) == std::string_view::npos) return false;
    if (i + 1 < s.size() && lower(c) && upper(s[i + 1])) return false;
    words += !blank(c) && (i == 0 || blank(s[i - 1]));
  }
  return words >= 8 && words <= 40 && (upper(s[0]) || s[0] == '"' || s[0] == '(');
}

struct cloze {
  std::size_t offset = 0; // the sentence's byte offset in the document
  std::string sentence, word, question;
};

/// A cloze question from the sentence nearest `depth` that has a word of five or more letters
/// occurring exactly once in the document (case-insensitive, whole words) and not in the question's
/// own wording; the word is drawn from `g`.
inline std::optional<cloze> pick_cloze(std::string_view doc, double depth, rng g) {
  std::vector<std::pair<std::size_t, std::size_t>> sentences; // [begin, end)
  for (std::size_t b = 0, p = 1; p <= doc.size(); ++p)
    if (boundary(doc, p, false)) {
      if (b < p) sentences.emplace_back(b, p);
      b = skip_blanks(doc, p);
      std::size_t d = b; // a leading verse or list number ("  4 And God saw") is not part of the sentence
      while (d < doc.size() && doc[d] >= '0' && doc[d] <= '9') ++d;
      if (d > b && d < doc.size() && blank(doc[d])) b = skip_blanks(doc, d);
    }
  const double target = depth * double(doc.size());
  std::stable_sort(sentences.begin(), sentences.end(), [&](auto a, auto b) {
    return std::abs(double(a.first) - target) < std::abs(double(b.first) - target);
  });
  const auto counts = word_counts(doc), template_words = word_counts(std::string(cloze_intro) + std::string(cloze_outro));
  for (const auto& [b, e] : sentences) {
    const std::string_view s = doc.substr(b, e - b);
    if (!plain_sentence(s)) continue;
    std::vector<std::pair<std::size_t, std::size_t>> words; // candidates [begin, end) in s
    for (std::size_t i = 0; i < s.size();) {
      if (!letter(s[i])) { ++i; continue; }
      const std::size_t w = i;
      while (i < s.size() && letter(s[i])) ++i;
      const bool whole = (w == 0 || (s[w - 1] != '\'' && s[w - 1] != '-')) && (i == s.size() || (s[i] != '\'' && s[i] != '-'));
      const std::string word = lowered(s.substr(w, i - w));
      if (i - w >= 5 && whole && counts.at(word) == 1 && !template_words.contains(word)) words.emplace_back(w, i);
    }
    if (words.empty()) continue;
    const auto [w, we] = words[g() % words.size()];
    std::string blanked = std::string(s.substr(0, w)) + "____" + std::string(s.substr(we)), quoted;
    for (const char c : blanked) // one line, single spaces
      if (!blank(c)) quoted += c;
      else if (!quoted.empty() && quoted.back() != ' ') quoted += ' ';
    return cloze{b, std::string(s), std::string(s.substr(w, we - w)), std::string(cloze_intro) + quoted + std::string(cloze_outro)};
  }
  return std::nullopt;
}

inline void validate(const task_spec& spec, const task_options& o, const token_counter& count, std::string_view haystack) {
  const std::string what = std::string(name_of(spec.kind)) + " task: ";
  if (!count) throw invalid_argument(what + "no token counter; pass a function that counts tokens of a text");
  if (spec.tokens == 0) throw invalid_argument(what + "0 tokens requested; ask for a length such as 4096");
  if (!(spec.depth >= 0 && spec.depth <= 1))
    throw invalid_argument(what + "depth " + std::to_string(spec.depth) + " is outside [0, 1]; pass a fraction of the document (0 start, 1 end)");
  if (!(o.tolerance > 0 && o.tolerance <= 0.5))
    throw invalid_argument(what + "tolerance " + std::to_string(o.tolerance) + " is outside (0, 0.5]; 0.03 is the default");
  if (spec.kind == task_kind::multi_key_needle && (o.keys < 2 || o.keys > 64))
    throw invalid_argument(what + std::to_string(o.keys) + " keys; multi-key needles need 2 to 64 keys");
  if (spec.kind == task_kind::variable_tracking) {
    if (o.hops < 1 || o.hops > 16) throw invalid_argument(what + std::to_string(o.hops) + " hops; pass 1 to 16");
    if (o.distractor_chains > 8) throw invalid_argument(what + std::to_string(o.distractor_chains) + " distractor chains; pass 0 to 8");
    if (!(o.chain_spread >= 0 && o.chain_spread <= 1)) throw invalid_argument(what + "chain_spread must be in [0, 1]");
  }
  if (spec.kind == task_kind::kv_retrieval && spec.tokens > (std::size_t{1} << 20))
    throw invalid_argument(what + std::to_string(spec.tokens) + " tokens; key-value lists go up to 1048576 tokens");
  if (spec.kind != task_kind::kv_retrieval && haystack.find_first_not_of(" \t\r\n") == std::string_view::npos)
    throw invalid_argument(what + "the haystack text is empty; pass real text (e.g. load_text_directory of the essays)");
}

} // namespace detail

/// One task instance of about spec.tokens tokens (document + question, within o.tolerance; at most
/// o.max_tokens when set) cut from `haystack` (real prose; kv_retrieval ignores it and generates
/// its list). Refuses, with rapid::invalid_argument, zero tokens, a depth outside [0, 1], a
/// haystack too short for the length, a length too short for the needles, and a text whose
/// sentences are too long to cut within the tolerance.
[[nodiscard]] inline task_instance generate_task(const task_spec& spec, std::string_view haystack, const token_counter& count,
                                                 const task_options& o = {}) {
  detail::validate(spec, o, count, haystack);
  task_instance out;
  out.spec = spec;
  out.id = task_id(spec);
  rng g(fnv1a(out.id)); // the id names everything that identifies the instance
  const bool kv = spec.kind == task_kind::kv_retrieval, cloze = spec.kind == task_kind::cloze_qa;
  // A spec longer than the caller can take is aimed just under its limit (a 32K task for a
  // 32,768-position model); n_tokens records what was made.
  const double target = o.max_tokens && double(spec.tokens) * (1 + o.tolerance) > double(o.max_tokens)
                            ? std::floor(double(o.max_tokens) / (1 + o.tolerance))
                            : double(spec.tokens);

  // Bytes per token of a text, on a sample of about min(tokens, 4096) tokens.
  auto bytes_per_token = [&](std::string_view t) {
    const std::size_t want = std::min<std::size_t>(t.size(), 4 * std::min<std::size_t>(spec.tokens, 4096));
    std::size_t cut = detail::boundary_near(t, want, 0, kv);
    if (cut == 0) cut = want;
    const std::size_t n = count(t.substr(0, cut));
    return n ? double(cut) / double(n) : 4.0;
  };
  auto too_short = [&](double tokens, std::size_t from) {
    return invalid_argument(out.id + ": the haystack (" + std::to_string(haystack.size()) + " bytes) holds about " +
                            std::to_string(std::llround(tokens)) + " tokens from byte " + std::to_string(from) +
                            " but the task needs " + std::to_string(std::llround(target)) +
                            "; pass a longer text (more essays, or the Bible) or ask for fewer tokens");
  };

  // The filler the document is cut from: the haystack from a random sentence start, or uuid lines.
  std::set<std::string> used;
  std::string lines; // kv_retrieval's generated list
  std::string_view filler;
  detail::plan plan;
  double bpt = 0;
  rng kv_g(0);
  std::set<std::string> kv_used;
  if (kv) {
    plan = detail::make_plan(spec, o, g, {}, used);
    kv_g = g; // the list's own generator and keys, to extend it identically if sizing needs more
    kv_used = used;
    bpt = bytes_per_token(detail::kv_lines(kv_g, kv_used, 4096));
    lines = detail::kv_lines(kv_g, kv_used, static_cast<std::size_t>(1.5 * target * bpt) + 4096);
    filler = lines;
  } else {
    const double need = target * bytes_per_token(haystack); // bytes
    if (double(haystack.size()) < 0.9 * need) throw too_short(double(haystack.size()) / need * target, 0);
    std::size_t start = 0;
    if (double(haystack.size()) > 1.25 * need) { // leave a margin for text denser than the sample
      const auto at = static_cast<std::size_t>(g.uniform() * (double(haystack.size()) - 1.25 * need));
      start = detail::skip_blanks(haystack, detail::boundary_near(haystack, at, 0, false));
    }
    filler = haystack.substr(start);
    // values are checked against the text the document can come from, not the whole haystack
    plan = detail::make_plan(spec, o, g, filler.substr(0, static_cast<std::size_t>(3 * need) + 65536), used);
    bpt = bytes_per_token(filler);
  }
  const rng cloze_g = g;

  std::size_t needle_tokens = 0;
  for (const auto& needle : plan.needles) needle_tokens += count(needle.text);
  double extra = double(needle_tokens) + (cloze ? double(count(std::string(detail::cloze_intro) + std::string(detail::cloze_outro))) + 200 / bpt
                                                : double(count(plan.question)));
  if (extra >= target)
    throw invalid_argument(out.id + ": the needles and question alone take about " + std::to_string(std::llround(extra)) +
                           " tokens; ask for more tokens");

  // Cut, insert, measure; rescale the cut by the measured density until within tolerance.
  auto want = static_cast<std::size_t>((target - extra) * bpt);
  auto cut_at = [&](std::size_t p, int dir) { // a boundary, never 0 (the document is not empty)
    const std::size_t c = detail::boundary_near(filler, p, dir, kv);
    return c ? c : detail::boundary_near(filler, 1, 1, kv);
  };
  // Cuts the filler at `cut`, inserts the needles and measures (into n); the instance when within tolerance.
  std::size_t n = 0;
  auto try_cut = [&](std::size_t cut) -> std::optional<task_instance> {
    const std::string_view hay = filler.substr(0, cut);
    auto doc = detail::insert_needles(hay, plan.needles, kv);
    std::optional<detail::cloze> c;
    if (cloze) {
      c = detail::pick_cloze(doc.document, spec.depth, cloze_g);
      if (!c) throw invalid_argument(out.id + ": no sentence of the document suits a cloze question (plain prose, 8-40 words, a word "
                                              "used once); pass prose text as the haystack");
      plan.question = c->question;
    }
    n = count(doc.document) + count(plan.question);
    if (std::abs(double(n) - target) > o.tolerance * target) return std::nullopt;
    task_instance t = out;
    t.document = std::move(doc.document);
    t.question = plan.question;
    t.n_tokens = n;
    if (cloze) {
      t.answers = {c->word};
      t.depth = double(c->offset) / double(t.document.size());
      t.evidence = {{c->offset, c->sentence}};
      return t;
    }
    t.answers = plan.answers;
    t.depth = doc.depths[plan.evidence.front()];
    for (const auto i : plan.evidence) t.evidence.push_back({doc.offsets[i], plan.needles[i].text});
    if (detail::occurrences(t.document, plan.unique) != 1)
      throw error(out.id + ": internal: '" + plan.unique + "' does not occur exactly once in the document");
    return t;
  };

  std::optional<std::size_t> last_cut, shorter, longer; // the longest cut measured short, the shortest measured long
  int direction = 0; // +1: the last try was short, -1: long
  for (int round = 0; round < 8; ++round) {
    if (kv && want + 4096 > filler.size()) {
      lines = detail::kv_lines(kv_g, kv_used, 2 * want + 4096);
      filler = lines;
    }
    std::size_t cut = cut_at(want, 0);
    if (last_cut && cut == *last_cut) // the rescaled cut snapped back: take the next boundary the count needs
      cut = direction > 0 ? cut_at(cut + 1, 1) : cut_at(cut - 1, -1);
    if (auto t = try_cut(cut)) return *t;
    if (cut >= filler.size() && double(n) < target) throw too_short(double(n), haystack.size() - filler.size());
    if (double(n) < target) shorter = std::max(shorter.value_or(0), cut);
    else longer = std::min(longer.value_or(cut), cut);
    if (last_cut && cut == *last_cut) break;
    last_cut = cut;
    direction = double(n) < target ? 1 : -1;
    extra = double(needle_tokens + count(plan.question));
    const double hay_tokens = std::max(1.0, double(n) - extra);
    want = static_cast<std::size_t>(std::llround(double(cut) * (target - extra) / hay_tokens));
  }
  // One sentence spans the whole tolerance (a long sentence at a short length): bisect between the
  // closest short and long cuts at word ends (line starts for key-value lists). Only instances the
  // sentence cuts above cannot make come here, so every other instance stays as it was.
  auto fine = [&](std::size_t c) {
    return kv ? filler[c - 1] == '\n' : detail::blank(filler[c]) && !detail::blank(filler[c - 1]);
  };
  while (shorter && longer && *longer - *shorter > 1) {
    const std::size_t mid = *shorter + (*longer - *shorter) / 2;
    std::size_t c = mid;
    while (c > *shorter && !fine(c)) --c;
    if (c == *shorter)
      for (c = mid + 1; c < *longer && !fine(c);) ++c;
    if (c == *longer) break; // no word end between them
    if (auto t = try_cut(c)) return *t;
    (double(n) < target ? shorter : longer) = c;
  }
  throw invalid_argument(out.id + ": could not cut the document within " + std::to_string(std::llround(o.tolerance * 100)) +
                         " % of " + std::to_string(std::llround(target)) + " tokens (last try " + std::to_string(n) +
                         "): no sentence or word end lands within it; raise task_options::tolerance "
                         "(rapid eval --tolerance) or pass prose");
}

/// The cells kinds x lengths x depths, each with `instances` instances.
struct grid_options {
  std::vector<task_kind> kinds{all_task_kinds.begin(), all_task_kinds.end()};
  std::vector<std::size_t> lengths{2048, 4096, 8192, 16384, 32768}; // target tokens
  std::vector<double> depths{0, 0.25, 0.5, 0.75, 1};
  std::size_t instances = 1; // per cell
  std::uint64_t seed = 0;
};

/// The grid's specs in a fixed order (kind, then length, then depth, then index); ids are unique.
[[nodiscard]] inline std::vector<task_spec> task_grid(const grid_options& o) {
  auto unique = [](auto v) { std::sort(v.begin(), v.end()); return std::adjacent_find(v.begin(), v.end()) == v.end(); };
  if (o.kinds.empty() || o.lengths.empty() || o.depths.empty() || o.instances == 0)
    throw invalid_argument("the task grid is empty; pass at least one kind, length, depth and instance");
  if (!unique(o.kinds) || !unique(o.lengths) || !unique(o.depths))
    throw invalid_argument("the task grid lists a kind, length or depth twice; instance ids would repeat");
  std::vector<task_spec> out;
  out.reserve(o.kinds.size() * o.lengths.size() * o.depths.size() * o.instances);
  for (const auto kind : o.kinds)
    for (const auto tokens : o.lengths)
      for (const auto depth : o.depths) {
        if (tokens == 0 || !(depth >= 0 && depth <= 1))
          throw invalid_argument("task grid: every length must be positive and every depth in [0, 1] (got " +
                                 std::to_string(tokens) + " tokens, depth " + std::to_string(depth) + ")");
        for (std::size_t i = 0; i < o.instances; ++i) out.push_back({kind, tokens, depth, o.seed, i});
      }
  return out;
}

/// Every instance of the grid, generated in task_grid's order.
[[nodiscard]] inline std::vector<task_instance> generate_grid(const grid_options& grid, std::string_view haystack,
                                                              const token_counter& count, const task_options& o = {}) {
  std::vector<task_instance> out;
  for (const auto& spec : task_grid(grid)) out.push_back(generate_task(spec, haystack, count, o));
  return out;
}

/// The .txt files of `dir`, sorted by name, joined by blank lines: one haystack from a corpus such
/// as the Paul Graham essays. (For the King James Bible, run `bible "gen1:1-rev22:21"` and pass its
/// output; the library reads files only.)
[[nodiscard]] inline std::string load_text_directory(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) throw io_error("not a directory (pass the folder holding the .txt files)", {dir.string(), {}, {}});
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.path().extension() == ".txt") files.push_back(e.path());
  if (ec) throw io_error("cannot list the directory: " + ec.message(), {dir.string(), {}, {}});
  if (files.empty()) throw io_error("no .txt files in the directory", {dir.string(), {}, {}});
  std::sort(files.begin(), files.end());
  std::string all;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) throw io_error("cannot read the file", {f.string(), {}, {}});
    all.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (in.bad()) throw io_error("cannot read the file", {f.string(), {}, {}});
    all += "\n\n";
  }
  return all;
}

} // namespace rapid::eval
