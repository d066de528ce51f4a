#pragma once
// Reader for safetensors files: a u64 little-endian header length N, N bytes of JSON naming each
// tensor's dtype, shape and [begin, end) byte range, then the data buffer those ranges tile.
// The file is memory-mapped and tensor data is used in place. Every field is checked; any
// inconsistency is a rapid::format_error naming the file, the tensor or key and, where known,
// the byte offset.
#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "rapid/core/error.hpp"
#include "rapid/io/mmap_file.hpp"

namespace rapid::io {

/// Element types of the safetensors format that take whole bytes (the sub-byte F4/F6 types are
/// rejected as unknown).
enum class safetensors_dtype : std::uint8_t {
  boolean, u8, i8, f8_e5m2, f8_e4m3, f8_e8m0, i16, u16, f16, bf16, i32, u32, f32, f64, i64, u64,
};

namespace detail {
struct safetensors_dtype_info {
  safetensors_dtype type;
  std::string_view name;
  std::uint32_t size; // bytes per element
};
inline constexpr std::array<safetensors_dtype_info, 16> safetensors_dtypes{{
    {safetensors_dtype::boolean, "BOOL", 1}, {safetensors_dtype::u8, "U8", 1},
    {safetensors_dtype::i8, "I8", 1},        {safetensors_dtype::f8_e5m2, "F8_E5M2", 1},
    {safetensors_dtype::f8_e4m3, "F8_E4M3", 1}, {safetensors_dtype::f8_e8m0, "F8_E8M0", 1},
    {safetensors_dtype::i16, "I16", 2},      {safetensors_dtype::u16, "U16", 2},
    {safetensors_dtype::f16, "F16", 2},      {safetensors_dtype::bf16, "BF16", 2},
    {safetensors_dtype::i32, "I32", 4},      {safetensors_dtype::u32, "U32", 4},
    {safetensors_dtype::f32, "F32", 4},      {safetensors_dtype::f64, "F64", 8},
    {safetensors_dtype::i64, "I64", 8},      {safetensors_dtype::u64, "U64", 8},
}};
} // namespace detail

[[nodiscard]] constexpr std::string_view name_of(safetensors_dtype t) noexcept {
  return detail::safetensors_dtypes[static_cast<std::size_t>(t)].name;
}
[[nodiscard]] constexpr std::uint32_t size_of(safetensors_dtype t) noexcept {
  return detail::safetensors_dtypes[static_cast<std::size_t>(t)].size;
}
/// The dtype spelled `name` in a header ("F32", "BF16"...), or nothing if unknown.
[[nodiscard]] constexpr std::optional<safetensors_dtype> parse_safetensors_dtype(std::string_view name) noexcept {
  for (const auto& info : detail::safetensors_dtypes)
    if (info.name == name) return info.type;
  return std::nullopt;
}

struct safetensors_tensor {
  std::string name;
  safetensors_dtype dtype;
  std::vector<std::uint64_t> shape;
  std::uint64_t n_elements = 0;
  std::span<const std::byte> data; // n_elements * size_of(dtype) bytes, little-endian
  std::uint64_t offset = 0;        // file offset of data[0]
};

namespace detail {

/// First pass over the header: JSON syntax and UTF-8 (nlohmann's lexer), plus what the DOM
/// parser would hide: duplicate keys (it keeps the last one silently) and absurd nesting (a valid
/// header is 3 levels deep; the limit keeps the DOM pass and its destruction shallow).
class safetensors_header_check final : public nlohmann::json_sax<nlohmann::json> {
public:
  static constexpr std::size_t max_depth = 64;
  std::optional<std::string> error;  // set on failure
  std::string item;                  // duplicated key, if that was the failure
  std::optional<std::size_t> offset; // byte offset inside the header, where the lexer knows it

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { keys_.emplace_back(); return enter(); }
  bool end_object() override { keys_.pop_back(); --depth_; return true; }
  bool start_array(std::size_t) override { return enter(); }
  bool end_array() override { --depth_; return true; }
  bool key(string_t& k) override {
    if (keys_.back().insert(k).second) return true;
    error = keys_.size() == 1 ? "duplicate tensor name in the header" : "duplicate key in the header";
    item = k;
    return false;
  }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::json::exception& e) override {
    std::string_view what = e.what(); // "[json.exception.parse_error.101] parse error at ..."
    if (const auto close = what.find("] "); close != std::string_view::npos) what.remove_prefix(close + 2);
    error = "header is not valid JSON: " + std::string(what);
    offset = position > 0 ? position - 1 : 0; // nlohmann counts the offending byte 1-based
    return false;
  }

private:
  bool enter() {
    if (++depth_ <= max_depth) return true;
    error = "header JSON is nested deeper than " + std::to_string(max_depth) + " levels";
    return false;
  }
  std::vector<std::unordered_set<std::string>> keys_;
  std::size_t depth_ = 0;
};

/// Levenshtein distance, for "did you mean" suggestions.
inline std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1] ? 1u : 0u)});
      diag = up;
    }
  }
  return row[b.size()];
}

/// IEEE half to float, exact (every half is a float).
inline float f16_to_f32(std::uint16_t h) noexcept {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  if (exp == 0) { // zero or subnormal: mant * 2^-24
    const float v = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -v : v;
  }
  if (exp == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13)); // inf, nan
  return std::bit_cast<float>(sign | ((exp + 112) << 23) | (mant << 13));          // rebias 15 -> 127
}

template <typename T>
T load_le(const std::byte* p) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) v |= static_cast<std::uint64_t>(p[i]) << (8 * i);
  if constexpr (sizeof(T) == 8) return std::bit_cast<T>(v);
  else return std::bit_cast<T>(static_cast<std::uint32_t>(v));
}

} // namespace detail

/// A parsed safetensors file. Tensors are listed in data-offset (file) order.
/// Movable; tensor spans stay valid across moves (they point into the mapping, not into this object).
class safetensors_file {
public:
  /// The official implementation's limit; larger headers are rejected before anything is allocated.
  static constexpr std::uint64_t max_header_bytes = 100'000'000;

  explicit safetensors_file(std::string path) : map_(std::move(path)) { parse(map_.bytes(), map_.path()); }

  /// Parses bytes the caller owns and keeps alive as long as the result (tests, embedded data);
  /// `display_name` stands in for the path in error messages.
  [[nodiscard]] static safetensors_file from_bytes(std::span<const std::byte> bytes, std::string display_name) {
    safetensors_file f;
    f.parse(bytes, std::move(display_name));
    return f;
  }

  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  [[nodiscard]] const std::vector<safetensors_tensor>& tensors() const noexcept { return tensors_; }
  [[nodiscard]] const std::map<std::string, std::string>& metadata() const noexcept { return metadata_; }
  /// File offset of the data buffer (8 + header length).
  [[nodiscard]] std::uint64_t data_offset() const noexcept { return data_offset_; }
  [[nodiscard]] bool contains(std::string_view name) const { return index_.find(name) != index_.end(); }

  /// The tensor called `name`; invalid_argument (with close names suggested) if there is none.
  [[nodiscard]] const safetensors_tensor& tensor(std::string_view name) const {
    if (const auto it = index_.find(name); it != index_.end()) return tensors_[it->second];
    throw invalid_argument("no such tensor" + suggestions(name), {path_, std::string(name), {}});
  }

  /// F32 data in place. Throws invalid_argument for another dtype, and unsupported_error when the
  /// data is not 4-byte aligned in memory: the header length is arbitrary, so a file need not put
  /// tensors on aligned offsets (the official writer pads, others may not). to_f32 always works.
  [[nodiscard]] std::span<const float> as_f32(std::string_view name) const {
    const auto& t = tensor(name);
    if (t.dtype != safetensors_dtype::f32)
      throw invalid_argument("tensor is " + std::string(name_of(t.dtype)) + ", not F32 (to_f32 converts F16, BF16 and F64)",
                             {path_, t.name, t.offset});
    if (t.n_elements == 0) return {};
    if constexpr (std::endian::native != std::endian::little)
      throw unsupported_error("in-place F32 access needs a little-endian host; use to_f32", {path_, t.name, t.offset});
    if (reinterpret_cast<std::uintptr_t>(t.data.data()) % alignof(float) != 0)
      throw unsupported_error("F32 data is not 4-byte aligned in memory (header length " +
                                  std::to_string(data_offset_ - 8) + "); use to_f32 for an aligned copy",
                              {path_, t.name, t.offset});
    return {reinterpret_cast<const float*>(t.data.data()), static_cast<std::size_t>(t.n_elements)};
  }

  /// A copy of an F32, F16, BF16 or F64 tensor as floats, at any alignment; invalid_argument otherwise.
  [[nodiscard]] std::vector<float> to_f32(std::string_view name) const {
    const auto& t = tensor(name);
    std::vector<float> out(static_cast<std::size_t>(t.n_elements));
    const std::byte* p = t.data.data();
    const std::size_t size = size_of(t.dtype);
    switch (t.dtype) {
    case safetensors_dtype::f32:
      if constexpr (std::endian::native == std::endian::little) {
        if (!out.empty()) std::memcpy(out.data(), p, out.size() * sizeof(float));
      } else {
        for (std::size_t i = 0; i < out.size(); ++i) out[i] = detail::load_le<float>(p + i * size);
      }
      break;
    case safetensors_dtype::f64:
      for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(detail::load_le<double>(p + i * size));
      break;
    case safetensors_dtype::f16:
    case safetensors_dtype::bf16:
      for (std::size_t i = 0; i < out.size(); ++i) {
        const auto bits = static_cast<std::uint16_t>(std::to_integer<unsigned>(p[2 * i]) |
                                                     std::to_integer<unsigned>(p[2 * i + 1]) << 8);
        out[i] = t.dtype == safetensors_dtype::f16 ? detail::f16_to_f32(bits)
                                                   : std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16);
      }
      break;
    default:
      throw invalid_argument("tensor is " + std::string(name_of(t.dtype)) + "; to_f32 converts only F32, F16, BF16 and F64",
                             {path_, t.name, t.offset});
    }
    return out;
  }

private:
  safetensors_file() = default;

  format_error fail(std::string message, std::string item = {}, std::optional<std::uint64_t> offset = {}) const {
    return format_error(std::move(message), {path_, std::move(item), offset});
  }

  void parse(std::span<const std::byte> bytes, std::string name) {
    path_ = std::move(name);
    if (bytes.size() < 8)
      throw fail("file is " + std::to_string(bytes.size()) + " bytes, too short for the 8-byte header length", {}, 0);
    const auto n = detail::load_le<std::uint64_t>(bytes.data());
    // Both checks come before anything is allocated from N.
    if (n > max_header_bytes)
      throw fail("header length " + std::to_string(n) + " exceeds the 100 MB limit", {}, 0);
    if (n > bytes.size() - 8)
      throw fail("header length " + std::to_string(n) + " runs past the end of the file (" +
                     std::to_string(bytes.size()) + " bytes)", {}, 0);
    data_offset_ = 8 + n;
    const auto header = bytes.subspan(8, static_cast<std::size_t>(n));
    const auto buffer = bytes.subspan(static_cast<std::size_t>(data_offset_));
    const auto* first = reinterpret_cast<const char*>(header.data());

    try {
      detail::safetensors_header_check check;
      if (!nlohmann::json::sax_parse(first, first + header.size(), &check) || check.error) {
        std::optional<std::uint64_t> at;
        if (check.offset) at = 8 + *check.offset;
        throw fail(check.error.value_or("header is not valid JSON"), check.item, at);
      }
      read_header(nlohmann::json::parse(first, first + header.size()), buffer);
    } catch (const nlohmann::json::exception& e) { // not expected after the check; never let one escape
      throw fail(std::string("header: ") + e.what());
    }
    check_tiling(buffer.size());
    for (std::size_t i = 0; i < tensors_.size(); ++i) index_.emplace(tensors_[i].name, i);
  }

  void read_header(const nlohmann::json& root, std::span<const std::byte> buffer) {
    if (!root.is_object()) throw fail("header is not a JSON object", {}, 8);
    for (const auto& entry : root.items()) {
      if (entry.key() == "__metadata__") read_metadata(entry.value());
      else tensors_.push_back(read_tensor(entry.key(), entry.value(), buffer));
    }
  }

  void read_metadata(const nlohmann::json& meta) {
    if (!meta.is_object()) throw fail("__metadata__ is not an object of strings", "__metadata__");
    for (const auto& entry : meta.items()) {
      if (!entry.value().is_string()) throw fail("metadata value is not a string", entry.key());
      metadata_.emplace(entry.key(), entry.value().get<std::string>());
    }
  }

  safetensors_tensor read_tensor(const std::string& name, const nlohmann::json& j, std::span<const std::byte> buffer) const {
    if (!j.is_object()) throw fail("tensor entry is not an object", name);
    for (const auto& entry : j.items())
      if (entry.key() != "dtype" && entry.key() != "shape" && entry.key() != "data_offsets")
        throw fail("unexpected field '" + entry.key() + "' in tensor entry", name);
    for (const char* field : {"dtype", "shape", "data_offsets"})
      if (!j.contains(field)) throw fail(std::string("tensor entry has no '") + field + "'", name);

    safetensors_tensor t;
    t.name = name;
    const auto& dtype = j.at("dtype");
    const auto parsed = dtype.is_string() ? parse_safetensors_dtype(dtype.get<std::string>()) : std::nullopt;
    if (!parsed) throw fail("unknown dtype " + dtype.dump(), name);
    t.dtype = *parsed;

    const auto& shape = j.at("shape");
    if (!shape.is_array()) throw fail("shape is not an array of non-negative integers", name);
    bool overflow = false, has_zero = false;
    t.n_elements = 1;
    for (const auto& d : shape) {
      if (!d.is_number_unsigned()) throw fail("shape is not an array of non-negative integers: " + shape.dump(), name);
      const auto dim = d.get<std::uint64_t>();
      t.shape.push_back(dim);
      has_zero |= dim == 0;
      overflow |= dim != 0 && t.n_elements > std::numeric_limits<std::uint64_t>::max() / dim;
      if (!overflow) t.n_elements *= dim;
    }
    if (has_zero) t.n_elements = 0; // a zero dimension wins over an overflowing product
    std::uint64_t n_bytes = 0;
    if (overflow && !has_zero) throw fail("shape " + shape.dump() + " has more elements than fit in 64 bits", name);
    if (__builtin_mul_overflow(t.n_elements, std::uint64_t{size_of(t.dtype)}, &n_bytes))
      throw fail("shape " + shape.dump() + " has more bytes than fit in 64 bits", name);

    const auto& offsets = j.at("data_offsets");
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned())
      throw fail("data_offsets is not two non-negative integers [begin, end]", name);
    const auto begin = offsets[0].get<std::uint64_t>(), end = offsets[1].get<std::uint64_t>();
    if (begin > end) throw fail("data_offsets begin " + std::to_string(begin) + " is after end " + std::to_string(end), name);
    if (end > buffer.size())
      throw fail("data_offsets end " + std::to_string(end) + " is beyond the data buffer (" +
                     std::to_string(buffer.size()) + " bytes)", name, data_offset_ + begin);
    if (end - begin != n_bytes)
      throw fail("data_offsets cover " + std::to_string(end - begin) + " bytes but " + std::string(name_of(t.dtype)) +
                     " " + shape.dump() + " needs " + std::to_string(n_bytes), name, data_offset_ + begin);
    t.data = buffer.subspan(static_cast<std::size_t>(begin), static_cast<std::size_t>(n_bytes));
    t.offset = data_offset_ + begin;
    return t;
  }

  /// The format requires the buffer to be fully indexed: in offset order, each tensor starts
  /// where the previous one ended, and the last ends at the end of the file.
  void check_tiling(std::uint64_t buffer_size) {
    std::stable_sort(tensors_.begin(), tensors_.end(), [](const auto& a, const auto& b) {
      return std::pair(a.offset, a.data.size()) < std::pair(b.offset, b.data.size());
    });
    std::uint64_t expected = data_offset_;
    const safetensors_tensor* previous = nullptr;
    for (const auto& t : tensors_) {
      if (t.offset < expected)
        throw fail("data overlaps tensor '" + previous->name + "'", t.name, t.offset);
      if (t.offset > expected)
        throw fail(std::to_string(t.offset - expected) + " bytes before this tensor belong to no tensor "
                   "(the data buffer must be fully indexed)", t.name, expected);
      expected = t.offset + t.data.size();
      previous = &t;
    }
    if (expected != data_offset_ + buffer_size)
      throw fail(std::to_string(data_offset_ + buffer_size - expected) + " bytes at the end of the data buffer "
                 "belong to no tensor", {}, expected);
  }

  std::string suggestions(std::string_view name) const {
    std::vector<std::pair<std::size_t, std::string_view>> close;
    const std::size_t limit = std::max<std::size_t>(2, name.size() / 5);
    for (const auto& t : tensors_) {
      const std::string_view candidate = t.name;
      const bool affix = !name.empty() && (candidate.ends_with(name) || name.ends_with(candidate)); // "bert." prefixes
      if (const auto d = detail::edit_distance(name, candidate); affix || d <= limit) close.emplace_back(affix ? 0 : d, candidate);
    }
    if (close.empty()) return "";
    std::stable_sort(close.begin(), close.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::string out = "; did you mean";
    for (std::size_t i = 0; i < close.size() && i < 3; ++i) out += (i ? ", '" : " '") + std::string(close[i].second) + "'";
    return out + "?";
  }

  mmap_file map_; // empty for from_bytes
  std::string path_;
  std::vector<safetensors_tensor> tensors_;
  std::map<std::string, std::size_t, std::less<>> index_;
  std::map<std::string, std::string> metadata_;
  std::uint64_t data_offset_ = 0;
};

} // namespace rapid::io
