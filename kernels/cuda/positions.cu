// Device-side position fill (see positions_cuda.h).
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/positions_cuda.h"

namespace matspec {
namespace {

__global__ void FillPositionsKernel(int64_t start, int64_t t, int64_t* positions) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < t) positions[i] = start + i;
}

__global__ void RopePositionsKernel(const int64_t* d_past, int64_t offset, int64_t t, int64_t* positions) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < t) positions[i] = *d_past + offset + i;
}

constexpr int kThreads = 128;

}  // namespace

absl::Status FillPositionsCuda(int64_t start, int64_t t, int64_t* positions, cudaStream_t stream) {
  if (t < 0 || start < 0 || t > INT32_MAX) return absl::InvalidArgumentError("FillPositionsCuda: bad start or t");
  if (t == 0) return absl::OkStatus();
  if (positions == nullptr) return absl::InvalidArgumentError("FillPositionsCuda: positions is null");
  FillPositionsKernel<<<static_cast<unsigned>((t + kThreads - 1) / kThreads), kThreads, 0, stream>>>(start, t,
                                                                                                     positions);
  CUDA_RETURN_IF_ERROR(cudaGetLastError());
  return absl::OkStatus();
}

absl::Status RopePositionsCuda(const int64_t* d_past, int64_t offset, int64_t t, int64_t* positions,
                               cudaStream_t stream) {
  if (t < 0 || t > INT32_MAX) return absl::InvalidArgumentError("RopePositionsCuda: t < 0 or > INT32_MAX");
  if (t == 0) return absl::OkStatus();
  if (d_past == nullptr) return absl::InvalidArgumentError("RopePositionsCuda: d_past is null");
  if (positions == nullptr) return absl::InvalidArgumentError("RopePositionsCuda: positions is null");
  RopePositionsKernel<<<static_cast<unsigned>((t + kThreads - 1) / kThreads), kThreads, 0, stream>>>(
      d_past, offset, t, positions);
  CUDA_RETURN_IF_ERROR(cudaGetLastError());
  return absl::OkStatus();
}

}  // namespace matspec
