#pragma once
// prompt_lookup: no model. Finds the most recent earlier occurrence of the sequence's last n
// tokens (n from max_ngram down to min_ngram) and proposes the tokens that followed it, as a
// one-hot draft. Strong when the answer copies from the document, free otherwise.
#include <algorithm>
#include <cstddef>
#include <span>
#include <vector>

#include "rapid/core/error.hpp"
#include "rapid/spec/concepts.hpp"
#include "rapid/spec/drafter_setup.hpp"

namespace rapid::spec {

struct prompt_lookup_options {
  std::size_t max_ngram = 3;
  std::size_t min_ngram = 1;
};

class prompt_lookup {
public:
  static constexpr context_kind context = context_kind::full;

  explicit prompt_lookup(std::size_t vocab_size, prompt_lookup_options o = {}) : vocab_(vocab_size), options_(o) {
    if (o.min_ngram == 0 || o.max_ngram < o.min_ngram)
      throw invalid_argument("prompt_lookup: need 1 <= min_ngram <= max_ngram");
    if (vocab_ == 0) throw invalid_argument("prompt_lookup: vocabulary size must be positive");
  }
  static prompt_lookup make(const drafter_setup& s) { return prompt_lookup(s.vocab_size); }
  [[nodiscard]] std::size_t vocab_size() const noexcept { return vocab_; }

  void start(std::span<const token> prompt, const progress_fn& = {}) { history_.assign(prompt.begin(), prompt.end()); }

  const draft_block& draft(const draft_request& request, rng&) {
    block_.clear(vocab_);
    block_.one_hot = true;
    const std::size_t n_hist = history_.size();
    for (std::size_t n = std::min(options_.max_ngram, n_hist > 0 ? n_hist - 1 : 0); n >= options_.min_ngram && n > 0; --n) {
      const auto tail = std::span<const token>(history_).last(n);
      // Latest match first: recent text predicts best. Start positions s with s + n < n_hist.
      for (std::size_t s = n_hist - n; s-- > 0;) {
        if (!std::equal(tail.begin(), tail.end(), history_.begin() + static_cast<std::ptrdiff_t>(s))) continue;
        const std::size_t from = s + n, count = std::min(request.gamma, n_hist - from);
        block_.tokens.assign(history_.begin() + static_cast<std::ptrdiff_t>(from),
                             history_.begin() + static_cast<std::ptrdiff_t>(from + count));
        return block_;
      }
    }
    return block_;  // no match: an empty draft (the step is a plain target step)
  }

  void commit(std::span<const token> emitted) { history_.insert(history_.end(), emitted.begin(), emitted.end()); }

private:
  std::size_t vocab_;
  prompt_lookup_options options_;
  std::vector<token> history_;  // (prompt + emitted) tokens
  draft_block block_;
};

/// No drafter: every step is one target step (the LC and RAG baselines).
class no_drafter {
public:
  static constexpr context_kind context = context_kind::full;
  explicit no_drafter(std::size_t vocab_size) : vocab_(vocab_size) {}
  static no_drafter make(const drafter_setup& s) { return no_drafter(s.vocab_size); }
  [[nodiscard]] std::size_t vocab_size() const noexcept { return vocab_; }
  void start(std::span<const token>, const progress_fn& = {}) {}
  const draft_block& draft(const draft_request&, rng&) {
    block_.clear(vocab_);
    block_.one_hot = true;
    return block_;
  }
  void commit(std::span<const token>) {}

private:
  std::size_t vocab_;
  draft_block block_;
};

static_assert(drafter<prompt_lookup> && made_from_setup<prompt_lookup>);
static_assert(drafter<no_drafter> && made_from_setup<no_drafter>);

} // namespace rapid::spec
