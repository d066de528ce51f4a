#pragma once
// Prefilled policy caches on disk, so a long prompt shared by many runs (a target's document, a
// drafter's retrieved chunks) is prefilled once. Files are keyed by (model file, its size, KV
// type, prompt tokens); the least recently used ones are deleted beyond a size limit. Works for
// any policy with a snapshot_cache (spec/abilities.hpp).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "rapid/core/hash.hpp"
#include "rapid/model/kv_cache.hpp"
#include "rapid/spec/abilities.hpp"
#include "rapid/spec/concepts.hpp"
#include "rapid/spec/types.hpp"

namespace rapid::spec {

class snapshot_store {
public:
  /// limit_gb = 0 or an empty dir disables the store (restore finds nothing, save writes nothing).
  snapshot_store(std::filesystem::path dir, double limit_gb)
      : dir_(std::move(dir)), limit_(static_cast<std::uintmax_t>(limit_gb * 1e9)) {
    if (enabled()) std::filesystem::create_directories(dir_);
  }
  [[nodiscard]] bool enabled() const { return limit_ > 0 && !dir_.empty(); }

  /// The file for a cache holding exactly `tokens` of the model at model_path with KV type `kv`.
  [[nodiscard]] std::filesystem::path path_for(const std::string& model_path, const std::string& kv,
                                               std::span<const token> tokens) const {
    namespace fs = std::filesystem;
    // the format version in the key: snapshots of an older layout are never found (and trimmed in time)
    const std::string id = fs::absolute(model_path).string() + "|" + std::to_string(fs::file_size(model_path)) + "|" + kv + "|" +
                           std::to_string(model::kv_cache::snapshot_magic);
    const std::uint64_t h = fnv1a(tokens.data(), tokens.size_bytes(), fnv1a(id));
    char name[40];
    std::snprintf(name, sizeof name, "%016llx.kv", static_cast<unsigned long long>(h));
    return dir_ / name;
  }

  /// Restores `p`'s cache from the snapshot at `file`, which must hold `tokens` positions; false
  /// when there is none, or when it holds another count (a hash collision or a stale file: the
  /// caller prefills instead; a target is reset, a drafter's start() resets itself).
  template <snapshot_cache P>
  bool restore(P& p, const std::filesystem::path& file, std::size_t tokens) const {
    if (!enabled() || !std::filesystem::exists(file)) return false;
    std::ifstream in(file, std::ios::binary);
    p.restore_cache(in);
    if (p.size() != tokens) {
      if constexpr (target_model<P>) p.reset();
      return false;
    }
    std::filesystem::last_write_time(file, std::filesystem::file_time_type::clock::now());  // recently used
    return true;
  }

  /// Saves `p`'s cache to `file` unless that one snapshot alone exceeds the limit.
  template <snapshot_cache P>
  void save(const P& p, const std::filesystem::path& file) const {
    if (!enabled()) return;
    const std::filesystem::path tmp = file.string() + ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary);
      p.save_cache(out);
    }
    if (std::filesystem::file_size(tmp) > limit_) {
      std::filesystem::remove(tmp);
      return;
    }
    std::filesystem::rename(tmp, file);  // never a half-written snapshot under the real name
    trim();
  }

private:
  void trim() const {
    namespace fs = std::filesystem;
    std::vector<std::pair<fs::file_time_type, fs::path>> files;
    std::uintmax_t total = 0;
    for (const auto& e : fs::directory_iterator(dir_))
      if (e.path().extension() == ".kv") {
        files.emplace_back(e.last_write_time(), e.path());
        total += e.file_size();
      }
    std::sort(files.begin(), files.end());
    for (const auto& [time, path] : files) {
      if (total <= limit_) break;
      total -= fs::file_size(path);
      fs::remove(path);
    }
  }

  std::filesystem::path dir_;
  std::uintmax_t limit_;
};

} // namespace rapid::spec
