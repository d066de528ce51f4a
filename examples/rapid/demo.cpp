// `rapid demo`: the README's main job. Answers a question about a long document with LC (the
// target alone) and RAPID (a RAG drafter on retrieved chunks), prints both answers and the
// measured decode speedup. Models and essays come from the cache that scripts/fetch_models.py
// fills; when they are missing the demo runs that script (source tree builds only).
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "commands.hpp"
#include "rapid/core/error.hpp"
#include "run_command.hpp"

namespace rapid::cli {
namespace {

namespace fs = std::filesystem;

// Essays concatenated into the default document (~7.5K Qwen tokens); the answer ("Lisp") is in
// avg.txt, "Beating the Averages".
const char* const demo_essays[] = {"addiction.txt", "avg.txt"};
const char* const demo_question = "Which programming language did Viaweb write most of its software in, and why?";

void fetch_if_missing(const std::vector<fs::path>& needed) {
  bool missing = false;
  for (const auto& p : needed) missing = missing || !fs::exists(p);
  if (!missing) return;
#ifdef RAPID_SOURCE_DIR
  const fs::path script = fs::path(RAPID_SOURCE_DIR) / "scripts" / "fetch_models.py";
  if (fs::exists(script)) {
    std::fprintf(stderr, "fetching the demo's models and essays into %s ...\n", cache_dir().c_str());
    const std::string cmd = "python3 '" + script.string() + "' qwen1.5b qwen0.5b essays";
    if (std::system(cmd.c_str()) != 0) throw io_error("fetching the models failed (" + cmd + ")", {});
    return;
  }
#endif
  throw io_error("the demo's models are not in " + cache_dir() + "; run scripts/fetch_models.py qwen1.5b qwen0.5b essays", {});
}

} // namespace

void add_demo(CLI::App& app) {
  auto* cmd = app.add_subcommand("demo", "RAPID vs LC on a default long document (fetches the models if missing)");
  auto a = std::make_shared<run_args>();
  a->max_new_tokens = 64;
  a->rag_budget = 1024;
  cmd->add_option("--threads,-t", a->threads, "threads (0: all cores)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-new-tokens,-n", a->max_new_tokens, "tokens to generate")->check(CLI::PositiveNumber);
  cmd->add_flag("--json", a->json, "print one JSON record on stdout");
  a->kv = "auto";  // the cache this CPU reads fastest, as `run` (README: why)
  add_kv_option(*cmd, a->kv, true);
  cmd->callback([a] {
    const fs::path cache = cache_dir(), models = cache / "models", essays = cache / "data" / "paul_graham_essays";
    run_args r = *a;
    r.target = (models / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf").string();
    r.drafter = (models / "qwen2.5-coder-0.5b.gguf").string();
    std::vector<fs::path> needed{r.target, r.drafter};
    for (const char* e : demo_essays) needed.push_back(essays / e);
    fetch_if_missing(needed);
    // The document: the essays joined, written next to the cache so `run` can read it too.
    std::string doc;
    for (const char* e : demo_essays) doc += read_text_file((essays / e).string()) + "\n\n";
    const fs::path doc_path = cache / "data" / "demo_document.txt";
    std::ofstream(doc_path, std::ios::binary) << doc;
    r.document = doc_path.string();
    r.question = demo_question;
    if (!r.json)
      std::fprintf(stderr, "rapid demo: target %s, RAG drafter %s, document %s (%zu bytes)\nquestion: %s\n",
                   fs::path(r.target).filename().c_str(), fs::path(r.drafter).filename().c_str(), doc_path.c_str(),
                   doc.size(), demo_question);
    const auto results = execute(r, {"lc", "rapid"});
    if (r.json) return;
    const double lc = results[0].stats.decode_tokens_per_second(), rapid = results[1].stats.decode_tokens_per_second();
    std::printf("\nLC answer:    %s\nRAPID answer: %s\n\nRAPID decode speedup vs LC: %.2fx (%.2f vs %.2f tokens/s, acceptance %.1f %%, tau %.2f)\n",
                results[0].answer.c_str(), results[1].answer.c_str(), rapid / lc, rapid, lc,
                100 * results[1].stats.acceptance_rate(), results[1].stats.tau());
  });
}

} // namespace rapid::cli
