// CUDA logits processing and sampling, the contracts of kernels/logits.h on
// device memory, with the same semantics, order and tie rules:
//   Argmax           largest value, lowest index among equals (a NaN is never
//                    the maximum, except that x[0] = NaN gives 0, as the CPU's
//                    scan does).
//   ProcessLogits    greedy or non-finite max: one-hot at the argmax; otherwise
//                    softmax(logits / T) (weights expf((l - max) / T) summed in
//                    f64), then top-k, then top-p over the order "logit
//                    descending, lower id first" (a stable CUB radix sort on the
//                    logits, -0 folded into +0), renormalised; tokens outside
//                    the kept set get exactly 0.
//   SampleFromWeights inverse CDF over the positive weights with the f64
//                    cumulative sums of a CUB scan; -1 when no weight is positive;
//                    never a zero-weight token.
// The only differences from the CPU are expf ulps and f64 summation order, so
// probabilities agree to ~1e-6 relative and the kept set and sampled token agree
// unless a threshold falls within rounding distance of a cumulative sum.
// NaN logits other than the argmax rule above are outside the contract.
//
// All launchers are asynchronous on `stream`, allocate nothing and read their
// scalar inputs (the uniform of a draw) from device memory, so a whole
// speculation round can run without a host round-trip and be captured in a CUDA
// graph. Workspace sizes come from the *WorkspaceBytes queries; the ones that
// ask CUB need the device.
#ifndef MATSPEC_KERNELS_CUDA_LOGITS_CUDA_H_
#define MATSPEC_KERNELS_CUDA_LOGITS_CUDA_H_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/cuda/cuda_context.h"
#include "kernels/logits.h"

namespace matspec {

// Workspace for ArgmaxCuda over `rows` rows of n values. Needs no device.
size_t ArgmaxCudaWorkspaceBytes(int64_t rows, int64_t n);

// out[r] = Argmax(x + r * n, n) for r < rows. x: [rows, n] f32 device memory,
// n >= 1; out: [rows] int32 device memory.
absl::Status ArgmaxCuda(const float* x, int64_t rows, int64_t n, int32_t* out, CudaWorkspace workspace,
                        cudaStream_t stream);

// Workspace for ProcessLogitsCuda (CUB temporary storage included).
absl::StatusOr<size_t> ProcessLogitsCudaWorkspaceBytes(int64_t rows, int64_t vocab,
                                                       const SamplingConfig& cfg);

// probs[r, :] = ProcessLogits(logits[r, :]) for r < rows. logits, probs:
// [rows, vocab] f32 device memory, rows contiguous, not aliased; vocab >= 1.
absl::Status ProcessLogitsCuda(const float* logits, int64_t rows, int64_t vocab, const SamplingConfig& cfg,
                               float* probs, CudaWorkspace workspace, cudaStream_t stream);

// Workspace for SampleFromWeightsCuda over n weights.
absl::StatusOr<size_t> SampleFromWeightsCudaWorkspaceBytes(int64_t n);

// *out = SampleFromWeights(weights, n, *u). weights: [n] f32, u: one f64 in
// [0, 1), out: one int32; all device memory.
absl::Status SampleFromWeightsCuda(const float* weights, int64_t n, const double* u, int32_t* out,
                                   CudaWorkspace workspace, cudaStream_t stream);

// MaskLogitsTail on device memory: logits[r * vocab + v] = -inf for
// keep <= v < vocab, r < rows. InvalidArgument for negative sizes or a null
// pointer with work to do.
absl::Status MaskLogitsTailCuda(float* logits, int64_t rows, int64_t vocab, int64_t keep, cudaStream_t stream);

}  // namespace matspec

#endif  // MATSPEC_KERNELS_CUDA_LOGITS_CUDA_H_
