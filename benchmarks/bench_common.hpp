#pragma once
// Helpers shared by the whole-model benchmarks (bench_decode, bench_verify).
#include <algorithm>
#include <cstddef>
#include <sstream>
#include <string>
#include <vector>

#include "rapid/model/transformer.hpp"

namespace rapid::bench {

inline std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}
inline std::vector<std::size_t> parse_list(const std::string& s) {
  std::vector<std::size_t> out;
  for (const auto& item : split_list(s)) out.push_back(std::stoul(item));
  return out;
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/// Fills cache positions [size, depth) with zeros, as if a prompt had been processed: attention
/// costs the same whatever the values, and a 32K real prefill of a 1.5B model takes ~10 minutes here.
inline void fill_cache(model::transformer& tf, std::size_t depth) {
  const auto& c = tf.config();
  const std::vector<float> zeros(c.kv_width(), 0.f);  // (n_kv_heads, head_dim)
  auto& kv = tf.mutable_cache();
  if (depth <= kv.size()) return;
  for (std::size_t l = 0; l < c.n_layers; ++l)
    for (std::size_t p = kv.size(); p < depth; ++p) kv.store(l, p, zeros.data(), zeros.data());
  kv.commit(depth - kv.size());
}

} // namespace rapid::bench
