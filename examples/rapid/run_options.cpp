// Command-line registration of `rapid run`, `rapid compare` and `rapid demo`.
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include <CLI/CLI.hpp>

#include "commands.hpp"
#include "rapid/spec/registry.hpp"
#include "run_command.hpp"

namespace rapid::cli {

std::string cache_dir() {
  if (const char* env = std::getenv("RAPID_CACHE_DIR"); env && *env) return env;
  const char* home = std::getenv("HOME");
  return (std::filesystem::path(home ? home : ".") / ".cache" / "rapid").string();
}
std::string default_encoder_dir() { return (std::filesystem::path(cache_dir()) / "models" / "all-minilm-l6-v2").string(); }

void add_decoding_options(CLI::App& cmd, run_args& a) {
  cmd.add_option("--alpha", a.alpha, "RAPID mask: shift where q >= alpha * max q");
  cmd.add_option("--temp", a.temperature, "temperature (0: greedy)");
  cmd.add_option("--top-k", a.top_k, "top-k (0: off)")->check(CLI::NonNegativeNumber);
  cmd.add_option("--top-p", a.top_p, "top-p in (0, 1] (1: off)");
  cmd.add_option("--seed,-s", a.seed, "random seed");
  cmd.add_option("--retriever", a.retriever, "bm25, dense or hybrid");
  cmd.add_option("--threshold", a.threshold, "dense cosine threshold");
  cmd.add_option("--encoder", a.encoder, "MiniLM directory for dense/hybrid (default: the cache's all-minilm-l6-v2)");
  cmd.add_option("--chunk-tokens", a.chunk_tokens, "retrieval chunk size in target tokens")->check(CLI::PositiveNumber);
  cmd.add_option("--threads,-t", a.threads, "threads (0: all cores)")->check(CLI::NonNegativeNumber);
  cmd.add_option("--max-new-tokens,-n", a.max_new_tokens, "tokens to generate")->check(CLI::PositiveNumber);
  cmd.add_option("--sink", a.sink, "MagicDec: sink tokens kept")->check(CLI::NonNegativeNumber);
  cmd.add_option("--window", a.window, "MagicDec: recent tokens kept")->check(CLI::NonNegativeNumber);
  cmd.add_option("--confidence-stop", a.confidence_stop, "stop drafting when the draft's q falls below this (0: off)");
  add_kv_option(cmd, a.kv, a.kv == "auto");  // a command whose default is auto (run) offers it
  cmd.add_flag("--quiet", a.quiet, "no progress or summary on stderr");
}

namespace {

void add_request_options(CLI::App& cmd, run_args& a) {
  cmd.add_option("--target,-m", a.target, "target GGUF model (sees the whole document)")->required();
  cmd.add_option("--drafter", a.drafter, "drafter GGUF model (default: the target, i.e. self-speculation)");
  cmd.add_option("--document,-d", a.document, "document file, or - for stdin")->required();
  cmd.add_option("--question,-q", a.question, "the question (also the retrieval query)")->required();
  cmd.add_option_function<std::string>(
      "--gamma",
      [&a](const std::string& v) {
        a.gamma_auto = v == "auto";
        if (a.gamma_auto) {
          a.gamma = 10;  // the largest gamma auto may choose
          return;
        }
        std::size_t used = 0;
        long long n = -1;
        try {
          n = std::stoll(v, &used);
        } catch (const std::exception&) {
        }
        if (n < 0 || used != v.size())
          throw CLI::ValidationError("--gamma", "expected a number of drafted tokens per step (>= 0) or 'auto', got '" + v + "'");
        a.gamma = static_cast<std::size_t>(n);
      },
      "drafted tokens per step, or 'auto': chosen each step (1-10) from this machine's measured verification costs "
      "and the acceptance so far");
  cmd.add_option("--eta", a.eta, "RAPID transfer strength (>= 0)");
  add_decoding_options(cmd, a);
  cmd.add_option("--rag-budget", a.rag_budget, "drafter context budget in target tokens (0: max(4096, L/24) capped at L)")->check(CLI::NonNegativeNumber);
  cmd.add_option("--ctx,-c", a.ctx, "target context size (default: prompt + max new tokens)")->check(CLI::NonNegativeNumber);
  cmd.add_option("--truncate", a.truncate, "none (refuse a document longer than the context) or middle (keep head and tail)");
  cmd.add_flag("--json", a.json, "print one JSON record (options, timings, statistics, answers) on stdout");
}

} // namespace

/// `--method auto`: RAPID when a separate drafter model is given, else prompt lookup. A drafter
/// as large as the target (the target drafting for itself) costs a target step per draft, which
/// a CPU verification does not win back (docs/results.md: 0.76-0.83x LC); lookup's drafts are free.
/// The choice is said on stderr once the request has passed its checks (a.method_note).
static std::string resolve_run_method(const std::string& method, run_args& a) {
  if (method != "auto") return method;
  const bool own_drafter = !a.drafter.empty() && a.drafter != a.target;
  const std::string chosen = own_drafter ? "rapid" : "lookup";
  a.method_note = "method: " + chosen + " (" +
                  (own_drafter ? "RAPID with the --drafter model" : "no --drafter given: prompt lookup drafts for free") +
                  "; --method picks another)";
  return chosen;
}

void add_run(CLI::App& app) {
  auto* cmd = app.add_subcommand("run", "Answer a question about a long document with one method (default: RAPID with "
                                        "a --drafter model, prompt lookup without one)");
  auto a = std::make_shared<run_args>();
  // One request, as fast as this machine allows: gamma per step from the measured costs (a
  // question whose answer the drafter cannot guess measured 1.01x LC with auto, 0.69x with 4).
  a->gamma_auto = true;
  a->gamma = 10;
  a->kv = "auto";  // and the cache its attention reads fastest (bf16 with AMX tiles, else f16)
  auto method = std::make_shared<std::string>("auto");
  add_request_options(*cmd, *a);
  cmd->add_option("--method", *method, "auto (RAPID with --drafter, prompt lookup without), " + spec::method_names(", ", " or "));
  cmd->callback([a, method] { execute(*a, {resolve_run_method(*method, *a)}); });
}

void add_compare(CLI::App& app) {
  auto* cmd = app.add_subcommand("compare", "Run several methods on one request and print one table");
  auto a = std::make_shared<run_args>();
  auto methods = std::make_shared<std::string>("lc,rag,sd,rapid,magicdec");
  add_request_options(*cmd, *a);
  cmd->add_option("--methods", *methods, "comma-separated methods (lc first gives the speedup column)");
  cmd->callback([a, methods] { execute(*a, split_methods(*methods)); });
}

} // namespace rapid::cli
