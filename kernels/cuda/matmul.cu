// CUDA matmul: quantized weights through QuantMatMulCuda (every t); for t <= 16 with 16-bit weights the skinny kernel (or, for views
// it cannot read, a warp-per-row kernel), otherwise an activation conversion
// kernel + cublasGemmEx (see matmul_cuda.h).
//
// cuBLAS is column-major. The row-major weight W [n, k] with leading dimension
// ld is, read column-major, the k x n matrix W^T with lda = ld; x [t, k] is the
// k x t matrix x^T; y [t, n] is the n x t matrix y^T. So
//   y^T (n x t) = op_T(W^T as stored) (n x k) * x^T (k x t),
// one GemmEx call with transa = T, transb = N, m = n, n = t, k = k.
#include <cstdint>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/matmul_cuda.h"
#include "kernels/cuda/quant_matmul_cuda.h"
#include "kernels/cuda/skinny_matmul_cuda.h"

namespace matspec {
namespace {

constexpr int kThreads = 256;

// Rows of the converted activations are padded to a multiple of 8 elements
// (16 bytes), which lets cuBLAS use its vectorised tensor-core kernels.
int64_t ConvertedLd(int64_t k) { return (k + 7) / 8 * 8; }

template <DType D>
__global__ void ConvertKernel(const float* x, int64_t x_ld, int64_t t, int64_t k, uint16_t* out,
                              int64_t out_ld) {
  const int64_t total = t * k;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t j = idx / k;
    const int64_t c = idx - j * k;
    const float v = x[j * x_ld + c];
    if constexpr (D == DType::kBF16) {
      out[j * out_ld + c] = __bfloat16_as_ushort(__float2bfloat16_rn(v));
    } else {
      out[j * out_ld + c] = __half_as_ushort(__float2half_rn(v));
    }
  }
}

cudaDataType_t CublasType(DType d) {
  switch (d) {
    case DType::kBF16:
      return CUDA_R_16BF;
    case DType::kF16:
      return CUDA_R_16F;
    case DType::kF32:
      return CUDA_R_32F;
    case DType::kQ8:
    case DType::kQ4:  // never reach cuBLAS (QuantMatMulCuda)
      break;
  }
  return CUDA_R_32F;
}

// Products outside the skinny kernel's contract that must keep x in f32: a
// row gather (f32 weights, t > 16, unaligned views), and 16-bit weights with
// t <= 16 whose view the skinny kernel cannot read with 16-byte loads (e.g. a
// LAuReL up-projection of rank 4). One warp per (row, token), f32 x as on the
// CPU; row_ids == nullptr means rows 0 .. n-1.
template <DType D>
__global__ void RowsKernel(const void* w, int64_t row_bytes, int64_t k, const int32_t* row_ids, int64_t n,
                           const float* x, int64_t x_ld, int64_t t, float* y, int64_t y_ld, bool accumulate) {
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x / 32);
  const int lane = threadIdx.x % 32;
  for (int64_t item = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32; item < n * t;
       item += warps) {
    const int64_t j = item / n;
    const int64_t row = row_ids != nullptr ? row_ids[item - j * n] : item - j * n;
    const void* wr = static_cast<const char*>(w) + row * row_bytes;
    float acc = 0.f;
    for (int64_t c = lane; c < k; c += 32) acc = fmaf(cuda_detail::LoadF32<D>(wr, c), x[j * x_ld + c], acc);
    acc = cuda_detail::WarpSum(acc);
    if (lane == 0) {
      float* out = y + j * y_ld + row;
      *out = accumulate ? *out + acc : acc;
    }
  }
}

// The gathered rows (p.row_ids) or all p.w.rows rows through RowsKernel.
absl::Status Rows(const MatMulParams& p, cudaStream_t stream) {
  const int64_t n = p.row_ids != nullptr ? p.num_row_ids : p.w.rows;
  if (n == 0 || p.t == 0) return absl::OkStatus();
  const unsigned grid = cuda_detail::GridFor(n * p.t * 32, kThreads);
  const int64_t row_bytes = p.w.ld * DTypeSize(p.w.dtype);
  cuda_detail::DispatchDType(p.w.dtype, [&]<DType D>() {
    RowsKernel<D><<<grid, kThreads, 0, stream>>>(p.w.data, row_bytes, p.w.cols, p.row_ids, n, p.x, p.x_ld, p.t, p.y,
                                                 p.y_ld, p.accumulate);
  });
  CUDA_RETURN_IF_ERROR(cudaGetLastError());
  return absl::OkStatus();
}

}  // namespace

size_t MatMulCudaWorkspaceBytes(int64_t t, int64_t k, DType weight_dtype) {
  if (weight_dtype == DType::kF32 || IsQuantized(weight_dtype) || t <= 0 || k <= 0) return 0;
  return WorkspaceArena::AlignUp(static_cast<size_t>(t * ConvertedLd(k)) * sizeof(uint16_t));
}

absl::Status MatMulCuda(CudaContext& ctx, const MatMulParams& p, CudaWorkspace workspace,
                        cudaStream_t stream) {
  if (!p.Valid()) return absl::InvalidArgumentError("MatMulCuda: invalid MatMulParams");
  if (p.w.device != Device::kCuda) {
    return absl::InvalidArgumentError("MatMulCuda: weight view is not on the GPU");
  }
  const int64_t t = p.t, n = p.w.rows, k = p.w.cols;
  if (t == 0 || n == 0) return absl::OkStatus();
  constexpr int64_t kIntMax = INT32_MAX;
  if (t > kIntMax || n > kIntMax || k > kIntMax || p.w.ld > kIntMax || p.x_ld > kIntMax || p.y_ld > kIntMax) {
    return absl::InvalidArgumentError("MatMulCuda: a dimension exceeds cuBLAS's int range");
  }
  // Quantized weights, every t, gathers and k == 0 included: their own kernel.
  if (IsQuantized(p.w.dtype)) return QuantMatMulCuda(p, stream);
  if (k == 0 && p.row_ids != nullptr) return Rows(p, stream);  // writes 0 into the gathered columns
  if (k == 0) {  // empty sum: y = 0, or y unchanged when accumulating
    if (!p.accumulate) {
      CUDA_RETURN_IF_ERROR(cudaMemset2DAsync(p.y, static_cast<size_t>(p.y_ld) * sizeof(float), 0,
                                             static_cast<size_t>(n) * sizeof(float), static_cast<size_t>(t),
                                             stream));
    }
    return absl::OkStatus();
  }

  // Decode-sized products with 16-bit weights: the bandwidth-bound kernel, or
  // (views it cannot read) the warp-per-row one; both keep x in f32, so every
  // decode, draft and verification step multiplies f32 activations.
  if (SkinnyMatMulCudaApplies(p)) return SkinnyMatMulCuda(p, stream);
  if (p.row_ids != nullptr) return Rows(p, stream);
  if (p.w.dtype != DType::kF32 && t <= kSkinnyMatMulMaxRows) return Rows(p, stream);

  const void* b = p.x;
  int64_t ldb = p.x_ld;
  if (p.w.dtype != DType::kF32) {
    const size_t needed = MatMulCudaWorkspaceBytes(t, k, p.w.dtype);
    if (workspace.data == nullptr || workspace.bytes < needed) {
      return absl::InvalidArgumentError("MatMulCuda: workspace smaller than MatMulCudaWorkspaceBytes");
    }
    uint16_t* converted = static_cast<uint16_t*>(workspace.data);
    ldb = ConvertedLd(k);
    const unsigned grid = cuda_detail::GridFor(t * k, kThreads);
    if (p.w.dtype == DType::kBF16) {
      ConvertKernel<DType::kBF16><<<grid, kThreads, 0, stream>>>(p.x, p.x_ld, t, k, converted, ldb);
    } else {
      ConvertKernel<DType::kF16><<<grid, kThreads, 0, stream>>>(p.x, p.x_ld, t, k, converted, ldb);
    }
    CUDA_RETURN_IF_ERROR(cudaGetLastError());
    b = converted;
  }

  absl::StatusOr<cublasHandle_t> handle = ctx.CublasOn(stream);
  if (!handle.ok()) return handle.status();
  const float alpha = 1.f;
  const float beta = p.accumulate ? 1.f : 0.f;
  const cudaDataType_t ab_type = CublasType(p.w.dtype);
  CUDA_RETURN_IF_ERROR(cublasGemmEx(
      *handle, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n), static_cast<int>(t), static_cast<int>(k),
      &alpha, p.w.data, ab_type, static_cast<int>(p.w.ld), b, ab_type, static_cast<int>(ldb), &beta, p.y,
      CUDA_R_32F, static_cast<int>(p.y_ld), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  return absl::OkStatus();
}

}  // namespace matspec
