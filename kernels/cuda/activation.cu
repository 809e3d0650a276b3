// CUDA element-wise kernels: gated activation (SiLU, GELU-tanh) and x += y.
#include "kernels/cuda/activation_cuda.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_status.h"

namespace matspec {
namespace {

constexpr int kThreads = 256;

struct SiluOp {
  __device__ float operator()(float g) const { return __fdiv_rn(g, __fadd_rn(1.f, expf(-g))); }
};

// gelu_pytorch_tanh, in the CPU's operation order.
struct GeluTanhOp {
  __device__ float operator()(float g) const {
    constexpr float kSqrt2OverPi = 0.7978845608028654f;
    const float cube = __fmul_rn(__fmul_rn(__fmul_rn(0.044715f, g), g), g);
    const float inner = __fmul_rn(kSqrt2OverPi, __fadd_rn(g, cube));
    return __fmul_rn(__fmul_rn(0.5f, g), __fadd_rn(1.f, tanhf(inner)));
  }
};

template <typename Op>
__global__ void GatedKernel(const float* gate, const float* up, float* out, int64_t rows, int64_t n,
                            int64_t stride) {
  const Op act;
  const int64_t total = rows * n;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = idx / n;
    const int64_t o = r * stride + (idx - r * n);
    out[o] = __fmul_rn(act(gate[o]), up[o]);
  }
}

__global__ void AddKernel(float* x, const float* y, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    x[i] = __fadd_rn(x[i], y[i]);
  }
}

}  // namespace

absl::Status GatedActivationCuda(const GatedActivationParams& p, cudaStream_t stream) {
  if (p.rows < 0 || p.n < 0 || p.stride < p.n) {
    return absl::InvalidArgumentError("GatedActivationCuda: bad rows, n or stride");
  }
  if (p.rows == 0 || p.n == 0) return absl::OkStatus();
  if (p.gate == nullptr || p.up == nullptr || p.out == nullptr) {
    return absl::InvalidArgumentError("GatedActivationCuda: null pointer");
  }
  const unsigned grid = cuda_detail::GridFor(p.rows * p.n, kThreads);
  switch (p.act) {
    case Activation::kSilu:
      GatedKernel<SiluOp><<<grid, kThreads, 0, stream>>>(p.gate, p.up, p.out, p.rows, p.n, p.stride);
      break;
    case Activation::kGeluTanh:
      GatedKernel<GeluTanhOp><<<grid, kThreads, 0, stream>>>(p.gate, p.up, p.out, p.rows, p.n, p.stride);
      break;
    default:
      return absl::InvalidArgumentError("GatedActivationCuda: unknown activation");
  }
  CUDA_RETURN_IF_ERROR(cudaGetLastError());
  return absl::OkStatus();
}

absl::Status AddInPlaceCuda(float* x, const float* y, int64_t n, cudaStream_t stream) {
  if (n < 0) return absl::InvalidArgumentError("AddInPlaceCuda: negative n");
  if (n == 0) return absl::OkStatus();
  if (x == nullptr || y == nullptr) return absl::InvalidArgumentError("AddInPlaceCuda: null pointer");
  AddKernel<<<cuda_detail::GridFor(n, kThreads), kThreads, 0, stream>>>(x, y, n);
  CUDA_RETURN_IF_ERROR(cudaGetLastError());
  return absl::OkStatus();
}

}  // namespace matspec
