// CudaOps: Ops (engine/ops.h) on the CUDA launchers, queued on a context's
// stream with scratch from its workspace (sized by the model's
// EnsureCapacity). Host and device cache lengths.
//
// A batched forward (CudaModel::ForwardBatch) gives it the products of its
// batch (engine/batch_layout.h, ProductGroups): every MatMul over the batch's
// rows then runs as one product per group, so that each sequence's rows take
// the kernel path they take in a forward of that sequence alone.
#ifndef MATSPEC_ENGINE_CUDA_CUDA_OPS_H_
#define MATSPEC_ENGINE_CUDA_CUDA_OPS_H_

#include <span>

#include "engine/batch_layout.h"
#include "engine/ops.h"
#include "kernels/cuda/cuda_context.h"

namespace matspec {

class CudaOps final : public Ops {
 public:
  explicit CudaOps(CudaContext& ctx) : ctx_(ctx) {}
  // products: consecutive row ranges from row 0 that every MatMul's t rows
  // must equal in total (InvalidArgument otherwise); empty: one product.
  CudaOps(CudaContext& ctx, std::span<const RowRange> products) : ctx_(ctx), products_(products) {}

  absl::Status MatMul(const MatMulParams& p) const override;
  absl::Status RmsNorm(const RmsNormParams& p) const override;
  absl::Status Rope(const RopeParams& p) const override;
  absl::Status GatedActivation(const GatedActivationParams& p) const override;
  absl::Status Attention(const AttentionParams& p, const KvLength& len) const override;
  absl::Status KvAppend(const float* rows, int64_t rows_ld, int64_t t, int64_t dim, const KvLength& len,
                        float* cache) const override;
  absl::Status CopyRows(const float* src, int64_t src_ld, int64_t rows, int64_t cols, float* dst,
                        int64_t dst_ld) const override;
  absl::Status EmbeddingGather(const MatrixView& table, const int32_t* ids, int64_t t, float scale,
                               float* out) const override;
  absl::Status AddInPlace(float* x, const float* y, int64_t n) const override;
  absl::Status Scale(float* x, int64_t n, float s) const override;
  absl::Status GaussianTopK(float* z, int64_t rows, int64_t n, int64_t stride, float multiplier) const override;
  absl::Status MatchMagnitude(float* x, const float* target, int64_t rows, int64_t dim, float floor) const override;
  absl::Status AltUpPredict(const AltUpPredictParams& p) const override;
  absl::Status AltUpCorrect(const AltUpCorrectParams& p) const override;
  absl::Status AltUpCoefs(const AltUpCoefsParams& p) const override;
  absl::Status SumDiv(const float* a, const float* b, const float* c, int64_t n, float divisor,
                      float* out) const override;
  absl::Status ScaleColumns(const float* x, int64_t rows, int64_t dim, const VectorView& scale,
                            float* out) const override;
  absl::Status PerLayerInput(const float* proj, const float* emb, int64_t t, int64_t p, int64_t layers, int64_t l,
                             float scale, float* pli) const override;
  absl::Status ClampIds(const int32_t* ids, int64_t t, int64_t limit, int32_t* out) const override;

 private:
  CudaContext& ctx_;
  std::span<const RowRange> products_;
};

}  // namespace matspec

#endif  // MATSPEC_ENGINE_CUDA_CUDA_OPS_H_
