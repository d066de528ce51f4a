#pragma once
// Verification cost tables (adaptive_gamma.hpp) kept between runs in one JSON file, so that
// `gamma auto` times the target once per machine configuration instead of once per generation:
// the timing costs about ten decode steps, a large share of a short answer.
//
// A table is filed under the caller's key (what changes the costs: the model file, threads, KV
// type, the kernel build) and the cache depth rounded up to a power of two (at least 1024): the
// attention part of a forward grows with depth, so a 1K table does not serve a 32K request.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "rapid/core/error.hpp"

namespace rapid::spec {

class verify_cost_cache {
public:
  explicit verify_cost_cache(std::filesystem::path file) : file_(std::move(file)) {}

  /// The depth a table measured at `depth` positions is filed under.
  [[nodiscard]] static std::size_t depth_bucket(std::size_t depth) noexcept {
    return std::bit_ceil(std::max<std::size_t>(depth, 1024));
  }

  /// The table for `key` at `depth` with costs for k = 1 .. k_max (index k; index 0 unused), or
  /// nothing when none was stored or the stored one is shorter.
  [[nodiscard]] std::optional<std::vector<double>> find(const std::string& key, std::size_t depth, std::size_t k_max) const {
    const nlohmann::json all = read();
    const auto it = all.find(entry(key, depth));
    if (it == all.end()) return std::nullopt;
    auto costs = it->get<std::vector<double>>();
    if (costs.size() < k_max + 1 ||
        !std::all_of(costs.begin() + 1, costs.end(), [](double s) { return s > 0 && std::isfinite(s); }))
      return std::nullopt;
    costs.resize(k_max + 1);
    return costs;
  }

  /// Files `costs` (index k: seconds of a forward over k tokens) under `key` at `depth`,
  /// replacing an older table; the file is rewritten whole (write to a temporary, then rename).
  void store(const std::string& key, std::size_t depth, std::span<const double> costs) const {
    nlohmann::json all = read();
    all[entry(key, depth)] = std::vector<double>(costs.begin(), costs.end());
    std::filesystem::create_directories(file_.parent_path().empty() ? "." : file_.parent_path());
    const std::filesystem::path tmp = file_.string() + ".tmp";
    {
      std::ofstream out(tmp);
      if (!(out << all.dump(1) << '\n')) throw io_error("cannot write the verification cost cache", {tmp.string(), {}, {}});
    }
    std::filesystem::rename(tmp, file_);
  }

  [[nodiscard]] const std::filesystem::path& file() const noexcept { return file_; }

private:
  [[nodiscard]] static std::string entry(const std::string& key, std::size_t depth) {
    return key + "|depth<=" + std::to_string(depth_bucket(depth));
  }

  /// The whole file as one object ({} when it does not exist yet).
  [[nodiscard]] nlohmann::json read() const {
    std::ifstream in(file_);
    if (!in) return nlohmann::json::object();
    nlohmann::json all = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (!all.is_object() || !std::all_of(all.begin(), all.end(), [](const nlohmann::json& v) {
          return v.is_array() && std::all_of(v.begin(), v.end(), [](const nlohmann::json& x) { return x.is_number(); });
        }))
      throw format_error("the verification cost cache is not a JSON object of number arrays (delete it; gamma auto "
                         "measures the costs again)",
                         {file_.string(), {}, {}});
    return all;
  }

  std::filesystem::path file_;
};

} // namespace rapid::spec
