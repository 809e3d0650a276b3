// Non-owning views of weights. A MatFormer slice is expressed entirely through
// these views: gate/up projections keep their first f rows (contiguous), the
// down projection keeps its first f columns with the leading dimension left at
// the full width. No slice ever copies a weight.
#ifndef MATSPEC_KERNELS_TENSOR_VIEW_H_
#define MATSPEC_KERNELS_TENSOR_VIEW_H_

#include <cstdint>

#include "kernels/dtype.h"

namespace matspec {

enum class Device : uint8_t { kCpu, kCuda };

// A 1-D weight vector (norm scales, biases).
struct VectorView {
  const void* data = nullptr;
  DType dtype = DType::kF32;
  int64_t size = 0;
  Device device = Device::kCpu;

  float At(int64_t i) const { return LoadAsF32(data, dtype, i); }
};

// A row-major 2-D weight matrix: element (r, c) lives at data + (r * ld + c) * DTypeSize(dtype).
struct MatrixView {
  const void* data = nullptr;
  DType dtype = DType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t ld = 0;  // elements between consecutive rows; >= cols
  Device device = Device::kCpu;

  const void* Row(int64_t r) const {
    return static_cast<const char*>(data) + r * ld * DTypeSize(dtype);
  }
  float At(int64_t r, int64_t c) const { return LoadAsF32(data, dtype, r * ld + c); }
  // The first n rows (contiguous prefix): gate/up of a width-n FFN slice.
  MatrixView FirstRows(int64_t n) const {
    MatrixView v = *this;
    v.rows = n;
    return v;
  }
  // The first n columns, same leading dimension: down projection of a width-n slice.
  MatrixView FirstCols(int64_t n) const {
    MatrixView v = *this;
    v.cols = n;
    return v;
  }
  // Rows [first, first + n): one layer's block of a stacked projection.
  MatrixView RowBlock(int64_t first, int64_t n) const {
    MatrixView v = *this;
    v.data = Row(first);
    v.rows = n;
    return v;
  }
  // Columns [first, first + n), same leading dimension: one layer's slot of a
  // per-layer table.
  MatrixView ColBlock(int64_t first, int64_t n) const {
    MatrixView v = *this;
    v.data = static_cast<const char*>(data) + first * DTypeSize(dtype);
    v.cols = n;
    return v;
  }
  // Bytes this view reads when every element is touched once.
  int64_t TouchedBytes() const { return rows * cols * DTypeSize(dtype); }
};

}  // namespace matspec

#endif  // MATSPEC_KERNELS_TENSOR_VIEW_H_
