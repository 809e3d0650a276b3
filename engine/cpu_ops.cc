#include "engine/cpu_ops.h"

#include <cstring>

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

}  // namespace matspec
