// Device-offset KV cache writes and the device counter they read, for a step
// captured once in a CUDA graph and replayed at successive positions: a graph
// bakes in kernel arguments, so the write offset (the cache length `past`) must
// live in device memory and advance there. A captured step is
//   RopePositionsCuda(d_past) -> ... -> KvAppendCuda(d_past) ->
//   AttentionCudaDeviceLength(d_past) -> ... -> AddToCounterCuda(d_past, t).
// Asynchronous on `stream`; allocates nothing, never synchronises.
#ifndef MATSPEC_KERNELS_CUDA_KV_APPEND_CUDA_H_
#define MATSPEC_KERNELS_CUDA_KV_APPEND_CUDA_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"

namespace matspec {

// cache[(*d_past + i) * row_floats + c] = rows[i * rows_stride + c] for i < t,
// c < row_floats, with *d_past (one int64 in device memory) read when the kernel
// runs. rows: [t, row_floats] f32 device memory, rows_stride >= row_floats
// apart; cache: contiguous rows of row_floats f32 in device memory, which the
// caller sizes for *d_past + t rows (the kernel cannot check it). A negative
// *d_past writes nothing. InvalidArgument for t < 0, row_floats < 0,
// rows_stride < row_floats, t * rows_stride overflowing int64 or a null pointer
// with t * row_floats > 0.
absl::Status KvAppendCuda(const float* rows, int64_t rows_stride, int64_t t, int64_t row_floats,
                          const int64_t* d_past, float* cache, cudaStream_t stream);

// *d_counter += delta, by one thread on `stream` (so it orders after the
// step's reads of the counter). InvalidArgument for a null d_counter.
absl::Status AddToCounterCuda(int64_t* d_counter, int64_t delta, cudaStream_t stream);

// *d_counter = value, by one thread on `stream` (ordered with the stream's
// other work, unlike a host copy from pageable memory; the value is a kernel
// argument, so no staging buffer is needed). InvalidArgument for a null d_counter.
absl::Status SetCounterCuda(int64_t* d_counter, int64_t value, cudaStream_t stream);

}  // namespace matspec

#endif  // MATSPEC_KERNELS_CUDA_KV_APPEND_CUDA_H_
