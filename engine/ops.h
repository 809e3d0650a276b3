// Ops: the one op interface an architecture's layer is written against. Each
// call runs one kernel of kernels/ with that kernel's params struct (the same
// struct on every device); an implementation runs it where the model lives:
// CpuOps (engine/cpu_ops.h: the CPU kernels with a sequence's CpuContext) or
// CudaOps (engine/cuda/cuda_ops.h: the CUDA launchers on a stream, scratch
// from a workspace). Pointers in the params are in that device's memory.
// Errors are values: a CUDA launch failure comes back as a Status; the CPU
// kernels cannot fail once the params are valid.
//
// The cache length of a forward is either known on the host (KvLength::past)
// or, for a GPU forward replayed as a CUDA graph, read from device memory when
// the kernels run (KvLength::d_past); only CudaOps accepts the second.
#ifndef MATSPEC_ENGINE_OPS_H_
#define MATSPEC_ENGINE_OPS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "kernels/activation.h"
#include "kernels/attention.h"
#include "kernels/gemma3n_ops.h"
#include "kernels/matmul.h"
#include "kernels/rms_norm.h"
#include "kernels/rope.h"
#include "kernels/tensor_view.h"

namespace matspec {

// Where a layer's cache ends before this forward's t new tokens.
struct KvLength {
  int64_t past = 0;                // host length (used when d_past is null)
  const int64_t* d_past = nullptr;  // device length, read when the kernels run
  int64_t capacity = 0;            // rows the cache holds (bounds *d_past + t)
};

class Ops {
 public:
  virtual ~Ops() = default;

  virtual absl::Status MatMul(const MatMulParams& p) const = 0;
  virtual absl::Status RmsNorm(const RmsNormParams& p) const = 0;
  virtual absl::Status Rope(const RopeParams& p) const = 0;
  virtual absl::Status GatedActivation(const GatedActivationParams& p) const = 0;
  // Attention of p.t new tokens whose k/v already sit in the cache at the
  // length `len` (p.past must equal len.past when the length is on the host).
  virtual absl::Status Attention(const AttentionParams& p, const KvLength& len) const = 0;
  // Copies t rows of `dim` floats (rows `rows_ld` apart) into `cache` (rows
  // `dim` apart) at row len.past or *len.d_past.
  virtual absl::Status KvAppend(const float* rows, int64_t rows_ld, int64_t t, int64_t dim, const KvLength& len,
                                float* cache) const = 0;

  // Copies `rows` rows of `cols` floats from src (rows src_ld apart) to dst
  // (rows dst_ld apart); the two do not overlap.
  virtual absl::Status CopyRows(const float* src, int64_t src_ld, int64_t rows, int64_t cols, float* dst,
                                int64_t dst_ld) const = 0;
  // out[t, D] = scale * table[ids[t]] (kernels/embedding.h); ids in the
  // device's memory, each a row of the table.
  virtual absl::Status EmbeddingGather(const MatrixView& table, const int32_t* ids, int64_t t, float scale,
                                       float* out) const = 0;
  // x[i] += y[i] for i < n.
  virtual absl::Status AddInPlace(float* x, const float* y, int64_t n) const = 0;
  // x[i] *= s for i < n.
  virtual absl::Status Scale(float* x, int64_t n, float s) const = 0;

  // The Gemma 3n ops (kernels/gemma3n_ops.h has the contracts; CUDA:
  // kernels/cuda/gemma3n_ops_cuda.h, the same arithmetic).
  virtual absl::Status GaussianTopK(float* z, int64_t rows, int64_t n, int64_t stride, float multiplier) const = 0;
  virtual absl::Status MatchMagnitude(float* x, const float* target, int64_t rows, int64_t dim,
                                      float floor) const = 0;
  virtual absl::Status AltUpPredict(const AltUpPredictParams& p) const = 0;
  virtual absl::Status AltUpCorrect(const AltUpCorrectParams& p) const = 0;
  virtual absl::Status AltUpCoefs(const AltUpCoefsParams& p) const = 0;
  // out = ((a + b) + c) / divisor element-wise (c may be null).
  virtual absl::Status SumDiv(const float* a, const float* b, const float* c, int64_t n, float divisor,
                              float* out) const = 0;
  // out[r, e] = x[r, e] * scale[e].
  virtual absl::Status ScaleColumns(const float* x, int64_t rows, int64_t dim, const VectorView& scale,
                                    float* out) const = 0;
  // pli[(j * layers + l) * p + i] = (proj[j * p + i] + emb[j * p + i]) * scale.
  virtual absl::Status PerLayerInput(const float* proj, const float* emb, int64_t t, int64_t p, int64_t layers,
                                     int64_t l, float scale, float* pli) const = 0;
  // out[i] = ids[i] < limit ? ids[i] : 0.
  virtual absl::Status ClampIds(const int32_t* ids, int64_t t, int64_t limit, int32_t* out) const = 0;

  // y[t, w.rows] (+)= x[t, w.cols] w^T: MatMul with its params named.
  absl::Status Linear(const float* x, int64_t x_ld, int64_t t, const MatrixView& w, float* y, int64_t y_ld,
                      bool accumulate) const {
    return MatMul(MatMulParams{.x = x, .x_ld = x_ld, .t = t, .w = w, .y = y, .y_ld = y_ld, .accumulate = accumulate});
  }
  // RMSNorm of `rows` rows of `dim` (x̂·w; a null weight means scale 1).
  absl::Status Norm(const float* x, const VectorView& w, double eps, int64_t rows, int64_t dim, float* out) const {
    return RmsNorm(RmsNormParams{
        .x = x, .weight = w, .eps = static_cast<float>(eps), .rows = rows, .dim = dim, .out = out});
  }
};

}  // namespace matspec

#endif  // MATSPEC_ENGINE_OPS_H_
