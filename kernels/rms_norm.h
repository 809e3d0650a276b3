// RMSNorm over the last dimension:
//   out[t, i] = x[t, i] / sqrt(mean_i(x[t, :]^2) + eps) * (weight[i] + weight_offset)
// weight_offset is 0 for llama; models whose stored scale is "w - 1" pass 1.
// A null weight (weight.data == nullptr) means scale 1 (Gemma 3n's v-norm).
// out may alias x.
#ifndef MATSPEC_KERNELS_RMS_NORM_H_
#define MATSPEC_KERNELS_RMS_NORM_H_

#include <cstdint>

#include "kernels/tensor_view.h"

namespace matspec {

struct RmsNormParams {
  const float* x = nullptr;  // [rows, dim] f32
  VectorView weight;         // [dim] any dtype, or data == nullptr for no scale
  float weight_offset = 0.f;
  float eps = 1e-6f;
  int64_t rows = 0;
  int64_t dim = 0;
  float* out = nullptr;      // [rows, dim] f32, may equal x
};

void RmsNorm(const RmsNormParams& p);

}  // namespace matspec

#endif  // MATSPEC_KERNELS_RMS_NORM_H_
