#pragma once
// A tiny GGUF writer for test fixtures: synthetic models and files to corrupt.
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "rapid/core/dtype.hpp"
#include "rapid/io/gguf.hpp"

namespace rapid::test {

/// An encoded metadata value: its type id and payload bytes (without the type).
struct gguf_encoded {
  io::gguf_type type;
  std::vector<std::byte> payload;
};

namespace detail {
template <class T> void append(std::vector<std::byte>& out, T v) {
  // Byte by byte: resize + memcpy and insert both trip GCC 12 -Wstringop-overflow false positives.
  for (const std::byte b : std::bit_cast<std::array<std::byte, sizeof(T)>>(v)) out.push_back(b);
}
inline void append_string(std::vector<std::byte>& out, std::string_view s) {
  append<std::uint64_t>(out, s.size());
  for (char ch : s) out.push_back(static_cast<std::byte>(ch));
}
} // namespace detail

template <class T> gguf_encoded gguf_scalar(io::gguf_type type, T v) {
  gguf_encoded e{type, {}};
  detail::append(e.payload, v);
  return e;
}
inline gguf_encoded gguf_string(std::string_view s) {
  gguf_encoded e{io::gguf_type::string, {}};
  detail::append_string(e.payload, s);
  return e;
}
/// Array of already-encoded items; all must have `element_type`.
inline gguf_encoded gguf_array_of(io::gguf_type element_type, const std::vector<gguf_encoded>& items) {
  gguf_encoded e{io::gguf_type::array, {}};
  detail::append<std::uint32_t>(e.payload, static_cast<std::uint32_t>(element_type));
  detail::append<std::uint64_t>(e.payload, items.size());
  for (const auto& item : items) e.payload.insert(e.payload.end(), item.payload.begin(), item.payload.end());
  return e;
}

class gguf_builder {
public:
  gguf_builder& kv(std::string key, gguf_encoded value) {
    kvs_.push_back({std::move(key), std::move(value)});
    return *this;
  }
  gguf_builder& tensor(std::string name, dtype type, std::vector<std::uint64_t> shape, std::vector<std::byte> data) {
    tensors_.push_back({std::move(name), type, std::move(shape), std::move(data)});
    return *this;
  }

  /// Serialises the file; tensor data is laid out in order, each aligned to `alignment`.
  [[nodiscard]] std::vector<std::byte> build(std::uint32_t version = 3, std::uint32_t alignment = 32) const {
    std::vector<std::byte> out;
    for (char ch : std::string_view("GGUF")) out.push_back(static_cast<std::byte>(ch));
    detail::append<std::uint32_t>(out, version);
    detail::append<std::uint64_t>(out, tensors_.size());
    detail::append<std::uint64_t>(out, kvs_.size());
    for (const auto& [key, value] : kvs_) {
      detail::append_string(out, key);
      detail::append<std::uint32_t>(out, static_cast<std::uint32_t>(value.type));
      out.insert(out.end(), value.payload.begin(), value.payload.end());
    }
    std::uint64_t offset = 0;
    for (const auto& t : tensors_) {
      detail::append_string(out, t.name);
      detail::append<std::uint32_t>(out, static_cast<std::uint32_t>(t.shape.size()));
      for (auto ne : t.shape) detail::append<std::uint64_t>(out, ne);
      detail::append<std::uint32_t>(out, static_cast<std::uint32_t>(t.type));
      detail::append<std::uint64_t>(out, offset);
      offset += (t.data.size() + alignment - 1) / alignment * alignment;
    }
    out.resize((out.size() + alignment - 1) / alignment * alignment);
    for (const auto& t : tensors_) {
      out.insert(out.end(), t.data.begin(), t.data.end());
      out.resize((out.size() + alignment - 1) / alignment * alignment);
    }
    return out;
  }

private:
  struct kv_entry { std::string key; gguf_encoded value; };
  struct tensor_entry { std::string name; dtype type; std::vector<std::uint64_t> shape; std::vector<std::byte> data; };
  std::vector<kv_entry> kvs_;
  std::vector<tensor_entry> tensors_;
};

/// `n` bytes of deterministic filler, for tensor payloads whose values do not matter.
inline std::vector<std::byte> filler_bytes(std::size_t n, std::uint8_t seed = 1) {
  std::vector<std::byte> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::byte>((i * 131 + seed) & 0xff);
  return out;
}

} // namespace rapid::test
