// `rapid generate`: plain (non-speculative) generation with the target model, streamed, with a
// prefill progress bar and a summary (prefill and decode tokens/s, peak memory).
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "commands.hpp"
#include "progress.hpp"
#include "rapid/core/rng.hpp"
#include "rapid/model/sampler.hpp"
#include "rapid/model/tokenizer.hpp"
#include "rapid/model/transformer.hpp"

namespace rapid::cli {

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw io_error("cannot read the file", {path, {}, {}});
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void add_model_options(CLI::App& cmd, model_options& o) {
  cmd.add_option("--model,-m", o.path, "GGUF model file")->required();
  cmd.add_option("--threads,-t", o.threads, "threads (0: all cores)")->check(CLI::NonNegativeNumber);
  add_kv_option(cmd, o.kv);
}

void add_kv_option(CLI::App& cmd, std::string& kv, bool with_auto) {
  std::vector<std::string> choices{"f16", "f32", "q8_0", "bf16"};
  if (with_auto) choices.push_back("auto");
  cmd.add_option("--kv,--cache-type", kv,
                 "KV cache type: f16, f32, q8_0 (8.5 bits per value, as llama.cpp's -ctk/-ctv q8_0) or bf16 (AMX "
                 "machines: a verification's rows cost little more than one)" +
                     std::string(with_auto ? "; auto: bf16 where AMX tiles read it, else f16" : ""))
      ->check(CLI::IsMember(choices));
}

namespace {

struct generate_args {
  model_options model;
  std::string prompt, prompt_file, system;
  bool chat = false, special = false, quiet = false;
  std::size_t max_new_tokens = 128, ctx = 0, chunk = 512;
  float temperature = 0.f, top_p = 1.f, repeat_penalty = 1.f;
  std::size_t top_k = 0;
  std::uint64_t seed = 42;
};

void generate(const generate_args& a) {
  model::sampling_options sampling{.temperature = a.temperature, .top_k = a.top_k, .top_p = a.top_p,
                                   .repetition_penalty = a.repeat_penalty};
  model::sampler sampler(sampling);  // validates the sampling options before the model loads
  if (a.max_new_tokens == 0) throw invalid_argument("--max-new-tokens must be positive");
  const std::string text = a.prompt_file.empty() ? a.prompt : read_text_file(a.prompt_file);
  if (text.empty()) throw invalid_argument("the prompt is empty");

  progress_bar load_timer("load", true);
  auto weights = std::make_shared<const model::model>(a.model.path);
  const auto tok = model::tokenizer::from_gguf(weights->file());
  const double load_s = load_timer.elapsed();

  std::string prompt = text;
  if (a.chat) {
    std::vector<model::chat_message> messages;
    if (!a.system.empty()) messages.push_back({"system", a.system});
    messages.push_back({"user", text});
    prompt = tok.apply_chat_template(messages, true);
  }
  const auto ids = tok.encode(prompt, {.parse_special = a.chat || a.special, .add_special = true});
  if (ids.empty()) throw invalid_argument("the prompt encodes to no tokens");
  const std::size_t ctx = a.ctx ? a.ctx : std::min(weights->config().n_ctx_train, ids.size() + a.max_new_tokens);
  if (ids.size() + 1 > ctx)
    throw capacity_error("the prompt has " + std::to_string(ids.size()) + " tokens but the context holds " +
                         std::to_string(ctx) + " (raise --ctx; the model was trained for " +
                         std::to_string(weights->config().n_ctx_train) + ")");
  model::transformer tf(weights, {.n_ctx = ctx, .kv = a.model.kv_type(), .threads = a.model.threads});

  progress_bar bar("prefill", a.quiet);
  const auto first = tf.prefill(ids, a.chunk, [&](std::size_t done, std::size_t total) { bar.update(done, total); });
  const double prefill_s = bar.elapsed();

  rng gen(a.seed);
  model::stream_decoder out(tok, {.skip_special = true});
  std::vector<model::token> history(ids.begin(), ids.end());
  std::vector<float> logits(first.begin(), first.end());
  std::size_t generated = 0;
  const auto t0 = std::chrono::steady_clock::now();
  while (generated < a.max_new_tokens && tf.size() < ctx) {
    const auto next = sampler.sample(logits, gen, history);
    ++generated;
    if (tok.is_end_of_generation(next)) break;
    history.push_back(next);
    std::fputs(out.push(next).c_str(), stdout);
    std::fflush(stdout);
    if (generated == a.max_new_tokens || tf.size() >= ctx) break;
    const auto row = tf.forward(std::span(&next, 1));
    logits.assign(row.begin(), row.end());
  }
  std::fputs(out.finish().c_str(), stdout);
  std::fputs("\n", stdout);
  const double decode_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!a.quiet)
    std::fprintf(stderr,
                 "\nload %.2f s | prompt %zu tokens, prefill %.2f s (%.1f tok/s) | generated %zu tokens, decode %.2f s "
                 "(%.2f tok/s) | peak RSS %.0f MB (weights mapped %.0f MB, KV cache %.0f MB reserved)\n",
                 load_s, ids.size(), prefill_s, static_cast<double>(ids.size()) / prefill_s, generated, decode_s,
                 static_cast<double>(generated) / decode_s, peak_rss_bytes() / 1e6,
                 static_cast<double>(weights->file().bytes().size()) / 1e6, static_cast<double>(tf.cache().bytes()) / 1e6);
}

} // namespace

void add_generate(CLI::App& app) {
  auto* cmd = app.add_subcommand("generate", "Generate text from a prompt with one model (no speculation)");
  auto a = std::make_shared<generate_args>();
  add_model_options(*cmd, a->model);
  auto* prompt = cmd->add_option("--prompt,-p", a->prompt, "prompt text");
  auto* file = cmd->add_option("--file,-f", a->prompt_file, "read the prompt from a file");
  prompt->excludes(file);
  cmd->add_flag("--chat", a->chat, "wrap the prompt in the model's ChatML chat template");
  cmd->add_option("--system", a->system, "system message for --chat");
  cmd->add_flag("--special", a->special, "recognise special tokens written in the prompt");
  cmd->add_option("--max-new-tokens,-n", a->max_new_tokens, "tokens to generate")->check(CLI::PositiveNumber);
  cmd->add_option("--ctx,-c", a->ctx, "context size (default: prompt + max new tokens)");
  cmd->add_option("--chunk", a->chunk, "prefill chunk size")->check(CLI::PositiveNumber);
  cmd->add_option("--temp", a->temperature, "temperature (0: greedy)");
  cmd->add_option("--top-k", a->top_k, "top-k (0: off)");
  cmd->add_option("--top-p", a->top_p, "top-p in (0, 1] (1: off)");
  cmd->add_option("--repeat-penalty", a->repeat_penalty, "repetition penalty (1: off)");
  cmd->add_option("--seed,-s", a->seed, "random seed");
  cmd->add_flag("--quiet,-q", a->quiet, "no progress or summary on stderr");
  cmd->callback([a, prompt, file] {
    if (prompt->count() == 0 && file->count() == 0) throw invalid_argument("give --prompt TEXT or --file FILE");
    generate(*a);
  });
}

} // namespace rapid::cli
