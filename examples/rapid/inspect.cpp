// `rapid inspect FILE`: metadata, tensor table and tensor-type histogram of a GGUF file.
#include <cinttypes>
#include <cstdio>
#include <map>
#include <string>

#include "commands.hpp"
#include "rapid/io/gguf.hpp"

namespace rapid::cli {
namespace {

// llama.cpp's general.file_type numbering (LLAMA_FTYPE_*), for a readable header line.
std::string file_type_name(std::uint32_t ft) {
  static const std::map<std::uint32_t, const char*> names{
      {0, "ALL_F32"}, {1, "MOSTLY_F16"}, {2, "MOSTLY_Q4_0"}, {3, "MOSTLY_Q4_1"}, {7, "MOSTLY_Q8_0"},
      {8, "MOSTLY_Q5_0"}, {9, "MOSTLY_Q5_1"}, {10, "MOSTLY_Q2_K"}, {11, "MOSTLY_Q3_K_S"}, {12, "MOSTLY_Q3_K_M"},
      {13, "MOSTLY_Q3_K_L"}, {14, "MOSTLY_Q4_K_S"}, {15, "MOSTLY_Q4_K_M"}, {16, "MOSTLY_Q5_K_S"},
      {17, "MOSTLY_Q5_K_M"}, {18, "MOSTLY_Q6_K"}, {32, "MOSTLY_BF16"}};
  const auto it = names.find(ft);
  return it == names.end() ? "unknown" : it->second;
}

std::string quoted(std::string_view s, std::size_t max_chars = 80) {
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size() && i < max_chars; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '\n') out += "\\n";
    else if (c == '"') out += "\\\"";
    else if (c < 0x20) { char buf[8]; std::snprintf(buf, sizeof buf, "\\x%02x", c); out += buf; }
    else out += static_cast<char>(c);
  }
  if (s.size() > max_chars) out += "...";
  return out + "\"";
}

std::string format_value(const io::gguf_value& v, std::size_t max_items) {
  return std::visit([&](const auto& x) -> std::string {
    using T = std::decay_t<decltype(x)>;
    if constexpr (std::is_same_v<T, std::string_view>) return quoted(x);
    else if constexpr (std::is_same_v<T, bool>) return x ? "true" : "false";
    else if constexpr (std::is_same_v<T, io::gguf_array>) {
      std::string out = "[" + std::string(io::name_of(x.element_type)) + " x " + std::to_string(x.items.size()) + "]";
      if (x.items.empty() || max_items == 0) return out;
      out += " {";
      for (std::size_t i = 0; i < x.items.size() && i < max_items; ++i)
        out += (i ? ", " : "") + format_value(x.items[i], max_items);
      return out + (x.items.size() > max_items ? ", ...}" : "}");
    } else if constexpr (std::is_floating_point_v<T>) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%g", static_cast<double>(x));
      return buf;
    } else {
      return std::to_string(x);
    }
  }, v.data);
}

std::string shape_string(const std::vector<std::uint64_t>& shape) {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

void inspect(const std::string& path, std::size_t max_items, bool show_tensors) {
  const io::gguf_file f(path);
  std::printf("file: %s (%zu bytes)\nGGUF version %u, alignment %u, %zu metadata entries, %zu tensors, data at offset %" PRIu64 "\n",
              path.c_str(), f.bytes().size(), f.version(), f.alignment(), f.metadata().size(), f.tensors().size(),
              f.data_offset());
  if (f.contains("general.file_type")) {
    const auto ft = f.get<std::uint32_t>("general.file_type");
    std::printf("file type: %u (%s)\n", ft, file_type_name(ft).c_str());
  }

  std::printf("\nmetadata:\n");
  for (const auto& kv : f.metadata())
    std::printf("  %-44s %-7s %s\n", std::string(kv.key).c_str(), std::string(io::name_of(kv.value.type())).c_str(),
                format_value(kv.value, max_items).c_str());

  if (show_tensors) {
    std::printf("\ntensors:\n  %-40s %-7s %-22s %12s %14s\n", "name", "type", "shape", "bytes", "offset");
    for (const auto& t : f.tensors())
      std::printf("  %-40s %-7s %-22s %12zu %14" PRIu64 "\n", std::string(t.name).c_str(),
                  std::string(name_of(t.type)).c_str(), shape_string(t.shape).c_str(), t.data.size(), t.offset);
  }

  struct totals { std::size_t count = 0; std::uint64_t elements = 0, bytes = 0; };
  std::map<std::string, totals> histogram;
  std::uint64_t all_bytes = 0, all_elements = 0;
  for (const auto& t : f.tensors()) {
    auto& h = histogram[std::string(name_of(t.type))];
    ++h.count;
    h.elements += t.n_elements;
    h.bytes += t.data.size();
    all_bytes += t.data.size();
    all_elements += t.n_elements;
  }
  std::printf("\ntensor types:\n  %-7s %7s %14s %14s %7s %10s\n", "type", "tensors", "elements", "bytes", "bytes%", "bits/weight");
  for (const auto& [name, h] : histogram)
    std::printf("  %-7s %7zu %14" PRIu64 " %14" PRIu64 " %6.1f%% %10.3f\n", name.c_str(), h.count, h.elements, h.bytes,
                all_bytes ? 100.0 * static_cast<double>(h.bytes) / static_cast<double>(all_bytes) : 0.0,
                h.elements ? 8.0 * static_cast<double>(h.bytes) / static_cast<double>(h.elements) : 0.0);
  std::printf("  %-7s %7zu %14" PRIu64 " %14" PRIu64 "\n", "total", f.tensors().size(), all_elements, all_bytes);
}

} // namespace

void add_inspect(CLI::App& app) {
  auto* cmd = app.add_subcommand("inspect", "Print a GGUF file's metadata, tensor table and type histogram");
  auto path = std::make_shared<std::string>();
  auto max_items = std::make_shared<std::size_t>(8);
  auto no_tensors = std::make_shared<bool>(false);
  cmd->add_option("file", *path, "GGUF file")->required();
  cmd->add_option("--max-items", *max_items, "array items shown per metadata value")->check(CLI::Range(0, 1000000));
  cmd->add_flag("--no-tensors", *no_tensors, "omit the per-tensor table");
  cmd->callback([=] { inspect(*path, *max_items, !*no_tensors); });
}

} // namespace rapid::cli
