// Absolute token positions for RoPE, written on the device so that a forward
// pass needs no host-to-device copy: positions[i] = start + i for i < t.
// RopePositionsCuda takes the start from device memory instead (a counter the
// step advances on the device), so a step captured once in a CUDA graph gets
// the right positions at every replay. Asynchronous on `stream`; allocates
// nothing.
#ifndef MATSPEC_KERNELS_CUDA_POSITIONS_CUDA_H_
#define MATSPEC_KERNELS_CUDA_POSITIONS_CUDA_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"

namespace matspec {

// positions: [t] int64 device memory. InvalidArgument for t < 0, start < 0 or a
// null pointer with t > 0.
absl::Status FillPositionsCuda(int64_t start, int64_t t, int64_t* positions, cudaStream_t stream);

// positions[i] = *d_past + offset + i for i < t, with *d_past (one int64 in
// device memory) read when the kernel runs. positions: [t] int64 device memory.
// offset may be negative (e.g. a counter already advanced past the new tokens);
// the caller keeps *d_past + offset >= 0. InvalidArgument for t < 0 (or
// > INT32_MAX) or a null pointer with t > 0.
absl::Status RopePositionsCuda(const int64_t* d_past, int64_t offset, int64_t t, int64_t* positions,
                               cudaStream_t stream);

}  // namespace matspec

#endif  // MATSPEC_KERNELS_CUDA_POSITIONS_CUDA_H_
