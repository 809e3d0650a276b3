// Call-site shorthands over the kernels, shared by every architecture's
// forward pass (llama_model.cc, gemma3n_*.cc): a linear layer, the LM head of
// a slice and an RMSNorm.
#ifndef MATSPEC_ENGINE_LAYER_OPS_H_
#define MATSPEC_ENGINE_LAYER_OPS_H_

#include <cstdint>

#include "engine/slice_view.h"
#include "kernels/cpu_context.h"
#include "kernels/logits.h"
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

// logits[rows, vocab] = x[rows, hidden] head^T over the tokens the slice
// scores (SliceView::head_ids or its first head_rows ids); the other logits
// are -inf.
inline void HeadLogits(const CpuContext& ctx, const float* x, int64_t hidden, int64_t rows, const MatrixView& head,
                       const SliceView& slice, int64_t vocab, float* logits) {
  MatMulParams p{x, hidden, rows, head, logits, vocab, false};
  if (slice.head_ids) {
    MaskLogitsTail(logits, rows, vocab, 0);
    p.row_ids = slice.head_ids->data();
    p.num_row_ids = static_cast<int64_t>(slice.head_ids->size());
    MatMul(ctx, p);
    return;
  }
  const int64_t scored = HeadRows(slice, vocab);
  p.w = head.FirstRows(scored);
  MatMul(ctx, p);
  MaskLogitsTail(logits, rows, vocab, scored);
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
