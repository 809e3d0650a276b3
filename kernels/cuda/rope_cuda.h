// CUDA rotary position embedding, the contract of kernels/rope.h on device
// memory. The angle is formed exactly as the CPU forms it (f32 inv_freq from an
// f64 pow, f32 angle, cos/sin in f64) and the rotation is written without fused
// multiply-adds, so results match the CPU to within an ulp. Asynchronous on
// `stream`; allocates nothing.
#ifndef MATSPEC_KERNELS_CUDA_ROPE_CUDA_H_
#define MATSPEC_KERNELS_CUDA_ROPE_CUDA_H_

#include <cuda_runtime_api.h>

#include "absl/status/status.h"
#include "kernels/rope.h"

namespace matspec {

// p.x: [t, num_heads, head_dim] f32 device memory, rows p.row_stride apart,
// rotated in place. p.positions: [t] int64 in device memory. head_dim even.
// InvalidArgument for inconsistent parameters.
absl::Status ApplyRopeCuda(const RopeParams& p, cudaStream_t stream);

}  // namespace matspec

#endif  // MATSPEC_KERNELS_CUDA_ROPE_CUDA_H_
