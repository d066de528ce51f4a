#pragma once
// FNV-1a, 64-bit: a stable, platform-independent hash for ids and cache keys (task seeds, KV
// snapshot names). Not for adversarial input.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace rapid {

inline constexpr std::uint64_t fnv1a_basis = 0xcbf29ce484222325ull;

/// Hash of n bytes at data, continuing from h (pass a previous result to hash several pieces).
[[nodiscard]] inline std::uint64_t fnv1a(const void* data, std::size_t n, std::uint64_t h = fnv1a_basis) noexcept {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

[[nodiscard]] inline std::uint64_t fnv1a(std::string_view s, std::uint64_t h = fnv1a_basis) noexcept {
  return fnv1a(s.data(), s.size(), h);
}

} // namespace rapid
