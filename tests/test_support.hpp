#pragma once
// Helpers shared by tests: where the model cache is, and whether a missing model fails or skips.
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include <doctest/doctest.h>

#include "rapid/ops/attention.hpp"

namespace rapid::test {

/// $RAPID_CACHE_DIR, else ~/.cache/rapid (the layout scripts/fetch_models.py writes).
inline std::filesystem::path cache_dir() {
  if (const char* env = std::getenv("RAPID_CACHE_DIR"); env && *env) return env;
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home ? home : ".") / ".cache" / "rapid";
}

/// True when the test run must have the real models (scripts/test.sh sets RAPID_REQUIRE_MODELS=1).
inline bool models_required() {
  const char* env = std::getenv("RAPID_REQUIRE_MODELS");
  return env && std::string_view(env) == "1";
}

/// Path of a file under the cache (e.g. "models/smollm2-135m-instruct-q4_1.gguf"), or nullopt.
/// A missing file fails the test when models are required and is reported as skipped otherwise.
inline std::optional<std::filesystem::path> cached(std::string_view relative) {
  auto path = cache_dir() / relative;
  if (std::filesystem::exists(path)) return path;
  if (models_required()) FAIL("missing cached file " << path.string() << " (run scripts/fetch_models.py)");
  else MESSAGE("skipped: " << path.string() << " not in the cache (run scripts/fetch_models.py)");
  return std::nullopt;
}

/// True when attention can read a BF16 KV cache here (AMX granted); otherwise says the test's
/// bf16 part is skipped.
inline bool bf16_cache_readable() {
  try {
    ops::check_kv_readable(ops::kv_type::bf16, 128);
    return true;
  } catch (const unsupported_error& e) {
    MESSAGE("skipped the bf16 KV cache: " << std::string(e.what()));
    return false;
  }
}

} // namespace rapid::test
