#include "engine/cuda/cuda_ops.h"

#include "kernels/cuda/activation_cuda.h"
#include "kernels/cuda/attention_cuda.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/kv_append_cuda.h"
#include "kernels/cuda/matmul_cuda.h"
#include "kernels/cuda/rms_norm_cuda.h"
#include "kernels/cuda/rope_cuda.h"

namespace matspec {

absl::Status CudaOps::MatMul(const MatMulParams& p) const {
  return MatMulCuda(ctx_, p, ctx_.workspace(), ctx_.stream());
}

absl::Status CudaOps::RmsNorm(const RmsNormParams& p) const { return RmsNormCuda(p, ctx_.stream()); }

absl::Status CudaOps::Rope(const RopeParams& p) const { return ApplyRopeCuda(p, ctx_.stream()); }

absl::Status CudaOps::GatedActivation(const GatedActivationParams& p) const {
  return GatedActivationCuda(p, ctx_.stream());
}

absl::Status CudaOps::Attention(const AttentionParams& p, const KvLength& len) const {
  if (len.d_past != nullptr) {
    return AttentionCudaDeviceLength(p, len.d_past, len.capacity, ctx_.workspace(), ctx_.stream());
  }
  return AttentionCuda(p, ctx_.workspace(), ctx_.stream());
}

absl::Status CudaOps::KvAppend(const float* rows, int64_t rows_ld, int64_t t, int64_t dim, const KvLength& len,
                               float* cache) const {
  if (len.d_past != nullptr) return KvAppendCuda(rows, rows_ld, t, dim, len.d_past, cache, ctx_.stream());
  if (t == 0) return absl::OkStatus();
  CUDA_RETURN_IF_ERROR(cudaMemcpy2DAsync(cache + len.past * dim, dim * sizeof(float), rows, rows_ld * sizeof(float),
                                         dim * sizeof(float), t, cudaMemcpyDeviceToDevice, ctx_.stream()));
  return absl::OkStatus();
}

}  // namespace matspec
