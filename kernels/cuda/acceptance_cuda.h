// Acceptance of drafted tokens on the GPU: the rules of verify/acceptance.h
// (greedy match against argmax p; lossless rejection sampling with the residual
// max(0, p - q) and the bonus token from p_{k+1}) computed from device-resident
// q, p and uniforms, so a speculation round needs no host round-trip until the
// caller copies the small result back (the one D2H sync of a round).
//
// Randomness is an input: the caller fills the uniform buffers with the same
// counter-based draws the CPU path uses (engine/random.h), and both paths then
// accept the same tokens for the same seed. The decisions use the CPU's f64
// comparisons on the same f32 probabilities; the residual / bonus draw uses
// SampleFromWeightsCuda (see logits_cuda.h for its one caveat).
//
// A drafted token outside [0, vocab) counts as rejected (q = 0) instead of
// reading out of bounds. Asynchronous on `stream`; allocates nothing.
#ifndef MATSPEC_KERNELS_CUDA_ACCEPTANCE_CUDA_H_
#define MATSPEC_KERNELS_CUDA_ACCEPTANCE_CUDA_H_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/cuda/cuda_context.h"

namespace matspec {

// The outcome, written to device memory (mirrors AcceptanceResult).
struct AcceptanceCudaResult {
  int64_t accepted = 0;     // draft tokens kept, 0..k
  int32_t next_token = -1;  // the correction or bonus token
  int32_t reserved = 0;
};

struct AcceptanceCudaParams {
  bool greedy = true;                       // temperature 0 on both sides
  int64_t k = 0;                            // drafted tokens, >= 0
  int64_t vocab = 0;                        // >= 1
  const int32_t* draft_tokens = nullptr;    // [k] device
  const float* q = nullptr;                 // [k, vocab] device, processed draft probs (sampling only)
  const float* p = nullptr;                 // [k+1, vocab] device, processed target probs
  const double* accept_uniforms = nullptr;  // [k] device, in [0, 1) (sampling only)
  const double* final_uniforms = nullptr;   // [k+1] device, in [0, 1) (sampling only)
  AcceptanceCudaResult* result = nullptr;   // [1] device, written

  // Pointers present for the mode and sizes in range.
  bool Valid() const;
};

// Workspace for AcceptCuda; the sampling size asks CUB, so it needs the device.
absl::StatusOr<size_t> AcceptCudaWorkspaceBytes(int64_t k, int64_t vocab, bool greedy);

absl::Status AcceptCuda(const AcceptanceCudaParams& params, CudaWorkspace workspace, cudaStream_t stream);

}  // namespace matspec

#endif  // MATSPEC_KERNELS_CUDA_ACCEPTANCE_CUDA_H_
