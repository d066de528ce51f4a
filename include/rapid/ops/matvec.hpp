#pragma once
// y = W x for one activation row (decode). W: (rows, cols) of any kernel type. In the default
// activation_mode::int8, x is quantized once to 8-bit blocks and every row takes the integer
// kernel; activation_mode::exact (and F32/F16/BF16 weights) dequantize and FMA in f32.
// A matmul of one row (matmul.hpp): rows are split across OpenMP threads and each output is
// computed by one thread with a fixed operation order, so results do not depend on the thread count.
#include <span>
#include <string>

#include "rapid/core/error.hpp"
#include "rapid/core/tensor_view.hpp"
#include "rapid/ops/kernel_types.hpp"
#include "rapid/ops/matmul.hpp"

namespace rapid::ops {

/// y = W x. w: (rows, cols); x: (cols); y: (rows)
inline void matvec(const quantized_matrix& w, std::span<const float> x, std::span<float> y,
                   const kernel_options& options = {}) {
  detail::check_matrix(w, "matvec");
  if (x.size() != w.cols || y.size() != w.rows)
    throw invalid_argument("matvec: W is " + std::to_string(w.rows) + "x" + std::to_string(w.cols) + " but x has " +
                           std::to_string(x.size()) + " values and y " + std::to_string(y.size()));
  matmul(w, x, 1, y, options);
}

} // namespace rapid::ops
