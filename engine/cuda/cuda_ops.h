// CudaOps: Ops (engine/ops.h) on the CUDA launchers, queued on a context's
// stream with scratch from its workspace (sized by the model's
// EnsureCapacity). Host and device cache lengths.
#ifndef MATSPEC_ENGINE_CUDA_CUDA_OPS_H_
#define MATSPEC_ENGINE_CUDA_CUDA_OPS_H_

#include "engine/ops.h"
#include "kernels/cuda/cuda_context.h"

namespace matspec {

class CudaOps final : public Ops {
 public:
  explicit CudaOps(CudaContext& ctx) : ctx_(ctx) {}

  absl::Status MatMul(const MatMulParams& p) const override;
  absl::Status RmsNorm(const RmsNormParams& p) const override;
  absl::Status Rope(const RopeParams& p) const override;
  absl::Status GatedActivation(const GatedActivationParams& p) const override;
  absl::Status Attention(const AttentionParams& p, const KvLength& len) const override;
  absl::Status KvAppend(const float* rows, int64_t rows_ld, int64_t t, int64_t dim, const KvLength& len,
                        float* cache) const override;

 private:
  CudaContext& ctx_;
};

}  // namespace matspec

#endif  // MATSPEC_ENGINE_CUDA_CUDA_OPS_H_
