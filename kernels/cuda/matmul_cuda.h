// CUDA matrix product y = x W^T through cuBLAS, the contract of kernels/matmul.h
// on device memory. The weight view is read in place through its leading
// dimension (a FirstRows / FirstCols slice of the FFN is passed as it is: no
// weight is ever copied).
//
// Paths. For t <= 16 rows with bf16/f16 weights and 16-byte alignment,
// SkinnyMatMulCuda (skinny_matmul_cuda.h): f32 x, no rounding, bandwidth-bound;
// t <= 16 with bf16/f16 weights the skinny kernel cannot read (a leading
// dimension not a multiple of 8, e.g. a rank-4 LAuReL projection, or
// unaligned pointers) takes a warp-per-row kernel, also with f32 x, so that
// every decode, draft and verification product keeps x in f32 (rounding x
// there made a tiny Gemma 3n differ from the CPU by 0.1 in its logits).
// Otherwise cuBLAS, described here. A row gather (MatMulParams::row_ids, in
// device memory) takes the skinny kernel when it applies, else the
// warp-per-row kernel; cuBLAS is never used for it.
//
// Quantized weights (q8, q4) take QuantMatMulCuda (quant_matmul_cuda.h) for
// every t, row gathers included: f32 x (not quantized as on the CPU), each
// block's integer values times its f16 scale, f32 accumulation, tiles of 16
// tokens; no workspace. Each output element has the same bits whatever t is.
//
// Precision choice (cuBLAS path). Activations are f32 (as on the CPU) but cuBLAS has no
// bf16 x f32 product, so for bf16 (f16) weights x is first rounded to bf16
// (f16) by a small conversion kernel into the workspace, then cublasGemmEx
// multiplies bf16 x bf16 with f32 accumulation (CUBLAS_COMPUTE_32F) into an f32
// y. The products of two bf16 values are exact in f32, so the only extra error
// against the CPU kernel is the rounding of x: a relative 2^-9 (bf16) or 2^-11
// (f16) per element, i.e. about 2^-9 * sqrt(sum_k (x_k w_k)^2) on y. f32
// weights take x as it is (no TF32). tests/TOLERANCES.md holds the bounds.
//
// Asynchronous on `stream`; allocates nothing (the conversion buffer comes from
// the workspace, cuBLAS uses the context's own workspace), so it can be
// captured in a CUDA graph.
#ifndef MATSPEC_KERNELS_CUDA_MATMUL_CUDA_H_
#define MATSPEC_KERNELS_CUDA_MATMUL_CUDA_H_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "kernels/cuda/cuda_context.h"
#include "kernels/cuda/skinny_matmul_cuda.h"
#include "kernels/matmul.h"

namespace matspec {

// Workspace bytes MatMulCuda needs for t rows of k inputs against weights of
// `weight_dtype` (0 for f32 and quantized weights). Needs no device.
size_t MatMulCudaWorkspaceBytes(int64_t t, int64_t k, DType weight_dtype);

// Up to how many rows of x MatMulCuda gives every output row the same bits
// whatever t is and wherever the row sits among the t (batch invariance, which
// a batched forward needs to reproduce each sequence's forward alone): 16 with
// bf16/f16 weights (the skinny and warp-per-row kernels compute each row on
// its own in f32; the cuBLAS path beyond rounds x and may change its algorithm
// with t); 0 with f32 weights (cuBLAS at every t). Row gathers (p.row_ids)
// never reach cuBLAS; this bound holds for them too. Quantized weights are
// invariant at every t (QuantMatMulCuda); 16 is reported for them as well, the
// bound the batched forward plans with.
inline int64_t MatMulCudaRowInvariantRows(DType weight_dtype) {
  return weight_dtype == DType::kBF16 || weight_dtype == DType::kF16 || IsQuantized(weight_dtype)
             ? kSkinnyMatMulMaxRows
             : 0;
}

// p.x: [t, x_ld] f32, p.y: [t, y_ld] f32, p.w: a device view (device == kCuda);
// all device memory. p.accumulate adds into y. The cuBLAS handle of `ctx` is
// bound to `stream`. InvalidArgument for bad parameters, a too small workspace
// or sizes beyond cuBLAS's 32-bit dimensions.
absl::Status MatMulCuda(CudaContext& ctx, const MatMulParams& p, CudaWorkspace workspace,
                        cudaStream_t stream);

}  // namespace matspec

#endif  // MATSPEC_KERNELS_CUDA_MATMUL_CUDA_H_
