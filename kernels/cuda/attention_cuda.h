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
//
// AttentionCudaDeviceLength is the same computation with `past` read from
// device memory by the kernels, so that one launch can be captured in a CUDA
// graph and replayed at successive positions (the graph bakes in kernel
// arguments, not the memory they point to).
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

// Workspace bytes AttentionCudaDeviceLength needs for t new tokens and a cache
// bound max_kv_len; never more than AttentionCudaWorkspaceBytes. Needs no device.
size_t AttentionCudaDeviceLengthWorkspaceBytes(int64_t t, int64_t num_heads, int64_t head_dim,
                                               int64_t max_kv_len);

// AttentionCuda with past = *d_past (one int64 in device memory), read when the
// kernels run; p.past is ignored. The grid and the split count are chosen from
// the host bound max_kv_len, which must satisfy *d_past + p.t <= max_kv_len at
// every run (the cache holds *d_past + p.t rows; the new tokens' k/v are
// already in it). Splits beyond the actual visible range produce empty partials
// that the merge ignores; the splits in use are those AttentionCuda picks for
// the actual past, so both launchers give the same bits. (A larger past is
// still computed correctly, just with fewer splits than ideal; a negative one
// gives NaN rows, never a read outside the cache.)
// InvalidArgument as AttentionCuda, and for a null d_past, max_kv_len < p.t or a
// workspace smaller than AttentionCudaDeviceLengthWorkspaceBytes.
absl::Status AttentionCudaDeviceLength(const AttentionParams& p, const int64_t* d_past, int64_t max_kv_len,
                                       CudaWorkspace workspace, cudaStream_t stream);

}  // namespace matspec

#endif  // MATSPEC_KERNELS_CUDA_ATTENTION_CUDA_H_
