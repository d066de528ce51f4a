// `rapid eval`: a resumable sweep of generated long-context tasks (rapid/eval/tasks.hpp) over
// methods x drafters x eta x gamma x RAG budget. One JSON line per (task instance, configuration)
// is appended to the results file as soon as it is done; a re-run skips every key already there,
// `--shard i/n` takes every n-th instance (shards' files concatenate into one run's), and the
// target's prefill of each prompt is done once per instance and kept on disk (KV snapshots keyed
// by model and prompt) so another sweep over the same tasks skips it; so is a RAG drafter's, which
// SD and RAPID at every eta share.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include <CLI/CLI.hpp>

#include "rapid/core/hash.hpp"
#include "rapid/eval/scoring.hpp"
#include "rapid/eval/tasks.hpp"
#include "rapid/spec/snapshot_store.hpp"
#include "session.hpp"

namespace rapid::cli {
namespace {

namespace fs = std::filesystem;

struct eval_args {
  run_args base;  // models, sampling, retriever, threads: fixed for the sweep
  std::string drafters = "self", tasks = "single_needle,passkey,kv_retrieval,variable_tracking,cloze_qa";
  std::string lengths = "4096", depths = "0,0.5,1", methods = "lc,rag,sd,rapid";
  std::string etas = "0,5,10,20", gammas = "4", budgets = "0", haystack, out = "results.jsonl", shard = "0/1";
  std::string kv_dir;
  double kv_limit_gb = 8, tolerance = 0.03;
  std::size_t instances = 1;
  std::uint64_t task_seed = 0;
};

std::vector<std::string> split(const std::string& list, const char* what) {
  auto out = split_list(list);
  if (out.empty()) throw invalid_argument(std::string("--") + what + " is empty");
  return out;
}

template <class T>
std::vector<T> split_numbers(const std::string& list, const char* what) {
  std::vector<T> out;
  for (const auto& x : split(list, what)) {
    std::size_t used = 0;
    double v = 0;
    try {
      v = std::stod(x, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != x.size() || !std::isfinite(v) || v < 0)
      throw invalid_argument(std::string("--") + what + ": '" + x + "' is not a non-negative number");
    out.push_back(static_cast<T>(v));
  }
  return out;
}

/// One point of the sweep besides the task: what runs and with which knobs.
struct config {
  std::string method, drafter;  // drafter: "self", a model path, or "" (no drafter model)
  float eta = 0;
  std::size_t gamma = 0, budget = 0;

  /// The drafter as keys and records name it: "self" or the model's file name (not its path, so
  /// that results from machines with other model directories merge).
  [[nodiscard]] std::string drafter_name() const { return drafter == "self" ? drafter : fs::path(drafter).filename().string(); }
  [[nodiscard]] const spec::method_info& info() const { return spec::find_method(method); }
  [[nodiscard]] bool uses_eta() const { return info().reads_eta; }
  [[nodiscard]] bool uses_drafter_model() const { return info().needs_drafter_model; }
  [[nodiscard]] bool drafts() const { return info().drafts; }
  [[nodiscard]] bool uses_budget() const { return info().has_retrieval_budget; }
  [[nodiscard]] std::string name() const {
    std::string s = method;
    if (!drafter.empty()) s += "|drafter=" + drafter_name();
    if (uses_eta()) s += "|eta=" + json(eta).dump();
    if (drafts()) s += "|gamma=" + std::to_string(gamma);
    if (uses_budget()) s += "|budget=" + std::to_string(budget);
    return s;
  }
};

/// The cartesian product, with each knob only where it changes the method (LC runs once).
std::vector<config> expand(const eval_args& e) {
  const auto methods = split(e.methods, "methods");
  for (const auto& m : methods) (void)spec::find_method(m);  // throws naming the choices
  const auto drafters = split(e.drafters, "drafter");
  const auto etas = split_numbers<float>(e.etas, "eta");
  const auto gammas = split_numbers<std::size_t>(e.gammas, "gamma");
  const auto budgets = split_numbers<std::size_t>(e.budgets, "rag-budget");
  std::vector<config> out;
  // LC first: it is every instance's speedup reference.
  std::vector<std::string> ordered = methods;
  std::stable_partition(ordered.begin(), ordered.end(), [](const std::string& m) { return m == "lc"; });
  for (const auto& m : ordered) {
    config c{m};
    for (const auto& d : c.uses_drafter_model() ? drafters : std::vector<std::string>{""})
      for (const float eta : c.uses_eta() ? etas : std::vector<float>{0.f})
        for (const std::size_t g : c.drafts() ? gammas : std::vector<std::size_t>{0})
          for (const std::size_t b : c.uses_budget() ? budgets : std::vector<std::size_t>{0})
            out.push_back({m, d, eta, g, b});
  }
  return out;
}

std::pair<std::size_t, std::size_t> parse_shard(const std::string& s) {
  const auto slash = s.find('/');
  std::size_t i = 0, n = 0;
  try {
    if (slash == std::string::npos) throw std::exception();
    std::size_t u1 = 0, u2 = 0;
    i = std::stoul(s.substr(0, slash), &u1);
    n = std::stoul(s.substr(slash + 1), &u2);
    if (u1 != slash || u2 != s.size() - slash - 1) throw std::exception();
  } catch (const std::exception&) {
    throw invalid_argument("--shard must look like i/n (e.g. 0/4), got '" + s + "'");
  }
  if (n == 0 || i >= n) throw invalid_argument("--shard " + s + ": need 0 <= i < n");
  return {i, n};
}

/// The settings one results file must share: what the key leaves out because it is fixed for a
/// sweep. A resume or a shard with, say, another -n would otherwise mix answers of two lengths
/// under the same keys. MagicDec's cache shape is only a setting of the sweeps that run it.
json sweep_settings(const eval_args& e, bool magicdec) {
  const run_args& a = e.base;
  json s = {{"target", fs::path(a.target).filename().string()}, {"temperature", a.temperature}, {"top_k", a.top_k},
            {"top_p", a.top_p}, {"alpha", a.alpha}, {"confidence_stop", a.confidence_stop}, {"retriever", a.retriever},
            {"seed", a.seed}, {"max_new_tokens", a.max_new_tokens}, {"threads", a.threads}, {"kv", a.kv},
            {"chunk_tokens", a.chunk_tokens}, {"tolerance", e.tolerance}};
  if (magicdec) s.update(json{{"sink", a.sink}, {"window", a.window}});
  s["seed_per_instance"] = true;  // see instance_seed
  return s;
}

/// The decoding seed of one task instance: --seed mixed with the instance id, the same for every
/// method on that instance (so RAPID eta 0 and SD draw alike) and different between instances.
/// One seed for all instances would draw every instance's first token from the same uniform
/// (the same quantile of each distribution), so means over instances would not average over
/// draws and their intervals would be far too narrow.
std::uint64_t instance_seed(std::uint64_t seed, const std::string& task_id) {
  return fnv1a(task_id, fnv1a(&seed, sizeof seed));
}

/// Throws when record line `n` of `path` was made with other sweep settings. Settings a record
/// lacks (files from before they were recorded) are not checked.
void check_same_sweep(const json& config, const json& settings, const fs::path& path, std::size_t n) {
  for (auto s = settings.begin(); s != settings.end(); ++s) {
    const auto it = config.find(s.key());
    // Files from before per-instance seeds drew every instance with --seed itself.
    const json was = it != config.end() ? *it : s.key() == "seed_per_instance" ? json(false) : s.value();
    if (was == s.value()) continue;
    throw invalid_argument("line " + std::to_string(n) + " of " + path.string() + " was made with " + s.key() + " = " +
                           was.dump() + ", this sweep uses " + s.value().dump() +
                           "; resuming would mix the two under the same keys. Re-run with the file's settings, or "
                           "write to another file (-o)");
  }
}

/// Keys already in the results file, and LC's decode speed per task (for speedups after a resume).
struct done_set {
  std::set<std::string> keys;
  std::map<std::string, double> lc_speed;
};

done_set read_done(const fs::path& path, const json& settings) {
  done_set d;
  std::ifstream in(path);
  std::string line;
  std::size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    json j;
    try {
      j = json::parse(line);
    } catch (const std::exception&) {
      // A line cut short by a kill: everything after it would be appended after garbage.
      throw format_error("line " + std::to_string(n) + " of " + path.string() +
                         " is not JSON (a run killed mid-write?); delete that line and re-run");
    }
    check_same_sweep(j.at("config"), settings, path, n);
    d.keys.insert(j.at("key").get<std::string>());
    if (j.at("config").at("method") == "lc")
      d.lc_speed[j.at("task").at("id").get<std::string>()] = j.at("stats").at("decode_tokens_per_s").get<double>();
  }
  return d;
}

// ---- prefill snapshots ------------------------------------------------------------------------

/// Restores `p` from the snapshot at `file` or, when there is none, runs `prefill(progress)` under
/// a progress bar labelled "prefill <what>" and saves the result. Returns the prefill's seconds
/// (0 when restored).
template <spec::snapshot_cache P, class Prefill>
double restore_or_prefill(const spec::snapshot_store& store, P& p, const fs::path& file, std::size_t tokens,
                          const char* what, bool quiet, Prefill&& prefill) {
  if (store.restore(p, file, tokens)) {
    if (!quiet) std::fprintf(stderr, "  prefill %s: restored %zu positions from %s\n", what, tokens, file.string().c_str());
    return 0.0;
  }
  progress_bar bar(std::string("  prefill ") + what, quiet);
  prefill([&](std::size_t done, std::size_t total) { bar.update(done, total); });
  store.save(p, file);
  return bar.elapsed();
}

// ---- the sweep --------------------------------------------------------------------------------

std::string haystack_text(const eval_args& e) {
  const fs::path p = e.haystack.empty() ? fs::path(cache_dir()) / "data" / "paul_graham_essays" : fs::path(e.haystack);
  if (fs::is_directory(p)) return eval::load_text_directory(p);
  if (!fs::exists(p))
    throw io_error("haystack not found (run scripts/fetch_models.py for the essays, or pass --haystack FILE|DIR; for the "
                   "King James Bible: bible \"gen1:1-rev22:21\" > kjv.txt)",
                   {p.string(), {}, {}});
  return read_text_file(p.string());
}

json record(const eval::task_instance& t, const config& c, const json& settings, std::uint64_t decoding_seed,
            const method_result& r, double lc_tps, double long_prefill_s) {
  const auto& s = r.stats;
  const auto sc = eval::score(r.answer, t.answers);
  const double tps = s.decode_tokens_per_second();
  json j;
  j["key"] = t.id + "|" + c.name();
  j["task"] = {{"id", t.id}, {"kind", std::string(eval::name_of(t.spec.kind))}, {"ctx_tokens", t.spec.tokens},
               {"depth", t.depth}, {"seed", t.spec.seed}, {"index", t.spec.index}, {"measured_tokens", t.n_tokens}};
  j["config"] = settings;  // the sweep's fixed settings, then this configuration's own
  if (c.method != "magicdec") j["config"].erase("sink"), j["config"].erase("window");
  j["config"].update(json{{"method", c.method}, {"decoding_seed", decoding_seed},
                          {"drafter", c.drafter.empty() ? std::string() : c.drafter_name()},
                          {"rule", std::string(c.info().rule)}, {"eta", c.eta}, {"gamma", c.gamma}, {"rag_budget", c.budget}});
  j["stats"] = {{"drafted", s.drafted}, {"accepted", s.accepted}, {"acceptance_rate", s.acceptance_rate()}, {"tau", s.tau()},
                {"steps", s.steps}, {"emitted", s.emitted}, {"decode_tokens_per_s", tps},
                {"prefill_seconds", r.prefill_s}, {"decode_seconds", s.decode_seconds()},
                {"target_prompt_tokens", s.target_prompt_tokens}, {"drafter_prompt_tokens", s.drafter_prompt_tokens},
                {"detail", stats_json(s)}};
  // The instance's long-context prefill (shared by the methods; 0 when restored from a snapshot).
  j["target_long_prefill_seconds"] = c.method == "rag" ? 0.0 : long_prefill_s;
  j["lc_decode_tokens_per_s"] = lc_tps > 0 ? json(lc_tps) : json(nullptr);
  j["speedup"] = lc_tps > 0 && tps > 0 ? json(tps / lc_tps) : json(nullptr);
  j["scores"] = {{"exact_match", sc.exact}, {"contains", sc.contains}, {"f1", sc.f1}};
  j["answer"] = r.answer;
  j["answers"] = t.answers;
  return j;
}

void run_eval(const eval_args& e) {
  const auto configs = expand(e);
  const auto [shard, shards] = parse_shard(e.shard);
  eval::grid_options grid;
  grid.kinds.clear();
  for (const auto& k : split(e.tasks, "tasks")) grid.kinds.push_back(eval::parse_task_kind(k));
  grid.lengths = split_numbers<std::size_t>(e.lengths, "ctx");
  grid.depths = split_numbers<double>(e.depths, "depths");
  grid.instances = e.instances;
  grid.seed = e.task_seed;
  const auto specs = eval::task_grid(grid);
  run_args base = e.base;
  base.rag_budget = 1;  // validated per configuration below
  validate_run(base, {});

  const bool quiet = base.quiet;
  const std::string hay = haystack_text(e);
  const fs::path out_path(e.out);
  const json settings =
      sweep_settings(e, std::any_of(configs.begin(), configs.end(), [](const config& c) { return c.method == "magicdec"; }));
  const done_set done = read_done(out_path, settings);
  std::map<std::string, double> lc_speed = done.lc_speed;

  // What this shard still has to do.
  std::vector<std::size_t> todo_specs;
  std::size_t todo = 0, skipped = 0;
  for (std::size_t i = shard; i < specs.size(); i += shards) {
    const std::string id = eval::task_id(specs[i]);
    std::size_t left = 0;
    for (const auto& c : configs) left += !done.keys.count(id + "|" + c.name());
    skipped += configs.size() - left;
    if (left) todo_specs.push_back(i), todo += left;
  }
  std::fprintf(stderr, "eval: %zu instances x %zu configurations in shard %zu/%zu; %zu runs done, %zu to do -> %s\n",
               (specs.size() - shard + shards - 1) / shards, configs.size(), shard, shards, skipped, todo,
               out_path.string().c_str());
  if (todo_specs.empty()) return;

  // Models, loaded once for the sweep.
  auto target_model = std::make_shared<const model::model>(base.target);
  std::map<std::string, std::shared_ptr<const model::model>> drafter_models;
  for (const auto& c : configs) {
    if (c.drafter.empty() || drafter_models.count(c.drafter)) continue;
    auto m = c.drafter == "self" || c.drafter == base.target ? target_model : std::make_shared<const model::model>(c.drafter);
    if (m != target_model) spec::require_same_tokenizer(*target_model, *m);
    drafter_models[c.drafter] = m;
  }
  // One session for the sweep: per instance only its prompts, target cache and context change.
  session s{base, target_model, target_model, model::tokenizer::from_gguf(target_model->file()), {}, nullptr, 0, 0, 0, 0,
            base.kv_type(target_model->config().head_dim)};
  const model::tokenizer& tok = s.tok;
  const spec::snapshot_store snapshots(e.kv_dir.empty() ? fs::path(cache_dir()) / "kv" : fs::path(e.kv_dir), e.kv_limit_gb);
  const eval::token_counter count = [&](std::string_view text) { return tok.encode(text).size(); };
  // Each task's document + question fits the target's context less the template, the answer and a
  // verification's drafts (what the session's context reserves below): a 32K task for a
  // 32,768-position model is aimed just under it rather than refused at its prompt.
  const std::size_t trained = target_model->config().n_ctx_train;
  std::size_t max_gamma = base.gamma;
  for (const auto& c : configs) max_gamma = std::max(max_gamma, c.gamma);
  const std::size_t headroom = base.max_new_tokens + max_gamma + 16;  // the answer and a verification past it
  const std::size_t reserved = qa::chat_prompt(tok, {}, "").size() + headroom;
  if (reserved >= trained)
    throw invalid_argument("the answer (-n " + std::to_string(base.max_new_tokens) + "), drafts and chat template take " +
                           std::to_string(reserved) + " of the target's " + std::to_string(trained) +
                           " positions, leaving none for a document; lower -n or --gamma");
  const eval::task_options task_options{.tolerance = e.tolerance, .max_tokens = trained - reserved};
  // Every instance first (a second or two), so that one that cannot be made stops the sweep now,
  // not hours into it.
  std::vector<eval::task_instance> tasks;  // [todo_specs.size()]
  for (const std::size_t i : todo_specs) tasks.push_back(eval::generate_task(specs[i], hay, count, task_options));
  std::ofstream out(out_path, std::ios::app);
  if (!out) throw io_error("cannot append to the results file", {out_path.string(), {}, {}});

  std::size_t finished = 0;
  const auto started = std::chrono::steady_clock::now();
  for (std::size_t n = 0; n < todo_specs.size(); ++n) {
    const auto& t = tasks[n];
    if (!quiet)
      std::fprintf(stderr, "[%zu/%zu] %s (%zu tokens, depth %.2f)\n", n + 1, todo_specs.size(), t.id.c_str(), t.n_tokens,
                   t.depth);
    // Prompts per RAG budget; the full prompt does not depend on it.
    std::map<std::size_t, qa::prompts> prompts;
    auto prompts_for = [&](std::size_t budget) -> const qa::prompts& {
      auto it = prompts.find(budget);
      if (it != prompts.end()) return it->second;
      const qa::prompt_options po{.max_prompt_tokens = trained - base.max_new_tokens - 8, .truncate_middle = false,
                                  .chunk_tokens = base.chunk_tokens, .rag = {.budget_tokens = budget}};
      qa::prompts p;
      with_retriever(base, [&](auto& r) { p = qa::build_prompts(tok, t.document, t.question, r, po); });
      return prompts.emplace(budget, std::move(p)).first->second;
    };
    const auto& first = prompts_for(configs.front().budget);
    s.target_prefill_s = 0;  // stays 0 when the prefill is restored from a snapshot
    s.ctx = std::min(first.full.size() + headroom, trained);
    s.target = std::make_unique<spec::long_context_target>(
        target_model, model::transformer_options{.n_ctx = s.ctx, .kv = s.kv, .threads = base.threads});

    bool prefilled = false;
    const auto prefix = std::span<const token>(first.full).first(first.full.size() - 1);
    const fs::path snap = snapshots.enabled() ? snapshots.path_for(base.target, base.kv, prefix) : fs::path();
    auto ensure_prefill = [&] {
      if (prefilled) return;
      prefilled = true;
      s.target_prefill_s = restore_or_prefill(snapshots, *s.target, snap, prefix.size(), "target", quiet, [&](auto progress) {
        s.target->prefill(prefix, 512, progress);
      });
    };

    for (const auto& c : configs) {
      const std::string key = t.id + "|" + c.name();
      if (done.keys.count(key)) continue;
      s.a = base;
      s.a.seed = instance_seed(base.seed, t.id);
      s.a.eta = c.eta;
      s.a.gamma = c.gamma ? c.gamma : base.gamma;
      s.a.rag_budget = c.budget;
      s.drafter_model = c.drafter.empty() ? target_model : drafter_models.at(c.drafter);
      // SD and RAPID at each eta share the drafter's prompt: its prefill is done once, then restored.
      const std::string drafter_path = c.drafter == "self" ? base.target : c.drafter;
      s.prime_drafter = nullptr;
      if (snapshots.enabled() && !c.drafter.empty())
        s.prime_drafter = [&, drafter_path](spec::rag_drafter& d, std::span<const token> prompt) {
          const auto prefix = prompt.first(prompt.size() - 1);
          const fs::path p = snapshots.path_for(drafter_path, base.kv, prefix);
          return restore_or_prefill(snapshots, d, p, prefix.size(), "drafter", quiet,
                                              [&](auto progress) { d.start(prefix, progress); });
        };
      s.prompts = prompts_for(c.budget);
      if (c.method != "rag") ensure_prefill();
      const auto r = run_method(s, c.method, false);
      if (c.method == "lc") lc_speed[t.id] = r.stats.decode_tokens_per_second();
      const auto lc = lc_speed.find(t.id);
      const json j = record(t, c, settings, s.a.seed, r, lc == lc_speed.end() ? 0.0 : lc->second, s.target_prefill_s);
      out << j.dump() << '\n';
      out.flush();  // a killed sweep loses at most the configuration it was running
      ++finished;
      if (!quiet) {
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        std::fprintf(stderr, "  %-48s %5.1f tok/s%s  %s  [%zu/%zu runs, %.0f s left]\n", c.name().c_str(),
                     r.stats.decode_tokens_per_second(),
                     j["speedup"].is_null() ? "" : (" (" + std::to_string(j["speedup"].get<double>()).substr(0, 4) + "x)").c_str(),
                     j["scores"]["contains"].get<double>() > 0 ? "correct" : "wrong  ", finished, todo,
                     elapsed / double(finished) * double(todo - finished));
      }
    }
  }
}

} // namespace

void add_eval(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "Sweep generated long-context tasks over methods, eta, gamma and RAG budget (resumable JSONL)");
  auto e = std::make_shared<eval_args>();
  auto& a = e->base;
  a.max_new_tokens = 32;
  cmd->add_option("--target,-m", a.target, "target GGUF model (sees the whole document)")->required();
  cmd->add_option("--drafter", e->drafters, "drafter models for the methods that run one, comma-separated; self = the target");
  cmd->add_option("--tasks", e->tasks, "single_needle, multi_key_needle, passkey, kv_retrieval, variable_tracking, cloze_qa");
  cmd->add_option("--ctx", e->lengths, "task lengths in target tokens (document + question), comma-separated");
  cmd->add_option("--depths", e->depths, "evidence depths in [0, 1], comma-separated");
  cmd->add_option("--instances", e->instances, "instances per (task, length, depth)")->check(CLI::PositiveNumber);
  cmd->add_option("--task-seed", e->task_seed, "seed of the task generator");
  cmd->add_option("--tolerance", e->tolerance, "task length tolerance (0.03: within 3 % of --ctx)");
  cmd->add_option("--haystack", e->haystack, "text the tasks are cut from: a .txt file or a directory of them (default: the Paul Graham essays in the cache)");
  cmd->add_option("--methods", e->methods, spec::method_names() + " (comma-separated)");
  cmd->add_option("--eta", e->etas, "RAPID eta values (the methods that read eta)");
  cmd->add_option("--gamma", e->gammas, "draft lengths (every drafting method)");
  cmd->add_option("--rag-budget", e->budgets, "drafter / RAG context budgets in target tokens (0: max(4096, L/24))");
  cmd->add_option("--out,-o", e->out, "results file (JSON lines, appended; re-running resumes)");
  cmd->add_option("--shard", e->shard, "i/n: run every n-th instance starting at i (shards' files concatenate)");
  cmd->add_option("--kv-cache", e->kv_dir, "directory of prefill snapshots (default: <cache>/kv)");
  cmd->add_option("--kv-cache-limit", e->kv_limit_gb, "snapshot directory size limit in GB (0: no snapshots)")->check(CLI::NonNegativeNumber);
  add_decoding_options(*cmd, a);
  cmd->callback([e] { run_eval(*e); });
}

} // namespace rapid::cli
