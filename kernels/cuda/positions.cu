// Device-side position fill (see positions_cuda.h).
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/positions_cuda.h"

namespace matspec {
namespace {

__global__ void FillPositionsKernel(int64_t start, int64_t t, int64_t* positions) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < t) positions[i] = start + i;
}

}  // namespace

absl::Status FillPositionsCuda(int64_t start, int64_t t, int64_t* positions, cudaStream_t stream) {
  if (t < 0 || start < 0 || t > INT32_MAX) return absl::InvalidArgumentError("FillPositionsCuda: bad start or t");
  if (t == 0) return absl::OkStatus();
  if (positions == nullptr) return absl::InvalidArgumentError("FillPositionsCuda: positions is null");
  constexpr int kThreads = 128;
  FillPositionsKernel<<<static_cast<unsigned>((t + kThreads - 1) / kThreads), kThreads, 0, stream>>>(start, t,
                                                                                                     positions);
  CUDA_RETURN_IF_ERROR(cudaGetLastError());
  return absl::OkStatus();
}

}  // namespace matspec
