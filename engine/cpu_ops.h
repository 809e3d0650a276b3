// CpuOps: Ops (engine/ops.h) on the CPU kernels, with the threads and
// arithmetic of one sequence's CpuContext. Host lengths only.
#ifndef MATSPEC_ENGINE_CPU_OPS_H_
#define MATSPEC_ENGINE_CPU_OPS_H_

#include "engine/ops.h"
#include "kernels/cpu_context.h"

namespace matspec {

class CpuOps final : public Ops {
 public:
  explicit CpuOps(const CpuContext& ctx) : ctx_(ctx) {}

  absl::Status MatMul(const MatMulParams& p) const override;
  absl::Status RmsNorm(const RmsNormParams& p) const override;
  absl::Status Rope(const RopeParams& p) const override;
  absl::Status GatedActivation(const GatedActivationParams& p) const override;
  // p.scratch must hold AttentionScratchFloats(p.past + p.t, threads) floats.
  absl::Status Attention(const AttentionParams& p, const KvLength& len) const override;
  absl::Status KvAppend(const float* rows, int64_t rows_ld, int64_t t, int64_t dim, const KvLength& len,
                        float* cache) const override;

 private:
  const CpuContext& ctx_;
};

}  // namespace matspec

#endif  // MATSPEC_ENGINE_CPU_OPS_H_
