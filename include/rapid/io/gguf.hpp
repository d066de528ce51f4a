#pragma once
// GGUF reader (versions 2 and 3): memory-mapped, zero-copy, and totally validated.
//
// Layout: "GGUF" | u32 version | u64 n_tensors | u64 n_kv | n_kv x (string key, u32 type, value)
//         | n_tensors x (string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset)
//         | padding to general.alignment (default 32) | tensor data (offsets relative to here).
// Strings are u64 length + bytes; arrays are u32 element type + u64 count + items.
//
// Every length, count and offset is checked against the bytes that remain before it is used, so
// a malformed file gives a rapid::format_error naming the file, the key or tensor and the byte
// offset, never a crash or an allocation larger than the file.
#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <variant>
#include <vector>

#include "rapid/core/dtype.hpp"
#include "rapid/core/error.hpp"
#include "rapid/io/mmap_file.hpp"

namespace rapid::io {

static_assert(std::endian::native == std::endian::little, "rapid reads GGUF on little-endian hosts only");

/// Metadata value types, numbered as in the file.
enum class gguf_type : std::uint32_t {
  u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7,
  string = 8, array = 9, u64 = 10, i64 = 11, f64 = 12,
};

[[nodiscard]] constexpr std::string_view name_of(gguf_type t) noexcept {
  constexpr std::string_view names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                        "bool", "string", "array", "u64", "i64", "f64"};
  const auto i = static_cast<std::uint32_t>(t);
  return i < std::size(names) ? names[i] : std::string_view("unknown");
}

struct gguf_value;

/// A homogeneous array; `element_type` is meaningful even when the array is empty.
struct gguf_array {
  gguf_type element_type = gguf_type::u8;
  std::vector<gguf_value> items;
};

/// One metadata value. The variant's index equals the gguf_type id, so `type()` is free.
/// Strings point into the mapped file and live as long as the gguf_file.
struct gguf_value {
  using storage = std::variant<std::uint8_t, std::int8_t, std::uint16_t, std::int16_t, std::uint32_t,
                               std::int32_t, float, bool, std::string_view, gguf_array,
                               std::uint64_t, std::int64_t, double>;
  storage data;

  [[nodiscard]] gguf_type type() const noexcept { return static_cast<gguf_type>(data.index()); }
  [[nodiscard]] bool is_integer() const noexcept {
    const auto t = type();
    return t <= gguf_type::i32 || t == gguf_type::u64 || t == gguf_type::i64;
  }
};

struct gguf_kv {
  std::string_view key;
  gguf_value value;
  std::uint64_t offset; // byte offset of the key in the file
};

struct gguf_tensor {
  std::string_view name;
  dtype type;
  std::vector<std::uint64_t> shape;  // ggml ne order: shape[0] is the contiguous row length
  std::uint64_t n_elements;
  std::uint64_t offset;              // absolute byte offset of the data in the file
  std::span<const std::byte> data;   // (n_elements / block_elements * block_bytes) bytes

  [[nodiscard]] std::uint64_t row_length() const noexcept { return shape.empty() ? 1 : shape[0]; }
  [[nodiscard]] std::uint64_t rows() const noexcept {
    const auto r = row_length();
    return r == 0 ? 0 : n_elements / r;
  }
  [[nodiscard]] std::size_t row_bytes() const noexcept {
    const auto info = info_of(type);
    return static_cast<std::size_t>(row_length() / info.block_elements * info.block_bytes);
  }
};

class gguf_file {
public:
  static constexpr std::uint32_t default_alignment = 32;
  static constexpr std::size_t max_dims = 4;        // GGML_MAX_DIMS
  static constexpr int max_array_nesting = 8;       // deeper nesting is refused, not recursed into

  /// Maps and validates `path`.
  explicit gguf_file(std::string path) : map_(std::move(path)), name_(map_.path()) { parse(map_.bytes()); }

  /// Validates a copy of in-memory bytes; `display_name` stands in for the path in errors.
  static gguf_file from_bytes(std::span<const std::byte> bytes, std::string display_name) {
    return gguf_file(std::vector<std::byte>(bytes.begin(), bytes.end()), std::move(display_name));
  }

  gguf_file(gguf_file&&) noexcept = default;
  gguf_file& operator=(gguf_file&&) noexcept = default;

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] std::uint32_t version() const noexcept { return version_; }
  [[nodiscard]] std::uint32_t alignment() const noexcept { return alignment_; }
  [[nodiscard]] std::uint64_t data_offset() const noexcept { return data_offset_; }
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept {
    return owned_.empty() ? map_.bytes() : std::span<const std::byte>(owned_);
  }

  [[nodiscard]] const std::vector<gguf_kv>& metadata() const noexcept { return kvs_; }
  [[nodiscard]] const std::vector<gguf_tensor>& tensors() const noexcept { return tensors_; }

  [[nodiscard]] const gguf_value* find(std::string_view key) const noexcept {
    const auto it = kv_index_.find(key);
    return it == kv_index_.end() ? nullptr : &kvs_[it->second].value;
  }
  [[nodiscard]] bool contains(std::string_view key) const noexcept { return find(key) != nullptr; }

  [[nodiscard]] const gguf_tensor* find_tensor(std::string_view name) const noexcept {
    const auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
  }
  [[nodiscard]] const gguf_tensor& tensor(std::string_view name) const {
    if (const auto* t = find_tensor(name)) return *t;
    throw format_error("missing tensor (this model file lacks a tensor rapid needs)",
                       {name_, std::string(name), {}});
  }

  /// Typed metadata access. T may be an arithmetic type (integers convert when the value fits),
  /// bool, std::string_view, std::string, or std::vector of any of these for arrays.
  template <class T> [[nodiscard]] T get(std::string_view key) const {
    const auto* v = find(key);
    if (!v) throw format_error("missing metadata key", {name_, std::string(key), {}});
    return convert<T>(*v, key);
  }
  /// Like get<T>, but `fallback` when the key is absent (a present key of the wrong type still throws).
  template <class T> [[nodiscard]] T get_or(std::string_view key, T fallback) const {
    const auto* v = find(key);
    return v ? convert<T>(*v, key) : std::move(fallback);
  }

private:
  gguf_file(std::vector<std::byte> owned, std::string display_name)
      : owned_(std::move(owned)), name_(std::move(display_name)) {
    parse(std::span<const std::byte>(owned_));
  }

  template <class T> struct is_vector : std::false_type {};
  template <class U> struct is_vector<std::vector<U>> : std::true_type { using element = U; };

  template <class T> T convert(const gguf_value& v, std::string_view key) const {
    auto mismatch = [&](std::string_view wanted) {
      return format_error("metadata value has type " + std::string(name_of(v.type())) + ", expected " +
                              std::string(wanted), {name_, std::string(key), {}});
    };
    if constexpr (is_vector<T>::value) {
      const auto* arr = std::get_if<gguf_array>(&v.data);
      if (!arr) throw mismatch("an array");
      T out;
      out.reserve(arr->items.size());
      for (const auto& item : arr->items) out.push_back(convert<typename is_vector<T>::element>(item, key));
      return out;
    } else if constexpr (std::is_same_v<T, bool>) {
      if (const auto* b = std::get_if<bool>(&v.data)) return *b;
      throw mismatch("bool");
    } else if constexpr (std::is_same_v<T, std::string_view> || std::is_same_v<T, std::string>) {
      if (const auto* s = std::get_if<std::string_view>(&v.data)) return T(*s);
      throw mismatch("string");
    } else if constexpr (std::is_integral_v<T>) {
      if (!v.is_integer()) throw mismatch("an integer");
      return std::visit([&](auto x) -> T {
        if constexpr (std::is_integral_v<decltype(x)> && !std::is_same_v<decltype(x), bool>) {
          if (!std::in_range<T>(x))
            throw format_error("metadata value " + std::to_string(x) + " does not fit the requested integer type",
                               {name_, std::string(key), {}});
          return static_cast<T>(x);
        } else {
          throw mismatch("an integer");
        }
      }, v.data);
    } else if constexpr (std::is_floating_point_v<T>) {
      if (const auto* f = std::get_if<float>(&v.data)) return static_cast<T>(*f);
      if (const auto* d = std::get_if<double>(&v.data)) return static_cast<T>(*d);
      throw mismatch("a float");
    } else {
      static_assert(sizeof(T) == 0, "gguf_file::get<T>: unsupported T");
    }
  }

  // ---- parsing ---------------------------------------------------------------------------------
  struct cursor {
    std::span<const std::byte> bytes;
    std::uint64_t pos = 0;
    const std::string* file;

    [[nodiscard]] std::uint64_t remaining() const noexcept { return bytes.size() - pos; }
    [[noreturn]] void fail(const std::string& what, std::string item = {}, std::uint64_t at = UINT64_MAX) const {
      throw format_error(what, {*file, std::move(item), at == UINT64_MAX ? pos : at});
    }
    void need(std::uint64_t n, std::string_view what, std::string_view item) const {
      if (n > remaining())
        fail("truncated: " + std::string(what) + " needs " + std::to_string(n) + " bytes, " +
             std::to_string(remaining()) + " remain", std::string(item));
    }
    template <class T> T read(std::string_view what, std::string_view item = {}) {
      need(sizeof(T), what, item);
      T out;
      std::memcpy(&out, bytes.data() + pos, sizeof(T));
      pos += sizeof(T);
      return out;
    }
    std::string_view read_string(std::string_view what, std::string_view item = {}) {
      const auto at = pos;
      const auto len = read<std::uint64_t>(what, item);
      if (len > remaining())
        fail("string length " + std::to_string(len) + " exceeds the " + std::to_string(remaining()) +
             " bytes that remain (" + std::string(what) + ")", std::string(item), at);
      std::string_view s(reinterpret_cast<const char*>(bytes.data() + pos), static_cast<std::size_t>(len));
      pos += len;
      return s;
    }
  };

  static std::uint64_t min_encoded_size(gguf_type t) noexcept {
    switch (t) {
      case gguf_type::u8: case gguf_type::i8: case gguf_type::boolean: return 1;
      case gguf_type::u16: case gguf_type::i16: return 2;
      case gguf_type::u32: case gguf_type::i32: case gguf_type::f32: return 4;
      case gguf_type::string: case gguf_type::u64: case gguf_type::i64: case gguf_type::f64: return 8;
      case gguf_type::array: return 12;
    }
    return 1;
  }

  static gguf_type read_type(cursor& c, std::string_view key) {
    const auto at = c.pos;
    const auto id = c.read<std::uint32_t>("value type", key);
    if (id > static_cast<std::uint32_t>(gguf_type::f64))
      c.fail("unknown metadata value type id " + std::to_string(id), std::string(key), at);
    return static_cast<gguf_type>(id);
  }

  static gguf_value read_value(cursor& c, gguf_type t, std::string_view key, int depth) {
    switch (t) {
      case gguf_type::u8: return {c.read<std::uint8_t>("u8", key)};
      case gguf_type::i8: return {c.read<std::int8_t>("i8", key)};
      case gguf_type::u16: return {c.read<std::uint16_t>("u16", key)};
      case gguf_type::i16: return {c.read<std::int16_t>("i16", key)};
      case gguf_type::u32: return {c.read<std::uint32_t>("u32", key)};
      case gguf_type::i32: return {c.read<std::int32_t>("i32", key)};
      case gguf_type::f32: return {c.read<float>("f32", key)};
      case gguf_type::u64: return {c.read<std::uint64_t>("u64", key)};
      case gguf_type::i64: return {c.read<std::int64_t>("i64", key)};
      case gguf_type::f64: return {c.read<double>("f64", key)};
      case gguf_type::boolean: {
        const auto at = c.pos;
        const auto b = c.read<std::uint8_t>("bool", key);  // read as a byte: not every byte is a valid bool
        if (b > 1) c.fail("bool value " + std::to_string(b) + " is neither 0 nor 1", std::string(key), at);
        return {b == 1};
      }
      case gguf_type::string: return {c.read_string("string value", key)};
      case gguf_type::array: {
        const auto at = c.pos;
        if (depth >= max_array_nesting)
          c.fail("arrays nested deeper than " + std::to_string(max_array_nesting) + " levels", std::string(key), at);
        gguf_array arr;
        arr.element_type = read_type(c, key);
        const auto count = c.read<std::uint64_t>("array length", key);
        // Bound the allocation by what the remaining bytes could possibly encode.
        if (count > c.remaining() / min_encoded_size(arr.element_type))
          c.fail("array of " + std::to_string(count) + " " + std::string(name_of(arr.element_type)) +
                 " cannot fit in the " + std::to_string(c.remaining()) + " bytes that remain", std::string(key), at);
        arr.items.reserve(static_cast<std::size_t>(count));
        for (std::uint64_t i = 0; i < count; ++i) arr.items.push_back(read_value(c, arr.element_type, key, depth + 1));
        return {std::move(arr)};
      }
    }
    c.fail("unknown metadata value type", std::string(key));
  }

  void parse(std::span<const std::byte> bytes) {
    cursor c{bytes, 0, &name_};
    if (bytes.size() < 4 || std::memcmp(bytes.data(), "GGUF", 4) != 0)
      c.fail("not a GGUF file (bad magic; expected the bytes \"GGUF\")", {}, 0);
    c.pos = 4;
    version_ = c.read<std::uint32_t>("version");
    if (version_ == 1) throw unsupported_error("GGUF version 1 is not supported; re-convert the model with a current llama.cpp", {name_, {}, 4});
    if (version_ == 0x02000000u || version_ == 0x03000000u)
      throw unsupported_error("big-endian GGUF is not supported", {name_, {}, 4});
    if (version_ != 2 && version_ != 3)
      throw unsupported_error("unknown GGUF version " + std::to_string(version_) + " (supported: 2, 3)", {name_, {}, 4});

    const auto n_tensors = c.read<std::uint64_t>("tensor count");
    const auto n_kv = c.read<std::uint64_t>("metadata count");
    // Each kv takes >= 8 (key length) + 4 (type) + 1 bytes; each tensor info >= 8 + 4 + 4 + 8.
    if (n_kv > c.remaining() / 13) c.fail("metadata count " + std::to_string(n_kv) + " exceeds what the file can hold", {}, 16);
    if (n_tensors > c.remaining() / 24) c.fail("tensor count " + std::to_string(n_tensors) + " exceeds what the file can hold", {}, 8);

    kvs_.reserve(static_cast<std::size_t>(n_kv));
    for (std::uint64_t i = 0; i < n_kv; ++i) {
      const auto at = c.pos;
      const auto key = c.read_string("metadata key");
      if (kv_index_.contains(key)) c.fail("duplicate metadata key", std::string(key), at);
      const auto type = read_type(c, key);
      kvs_.push_back({key, read_value(c, type, key, 0), at});
      kv_index_.emplace(key, kvs_.size() - 1);
    }

    alignment_ = default_alignment;
    if (const auto* a = find("general.alignment")) {
      const auto* u = std::get_if<std::uint32_t>(&a->data);
      if (!u || *u == 0 || !std::has_single_bit(*u))
        c.fail("general.alignment must be a u32 power of two", "general.alignment", kvs_[kv_index_.at("general.alignment")].offset);
      alignment_ = *u;
    }

    tensors_.reserve(static_cast<std::size_t>(n_tensors));
    for (std::uint64_t i = 0; i < n_tensors; ++i) tensors_.push_back(read_tensor_info(c));

    // Data starts at the next multiple of the alignment after the tensor infos.
    data_offset_ = (c.pos + alignment_ - 1) / alignment_ * alignment_;
    if (!tensors_.empty() && data_offset_ > bytes.size())
      c.fail("tensor data section starts past the end of the file", {}, data_offset_);
    place_tensors(bytes, c);
  }

  gguf_tensor read_tensor_info(cursor& c) {
    const auto at = c.pos;
    const auto name = c.read_string("tensor name");
    const std::string item(name);
    if (tensor_index_.contains(name)) c.fail("duplicate tensor name", item, at);
    const auto n_dims = c.read<std::uint32_t>("tensor dimension count", name);
    if (n_dims > max_dims) c.fail("tensor has " + std::to_string(n_dims) + " dimensions (at most 4)", item, at);
    gguf_tensor t{name, dtype::f32, {}, 1, 0, {}};
    for (std::uint32_t d = 0; d < n_dims; ++d) {
      const auto ne = c.read<std::uint64_t>("tensor dimension", name);
      if (ne > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        c.fail("negative tensor dimension", item, at);
      if (ne != 0 && t.n_elements > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) / ne)
        c.fail("tensor element count overflows 64 bits", item, at);
      t.n_elements *= ne;
      t.shape.push_back(ne);
    }
    const auto type_at = c.pos;
    const auto type_id = c.read<std::uint32_t>("tensor type", name);
    const auto info = find_dtype(type_id);
    if (!info) c.fail("unknown ggml tensor type id " + std::to_string(type_id), item, type_at);
    t.type = info->type;
    if (t.row_length() % info->block_elements != 0)
      c.fail("row length " + std::to_string(t.row_length()) + " is not a multiple of the " + std::string(info->name) +
             " block size " + std::to_string(info->block_elements), item, at);
    t.offset = c.read<std::uint64_t>("tensor data offset", name);  // relative until place_tensors
    if (t.offset % alignment_ != 0)
      c.fail("tensor data offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
             std::to_string(alignment_), item, at);
    tensor_index_.emplace(name, tensors_.size());
    return t;
  }

  void place_tensors(std::span<const std::byte> bytes, cursor& c) {
    const std::uint64_t data_size = tensors_.empty() ? 0 : bytes.size() - data_offset_;
    struct extent { std::uint64_t begin, end; std::size_t index; };
    std::vector<extent> extents;  // (n_tensors): byte ranges relative to the data section
    extents.reserve(tensors_.size());
    for (std::size_t i = 0; i < tensors_.size(); ++i) {
      auto& t = tensors_[i];
      const auto info = info_of(t.type);
      const std::uint64_t blocks = t.n_elements / info.block_elements;
      if (blocks > data_size / info.block_bytes || t.offset > data_size - blocks * info.block_bytes)
        c.fail("tensor data [" + std::to_string(t.offset) + ", +" + std::to_string(blocks) + " blocks of " +
               std::to_string(info.block_bytes) + " bytes) lies outside the " + std::to_string(data_size) +
               "-byte data section", std::string(t.name), data_offset_ + std::min(t.offset, data_size));
      const std::uint64_t size = blocks * info.block_bytes;
      extents.push_back({t.offset, t.offset + size, i});
      t.offset += data_offset_;
      t.data = bytes.subspan(static_cast<std::size_t>(t.offset), static_cast<std::size_t>(size));
    }
    std::sort(extents.begin(), extents.end(), [](const extent& a, const extent& b) { return a.begin < b.begin; });
    for (std::size_t i = 1; i < extents.size(); ++i)
      if (extents[i].begin < extents[i - 1].end)
        c.fail("tensor data overlaps that of '" + std::string(tensors_[extents[i - 1].index].name) + "'",
               std::string(tensors_[extents[i].index].name), data_offset_ + extents[i].begin);
  }

  mmap_file map_;
  std::vector<std::byte> owned_;  // only for from_bytes()
  std::string name_;
  std::uint32_t version_ = 0;
  std::uint32_t alignment_ = default_alignment;
  std::uint64_t data_offset_ = 0;
  std::vector<gguf_kv> kvs_;                                    // (n_kv) in file order
  std::unordered_map<std::string_view, std::size_t> kv_index_;  // key -> index in kvs_
  std::vector<gguf_tensor> tensors_;                            // (n_tensors) in file order
  std::unordered_map<std::string_view, std::size_t> tensor_index_;
};

} // namespace rapid::io
