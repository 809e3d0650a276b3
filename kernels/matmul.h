// Matrix product against a weight view: y[t, n] = sum_k x[t, k] * W[n, k]
// (x times W transposed, the layout of every HF linear layer), f32 accumulation.
// W may be bf16, f16 or f32 and may be a slice (FirstRows / FirstCols) of a
// larger matrix: only W.rows x W.cols elements are read, rows W.ld apart.
// At T = 1 this is the bf16 matrix-vector product that dominates decoding.
#ifndef MATSPEC_KERNELS_MATMUL_H_
#define MATSPEC_KERNELS_MATMUL_H_

#include <cstdint>

#include "kernels/cpu_context.h"
#include "kernels/tensor_view.h"

namespace matspec {

struct MatMulParams {
  const float* x = nullptr;  // [t, x_ld] f32 input; first w.cols columns are used
  int64_t x_ld = 0;          // elements between rows of x; >= w.cols
  int64_t t = 0;             // number of rows (tokens)
  MatrixView w;              // [n, k] weight view, k = w.cols
  float* y = nullptr;        // [t, y_ld] f32 output; first w.rows columns written
  int64_t y_ld = 0;          // elements between rows of y; >= w.rows
  bool accumulate = false;   // y += x W^T instead of y = x W^T
  // Optional row gather (a draft's reduced-vocabulary head): when set, only
  // the W rows row_ids[0 .. num_row_ids) are multiplied, each product written
  // to the y column of the same index; other y columns are not touched. The
  // ids must lie in [0, w.rows) (the caller checks; on CUDA they are device
  // memory).
  const int32_t* row_ids = nullptr;
  int64_t num_row_ids = 0;

  // True when pointers are set and strides cover the shapes.
  bool Valid() const;
};

// CPU: parallel over output rows with ctx.num_threads threads; SIMD for bf16/f16/f32.
// A row gather runs the rows one at a time (no multi-row blocking).
void MatMul(const CpuContext& ctx, const MatMulParams& p);

// The plain triple loop, f64 accumulation. The oracle for MatMul.
void MatMulReference(const MatMulParams& p);

// MatMul restricted to its portable (non-AVX2) path, so that tests run both
// paths on every machine. Same contract as MatMul.
void MatMulPortable(const CpuContext& ctx, const MatMulParams& p);

// The SIMD path MatMul takes on this machine: "avx2+fma+f16c" or "portable".
const char* MatMulIsaName();

}  // namespace matspec

#endif  // MATSPEC_KERNELS_MATMUL_H_
