// CUDA attention of T new query tokens over a KV cache: the contract of
// kernels/attention.h (causal among the new tokens, grouped-query heads,
// optional soft-cap and sliding window) on device memory, for T = 1 (decode and
// draft steps), T = k+1 (verification) and prefill alike.
//
// Method: each (token, head) pair is one block that walks its visible cache
// slots in tiles with an online softmax (running max and sum, rescaled
// accumulators). When there are too few pairs to fill the GPU (decode), the
// visible range is also split across blocks ("flash-decoding") and a second
// kernel merges the partial results. f32 throughout; differences from the CPU
// come from summation order and expf/tanhf ulps only.
//
// Asynchronous on `stream`; allocates nothing (split partials live in the
// workspace, whose size does not depend on the cache length, so one workspace
// serves every step of a generation).
#ifndef MATSPEC_KERNELS_CUDA_ATTENTION_CUDA_H_
#define MATSPEC_KERNELS_CUDA_ATTENTION_CUDA_H_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "kernels/attention.h"
#include "kernels/cuda/cuda_context.h"

namespace matspec {

// Largest head_dim AttentionCuda supports.
inline constexpr int64_t kAttentionCudaMaxHeadDim = 1024;

// Workspace bytes AttentionCuda needs for t new tokens; independent of the
// cache length. Needs no device.
size_t AttentionCudaWorkspaceBytes(int64_t t, int64_t num_heads, int64_t head_dim);

// p.q, p.k_cache, p.v_cache, p.out: device memory with the shapes and strides of
// AttentionParams; p.scratch is ignored (scratch comes from `workspace`).
// InvalidArgument for inconsistent parameters, head_dim > 1024 or a workspace
// smaller than AttentionCudaWorkspaceBytes.
absl::Status AttentionCuda(const AttentionParams& p, CudaWorkspace workspace, cudaStream_t stream);

}  // namespace matspec

#endif  // MATSPEC_KERNELS_CUDA_ATTENTION_CUDA_H_
