#pragma once
// Tensor element types as GGUF/ggml number them, with their block geometry.
// Quantized types store `block_elements` values in `block_bytes` bytes along a row (ne[0]).
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace rapid {

enum class dtype : std::uint32_t {
  f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9,
  q2_k = 10, q3_k = 11, q4_k = 12, q5_k = 13, q6_k = 14, q8_k = 15,
  iq2_xxs = 16, iq2_xs = 17, iq3_xxs = 18, iq1_s = 19, iq4_nl = 20, iq3_s = 21, iq2_s = 22,
  iq4_xs = 23, i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_m = 29, bf16 = 30,
  tq1_0 = 34, tq2_0 = 35, mxfp4 = 39,
};

struct dtype_info {
  dtype type;
  std::string_view name;
  std::uint32_t block_elements; // values per block (1 for plain types)
  std::uint32_t block_bytes;    // bytes per block
};

namespace detail {
inline constexpr std::array<dtype_info, 32> dtype_table{{
    {dtype::f32, "F32", 1, 4},         {dtype::f16, "F16", 1, 2},
    {dtype::q4_0, "Q4_0", 32, 18},     {dtype::q4_1, "Q4_1", 32, 20},
    {dtype::q5_0, "Q5_0", 32, 22},     {dtype::q5_1, "Q5_1", 32, 24},
    {dtype::q8_0, "Q8_0", 32, 34},     {dtype::q8_1, "Q8_1", 32, 36},
    {dtype::q2_k, "Q2_K", 256, 84},    {dtype::q3_k, "Q3_K", 256, 110},
    {dtype::q4_k, "Q4_K", 256, 144},   {dtype::q5_k, "Q5_K", 256, 176},
    {dtype::q6_k, "Q6_K", 256, 210},   {dtype::q8_k, "Q8_K", 256, 292},
    {dtype::iq2_xxs, "IQ2_XXS", 256, 66}, {dtype::iq2_xs, "IQ2_XS", 256, 74},
    {dtype::iq3_xxs, "IQ3_XXS", 256, 98}, {dtype::iq1_s, "IQ1_S", 256, 50},
    {dtype::iq4_nl, "IQ4_NL", 32, 18}, {dtype::iq3_s, "IQ3_S", 256, 110},
    {dtype::iq2_s, "IQ2_S", 256, 82},  {dtype::iq4_xs, "IQ4_XS", 256, 136},
    {dtype::i8, "I8", 1, 1},           {dtype::i16, "I16", 1, 2},
    {dtype::i32, "I32", 1, 4},         {dtype::i64, "I64", 1, 8},
    {dtype::f64, "F64", 1, 8},         {dtype::iq1_m, "IQ1_M", 256, 56},
    {dtype::bf16, "BF16", 1, 2},       {dtype::tq1_0, "TQ1_0", 256, 54},
    {dtype::tq2_0, "TQ2_0", 256, 66},  {dtype::mxfp4, "MXFP4", 32, 17},
}};
} // namespace detail

/// Geometry of a ggml type id, or nothing for an id ggml does not define.
[[nodiscard]] constexpr std::optional<dtype_info> find_dtype(std::uint32_t id) noexcept {
  for (const auto& info : detail::dtype_table)
    if (static_cast<std::uint32_t>(info.type) == id) return info;
  return std::nullopt;
}

[[nodiscard]] constexpr dtype_info info_of(dtype t) noexcept { return *find_dtype(static_cast<std::uint32_t>(t)); }
[[nodiscard]] constexpr std::string_view name_of(dtype t) noexcept { return info_of(t).name; }

} // namespace rapid
