// `rapid run`, `rapid compare` and `rapid demo`: long-context question answering with LC, RAG,
// SD, RAPID, RAPID-exact, MagicDec, naive SD and prompt lookup on real GGUF models. The target's
// long prefill is done once and reused by every method (its cache is rolled back, not redone).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "session.hpp"

namespace rapid::cli {
namespace {

std::string read_document(const std::string& path) {
  if (path != "-") return read_text_file(path);
  std::ostringstream s;
  s << std::cin.rdbuf();
  return s.str();
}

/// LC's decode tokens/s among the results (0 when LC did not run): the speedup reference.
double lc_speed(const std::vector<run_result>& results) {
  for (const auto& r : results)
    if (r.method == "lc") return r.stats.decode_tokens_per_second();
  return 0.0;
}

std::string shorten(std::string s, std::size_t n) {
  for (auto& c : s)
    if (c == '\n' || c == '|') c = ' ';
  if (s.size() > n) s = s.substr(0, n - 3) + "...";
  return s;
}

} // namespace

std::vector<std::string> split_methods(const std::string& list) {
  auto out = split_list(list);
  if (out.empty()) throw invalid_argument("no method given");
  return out;
}

std::vector<run_result> execute(const run_args& a, const std::vector<std::string>& methods) {
  validate_run(a, methods);
  if (a.question.find_first_not_of(" \t\r\n") == std::string::npos) throw invalid_argument("the question is empty; pass --question \"...\"");
  const bool quiet = a.quiet || a.json;
  progress_bar load_timer("load", true);
  auto target_model = std::make_shared<const model::model>(a.target);
  auto drafter_model = a.drafter.empty() || a.drafter == a.target ? target_model : std::make_shared<const model::model>(a.drafter);
  auto tok = model::tokenizer::from_gguf(target_model->file());
  if (drafter_model != target_model) spec::require_same_tokenizer(*target_model, *drafter_model);
  session s{a, target_model, drafter_model, std::move(tok), {}, {}, load_timer.elapsed()};
  const std::string document = read_document(a.document);

  // Context: --ctx, else what the prompt needs, within what the model was trained for.
  const std::size_t trained = target_model->config().n_ctx_train;
  const std::size_t limit = a.ctx ? a.ctx : trained;
  if (limit > trained)
    throw invalid_argument("--ctx " + std::to_string(limit) + " exceeds the " + std::to_string(trained) + " positions " +
                           target_model->file().name() + " was trained for");
  if (limit <= a.max_new_tokens + 16) throw invalid_argument("--ctx must exceed --max-new-tokens by more than 16");
  qa::prompt_options po{.max_prompt_tokens = limit - a.max_new_tokens, .truncate_middle = a.truncate == "middle",
                        .chunk_tokens = a.chunk_tokens, .rag = {.budget_tokens = a.rag_budget}};
  with_retriever(a, [&](auto& r) { s.prompts = qa::build_prompts(s.tok, document, a.question, r, po); });
  s.retrieval_s = s.prompts.chunk_seconds + s.prompts.rag.seconds;
  if (!quiet)
    std::fprintf(stderr, "retrieval (%s): %zu chunks, kept %zu (%zu tokens of %zu)%s in %.2f s\n", a.retriever.c_str(),
                 s.prompts.chunks.size(), s.prompts.rag.chosen.size(), s.prompts.rag.n_tokens, s.prompts.document_tokens,
                 s.prompts.rag.fell_back ? ", nothing passed the threshold: fell back to the best chunk" : "", s.retrieval_s);
  if (s.prompts.truncated_tokens && !quiet)
    std::fprintf(stderr, "truncated %zu document tokens from the middle to fit the context\n", s.prompts.truncated_tokens);

  s.ctx = a.ctx ? a.ctx : std::min(trained, s.prompts.full.size() + a.max_new_tokens + 8);
  // auto: bf16 only where the tiles read both models' heads
  s.kv = a.kv_type(target_model->config().head_dim);
  if (s.kv != a.kv_type(drafter_model->config().head_dim)) s.kv = model::kv_type::f16;
  if (a.kv == "auto" && !quiet)
    std::fprintf(stderr, "KV cache: %s (--kv auto: %s)\n", ops::name_of(s.kv).data(),
                 s.kv == model::kv_type::bf16 ? "AMX tiles read it, so a verification costs little more than a step"
                                            : "no AMX tiles here");
  s.target = std::make_unique<spec::long_context_target>(
      target_model, model::transformer_options{.n_ctx = s.ctx, .kv = s.kv, .threads = a.threads});
  const bool needs_long_prefill = std::any_of(methods.begin(), methods.end(), [](const std::string& m) { return m != "rag"; });
  if (needs_long_prefill) {
    progress_bar bar("prefill target", quiet);
    s.target->prefill(std::span<const token>(s.prompts.full).first(s.prompts.full.size() - 1), 512,
                      [&](std::size_t d, std::size_t t) { bar.update(d, t); });
    s.target_prefill_s = bar.elapsed();
  }

  std::vector<run_result> results;
  if (!quiet && !a.method_note.empty()) std::fprintf(stderr, "%s\n", a.method_note.c_str());
  for (const auto& m : methods) {
    if (!quiet && methods.size() > 1) std::fprintf(stderr, "== %s\n", m.c_str());
    auto r = run_method(s, m, methods.size() == 1 && !a.json);
    results.push_back({r.method, r.answer, r.stats, r.prefill_s});
  }

  const run_context ctx{s.prompts.full.size(), s.prompts.retrieved.size(), s.prompts.document_tokens, s.prompts.rag.chosen.size(),
                        s.prompts.chunks.size(), s.prompts.rag.fell_back, s.prompts.truncated_tokens, s.load_s, s.retrieval_s,
                        s.target_prefill_s, s.ctx, peak_rss_bytes()};
  if (a.json) {
    json j;
    j["options"] = {{"target", a.target}, {"drafter", a.drafter.empty() ? a.target : a.drafter}, {"document", a.document},
                    {"question", a.question}, {"methods", methods}, {"gamma", a.gamma}, {"gamma_auto", a.gamma_auto}, {"eta", a.eta}, {"alpha", a.alpha},
                    {"temperature", a.temperature}, {"top_k", a.top_k}, {"top_p", a.top_p}, {"seed", a.seed},
                    {"retriever", a.retriever}, {"rag_budget", a.rag_budget}, {"chunk_tokens", a.chunk_tokens}, {"ctx", s.ctx},
                    {"threads", a.threads}, {"max_new_tokens", a.max_new_tokens}, {"truncate", a.truncate},
                    {"sink", a.sink}, {"window", a.window}, {"kv", ops::name_of(s.kv)}, {"confidence_stop", a.confidence_stop}};
    j["context"] = {{"target_prompt_tokens", ctx.target_prompt_tokens}, {"drafter_prompt_tokens", ctx.drafter_prompt_tokens},
                    {"document_tokens", ctx.document_tokens}, {"truncated_tokens", ctx.truncated_tokens},
                    {"chunks", ctx.chunks}, {"chunks_kept", ctx.chunks_kept}, {"retrieval_fell_back", ctx.fell_back},
                    {"seconds", {{"load", ctx.load_s}, {"retrieval", ctx.retrieval_s}, {"target_prefill", ctx.target_prefill_s}}},
                    {"peak_rss_bytes", ctx.peak_rss}};
    const double lc_tps = lc_speed(results);
    for (const auto& r : results) {
      json m = {{"method", r.method}, {"answer", r.answer}, {"prefill_seconds", r.prefill_s}, {"stats", stats_json(r.stats)}};
      if (lc_tps > 0) m["speedup_vs_lc"] = r.stats.decode_tokens_per_second() / lc_tps;
      j["results"].push_back(m);
    }
    std::cout << j.dump() << std::endl;
  } else if (!a.quiet) {
    print_summary(results, ctx);
  }
  return results;
}

void print_summary(const std::vector<run_result>& results, const run_context& c) {
  std::fprintf(stderr, "\ncontext: target prompt %zu tokens (document %zu), drafter prompt %zu tokens (%zu of %zu chunks%s) | "
               "load %.1f s, retrieval %.2f s, target prefill %.1f s (%.1f tok/s) | peak RSS %.0f MB\n",
               c.target_prompt_tokens, c.document_tokens, c.drafter_prompt_tokens, c.chunks_kept, c.chunks,
               c.fell_back ? ", fell back" : "", c.load_s, c.retrieval_s, c.target_prefill_s,
               c.target_prefill_s > 0 ? double(c.target_prompt_tokens - 1) / c.target_prefill_s : 0.0, double(c.peak_rss) / 1e6);
  const double lc = lc_speed(results);
  if (results.size() == 1) {
    const auto& s = results[0].stats;
    std::fprintf(stderr, "%s: %zu tokens, decode %.2f tok/s, acceptance %.1f %%, tau %.2f, %zu target calls, drafter prefill %.1f s\n",
                 results[0].method.c_str(), s.emitted, s.decode_tokens_per_second(), 100 * s.acceptance_rate(), s.tau(), s.steps,
                 s.drafter_prefill_s);
    return;
  }
  std::printf("\n| method | answer | decode tok/s | speedup vs LC | acceptance | tau | prefill s |\n|---|---|---|---|---|---|---|\n");
  for (const auto& r : results) {
    const auto& s = r.stats;
    char speed[32] = "-";
    if (lc > 0) std::snprintf(speed, sizeof speed, "%.2fx", s.decode_tokens_per_second() / lc);
    char acc[32] = "-";
    if (s.drafted) std::snprintf(acc, sizeof acc, "%.1f %%", 100 * s.acceptance_rate());
    const double prefill = r.method == "rag" ? r.prefill_s : c.target_prefill_s + s.drafter_prefill_s;
    std::printf("| %s | %s | %.2f | %s | %s | %.2f | %.1f |\n", r.method.c_str(), shorten(r.answer, 60).c_str(),
                s.decode_tokens_per_second(), speed, acc, s.tau(), prefill);
  }
}

} // namespace rapid::cli
