// `rapid perplexity`: perplexity over consecutive windows of --ctx tokens, scored as llama.cpp's
// perplexity tool does: each window is evaluated from an empty cache (BOS first when the model
// adds one) and only its second half is scored, so every scored token has >= ctx/2 of context.
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "progress.hpp"
#include "rapid/model/tokenizer.hpp"
#include "rapid/model/transformer.hpp"

namespace rapid::cli {
namespace {

struct perplexity_args {
  model_options model;
  std::string file;
  std::size_t ctx = 512, chunk = 512, max_windows = 0;
  bool quiet = false;
};

// -log softmax(row)[target], computed in double. row: (n_vocab)
double nll(std::span<const float> row, model::token target) {
  double mx = row[0];
  for (float z : row) mx = std::max(mx, static_cast<double>(z));
  double sum = 0;
  for (float z : row) sum += std::exp(z - mx);
  return std::log(sum) + mx - row[static_cast<std::size_t>(target)];
}

void perplexity(const perplexity_args& a) {
  if (a.ctx < 4) throw invalid_argument("--ctx must be at least 4");
  const std::string text = read_text_file(a.file);
  auto weights = std::make_shared<const model::model>(a.model.path);
  const auto tok = model::tokenizer::from_gguf(weights->file());
  const auto ids = tok.encode(text);
  const std::size_t windows_available = ids.size() / a.ctx;
  if (windows_available == 0)
    throw invalid_argument("the text has " + std::to_string(ids.size()) + " tokens, fewer than one window of --ctx " +
                           std::to_string(a.ctx));
  const std::size_t windows = a.max_windows ? std::min(a.max_windows, windows_available) : windows_available;
  model::transformer tf(weights, {.n_ctx = a.ctx, .kv = a.model.kv_type(), .threads = a.model.threads});
  const std::size_t v = weights->config().n_vocab, first = a.ctx / 2;

  progress_bar bar("perplexity", a.quiet);
  double total_nll = 0, total_sq = 0;
  std::size_t scored = 0;
  for (std::size_t w = 0; w < windows; ++w) {
    std::vector<model::token> window(ids.begin() + static_cast<std::ptrdiff_t>(w * a.ctx),
                                     ids.begin() + static_cast<std::ptrdiff_t>((w + 1) * a.ctx));
    if (tok.add_bos() && tok.bos()) window[0] = *tok.bos();
    tf.reset();
    for (std::size_t done = 0; done < a.ctx;) {
      const std::size_t n = std::min(a.chunk, a.ctx - done);
      const auto rows = tf.forward(std::span(window).subspan(done, n));
      // Row j predicts token j + 1; score positions first .. ctx - 2.
      for (std::size_t j = std::max(done, first); j < done + n && j + 1 < a.ctx; ++j) {
        const double x = nll(rows.subspan((j - done) * v, v), window[j + 1]);
        total_nll += x;
        total_sq += x * x;
        ++scored;
      }
      done += n;
      bar.update(w * a.ctx + done, windows * a.ctx);
    }
    if (!a.quiet) std::fprintf(stderr, "[%zu] %.4f\n", w + 1, std::exp(total_nll / static_cast<double>(scored)));
  }
  const double mean = total_nll / static_cast<double>(scored);
  const double var = total_sq / static_cast<double>(scored) - mean * mean;
  const double se = std::sqrt(std::max(0.0, var) / static_cast<double>(scored - 1));
  std::printf("perplexity %.4f +/- %.4f over %zu windows of %zu tokens (%zu tokens scored, text %zu tokens)\n",
              std::exp(mean), std::exp(mean) * se, windows, a.ctx, scored, ids.size());
}

} // namespace

void add_perplexity(CLI::App& app) {
  auto* cmd = app.add_subcommand("perplexity", "Perplexity of a model on a text file (llama.cpp's method)");
  auto a = std::make_shared<perplexity_args>();
  add_model_options(*cmd, a->model);
  cmd->add_option("--file,-f", a->file, "text file")->required();
  cmd->add_option("--ctx,-c", a->ctx, "window size in tokens");
  cmd->add_option("--chunk", a->chunk, "tokens per forward call")->check(CLI::PositiveNumber);
  cmd->add_option("--max-windows", a->max_windows, "score at most this many windows (0: all)");
  cmd->add_flag("--quiet,-q", a->quiet, "no progress on stderr");
  cmd->callback([a] { perplexity(*a); });
}

} // namespace rapid::cli
