// CPU ops only Gemma 3n needs (spec gemma3n_text_spec.md §3-§5): the AltUp
// predict/correct mixing of the N residual streams, the magnitude matching
// that creates and collapses those streams, Gaussian top-k activation
// sparsity, and the final logit soft-cap. All activations are f32.
#ifndef MATSPEC_KERNELS_GEMMA3N_OPS_H_
#define MATSPEC_KERNELS_GEMMA3N_OPS_H_

#include <cstdint>

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

// x = cap * tanh(x / cap) over n values (cap > 0); ±inf stays as it is (the
// masked logits of a reduced-vocabulary head).
void LogitSoftcap(float* x, int64_t n, float cap);

}  // namespace matspec

#endif  // MATSPEC_KERNELS_GEMMA3N_OPS_H_
