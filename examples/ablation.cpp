// Compile-time ablation: the registered methods (spec/registry.hpp: the paper's LC, RAG, SD and
// RAPID, plus RAPID-exact and prompt lookup) whose drafter runs on the one model given, over
// generated passkey tasks, one table out.
// usage: ablation MODEL.gguf TEXT.txt [DOCUMENT_BYTES] [TASKS]
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "rapid/rapid.hpp"

using namespace rapid;
using namespace rapid::spec;

// The experiment: every registered method whose drafter this example builds from one model (no
// drafter, prompt lookup, or a RAG drafter on the same weights) is one row of the table.
template <class Method>
constexpr bool in_experiment = std::is_same_v<typename Method::drafter_type, no_drafter> ||
                               std::is_same_v<typename Method::drafter_type, prompt_lookup> ||
                               std::is_same_v<typename Method::drafter_type, rag_drafter>;

struct task {
  std::string document, question, answer;
};

/// A passkey sentence hidden at `depth` (0..1) of a slice of real text.
task passkey_task(const std::string& text, std::size_t bytes, double depth, rng& g) {
  const std::string key = std::to_string(10000 + g() % 90000);
  std::string doc = text.substr(0, std::min(bytes, text.size()));
  std::size_t at = doc.find("\n\n", static_cast<std::size_t>(depth * static_cast<double>(doc.size())));
  if (at == std::string::npos) at = doc.size();
  doc.insert(at, "\n\nThe secret passkey for the archive is " + key + ". Remember it.");
  return {doc, "What is the secret passkey for the archive?", key};
}

struct row {
  double accepted = 0, drafted = 0, emitted = 0, steps = 0, decode_s = 0, correct = 0;
};

struct setup {
  std::shared_ptr<const model::model> weights;
  const model::tokenizer& tok;
  const qa::prompts& prompts;
  long_context_target& target;  // prefilled with the long prompt, shared by the methods
};

template <class Method>
void run(setup& s, const task& t, row& r) {
  using D = typename Method::drafter_type;
  const model::transformer_options small{.n_ctx = s.prompts.retrieved.size() + 64, .threads = 0};
  auto drafter = [&] {
    if constexpr (std::is_same_v<D, rag_drafter>) return D(s.weights, small);
    else return D(s.target.vocab_size());
  }();
  decoder_options o{.gamma = 4, .acceptance = {.sampling = {.temperature = 0.5f}, .eta = 10.f}, .max_new_tokens = 24,
                    .stop_tokens = s.tok.end_of_generation_tokens()};
  generation out;
  if constexpr (Method::target_type::context == context_kind::full) {
    Method dec(s.target, drafter, o);
    out = dec.generate({.full = s.prompts.full, .retrieved = s.prompts.retrieved, .target_cached = s.prompts.full.size() - 1});
  } else {
    rag_target target(s.weights, small);
    Method dec(target, drafter, o);
    out = dec.generate({.full = s.prompts.full, .retrieved = s.prompts.retrieved});
  }
  r.accepted += double(out.stats.accepted);
  r.drafted += double(out.stats.drafted);
  r.emitted += double(out.stats.emitted);
  r.steps += double(out.stats.steps);
  r.decode_s += out.stats.decode_seconds();
  r.correct += s.tok.decode(out.tokens).find(t.answer) != std::string::npos;
}

template <class Entry>
void run_if_in_experiment(const Entry&, setup& s, const task& t, row& r) {
  if constexpr (in_experiment<typename Entry::decoder>) run<typename Entry::decoder>(s, t, r);
}

int main(int argc, char** argv) try {
  if (argc < 3) return std::fprintf(stderr, "usage: ablation MODEL.gguf TEXT.txt [DOCUMENT_BYTES] [TASKS]\n"), 2;
  const std::size_t bytes = argc > 3 ? std::stoul(argv[3]) : 6000, n_tasks = argc > 4 ? std::stoul(argv[4]) : 3;
  auto weights = std::make_shared<const model::model>(argv[1]);
  const auto tok = model::tokenizer::from_gguf(weights->file());
  std::ifstream in(argv[2]);
  const std::string text{std::istreambuf_iterator<char>(in), {}};
  if (text.empty()) throw invalid_argument(std::string("no text in ") + argv[2]);

  rng g(2025);
  std::vector<row> rows(method_infos.size());  // registry order; rows not in the experiment stay empty
  for (std::size_t i = 0; i < n_tasks; ++i) {
    const task t = passkey_task(text, bytes, double(i + 1) / double(n_tasks + 1), g);
    retrieval::bm25 retriever;
    qa::prompt_options po;
    po.rag.budget_tokens = 256;
    const auto prompts = qa::build_prompts(tok, t.document, t.question, retriever, po);
    long_context_target target(weights, model::transformer_options{.n_ctx = prompts.full.size() + 32, .threads = 0});
    target.prefill(std::span<const token>(prompts.full).first(prompts.full.size() - 1));
    setup s{weights, tok, prompts, target};
    std::size_t k = 0;
    std::apply([&](const auto&... m) { ((run_if_in_experiment(m, s, t, rows[k++])), ...); }, registered_methods);
  }
  std::printf("| method | passkey found | acceptance | tau | decode tok/s |\n|---|---|---|---|---|\n");
  for (std::size_t k = 0; k < rows.size(); ++k) {
    const auto& r = rows[k];
    if (r.steps == 0) continue;  // not in the experiment
    const std::string name = std::string(method_infos[k].name) + (method_infos[k].reads_eta ? " (eta 10)" : "");
    std::printf("| %s | %.0f/%zu | %s | %.2f | %.1f |\n", name.c_str(), r.correct, n_tasks,
                r.drafted > 0 ? (std::to_string(int(100 * r.accepted / r.drafted + 0.5)) + " %").c_str() : "-",
                r.emitted / r.steps, r.emitted / r.decode_s);
  }
} catch (const rapid::error& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
