// CUDA RoPE: one block per (token, head); each thread owns rotation pairs and
// computes their cos/sin itself (recomputed per head: the f64 units are idle
// anyway, and a decode step then runs num_heads blocks instead of one).
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/rope_cuda.h"

namespace matspec {
namespace {

constexpr int kThreads = 64;

__global__ void RopeKernel(float* x, int64_t row_stride, int64_t num_heads, int64_t head_dim,
                           const int64_t* positions, double theta) {
  const int64_t j = blockIdx.x;
  const int64_t h = blockIdx.y;
  const int64_t half = head_dim / 2;
  float* row = x + j * row_stride;
  const float pos = static_cast<float>(positions[j]);
  for (int64_t i = threadIdx.x; i < half; i += kThreads) {
    const float exponent = __fdiv_rn(static_cast<float>(2 * i), static_cast<float>(head_dim));
    const float powed = __double2float_rn(pow(theta, static_cast<double>(exponent)));
    const float inv_freq = __double2float_rn(1.0 / static_cast<double>(powed));
    const float angle = __fmul_rn(pos, inv_freq);
    const float c = __double2float_rn(cos(static_cast<double>(angle)));
    const float s = __double2float_rn(sin(static_cast<double>(angle)));
    float* lo = row + h * head_dim;
    const float a = lo[i], b = lo[i + half];
    lo[i] = __fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s));
    lo[i + half] = __fadd_rn(__fmul_rn(b, c), __fmul_rn(a, s));
  }
}

}  // namespace

absl::Status ApplyRopeCuda(const RopeParams& p, cudaStream_t stream) {
  if (p.t < 0 || p.t > INT32_MAX || p.num_heads < 0 || p.head_dim < 0 || p.head_dim % 2 != 0) {
    return absl::InvalidArgumentError("ApplyRopeCuda: bad t, num_heads or head_dim (must be even)");
  }
  if (p.t == 0 || p.num_heads == 0 || p.head_dim == 0) return absl::OkStatus();
  if (p.x == nullptr || p.positions == nullptr || p.row_stride < p.num_heads * p.head_dim) {
    return absl::InvalidArgumentError("ApplyRopeCuda: null pointer or row_stride too small");
  }
  if (p.num_heads > 65535) return absl::InvalidArgumentError("ApplyRopeCuda: more than 65535 heads");
  const dim3 grid(static_cast<unsigned>(p.t), static_cast<unsigned>(p.num_heads));
  RopeKernel<<<grid, kThreads, 0, stream>>>(p.x, p.row_stride, p.num_heads, p.head_dim,
                                                                  p.positions, p.theta);
  CUDA_RETURN_IF_ERROR(cudaGetLastError());
  return absl::OkStatus();
}

}  // namespace matspec
