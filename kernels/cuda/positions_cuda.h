// Absolute token positions for RoPE, written on the device so that a forward
// pass needs no host-to-device copy: positions[i] = start + i for i < t.
// Asynchronous on `stream`; allocates nothing.
#ifndef MATSPEC_KERNELS_CUDA_POSITIONS_CUDA_H_
#define MATSPEC_KERNELS_CUDA_POSITIONS_CUDA_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"

namespace matspec {

// positions: [t] int64 device memory. InvalidArgument for t < 0, start < 0 or a
// null pointer with t > 0.
absl::Status FillPositionsCuda(int64_t start, int64_t t, int64_t* positions, cudaStream_t stream);

}  // namespace matspec

#endif  // MATSPEC_KERNELS_CUDA_POSITIONS_CUDA_H_
