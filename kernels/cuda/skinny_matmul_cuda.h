// y = x W^T for few rows of x (t <= 16: decode, draft and verification steps)
// with 16-bit weights, without cuBLAS: a bandwidth-bound kernel that streams
// each weight row once with 16-byte loads and multiplies it with all t rows of
// x in f32. Unlike the cuBLAS path it does not round x to the weight dtype, so
// it computes what the CPU kernel computes (f32 x, exact f32 weights, f32
// accumulation), up to summation order.
//
// Layout: a block of 4 warps owns 4 consecutive output rows; the warps split
// the reduction dimension, each lane loads 16 bytes of every row per step (the
// warp reads 512 contiguous bytes of a row), the x values it needs are read
// once per step and reused for the 4 rows, and the partial sums meet in shared
// memory. FFN slices work as for cuBLAS: the view's leading dimension is used.
//
// MatMulCuda calls it when SkinnyMatMulCudaApplies(); it is exposed for tests
// and benchmarks. Asynchronous on `stream`; allocates nothing.
#ifndef MATSPEC_KERNELS_CUDA_SKINNY_MATMUL_CUDA_H_
#define MATSPEC_KERNELS_CUDA_SKINNY_MATMUL_CUDA_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"
#include "kernels/matmul.h"

namespace matspec {

inline constexpr int64_t kSkinnyMatMulMaxRows = 16;

// True when p has 1..16 rows of x, bf16 or f16 weights on the GPU, and the
// alignment the 16-byte loads need: weight data and x 16-byte aligned, w.ld a
// multiple of 8 elements, x_ld a multiple of 4.
bool SkinnyMatMulCudaApplies(const MatMulParams& p);

// InvalidArgument when !SkinnyMatMulCudaApplies(p) or p is invalid.
absl::Status SkinnyMatMulCuda(const MatMulParams& p, cudaStream_t stream);

}  // namespace matspec

#endif  // MATSPEC_KERNELS_CUDA_SKINNY_MATMUL_CUDA_H_
