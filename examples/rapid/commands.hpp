#pragma once
// Each subcommand registers itself on the app with a callback that does the work.
#include <string>

#include <CLI/CLI.hpp>

#include "rapid/model/kv_cache.hpp"

namespace rapid::cli {

/// Options every command that loads a model shares.
struct model_options {
  std::string path;
  int threads = 0;
  std::string kv = "f16";
  [[nodiscard]] model::kv_type kv_type() const { return ops::parse_kv_type(kv); }
};
void add_model_options(CLI::App& cmd, model_options& o);
/// --kv / --cache-type: the KV cache type, one of ops::parse_kv_type's names.
/// with_auto: `auto` is a choice too (run_args::kv_type resolves it).
void add_kv_option(CLI::App& cmd, std::string& kv, bool with_auto = false);
std::string read_text_file(const std::string& path);
/// $RAPID_CACHE_DIR or ~/.cache/rapid: where scripts/fetch_models.py puts models and data.
std::string cache_dir();
/// The MiniLM directory in that cache (dense and hybrid retrieval).
std::string default_encoder_dir();

void add_inspect(CLI::App& app);
void add_generate(CLI::App& app);
void add_perplexity(CLI::App& app);
void add_tokenize(CLI::App& app);
void add_detokenize(CLI::App& app);
void add_run(CLI::App& app);
void add_compare(CLI::App& app);
void add_demo(CLI::App& app);
void add_eval(CLI::App& app);
void add_report(CLI::App& app);
} // namespace rapid::cli
