// Two call-site shorthands over the kernels, shared by every architecture's
// forward pass (llama_model.cc, gemma3n_*.cc): a linear layer and an RMSNorm.
#ifndef MATSPEC_ENGINE_LAYER_OPS_H_
#define MATSPEC_ENGINE_LAYER_OPS_H_

#include <cstdint>

#include "kernels/cpu_context.h"
#include "kernels/matmul.h"
#include "kernels/rms_norm.h"
#include "kernels/tensor_view.h"

namespace matspec::layer_ops {

// y[t, w.rows] (+)= x[t, w.cols] w^T.
inline void Linear(const CpuContext& ctx, const float* x, int64_t x_ld, int64_t t, const MatrixView& w, float* y,
                   int64_t y_ld, bool accumulate) {
  MatMulParams p;
  p.x = x;
  p.x_ld = x_ld;
  p.t = t;
  p.w = w;
  p.y = y;
  p.y_ld = y_ld;
  p.accumulate = accumulate;
  MatMul(ctx, p);
}

// RMSNorm of `rows` rows of `dim` (x̂·w; a null weight means scale 1).
inline void Norm(const float* x, const VectorView& w, double eps, int64_t rows, int64_t dim, float* out) {
  RmsNormParams p;
  p.x = x;
  p.weight = w;
  p.eps = static_cast<float>(eps);
  p.rows = rows;
  p.dim = dim;
  p.out = out;
  RmsNorm(p);
}

}  // namespace matspec::layer_ops

#endif  // MATSPEC_ENGINE_LAYER_OPS_H_
