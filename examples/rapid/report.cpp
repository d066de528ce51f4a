// `rapid report RESULTS.jsonl`: markdown tables from `rapid eval` results (quality, acceptance,
// tau and speedup per configuration and context length, quality per task kind, paired tests
// against LC and SD), and PNG plots
// through scripts/plot_results.py (matplotlib) when Python and the script are available.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "rapid/core/error.hpp"
#include "rapid/eval/statistics.hpp"
#include "rapid/spec/registry.hpp"

namespace rapid::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

/// Mean and 95 % confidence half-width (normal approximation; Student t below 30 samples).
struct sample {
  std::vector<double> x;
  void add(double v) {
    if (std::isfinite(v)) x.push_back(v);
  }
  [[nodiscard]] double mean() const {
    double s = 0;
    for (double v : x) s += v;
    return x.empty() ? NAN : s / double(x.size());
  }
  [[nodiscard]] double half_width() const {
    if (x.size() < 2) return NAN;
    static const double t[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                               2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                               2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
    const double m = mean();
    double ss = 0;
    for (double v : x) ss += (v - m) * (v - m);
    const std::size_t df = x.size() - 1;
    return (df <= 30 ? t[df - 1] : 1.96) * std::sqrt(ss / double(df) / double(x.size()));
  }
  [[nodiscard]] std::string show(double scale = 1, int digits = 2, const char* unit = "") const {
    if (x.empty()) return "-";
    char b[64];
    const double h = half_width();
    if (std::isnan(h)) std::snprintf(b, sizeof b, "%.*f%s", digits, mean() * scale, unit);
    else std::snprintf(b, sizeof b, "%.*f ± %.*f%s", digits, mean() * scale, digits, h * scale, unit);
    return b;
  }
};

struct cell {
  sample contains, exact, f1, acceptance, tau, speedup, tps;
  std::map<std::size_t, sample> speedup_at;  // ctx -> speedups (filled only for the pooled summary)
  std::size_t n = 0;
};

/// The configuration without the task, readable in a table: "rapid, drafter=self, eta=10, gamma=4, budget=1024".
std::string config_of(const std::string& key) {
  std::string c = key.substr(key.find('|') + 1), out;
  for (const char ch : c) out += ch == '|' ? std::string(", ") : std::string(1, ch);
  return out;
}

std::string markdown(const std::vector<json>& rows) {
  std::map<std::pair<std::string, std::size_t>, cell> by_config;  // (config, ctx)
  std::map<std::pair<std::string, std::string>, cell> by_kind;    // (config, task kind)
  std::map<std::string, cell> pooled;                              // config, all lengths and kinds
  std::map<std::size_t, std::size_t> instances;                   // ctx -> distinct tasks
  std::map<std::size_t, std::map<std::string, int>> seen;
  for (const auto& j : rows) {
    const std::string cfg = config_of(j.at("key").get<std::string>());
    const std::size_t ctx = j.at("task").at("ctx_tokens").get<std::size_t>();
    cell& all = pooled[cfg];
    if (!j.at("speedup").is_null()) all.speedup_at[ctx].add(j.at("speedup").get<double>());
    for (cell* c : {&by_config[{cfg, ctx}], &by_kind[{cfg, j.at("task").at("kind").get<std::string>()}], &all}) {
      ++c->n;
      c->contains.add(j.at("scores").at("contains").get<double>());
      c->exact.add(j.at("scores").at("exact_match").get<double>());
      c->f1.add(j.at("scores").at("f1").get<double>());
      const auto& s = j.at("stats");
      if (s.at("drafted").get<double>() > 0) c->acceptance.add(s.at("acceptance_rate").get<double>());
      c->tau.add(s.at("tau").get<double>());
      c->tps.add(s.at("decode_tokens_per_s").get<double>());
      if (!j.at("speedup").is_null()) c->speedup.add(j.at("speedup").get<double>());
    }
    seen[ctx][j.at("task").at("id").get<std::string>()] = 1;
  }
  for (const auto& [ctx, ids] : seen) instances[ctx] = ids.size();

  std::ostringstream md;
  md << "## Summary per configuration\n\n"
     << "All task kinds and context lengths pooled; speedup vs LC per context length. Mean ± 95 % confidence "
        "half-width over task instances.\n\n"
     << "| configuration | runs | contains answer | exact match | acceptance | tau | speedup vs LC by ctx |\n"
     << "|---|---:|---|---|---|---|---|\n";
  for (const auto& [k, c] : pooled) {
    std::string speedups;
    for (const auto& [ctx, sp] : c.speedup_at)
      speedups += (speedups.empty() ? "" : "; ") + std::to_string(ctx) + ": " + sp.show(1, 2, "x");
    md << "| " << k << " | " << c.n << " | " << c.contains.show(100, 1, " %") << " | " << c.exact.show(100, 1, " %")
       << " | " << c.acceptance.show(100, 1, " %") << " | " << c.tau.show() << " | " << (speedups.empty() ? "-" : speedups)
       << " |\n";
  }
  md << "\n## Per configuration and context length\n\n"
     << "Mean ± 95 % confidence half-width over task instances. Speedup: decode tokens/s over LC's on the "
        "same instance (prefill excluded).\n\n"
     << "| configuration | ctx | runs | contains answer | exact match | F1 | acceptance | tau | decode tok/s | speedup vs LC |\n"
     << "|---|---:|---:|---|---|---|---|---|---|---|\n";
  for (const auto& [k, c] : by_config)
    md << "| " << k.first << " | " << k.second << " | " << c.n << " | " << c.contains.show(100, 1, " %") << " | "
       << c.exact.show(100, 1, " %") << " | " << c.f1.show(1, 3) << " | " << c.acceptance.show(100, 1, " %") << " | "
       << c.tau.show() << " | " << c.tps.show() << " | " << c.speedup.show(1, 2, "x") << " |\n";
  md << "\n## Quality per task kind\n\n| configuration | task | runs | contains answer | F1 |\n|---|---|---:|---|---|\n";
  for (const auto& [k, c] : by_kind)
    md << "| " << k.first << " | " << k.second << " | " << c.n << " | " << c.contains.show(100, 1, " %") << " | "
       << c.f1.show(1, 3) << " |\n";
  md << "\nTask instances per context length:";
  for (const auto& [ctx, n] : instances) md << " " << ctx << ": " << n << ";";
  md << "\n";
  return md.str();
}

/// What a configuration is, from its records: the method and the knobs a matching SD run shares.
struct config_fields {
  std::string method, drafter;
  double eta = 0, gamma = 0, budget = 0;
};

/// Paired comparisons on the instances two configurations share: every configuration against LC,
/// and every RAPID configuration against SD with the same drafter, gamma and budget.
std::string paired_section(const std::vector<json>& rows) {
  std::map<std::string, std::map<std::string, const json*>> by_config;  // config -> task id -> record
  std::map<std::string, config_fields> fields;
  for (const auto& j : rows) {
    const std::string cfg = config_of(j.at("key").get<std::string>());
    by_config[cfg][j.at("task").at("id").get<std::string>()] = &j;
    const auto& c = j.at("config");
    fields[cfg] = {c.value("method", std::string()), c.value("drafter", std::string()), c.value("eta", 0.0),
                   c.value("gamma", 0.0), c.value("rag_budget", 0.0)};
  }
  std::vector<std::pair<std::string, std::string>> pairs;  // (configuration, reference)
  for (const auto& [cfg, f] : fields) {
    if (f.method == "lc") continue;
    if (by_config.count("lc")) pairs.emplace_back(cfg, "lc");
    const spec::method_info* m = spec::method_named(f.method);  // null: a method no longer registered
    if (!m || !m->reads_eta) continue;
    for (const auto& [ref, g] : fields)
      if (g.method == "sd" && g.drafter == f.drafter && g.gamma == f.gamma && g.budget == f.budget) pairs.emplace_back(cfg, ref);
  }
  if (pairs.empty()) return {};
  std::ostringstream md;
  md << "\n## Paired comparisons (same task instances)\n\n"
     << "Contains-answer on the instances both ran: both right / only this one / only the reference / neither, "
        "and the two-sided exact McNemar p-value (only the discordant instances count). Acceptance and speedup: "
        "mean paired difference (this minus the reference) ± 95 % half-width.\n\n"
     << "| configuration | reference | pairs | both / only this / only ref / neither | McNemar p | acceptance difference | "
        "speedup difference |\n|---|---|---:|---|---:|---|---|\n";
  for (const auto& [cfg, ref] : pairs) {
    std::size_t both = 0, only_this = 0, only_ref = 0, neither = 0;
    sample acceptance, speedup;
    for (const auto& [id, a] : by_config.at(cfg)) {
      const auto it = by_config.at(ref).find(id);
      if (it == by_config.at(ref).end()) continue;
      const json& b = *it->second;
      const bool ra = a->at("scores").at("contains").get<double>() > 0, rb = b.at("scores").at("contains").get<double>() > 0;
      (ra && rb ? both : ra ? only_this : rb ? only_ref : neither) += 1;
      if (a->at("stats").at("drafted").get<double>() > 0 && b.at("stats").at("drafted").get<double>() > 0)
        acceptance.add(a->at("stats").at("acceptance_rate").get<double>() - b.at("stats").at("acceptance_rate").get<double>());
      if (!a->at("speedup").is_null() && !b.at("speedup").is_null())
        speedup.add(a->at("speedup").get<double>() - b.at("speedup").get<double>());
    }
    const std::size_t n = both + only_this + only_ref + neither;
    if (n == 0) continue;
    char p[32];
    std::snprintf(p, sizeof p, "%.3g", eval::mcnemar_exact_p(only_this, only_ref));
    md << "| " << cfg << " | " << ref << " | " << n << " | " << both << " / " << only_this << " / " << only_ref << " / "
       << neither << " | " << p << " | " << acceptance.show(100, 1, " pt") << " | " << speedup.show(1, 2, "x") << " |\n";
  }
  return md.str();
}

std::vector<json> read_results(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw io_error("cannot open the results file", {path, {}, {}});
  std::vector<json> rows;
  std::string line;
  for (std::size_t n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    try {
      rows.push_back(json::parse(line));
      (void)rows.back().at("key"), (void)rows.back().at("task").at("ctx_tokens"), (void)rows.back().at("scores");
    } catch (const std::exception& e) {
      throw format_error("line " + std::to_string(n) + " is not a `rapid eval` record (" + e.what() + ")", {path, {}, {}});
    }
  }
  if (rows.empty()) throw invalid_argument(path + " holds no results (run `rapid eval` first)");
  return rows;
}

} // namespace

void add_report(CLI::App& app) {
  auto* cmd = app.add_subcommand("report", "Markdown tables and PNG plots from `rapid eval` results");
  auto path = std::make_shared<std::string>();
  auto dir = std::make_shared<std::string>("report");
  auto no_plots = std::make_shared<bool>(false);
  cmd->add_option("results", *path, "results file written by `rapid eval`")->required();
  cmd->add_option("--out-dir,-o", *dir, "directory for results.md and the PNGs");
  cmd->add_flag("--no-plots", *no_plots, "tables only (no Python needed)");
  cmd->callback([path, dir, no_plots] {
    const auto rows = read_results(*path);
    const std::string md = markdown(rows) + paired_section(rows);
    fs::create_directories(*dir);
    std::ofstream(fs::path(*dir) / "results.md") << md;
    std::cout << md;
    if (*no_plots) return;
    const fs::path script = fs::path(RAPID_SOURCE_DIR) / "scripts" / "plot_results.py";
    if (!fs::exists(script)) {
      std::fprintf(stderr, "report: %s not found; tables only\n", script.string().c_str());
      return;
    }
    const std::string command = "python3 '" + script.string() + "' '" + *path + "' -o '" + *dir + "'";
    if (std::system(command.c_str()) != 0)
      throw io_error("plotting failed (run scripts/install_deps.sh for python3-matplotlib, or pass --no-plots)",
                     {script.string(), {}, {}});
  });
}

} // namespace rapid::cli
