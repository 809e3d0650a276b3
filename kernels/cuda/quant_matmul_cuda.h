// y = x W^T with block-quantized weights (q8, q4: kernels/dtype.h) on the GPU,
// for any number t of rows of x: f32 x, no rounding of the activations (unlike
// the CPU quantized paths, which quantize x to int8 per block), f32
// accumulation.
//
// Arithmetic, per output element y[j][r]: each lane of the row's warp owns
// some 32-element blocks of the row; for each block it forms
//   s = sum_i q_i * x[j][c_i]   (f32 FMA over its 4 (q8) or 8 (q4) elements)
// and adds d * s to its accumulator (d = the block's f16 scale, exact in f32);
// the 32 lane accumulators meet in a fixed butterfly (WarpSum). The order of
// these operations does not depend on t, on the row's place among the t, or on
// a row gather, so every output element has the same bits whatever t is
// (batch invariance for every t, not only t <= 16).
//
// Tiling: rows of x are taken 16 at a time (one launch per tile of up to 16
// tokens; the same kernel, so t > 16 keeps each row's bits). No dequantized
// copy and no cuBLAS: decoding is bound by the bytes of the weights read, and
// the whole-prompt pass of a quantized model reads them once per 16 tokens.
//
// Layouts (device memory): p.w.data the values, rows p.w.ld elements apart
// (int8 per element for q8, 16 bytes per block for q4), 4-byte aligned;
// p.w.scales f16 [rows][ld / 32]; p.w.cols and p.w.ld multiples of 32 (as
// MatMulParams::Valid requires); a FirstRows / FirstCols / RowBlock / ColBlock
// slice is read in place through ld. p.x [t, x_ld] f32, p.y [t, y_ld] f32;
// p.accumulate adds into y. p.row_ids (device memory, ids in [0, w.rows)):
// only those rows are computed, each into the y column of its id; the other
// columns are left as they were.
//
// Asynchronous on `stream`; allocates nothing and needs no workspace, so it can
// be captured in a CUDA graph. MatMulCuda calls it for quantized weights.
#ifndef MATSPEC_KERNELS_CUDA_QUANT_MATMUL_CUDA_H_
#define MATSPEC_KERNELS_CUDA_QUANT_MATMUL_CUDA_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"
#include "kernels/matmul.h"

namespace matspec {

// Rows of x one launch of the quantized kernel multiplies (its token tile).
inline constexpr int64_t kQuantMatMulTileRows = 16;

// InvalidArgument (naming the failed condition) when p is invalid, its weights
// are not quantized or not on the GPU, p.w.data is not 4-byte aligned, or the
// row count exceeds the grid (2^31 - 1 blocks of 4 rows).
absl::Status QuantMatMulCuda(const MatMulParams& p, cudaStream_t stream);

}  // namespace matspec

#endif  // MATSPEC_KERNELS_CUDA_QUANT_MATMUL_CUDA_H_
