// Non-owning views of weights. A MatFormer slice is expressed entirely through
// these views: gate/up projections keep their first f rows (contiguous), the
// down projection keeps its first f columns with the leading dimension left at
// the full width. No slice ever copies a weight. Quantized matrices (kQ8,
// kQ4; layout in kernels/dtype.h) carry a second array, the block scales,
// which every view method cuts the same way; their column offsets and widths
// must then fall on block boundaries (multiples of kQuantBlock).
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

// A row-major 2-D weight matrix: row r starts at data + DTypeRowBytes(dtype, r * ld);
// for a dense dtype element (r, c) lives at data + (r * ld + c) * DTypeSize(dtype).
struct MatrixView {
  const void* data = nullptr;
  DType dtype = DType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t ld = 0;  // elements between consecutive rows; >= cols (a multiple of 32 if quantized)
  Device device = Device::kCpu;
  // Quantized dtypes only: f16 block scales, [rows][ld / kQuantBlock].
  const uint16_t* scales = nullptr;

  const void* Row(int64_t r) const { return static_cast<const char*>(data) + DTypeRowBytes(dtype, r * ld); }
  const uint16_t* ScaleRow(int64_t r) const { return scales + r * (ld / kQuantBlock); }
  float At(int64_t r, int64_t c) const {
    if (IsQuantized(dtype)) return LoadQuantizedAsF32(Row(r), ScaleRow(r), dtype, c);
    return LoadAsF32(data, dtype, r * ld + c);
  }
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
    if (scales != nullptr) v.scales = ScaleRow(first);
    v.rows = n;
    return v;
  }
  // Columns [first, first + n), same leading dimension: one layer's slot of a
  // per-layer table.
  MatrixView ColBlock(int64_t first, int64_t n) const {
    MatrixView v = *this;
    v.data = static_cast<const char*>(data) + DTypeRowBytes(dtype, first);
    if (scales != nullptr) v.scales = scales + first / kQuantBlock;
    v.cols = n;
    return v;
  }
  // Bytes this view reads when every element is touched once.
  int64_t TouchedBytes() const { return rows * (DTypeRowBytes(dtype, cols) + QuantScaleBytes(dtype, cols)); }
};

}  // namespace matspec

#endif  // MATSPEC_KERNELS_TENSOR_VIEW_H_
