#include "engine/cuda/cuda_ops.h"

#include "absl/strings/str_cat.h"
#include "engine/status_macros.h"
#include "kernels/cuda/activation_cuda.h"
#include "kernels/cuda/attention_cuda.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/embedding_cuda.h"
#include "kernels/cuda/gemma3n_ops_cuda.h"
#include "kernels/cuda/kv_append_cuda.h"
#include "kernels/cuda/matmul_cuda.h"
#include "kernels/cuda/rms_norm_cuda.h"
#include "kernels/cuda/rope_cuda.h"

namespace matspec {

absl::Status CudaOps::MatMul(const MatMulParams& p) const {
  if (products_.empty()) return MatMulCuda(ctx_, p, ctx_.workspace(), ctx_.stream());
  const RowRange& last = products_.back();
  if (last.begin + last.rows != p.t) {
    return absl::InvalidArgumentError(absl::StrCat("CudaOps::MatMul: a product of ", p.t, " rows in a batch of ",
                                                   last.begin + last.rows, " rows"));
  }
  for (const RowRange& r : products_) {
    MatMulParams part = p;
    part.x = p.x + r.begin * p.x_ld;
    part.y = p.y + r.begin * p.y_ld;
    part.t = r.rows;
    RETURN_IF_ERROR(MatMulCuda(ctx_, part, ctx_.workspace(), ctx_.stream()));
  }
  return absl::OkStatus();
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

absl::Status CudaOps::CopyRows(const float* src, int64_t src_ld, int64_t rows, int64_t cols, float* dst,
                               int64_t dst_ld) const {
  if (rows == 0 || cols == 0) return absl::OkStatus();
  CUDA_RETURN_IF_ERROR(cudaMemcpy2DAsync(dst, dst_ld * sizeof(float), src, src_ld * sizeof(float),
                                         cols * sizeof(float), rows, cudaMemcpyDeviceToDevice, ctx_.stream()));
  return absl::OkStatus();
}

absl::Status CudaOps::EmbeddingGather(const MatrixView& table, const int32_t* ids, int64_t t, float scale,
                                      float* out) const {
  return EmbeddingGatherCuda(table, ids, t, scale, out, ctx_.stream());
}

absl::Status CudaOps::AddInPlace(float* x, const float* y, int64_t n) const {
  return AddInPlaceCuda(x, y, n, ctx_.stream());
}

absl::Status CudaOps::Scale(float* x, int64_t n, float s) const { return ScaleCuda(x, n, s, ctx_.stream()); }

absl::Status CudaOps::GaussianTopK(float* z, int64_t rows, int64_t n, int64_t stride, float multiplier) const {
  return GaussianTopKCuda(z, rows, n, stride, multiplier, ctx_.stream());
}

absl::Status CudaOps::MatchMagnitude(float* x, const float* target, int64_t rows, int64_t dim, float floor) const {
  return MatchMagnitudeCuda(x, target, rows, dim, floor, ctx_.stream());
}

absl::Status CudaOps::AltUpPredict(const AltUpPredictParams& p) const {
  return AltUpPredictCuda(p.streams, p.coefs, p.n_streams, p.rows, p.dim, p.pred, ctx_.stream());
}

absl::Status CudaOps::AltUpCorrect(const AltUpCorrectParams& p) const {
  return AltUpCorrectCuda(p.pred, p.y, p.k, p.n_streams, p.active, p.rows, p.dim, ctx_.stream());
}

absl::Status CudaOps::AltUpCoefs(const AltUpCoefsParams& p) const {
  return AltUpCoefsCuda(p.raw, p.rows, p.n, p.w, p.out_n, p.add_one, nullptr, p.out, ctx_.stream());
}

absl::Status CudaOps::SumDiv(const float* a, const float* b, const float* c, int64_t n, float divisor,
                             float* out) const {
  return SumDivCuda(a, b, c, n, divisor, out, ctx_.stream());
}

absl::Status CudaOps::ScaleColumns(const float* x, int64_t rows, int64_t dim, const VectorView& scale,
                                   float* out) const {
  return ScaleColumnsCuda(x, rows, dim, scale, out, ctx_.stream());
}

absl::Status CudaOps::PerLayerInput(const float* proj, const float* emb, int64_t t, int64_t p, int64_t layers,
                                    int64_t l, float scale, float* pli) const {
  return PerLayerInputCuda(proj, emb, t, p, layers, l, scale, pli, ctx_.stream());
}

absl::Status CudaOps::ClampIds(const int32_t* ids, int64_t t, int64_t limit, int32_t* out) const {
  return ClampIdsCuda(ids, t, limit, out, ctx_.stream());
}

}  // namespace matspec
