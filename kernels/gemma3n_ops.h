// CPU ops only Gemma 3n needs (spec gemma3n_text_spec.md §3-§5): the AltUp
// predict/correct mixing of the N residual streams and the router
// coefficients that drive it, the magnitude matching that creates and
// collapses those streams, Gaussian top-k activation sparsity, the
// element-wise steps of the layer and of the per-layer inputs, and the final
// logit soft-cap. All activations are f32; element-wise ops are plain f32
// arithmetic in the order written (the CUDA versions, gemma3n_ops_cuda.h,
// repeat it). The Ops interface (engine/ops.h) runs them by their params.
#ifndef MATSPEC_KERNELS_GEMMA3N_OPS_H_
#define MATSPEC_KERNELS_GEMMA3N_OPS_H_

#include <cstdint>

#include "kernels/tensor_view.h"

namespace matspec {

// Standard-normal quantile Φ⁻¹(p) for p in (0, 1), accurate to ~1e-15
// (Acklam's rational approximation refined by one Halley step).
double NormalQuantile(double p);

// Gaussian top-k sparsity, in place over the first n elements of each row:
//   cutoff = mean(z) + pstd(z) * multiplier,  z = max(0, z - cutoff)
// with the POPULATION std; multiplier = (float)NormalQuantile(sparsity).
void GaussianTopK(float* z, int64_t rows, int64_t n, int64_t stride, float multiplier);

// The floor of MatchMagnitude in Gemma 3n's stream (un)embedding.
inline constexpr float kGemma3nMagnitudeFloor = 1e-5f;

// Rescales each row of x ([rows, dim]) so its RMS equals the RMS of the
// matching row of `target`: x = x * rms(target) / sqrt(max(meansq(x), floor)).
// The target RMS has no epsilon (HF Gemma 3n altup stream (un)embedding).
void MatchMagnitude(float* x, const float* target, int64_t rows, int64_t dim, float floor);

// AltUp predict for one token block. streams: n_streams arrays of [rows, dim];
// coefs: [rows, n_streams * n_streams] with coefs[t][i * n + j] = C[i][j].
// pred_i = x_i + Σ_j C[i][j] x_j, written to pred (same layout as streams).
void AltUpPredict(const float* const* streams, const float* coefs, int64_t n_streams, int64_t rows,
                  int64_t dim, float* const* pred);

// AltUp correct, in place on pred: out_i = pred_i + k[t][i] * (y - pred_active),
// with k: [rows, n_streams] (already including the +1).
void AltUpCorrect(float* const* pred, const float* y, const float* k, int64_t n_streams, int64_t active,
                  int64_t rows, int64_t dim);

// Params of the AltUp ops as the Ops interface (engine/ops.h) takes them:
// the arguments of AltUpPredict / AltUpCorrect above, in the memory of the
// device that runs them.
struct AltUpPredictParams {
  const float* const* streams = nullptr;  // n_streams pointers, each [rows, dim]
  const float* coefs = nullptr;           // [rows, n_streams * n_streams]
  int64_t n_streams = 0;
  int64_t rows = 0;
  int64_t dim = 0;
  float* const* pred = nullptr;  // n_streams pointers, each [rows, dim]
};
struct AltUpCorrectParams {
  float* const* pred = nullptr;  // n_streams pointers, each [rows, dim], updated in place
  const float* y = nullptr;      // [rows, dim] the layer's output
  const float* k = nullptr;      // [rows, n_streams], the +1 included
  int64_t n_streams = 0;
  int64_t active = 0;
  int64_t rows = 0;
  int64_t dim = 0;
};
// The router's coefficients: out[t, r] = sum_c w[r, c] * tanh(raw[t, c])
// (+ 1 when add_one), the sum in c order in f32. raw: [rows, n] router
// products; w: [out_n, n] f32 (prediction: out_n = n*n; correction: n).
// out: [rows, out_n], not aliasing raw.
struct AltUpCoefsParams {
  const float* raw = nullptr;
  int64_t rows = 0;
  int64_t n = 0;
  const float* w = nullptr;
  int64_t out_n = 0;
  bool add_one = false;
  float* out = nullptr;
};

void AltUpCoefs(const AltUpCoefsParams& p);

// x[i] *= s for i < n.
void Scale(float* x, int64_t n, float s);

// out[i] = ((a[i] + b[i]) + c[i]) / divisor for i < n; c may be null:
// (a[i] + b[i]) / divisor. out may alias a, b or c.
void SumDiv(const float* a, const float* b, const float* c, int64_t n, float divisor, float* out);

// out[r, e] = x[r, e] * scale[e] for a [rows, dim] x; scale: dim elements of
// any dtype (read as f32). out may alias x.
void ScaleColumns(const float* x, int64_t rows, int64_t dim, const VectorView& scale, float* out);

// The per-layer input of layer l: pli[(j * layers + l) * p + i] =
// (proj[j * p + i] + emb[j * p + i]) * scale for j < t, i < p.
void PerLayerInput(const float* proj, const float* emb, int64_t t, int64_t p, int64_t layers, int64_t l,
                   float scale, float* pli);

// out[i] = ids[i] < limit ? ids[i] : 0 for i < t (multimodal ids use row 0 of
// the smaller per-layer table).
void ClampIds(const int32_t* ids, int64_t t, int64_t limit, int32_t* out);

// x = cap * tanh(x / cap) over n values (cap > 0); ±inf stays as it is (the
// masked logits of a reduced-vocabulary head).
void LogitSoftcap(float* x, int64_t n, float cap);

}  // namespace matspec

#endif  // MATSPEC_KERNELS_GEMMA3N_OPS_H_
