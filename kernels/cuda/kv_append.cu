// KV append at a device offset and the device counter (see kv_append_cuda.h).
#include <cstdint>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/kv_append_cuda.h"

namespace matspec {
namespace {

constexpr int kThreads = 256;

// Grid-stride over the t * row_floats copied floats.
__global__ void KvAppendKernel(const float* rows, int64_t rows_stride, int64_t t, int64_t row_floats,
                               const int64_t* d_past, float* cache) {
  const int64_t past = *d_past;
  if (past < 0) return;
  const int64_t n = t * row_floats;
  float* dst = cache + past * row_floats;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < n;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = e / row_floats;
    const int64_t c = e - i * row_floats;
    dst[e] = rows[i * rows_stride + c];
  }
}

__global__ void AddToCounterKernel(int64_t* counter, int64_t delta) { *counter += delta; }
__global__ void SetCounterKernel(int64_t* counter, int64_t value) { *counter = value; }

}  // namespace

absl::Status KvAppendCuda(const float* rows, int64_t rows_stride, int64_t t, int64_t row_floats,
                          const int64_t* d_past, float* cache, cudaStream_t stream) {
  if (t < 0) return absl::InvalidArgumentError("KvAppendCuda: t < 0");
  if (row_floats < 0) return absl::InvalidArgumentError("KvAppendCuda: row_floats < 0");
  if (rows_stride < row_floats) return absl::InvalidArgumentError("KvAppendCuda: rows_stride < row_floats");
  if (t == 0 || row_floats == 0) return absl::OkStatus();
  if (t > INT64_MAX / rows_stride) {
    return absl::InvalidArgumentError("KvAppendCuda: t * rows_stride overflows");
  }
  if (rows == nullptr) return absl::InvalidArgumentError("KvAppendCuda: rows is null");
  if (d_past == nullptr) return absl::InvalidArgumentError("KvAppendCuda: d_past is null");
  if (cache == nullptr) return absl::InvalidArgumentError("KvAppendCuda: cache is null");
  KvAppendKernel<<<cuda_detail::GridFor(t * row_floats, kThreads), kThreads, 0, stream>>>(
      rows, rows_stride, t, row_floats, d_past, cache);
  CUDA_RETURN_IF_ERROR(cudaGetLastError());
  return absl::OkStatus();
}

absl::Status AddToCounterCuda(int64_t* d_counter, int64_t delta, cudaStream_t stream) {
  if (d_counter == nullptr) return absl::InvalidArgumentError("AddToCounterCuda: d_counter is null");
  AddToCounterKernel<<<1, 1, 0, stream>>>(d_counter, delta);
  CUDA_RETURN_IF_ERROR(cudaGetLastError());
  return absl::OkStatus();
}

absl::Status SetCounterCuda(int64_t* d_counter, int64_t value, cudaStream_t stream) {
  if (d_counter == nullptr) return absl::InvalidArgumentError("SetCounterCuda: d_counter is null");
  SetCounterKernel<<<1, 1, 0, stream>>>(d_counter, value);
  CUDA_RETURN_IF_ERROR(cudaGetLastError());
  return absl::OkStatus();
}

}  // namespace matspec
