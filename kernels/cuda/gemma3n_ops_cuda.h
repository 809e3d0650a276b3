// The Gemma 3n-only ops of kernels/gemma3n_ops.h on device memory, with the
// same contracts and the CPU's arithmetic (f64 reductions rounded once, f32
// element-wise ops without FMA contraction), plus the two small products the
// AltUp router feeds. All pointers are device memory; each launcher is
// asynchronous on `stream`, allocates nothing and never synchronises, so a
// Gemma 3n forward can be queued (and captured) like the llama one. Invalid
// arguments (negative sizes, null pointers with work to do, strides shorter
// than widths, more than kAltUpMaxStreams streams) are InvalidArgument.
#ifndef MATSPEC_KERNELS_CUDA_GEMMA3N_OPS_CUDA_H_
#define MATSPEC_KERNELS_CUDA_GEMMA3N_OPS_CUDA_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"
#include "kernels/tensor_view.h"

namespace matspec {

// The most AltUp streams the launchers take (Gemma 3n uses 4).
inline constexpr int64_t kAltUpMaxStreams = 8;

// GaussianTopK: per row of the first n of each stride-apart row,
// cutoff = mean + pstd * multiplier, z = max(0, z - cutoff).
absl::Status GaussianTopKCuda(float* z, int64_t rows, int64_t n, int64_t stride, float multiplier,
                              cudaStream_t stream);

// MatchMagnitude: x = x * rms(target) / sqrt(max(meansq(x), floor)) per row.
absl::Status MatchMagnitudeCuda(float* x, const float* target, int64_t rows, int64_t dim, float floor,
                                cudaStream_t stream);

// AltUpPredict: pred_i = x_i + sum_j C[t][i][j] x_j. streams / pred: arrays of
// n_streams device pointers (host arrays, copied into the launch), each
// [rows, dim]; coefs: [rows, n_streams * n_streams] device memory.
absl::Status AltUpPredictCuda(const float* const* streams, const float* coefs, int64_t n_streams, int64_t rows,
                              int64_t dim, float* const* pred, cudaStream_t stream);

// AltUpCorrect in place: pred_i += k[t][i] * (y - pred_active) for every i,
// the innovation taken before the active stream is updated. k: [rows, n_streams].
absl::Status AltUpCorrectCuda(float* const* pred, const float* y, const float* k, int64_t n_streams,
                              int64_t active, int64_t rows, int64_t dim, cudaStream_t stream);

// The AltUp router's coefficients: modal[t, n] = tanh(raw[t, n]) (raw: the
// router product of the normalised, 1/D-scaled stream), then
// out[t, r] = sum_c w[r, c] * modal[t, c] (+ 1 when add_one) for r < out_n.
// w: [out_n, n] f32 device memory (prediction: out_n = n*n; correction: n).
// raw may equal modal_out (tanh in place); modal_out receives the tanh values.
absl::Status AltUpCoefsCuda(const float* raw, int64_t rows, int64_t n, const float* w, int64_t out_n, bool add_one,
                            float* modal_out, float* out, cudaStream_t stream);

// LogitSoftcap over n values: x = cap * tanh(x / cap), cap > 0; ±inf stays.
absl::Status LogitSoftcapCuda(float* x, int64_t n, float cap, cudaStream_t stream);

// Element-wise steps of the Gemma 3n layer, each the CPU loop's f32 ops:
// x[i] *= s for i < n.
absl::Status ScaleCuda(float* x, int64_t n, float s, cudaStream_t stream);
// out[i] = ((a[i] + b[i]) + c[i]) / divisor (c may be null: (a + b) / divisor).
absl::Status SumDivCuda(const float* a, const float* b, const float* c, int64_t n, float divisor, float* out,
                        cudaStream_t stream);
// out[r, e] = x[r, e] * scale[e] for a [rows, dim] x; scale: a device vector
// of dim elements in its dtype.
absl::Status ScaleColumnsCuda(const float* x, int64_t rows, int64_t dim, const VectorView& scale, float* out,
                              cudaStream_t stream);
// The per-layer input of layer l: pli[(j * layers + l) * p + i] =
// (proj[j * p + i] + emb[j * p + i]) * scale for j < t, i < p.
absl::Status PerLayerInputCuda(const float* proj, const float* emb, int64_t t, int64_t p, int64_t layers, int64_t l,
                               float scale, float* pli, cudaStream_t stream);
// out[i] = ids[i] < limit ? ids[i] : 0 (multimodal ids use row 0 of a smaller table).
absl::Status ClampIdsCuda(const int32_t* ids, int64_t t, int64_t limit, int32_t* out, cudaStream_t stream);

}  // namespace matspec

#endif  // MATSPEC_KERNELS_CUDA_GEMMA3N_OPS_CUDA_H_
