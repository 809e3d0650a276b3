// CUDA RMSNorm: one block per row; f64 block reduction of the squares (CUB),
// then every thread scales its strided elements.
#include <cub/block/block_reduce.cuh>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/rms_norm_cuda.h"

namespace matspec {
namespace {

constexpr int kThreads = 256;

// kHasWeight false: scale 1 (no weight tensor). D is unused then.
template <DType D, bool kHasWeight>
__global__ void RmsNormKernel(const float* x, const void* weight, float weight_offset, float eps, int64_t dim,
                              float* out) {
  using BlockReduce = cub::BlockReduce<double, kThreads>;
  __shared__ typename BlockReduce::TempStorage temp;
  __shared__ float inv_shared;

  const int64_t r = blockIdx.x;
  const float* xr = x + r * dim;
  float* outr = out + r * dim;
  double ss = 0.0;
  for (int64_t i = threadIdx.x; i < dim; i += kThreads) {
    const double v = xr[i];
    ss += v * v;
  }
  const double total = BlockReduce(temp).Sum(ss);
  if (threadIdx.x == 0) {
    const float mean_square = dim > 0 ? static_cast<float>(total / static_cast<double>(dim)) : 0.f;
    inv_shared = 1.f / sqrtf(mean_square + eps);
  }
  __syncthreads();
  const float inv = inv_shared;
  for (int64_t i = threadIdx.x; i < dim; i += kThreads) {
    const float scaled = __fmul_rn(xr[i], inv);
    if constexpr (kHasWeight) {
      outr[i] = __fmul_rn(scaled, __fadd_rn(cuda_detail::LoadF32<D>(weight, i), weight_offset));
    } else {
      outr[i] = scaled;
    }
  }
}

}  // namespace

absl::Status RmsNormCuda(const RmsNormParams& p, cudaStream_t stream) {
  if (p.rows < 0 || p.rows > INT32_MAX || p.dim < 0) {
    return absl::InvalidArgumentError("RmsNormCuda: bad rows or dim");
  }
  if (p.rows == 0) return absl::OkStatus();
  if (p.x == nullptr || p.out == nullptr) return absl::InvalidArgumentError("RmsNormCuda: null x/out");
  const bool has_weight = p.weight.data != nullptr;
  if (has_weight && (p.weight.device != Device::kCuda || p.weight.size < p.dim)) {
    return absl::InvalidArgumentError("RmsNormCuda: weight is not a device vector of dim elements");
  }
  const unsigned grid = static_cast<unsigned>(p.rows);
  if (has_weight) {
    cuda_detail::DispatchDType(p.weight.dtype, [&]<DType D>() {
      RmsNormKernel<D, true>
          <<<grid, kThreads, 0, stream>>>(p.x, p.weight.data, p.weight_offset, p.eps, p.dim, p.out);
    });
  } else {
    RmsNormKernel<DType::kF32, false><<<grid, kThreads, 0, stream>>>(p.x, nullptr, 0.f, p.eps, p.dim, p.out);
  }
  CUDA_RETURN_IF_ERROR(cudaGetLastError());
  return absl::OkStatus();
}

}  // namespace matspec
