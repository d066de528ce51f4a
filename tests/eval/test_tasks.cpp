// The evaluation task generators: reproducible by seed, needles once at the requested depth,
// lengths within tolerance (word counts, and SmolLM2's tokenizer when cached), unique answers,
// variable chains, cloze questions, the grid, the text loader, and bad input.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "rapid/core/rng.hpp"
#include "rapid/eval/tasks.hpp"
#include "rapid/model/tokenizer.hpp"
#include "test_support.hpp"

using namespace rapid;
using eval::task_kind;

namespace {

/// The deterministic test counter: whitespace-separated words.
std::size_t words(std::string_view s) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size(); ++i) n += !std::isspace(static_cast<unsigned char>(s[i])) && (i == 0 || std::isspace(static_cast<unsigned char>(s[i - 1])));
  return n;
}

/// Seeded prose of pseudo-words (~60K words, enough for 32K-word tasks): sentences of 6-18 words,
/// paragraphs of 5 sentences. Most long pseudo-words occur once, as rare words do in real text.
const std::string& prose() {
  static const std::string text = [] {
    rng g(42);
    const std::string_view onsets[] = {"b", "c", "d", "f", "g", "l", "m", "n", "p", "r", "s", "t", "v", "br", "st", "tr"};
    const std::string_view vowels[] = {"a", "e", "i", "o", "u", "ai", "ou"};
    std::string out;
    for (std::size_t n = 0, sentence = 0; n < 60000; ++sentence) {
      const std::size_t len = 6 + g() % 13;
      for (std::size_t w = 0; w < len; ++w, ++n) {
        std::string word;
        for (std::size_t s = 0, syl = 1 + g() % 4; s < syl; ++s) word += std::string(onsets[g() % 16]) + std::string(vowels[g() % 7]);
        if (w == 0) word[0] = static_cast<char>(word[0] - 'a' + 'A');
        out += word;
        out += w + 1 < len ? (g() % 9 == 0 ? ", " : " ") : ".";
      }
      out += sentence % 5 == 4 ? "\n\n" : " ";
    }
    return out;
  }();
  return text;
}

std::optional<std::string> essays() {
  const auto dir = test::cached("data/paul_graham_essays");
  if (!dir) return std::nullopt;
  return eval::load_text_directory(*dir);
}

/// The King James Bible from Debian's bible-kjv (scripts/install_deps.sh installs it).
std::optional<std::string> bible() {
  std::string text;
  if (FILE* p = popen("bible gen1:1-rev22:21 2>/dev/null", "r")) {
    char buf[65536];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) text.append(buf, n);
    pclose(p);
  }
  if (text.size() > 4'000'000) return text;
  if (test::models_required()) FAIL("the `bible` command (Debian bible-kjv) is missing; run scripts/install_deps.sh");
  else MESSAGE("skipped: the `bible` command (Debian bible-kjv) is not installed");
  return std::nullopt;
}

std::size_t occurrences(std::string_view text, std::string_view s) {
  std::size_t n = 0;
  for (auto at = text.find(s); at != std::string_view::npos; at = text.find(s, at + 1)) ++n;
  return n;
}

/// Case-insensitive whole-word count (words: runs of ASCII letters).
std::size_t word_occurrences(std::string_view text, std::string_view word) {
  std::size_t n = 0;
  auto lower = [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); };
  auto letter = [](char c) { return std::isalpha(static_cast<unsigned char>(c)) && !(c & 0x80); };
  for (std::size_t i = 0; i + word.size() <= text.size(); ++i) {
    if ((i > 0 && letter(text[i - 1])) || (i + word.size() < text.size() && letter(text[i + word.size()]))) continue;
    bool same = true;
    for (std::size_t k = 0; k < word.size() && same; ++k) same = lower(text[i + k]) == lower(word[k]);
    n += same;
  }
  return n;
}

/// What every instance must satisfy, whatever its kind and counter.
void check_instance(const eval::task_instance& t, const eval::token_counter& count, double tolerance = 0.03) {
  INFO(t.id);
  CHECK(t.id == eval::task_id(t.spec));
  CHECK(t.n_tokens == count(t.document) + count(t.question));
  CHECK(std::abs(double(t.n_tokens) - double(t.spec.tokens)) <= tolerance * double(t.spec.tokens));
  REQUIRE(!t.answers.empty());
  REQUIRE(!t.evidence.empty());
  for (const auto& e : t.evidence) CHECK(t.document.compare(e.offset, e.text.size(), e.text) == 0);
  CHECK(t.depth >= 0);
  CHECK(t.depth <= 1);
}

} // namespace

TEST_CASE("tasks: the same spec gives the same instance, another seed other keys and values") {
  for (const auto kind : eval::all_task_kinds) {
    const eval::task_spec spec{kind, 2048, 0.5, 7, 0};
    const auto a = eval::generate_task(spec, prose(), words), b = eval::generate_task(spec, prose(), words);
    CHECK(a.document == b.document);
    CHECK(a.question == b.question);
    CHECK(a.answers == b.answers);
    CHECK(a.n_tokens == b.n_tokens);
    CHECK(a.depth == b.depth);
    auto other = spec;
    other.seed = 8;
    const auto c = eval::generate_task(other, prose(), words);
    CHECK(c.answers != a.answers);
    CHECK(c.document != a.document);
    if (kind != task_kind::passkey) CHECK(c.question != a.question); // the passkey question is fixed
    other = spec;
    other.index = 1; // the next instance of the cell differs too
    CHECK(eval::generate_task(other, prose(), words).answers != a.answers);
  }
}

TEST_CASE("tasks: ids are stable strings and pinned instances do not drift") {
  CHECK(eval::task_id({task_kind::passkey, 4096, 0.25, 7, 3}) == "passkey-4096-d0.25-s7-i3");
  CHECK(eval::task_id({task_kind::cloze_qa, 32768, 1, 0, 0}) == "cloze_qa-32768-d1-s0-i0");
  CHECK(eval::task_id({task_kind::kv_retrieval, 2048, 0.1, 12345678901234ull, 9}) == "kv_retrieval-2048-d0.1-s12345678901234-i9");
  // rapid::rng is the same everywhere, so these values are too; a change here changes every sweep.
  const auto t = eval::generate_task({task_kind::single_needle, 2048, 0.5, 1, 0}, prose(), words);
  CHECK(t.question == "What is the special magic number for bold-hammock mentioned in the document?");
  CHECK(t.answers == std::vector<std::string>{"2125934"});
}

TEST_CASE("tasks: every needle occurs once, at the requested depth") {
  for (const auto kind : {task_kind::single_needle, task_kind::multi_key_needle, task_kind::passkey, task_kind::kv_retrieval})
    for (const std::size_t tokens : {2048, 8192})
      for (const double depth : {0.0, 0.1, 0.5, 0.9, 1.0}) {
        const auto t = eval::generate_task({kind, tokens, depth, 3, 0}, prose(), words);
        check_instance(t, words);
        CAPTURE(t.id);
        REQUIRE(t.evidence.size() == 1);
        const auto& needle = t.evidence[0];
        CHECK(occurrences(t.document, needle.text) == 1);
        CHECK(occurrences(t.document, t.answers[0]) == 1);
        CHECK(needle.text.find(t.answers[0]) != std::string::npos);
        CHECK(std::abs(t.depth - depth) <= 0.01);
        // the reported depth is where the needle is: its offset over the document without it
        const double at = double(needle.offset) / double(t.document.size() - needle.text.size());
        CHECK(std::abs(at - t.depth) <= 0.01);
        if (kind == task_kind::multi_key_needle) { // four needles, four keys and values, one asked
          CHECK(occurrences(t.document, "The special magic number for ") == 4);
          const auto key = needle.text.substr(29, needle.text.find(" is ") - 29);
          CHECK(t.question.find(" " + key + " ") != std::string::npos);
          CHECK(occurrences(t.document, key + " ") == 1);
        }
      }
}

TEST_CASE("tasks: key-value lists hold unique uuid keys and the asked value once") {
  const auto t = eval::generate_task({task_kind::kv_retrieval, 4096, 0.3, 1, 0}, "", words);
  check_instance(t, words);
  std::set<std::string> keys, values;
  std::size_t lines = 0;
  for (std::size_t at = 0; at < t.document.size(); ++lines) {
    const auto end = t.document.find('\n', at);
    REQUIRE(end != std::string::npos);
    const std::string line = t.document.substr(at, end - at);
    REQUIRE(line.size() == 36 + 2 + 36);
    CHECK(line.substr(36, 2) == ": ");
    CHECK(line[8] == '-');
    CHECK(keys.insert(line.substr(0, 36)).second);
    CHECK(values.insert(line.substr(38)).second);
    at = end + 1;
  }
  CHECK(lines > 50);
  const std::string asked = t.evidence[0].text.substr(0, 36);
  CHECK(t.question.find(asked) != std::string::npos);
  CHECK(t.evidence[0].text == asked + ": " + t.answers[0] + "\n");
}

TEST_CASE("tasks: variable tracking answers are exactly the variables chained to the value") {
  for (const double depth : {0.0, 0.4, 1.0}) {
    const auto t = eval::generate_task({task_kind::variable_tracking, 4096, depth, 5, 0}, prose(), words);
    check_instance(t, words);
    CAPTURE(t.id);
    // read every "VAR NAME = X." back from the document and follow the assignments
    std::map<std::string, std::string> assigned; // name -> value or name
    std::vector<std::size_t> offsets;
    for (auto at = t.document.find("VAR "); at != std::string::npos; at = t.document.find("VAR ", at + 1)) {
      const auto eq = t.document.find(" = ", at), dot = t.document.find('.', at);
      assigned[t.document.substr(at + 4, eq - at - 4)] = t.document.substr(eq + 3, dot - eq - 3);
      offsets.push_back(at);
    }
    CHECK(assigned.size() == 8); // two chains of four
    const auto value = t.question.substr(t.question.find("value ") + 6, 5);
    std::set<std::string> holding{value};
    for (bool grew = true; grew;) {
      grew = false;
      for (const auto& [name, from] : assigned)
        if (holding.contains(from)) grew |= holding.insert(name).second;
    }
    holding.erase(value);
    std::set<std::string> answered;
    std::string names = t.answers[0];
    for (std::size_t at = 0; at < names.size();) {
      const auto end = std::min(names.find(' ', at), names.size());
      answered.insert(names.substr(at, end - at));
      at = end + 1;
    }
    CHECK(t.answers.size() == 1);
    CHECK(answered == holding);
    CHECK(answered.size() == 4);
    CHECK(occurrences(t.document, value) == 1);
    // the chain is stated in order, starting at the requested depth
    REQUIRE(t.evidence.size() == 4);
    for (std::size_t k = 0; k + 1 < t.evidence.size(); ++k) CHECK(t.evidence[k].offset < t.evidence[k + 1].offset);
    CHECK(t.evidence[0].text == "VAR " + names.substr(0, 5) + " = " + value + ".");
    CHECK(std::abs(t.depth - depth) <= 0.01);
  }
}

TEST_CASE("tasks: cloze answers occur once in the document and the question quotes their sentence") {
  for (const double depth : {0.0, 0.5, 1.0})
    for (const std::size_t tokens : {2048, 16384}) {
      const auto t = eval::generate_task({task_kind::cloze_qa, tokens, depth, 2, 0}, prose(), words);
      check_instance(t, words);
      CAPTURE(t.id);
      REQUIRE(t.answers.size() == 1);
      const auto& word = t.answers[0];
      CHECK(word.size() >= 5);
      CHECK(word_occurrences(t.document, word) == 1);
      CHECK(word_occurrences(t.question, word) == 0);
      // filling the blank gives the evidence sentence back (on one line)
      std::string filled = t.question.substr(t.question.find('"') + 1);
      filled = filled.substr(0, filled.find('"'));
      filled.replace(filled.find("____"), 4, word);
      std::string sentence;
      for (const char c : t.evidence[0].text) sentence += c == '\n' ? ' ' : c;
      CHECK(filled == sentence);
      CHECK(std::abs(t.depth - double(t.evidence[0].offset) / double(t.document.size())) < 1e-12);
      CHECK(std::abs(t.depth - depth) <= 0.05);
    }
}

TEST_CASE("tasks: lengths from 2K to 32K tokens land within tolerance") {
  for (const auto kind : eval::all_task_kinds)
    for (const std::size_t tokens : {2048, 4096, 8192, 16384, 32768}) {
      const auto t = eval::generate_task({kind, tokens, 0.75, 11, 0}, prose(), words);
      check_instance(t, words);
    }
  // a tighter tolerance is honoured too
  const auto t = eval::generate_task({task_kind::passkey, 8192, 0.5, 0, 0}, prose(), words, {.tolerance = 0.005});
  check_instance(t, words, 0.005);
}

TEST_CASE("tasks: a spec longer than max_tokens is aimed under it, its id unchanged") {
  // A 32K task for a model whose context takes 32,600 (32,768 less template and answer).
  const std::size_t limit = 32600;
  for (const auto kind : eval::all_task_kinds) {
    const eval::task_spec spec{kind, 32768, 0.25, 3, 1};
    const auto t = eval::generate_task(spec, prose(), words, {.max_tokens = limit});
    INFO(t.id);
    CHECK(t.id == eval::task_id(spec));
    CHECK(t.n_tokens == words(t.document) + words(t.question));
    CHECK(t.n_tokens <= limit);
    // aimed at limit / 1.03 = 31650, within 3 % of that
    CHECK(std::abs(double(t.n_tokens) - 31650.0) <= 0.03 * 31650.0);
  }
  // a limit the request already fits leaves the instance exactly as without one
  const eval::task_spec fits{task_kind::multi_key_needle, 8192, 0.75, 5, 0};
  const auto a = eval::generate_task(fits, prose(), words), b = eval::generate_task(fits, prose(), words, {.max_tokens = 8192 * 103 / 100 + 1});
  CHECK(a.document == b.document);
  CHECK(a.question == b.question);
  CHECK(a.n_tokens == b.n_tokens);
  // a limit too small for the needles and question is refused
  CHECK_THROWS_AS((void)eval::generate_task({task_kind::variable_tracking, 4096, 0.5, 0, 0}, prose(), words, {.max_tokens = 20}),
                  invalid_argument);
}

TEST_CASE("tasks: sentences longer than the tolerance are cut at a word end") {
  // The prose with 7 of every 8 sentence ends removed: sentences of about 100 words, so at 1 % of
  // 1000 words (+-10) most targets fall inside a sentence and no sentence cut is within tolerance.
  std::string hay;
  std::size_t sentence = 0;
  for (const char c : prose()) {
    if (c == '.' && sentence++ % 8 != 7) continue;
    hay += c;
  }
  std::size_t mid_sentence = 0;
  for (const auto kind : {task_kind::single_needle, task_kind::multi_key_needle, task_kind::passkey, task_kind::variable_tracking})
    for (std::size_t index = 0; index < 4; ++index) {
      const auto t = eval::generate_task({kind, 1000, 0.5, index, 0}, hay, words, {.tolerance = 0.01});
      CAPTURE(t.id);
      check_instance(t, words, 0.01);
      const std::string_view tail = std::string_view(t.document).substr(t.document.size() - 40);
      CHECK(hay.find(tail) != std::string::npos); // the end is the haystack's text, cut after a whole word
      const std::size_t at = hay.find(tail) + tail.size();
      CHECK((at == hay.size() || std::isspace(static_cast<unsigned char>(hay[at]))));
      mid_sentence += tail.back() != '.';
    }
  CHECK(mid_sentence >= 8); // the word cuts were needed (a sentence cut ends in '.')
}

TEST_CASE("tasks: the essays and the Bible as haystacks") {
  const auto text = essays();
  const auto kjv = bible();
  for (const auto* hay : {text ? &*text : nullptr, kjv ? &*kjv : nullptr}) {
    if (!hay) continue;
    for (const auto kind : eval::all_task_kinds)
      for (const std::size_t tokens : {2048, 32768})
        for (const double depth : {0.0, 0.5, 1.0}) {
          const auto t = eval::generate_task({kind, tokens, depth, 1, 0}, *hay, words);
          check_instance(t, words);
          CAPTURE(t.id);
          if (kind == task_kind::cloze_qa) CHECK(word_occurrences(t.document, t.answers[0]) == 1);
          else if (kind != task_kind::variable_tracking) CHECK(occurrences(t.document, t.answers[0]) == 1);
          if (kind != task_kind::cloze_qa) CHECK(std::abs(t.depth - depth) <= 0.03);
          if (kind != task_kind::kv_retrieval && depth == 0.5) // cut from the haystack
            CHECK(hay->find(t.document.substr(t.document.size() - 40)) != std::string::npos);
        }
  }
}

TEST_CASE("tasks: SmolLM2's tokenizer as the counter") {
  const auto model = test::cached("models/smollm2-135m-instruct-q4_1.gguf");
  const auto text = essays();
  if (!model || !text) return;
  const auto tok = model::tokenizer::from_gguf(model->string());
  std::size_t counted = 0;
  const eval::token_counter count = [&](std::string_view s) {
    const auto n = tok.encode(s).size();
    counted += n;
    return n;
  };
  for (const auto kind : eval::all_task_kinds)
    for (const std::size_t tokens : {2048, 8192, 32768}) {
      counted = 0;
      const auto t = eval::generate_task({kind, tokens, 0.5, 4, 0}, *text, count);
      CHECK(counted <= 3 * tokens + 16384); // two samples and one or two full counts, not a search
      check_instance(t, count);
    }
}

TEST_CASE("tasks: the grid is every cell, in a fixed order, with unique ids") {
  const eval::grid_options grid{.kinds = {task_kind::passkey, task_kind::cloze_qa}, .lengths = {2048, 4096},
                                .depths = {0, 0.5, 1}, .instances = 2, .seed = 9};
  const auto specs = eval::task_grid(grid);
  REQUIRE(specs.size() == 2 * 2 * 3 * 2);
  CHECK(eval::task_id(specs.front()) == "passkey-2048-d0-s9-i0");
  CHECK(eval::task_id(specs[1]) == "passkey-2048-d0-s9-i1");
  CHECK(eval::task_id(specs[2]) == "passkey-2048-d0.5-s9-i0");
  CHECK(eval::task_id(specs.back()) == "cloze_qa-4096-d1-s9-i1");
  std::set<std::string> ids;
  for (const auto& s : specs) ids.insert(eval::task_id(s));
  CHECK(ids.size() == specs.size());
  const auto all = eval::generate_grid(grid, prose(), words);
  REQUIRE(all.size() == specs.size());
  for (std::size_t i = 0; i < all.size(); ++i) {
    CHECK(all[i].id == eval::task_id(specs[i]));
    CHECK(all[i].document == eval::generate_task(specs[i], prose(), words).document);
  }
  CHECK(eval::task_grid({}).size() == 6 * 5 * 5); // the default grid: all kinds, 2K-32K, five depths
}

TEST_CASE("tasks: load_text_directory joins the .txt files in name order") {
  const auto dir = std::filesystem::temp_directory_path() / "rapid_eval_texts";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "empty");
  std::ofstream(dir / "b.txt") << "Second.";
  std::ofstream(dir / "a.txt") << "First.";
  std::ofstream(dir / "c.txt"); // empty files are fine
  std::ofstream(dir / "notes.md") << "Not text.";
  CHECK(eval::load_text_directory(dir) == "First.\n\nSecond.\n\n\n\n");
  CHECK_THROWS_AS((void)eval::load_text_directory(dir / "empty"), rapid::io_error);
  CHECK_THROWS_AS((void)eval::load_text_directory(dir / "missing"), rapid::io_error);
  CHECK_THROWS_AS((void)eval::load_text_directory(dir / "a.txt"), rapid::io_error);
  std::filesystem::remove_all(dir);
}

TEST_CASE("tasks: impossible requests are refused with a message that says what to change") {
  using ia = rapid::invalid_argument;
  const auto& hay = prose();
  auto gen = [&](eval::task_spec s, std::string_view text, const eval::task_options& o = {}) {
    return eval::generate_task(s, text, words, o);
  };
  CHECK_THROWS_WITH_AS((void)gen({task_kind::passkey, 0, 0.5}, hay), doctest::Contains("0 tokens"), ia);
  CHECK_THROWS_WITH_AS((void)gen({task_kind::passkey, 4096, -0.1}, hay), doctest::Contains("outside [0, 1]"), ia);
  CHECK_THROWS_AS((void)gen({task_kind::passkey, 4096, 1.5}, hay), ia);
  CHECK_THROWS_AS((void)gen({task_kind::passkey, 4096, std::nan("")}, hay), ia);
  CHECK_THROWS_WITH_AS((void)gen({task_kind::single_needle, 200000, 0.5}, hay), doctest::Contains("longer text"), ia);
  CHECK_THROWS_WITH_AS((void)gen({task_kind::cloze_qa, 4096, 0.5}, hay.substr(0, 20000)), doctest::Contains("longer text"), ia);
  CHECK_THROWS_WITH_AS((void)gen({task_kind::passkey, 4096, 0.5}, " \n "), doctest::Contains("haystack text is empty"), ia);
  CHECK_THROWS_WITH_AS((void)gen({task_kind::multi_key_needle, 8, 0.5}, hay), doctest::Contains("ask for more tokens"), ia);
  CHECK_THROWS_AS((void)gen({task_kind::passkey, 4096, 0.5}, hay, {.tolerance = 0}), ia);
  CHECK_THROWS_AS((void)gen({task_kind::multi_key_needle, 4096, 0.5}, hay, {.keys = 1}), ia);
  CHECK_THROWS_AS((void)gen({task_kind::variable_tracking, 4096, 0.5}, hay, {.hops = 0}), ia);
  CHECK_THROWS_AS((void)eval::generate_task({task_kind::passkey, 4096, 0.5}, hay, eval::token_counter{}), ia);
  // sentence ends 20 KB apart and no spaces between them: no cut near 5000 bytes
  std::string coarse;
  for (int i = 0; i < 10; ++i) coarse += std::string(20000, 'x') + ". ";
  const eval::token_counter bytes = [](std::string_view s) { return s.size(); };
  CHECK_THROWS_WITH_AS((void)eval::generate_task({task_kind::passkey, 5000, 0.5}, coarse, bytes), doctest::Contains("tolerance"), ia);
  // prose without a usable cloze sentence
  CHECK_THROWS_WITH_AS((void)gen({task_kind::cloze_qa, 2048, 0.5}, [] {
                         std::string s;
                         for (int i = 0; i < 4000; ++i) s += "One 2 three. ";
                         return s;
                       }()),
                       doctest::Contains("cloze"), ia);
  CHECK_THROWS_WITH_AS((void)eval::parse_task_kind("needle"), doctest::Contains("known: single_needle"), ia);
  CHECK(eval::parse_task_kind("kv_retrieval") == task_kind::kv_retrieval);
  CHECK_THROWS_AS((void)eval::task_grid({.lengths = {}}), ia);
  CHECK_THROWS_AS((void)eval::task_grid({.depths = {0.5, 0.5}}), ia);
  CHECK_THROWS_AS((void)eval::task_grid({.depths = {2}}), ia);
}
