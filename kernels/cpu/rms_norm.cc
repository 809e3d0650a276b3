// CPU RMSNorm: one pass for the mean square (accumulated in f64, so the result
// does not depend on how the sum is split), one pass to scale. The order of the
// final products follows Hugging Face: (x * rsqrt(ms + eps)) * weight.
#include "kernels/rms_norm.h"

#include <cmath>
#include <cstdint>

namespace matspec {
namespace {

template <DType D>
void NormRows(const RmsNormParams& p) {
  for (int64_t r = 0; r < p.rows; ++r) {
    const float* x = p.x + r * p.dim;
    float* out = p.out + r * p.dim;
    double ss = 0.0;
    for (int64_t i = 0; i < p.dim; ++i) ss += static_cast<double>(x[i]) * x[i];
    const float mean_square = p.dim > 0 ? static_cast<float>(ss / static_cast<double>(p.dim)) : 0.f;
    const float inv = 1.f / std::sqrt(mean_square + p.eps);
    if (p.weight.data == nullptr) {
      for (int64_t i = 0; i < p.dim; ++i) out[i] = x[i] * inv;
    } else {
      for (int64_t i = 0; i < p.dim; ++i) {
        out[i] = (x[i] * inv) * (LoadAsF32(p.weight.data, D, i) + p.weight_offset);
      }
    }
  }
}

}  // namespace

void RmsNorm(const RmsNormParams& p) {
  switch (p.weight.dtype) {
    case DType::kBF16: NormRows<DType::kBF16>(p); return;
    case DType::kF16: NormRows<DType::kF16>(p); return;
    case DType::kF32: NormRows<DType::kF32>(p); return;
    case DType::kQ8:
    case DType::kQ4: return;  // vectors are never quantized (the WeightStore keeps them dense)
  }
}

}  // namespace matspec
