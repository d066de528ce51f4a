#pragma once
// Non-owning views the kernels take. A weight matrix is a GGUF tensor with ne = [cols, rows]:
// `rows` rows of `cols` contiguous values, quantized in blocks along the row.
#include <cstddef>
#include <cstdint>
#include <string>

#include "rapid/core/dtype.hpp"
#include "rapid/core/error.hpp"

namespace rapid {

/// Bytes of one row of `cols` values of type t; throws if cols is not a whole number of blocks.
[[nodiscard]] inline std::size_t row_bytes_of(dtype t, std::size_t cols) {
  const auto info = info_of(t);
  if (cols % info.block_elements != 0)
    throw invalid_argument("a row of " + std::to_string(cols) + " values is not a whole number of " +
                           std::string(info.name) + " blocks of " + std::to_string(info.block_elements));
  return cols / info.block_elements * info.block_bytes;
}

/// A row-major matrix of any dtype (plain or quantized), e.g. a mapped GGUF weight.
struct quantized_matrix {
  dtype type = dtype::f32;
  const std::byte* data = nullptr; // (rows, row_bytes)
  std::size_t rows = 0;            // N: output features
  std::size_t cols = 0;            // K: input features, the contiguous (ne[0]) dimension
  std::size_t row_bytes = 0;       // bytes per row (rows are packed: row i starts at i * row_bytes)
  /// The same weights in the interleaved layout of ops/interleave.hpp (owned elsewhere, e.g. by
  /// model::model), which matvec/matmul then take; null: only the rows above.
  const std::byte* interleaved = nullptr;

  [[nodiscard]] const std::byte* row(std::size_t i) const noexcept { return data + i * row_bytes; }
  [[nodiscard]] std::size_t size_bytes() const noexcept { return rows * row_bytes; }
};

/// Builds a view over packed rows, checking the row length against the block size.
[[nodiscard]] inline quantized_matrix make_quantized_matrix(dtype type, const std::byte* data, std::size_t rows,
                                                            std::size_t cols) {
  return quantized_matrix{type, data, rows, cols, row_bytes_of(type, cols)};
}

} // namespace rapid
