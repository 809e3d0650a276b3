#include "engine/cpu_ops.h"

#include <cstring>

#include "kernels/activation.h"
#include "kernels/embedding.h"
#include "kernels/gemma3n_ops.h"

namespace matspec {
namespace {

absl::Status HostLengthOnly(const KvLength& len) {
  if (len.d_past != nullptr) {
    return absl::InvalidArgumentError("the CPU ops take the cache length from the host (KvLength::past)");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CpuOps::MatMul(const MatMulParams& p) const {
  matspec::MatMul(ctx_, p);
  return absl::OkStatus();
}

absl::Status CpuOps::RmsNorm(const RmsNormParams& p) const {
  matspec::RmsNorm(p);
  return absl::OkStatus();
}

absl::Status CpuOps::Rope(const RopeParams& p) const {
  ApplyRope(p);
  return absl::OkStatus();
}

absl::Status CpuOps::GatedActivation(const GatedActivationParams& p) const {
  matspec::GatedActivation(p);
  return absl::OkStatus();
}

absl::Status CpuOps::Attention(const AttentionParams& p, const KvLength& len) const {
  if (absl::Status s = HostLengthOnly(len); !s.ok()) return s;
  matspec::Attention(ctx_, p);
  return absl::OkStatus();
}

absl::Status CpuOps::KvAppend(const float* rows, int64_t rows_ld, int64_t t, int64_t dim, const KvLength& len,
                              float* cache) const {
  if (absl::Status s = HostLengthOnly(len); !s.ok()) return s;
  for (int64_t j = 0; j < t; ++j) {
    std::memcpy(cache + (len.past + j) * dim, rows + j * rows_ld, dim * sizeof(float));
  }
  return absl::OkStatus();
}

absl::Status CpuOps::CopyRows(const float* src, int64_t src_ld, int64_t rows, int64_t cols, float* dst,
                              int64_t dst_ld) const {
  for (int64_t r = 0; r < rows; ++r) std::memcpy(dst + r * dst_ld, src + r * src_ld, cols * sizeof(float));
  return absl::OkStatus();
}

absl::Status CpuOps::EmbeddingGather(const MatrixView& table, const int32_t* ids, int64_t t, float scale,
                                     float* out) const {
  matspec::EmbeddingGather(table, ids, t, scale, out);
  return absl::OkStatus();
}

absl::Status CpuOps::AddInPlace(float* x, const float* y, int64_t n) const {
  matspec::AddInPlace(x, y, n);
  return absl::OkStatus();
}

absl::Status CpuOps::Scale(float* x, int64_t n, float s) const {
  matspec::Scale(x, n, s);
  return absl::OkStatus();
}

absl::Status CpuOps::GaussianTopK(float* z, int64_t rows, int64_t n, int64_t stride, float multiplier) const {
  matspec::GaussianTopK(z, rows, n, stride, multiplier);
  return absl::OkStatus();
}

absl::Status CpuOps::MatchMagnitude(float* x, const float* target, int64_t rows, int64_t dim, float floor) const {
  matspec::MatchMagnitude(x, target, rows, dim, floor);
  return absl::OkStatus();
}

absl::Status CpuOps::AltUpPredict(const AltUpPredictParams& p) const {
  matspec::AltUpPredict(p.streams, p.coefs, p.n_streams, p.rows, p.dim, p.pred);
  return absl::OkStatus();
}

absl::Status CpuOps::AltUpCorrect(const AltUpCorrectParams& p) const {
  matspec::AltUpCorrect(p.pred, p.y, p.k, p.n_streams, p.active, p.rows, p.dim);
  return absl::OkStatus();
}

absl::Status CpuOps::AltUpCoefs(const AltUpCoefsParams& p) const {
  matspec::AltUpCoefs(p);
  return absl::OkStatus();
}

absl::Status CpuOps::SumDiv(const float* a, const float* b, const float* c, int64_t n, float divisor,
                            float* out) const {
  matspec::SumDiv(a, b, c, n, divisor, out);
  return absl::OkStatus();
}

absl::Status CpuOps::ScaleColumns(const float* x, int64_t rows, int64_t dim, const VectorView& scale,
                                  float* out) const {
  matspec::ScaleColumns(x, rows, dim, scale, out);
  return absl::OkStatus();
}

absl::Status CpuOps::PerLayerInput(const float* proj, const float* emb, int64_t t, int64_t p, int64_t layers,
                                   int64_t l, float scale, float* pli) const {
  matspec::PerLayerInput(proj, emb, t, p, layers, l, scale, pli);
  return absl::OkStatus();
}

absl::Status CpuOps::ClampIds(const int32_t* ids, int64_t t, int64_t limit, int32_t* out) const {
  matspec::ClampIds(ids, t, limit, out);
  return absl::OkStatus();
}

}  // namespace matspec
