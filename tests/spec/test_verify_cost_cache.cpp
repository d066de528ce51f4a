// gamma auto's verification cost cache: tables come back under their key and depth bucket, a
// shorter table or another bucket is not served, and a damaged file is refused with its name.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "rapid/spec/verify_cost_cache.hpp"

using namespace rapid;
namespace fs = std::filesystem;

TEST_CASE("verify_cost_cache: store and find by key and depth bucket") {
  const fs::path dir = fs::temp_directory_path() / "rapid_verify_cost_cache_test";
  fs::remove_all(dir);
  const spec::verify_cost_cache cache(dir / "costs.json");
  CHECK_FALSE(cache.find("model.gguf|threads=2", 4000, 5).has_value());  // no file yet

  const std::vector<double> costs = {0, 0.050, 0.055, 0.060, 0.066, 0.070, 0.076};  // k = 1 .. 6
  cache.store("model.gguf|threads=2", 4000, costs);
  CHECK(spec::verify_cost_cache::depth_bucket(0) == 1024);
  CHECK(spec::verify_cost_cache::depth_bucket(4000) == 4096);
  CHECK(spec::verify_cost_cache::depth_bucket(4097) == 8192);

  const auto same = cache.find("model.gguf|threads=2", 3000, 6);  // 3000 and 4000: both <= 4096
  REQUIRE(same.has_value());
  CHECK(*same == costs);
  const auto shorter = cache.find("model.gguf|threads=2", 4096, 3);  // a prefix serves a smaller gamma
  REQUIRE(shorter.has_value());
  CHECK(*shorter == std::vector<double>(costs.begin(), costs.begin() + 4));
  CHECK_FALSE(cache.find("model.gguf|threads=2", 4000, 8).has_value());  // too short for k = 8
  CHECK_FALSE(cache.find("model.gguf|threads=2", 5000, 6).has_value());  // another depth bucket
  CHECK_FALSE(cache.find("model.gguf|threads=1", 4000, 6).has_value());  // another key

  const std::vector<double> newer = {0, 1, 2, 3, 4, 5, 6};
  cache.store("model.gguf|threads=2", 4000, newer);  // replaces; other entries stay
  cache.store("model.gguf|threads=1", 4000, costs);
  CHECK(*cache.find("model.gguf|threads=2", 4000, 6) == newer);
  CHECK(*cache.find("model.gguf|threads=1", 4000, 6) == costs);

  std::ofstream(dir / "costs.json") << "{\"a\": [1, \"x\"]}";
  CHECK_THROWS_WITH_AS((void)cache.find("a", 1, 1), doctest::Contains("costs.json"), format_error);
  std::ofstream(dir / "costs.json") << "not json";
  CHECK_THROWS_AS((void)cache.find("a", 1, 1), format_error);
  fs::remove_all(dir);
}
