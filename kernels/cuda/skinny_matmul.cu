// Skinny matmul for decode-sized t (see skinny_matmul_cuda.h).
#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/skinny_matmul_cuda.h"

namespace matspec {
namespace {

constexpr int kWarps = 4;
constexpr int kRows = 4;  // output rows per block

// Eight 16-bit weights (one 16-byte load) as f32.
template <DType D>
__device__ __forceinline__ void Unpack8(const uint4& v, float* f) {
  const uint32_t words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    if constexpr (D == DType::kBF16) {
      f[2 * i] = __uint_as_float(words[i] << 16);
      f[2 * i + 1] = __uint_as_float(words[i] & 0xffff0000u);
    } else {
      const __half2 h = *reinterpret_cast<const __half2*>(&words[i]);
      const float2 p = __half22float2(h);
      f[2 * i] = p.x;
      f[2 * i + 1] = p.y;
    }
  }
}

template <int T, DType D>
__global__ void __launch_bounds__(kWarps * 32)
    SkinnyKernel(const uint16_t* __restrict__ w, int64_t ld, int64_t n, int64_t k, const float* __restrict__ x,
                 int64_t x_ld, float* __restrict__ y, int64_t y_ld, bool accumulate,
                 const int32_t* __restrict__ row_ids) {
  __shared__ float partial[kWarps][kRows * T];
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int64_t row0 = static_cast<int64_t>(blockIdx.x) * kRows;
  const uint16_t* rows[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    const int64_t i = row0 + r < n ? row0 + r : row0;  // clamp: stay in bounds
    rows[r] = w + (row_ids != nullptr ? row_ids[i] : i) * ld;
  }

  float acc[kRows][T];
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
#pragma unroll
    for (int j = 0; j < T; ++j) acc[r][j] = 0.f;
  }

  // 16-byte chunks of the reduction dimension, split evenly over the warps.
  const int64_t chunks = k / 8;
  const int64_t per_warp = (chunks + kWarps - 1) / kWarps;
  const int64_t c_end = min(chunks, (warp + 1) * per_warp);
#pragma unroll 2
  for (int64_t c = warp * per_warp + lane; c < c_end; c += 32) {
    const int64_t e = c * 8;
    float wf[kRows][8];
#pragma unroll
    for (int r = 0; r < kRows; ++r) Unpack8<D>(__ldg(reinterpret_cast<const uint4*>(rows[r] + e)), wf[r]);
#pragma unroll
    for (int j = 0; j < T; ++j) {
      const float4 xa = *reinterpret_cast<const float4*>(x + j * x_ld + e);
      const float4 xb = *reinterpret_cast<const float4*>(x + j * x_ld + e + 4);
      const float xv[8] = {xa.x, xa.y, xa.z, xa.w, xb.x, xb.y, xb.z, xb.w};
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
#pragma unroll
        for (int i = 0; i < 8; ++i) acc[r][j] = fmaf(wf[r][i], xv[i], acc[r][j]);
      }
    }
  }
  // The last k % 8 elements, element by element, on the last warp.
  if (warp == kWarps - 1) {
    for (int64_t e = chunks * 8 + lane; e < k; e += 32) {
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        const float wv = cuda_detail::LoadF32<D>(rows[r], e);
#pragma unroll
        for (int j = 0; j < T; ++j) acc[r][j] = fmaf(wv, x[j * x_ld + e], acc[r][j]);
      }
    }
  }

#pragma unroll
  for (int r = 0; r < kRows; ++r) {
#pragma unroll
    for (int j = 0; j < T; ++j) {
      const float v = cuda_detail::WarpSum(acc[r][j]);
      if (lane == 0) partial[warp][r * T + j] = v;
    }
  }
  __syncthreads();
  for (int i = threadIdx.x; i < kRows * T; i += blockDim.x) {
    const int r = i / T;
    const int j = i - r * T;
    if (row0 + r >= n) continue;
    float s = 0.f;
#pragma unroll
    for (int q = 0; q < kWarps; ++q) s += partial[q][i];
    float* out = y + j * y_ld + (row_ids != nullptr ? row_ids[row0 + r] : row0 + r);
    *out = accumulate ? *out + s : s;
  }
}

template <int T, DType D>
void Launch(const MatMulParams& p, cudaStream_t stream) {
  const int64_t n = p.row_ids != nullptr ? p.num_row_ids : p.w.rows;
  const unsigned blocks = static_cast<unsigned>((n + kRows - 1) / kRows);
  SkinnyKernel<T, D><<<blocks, kWarps * 32, 0, stream>>>(static_cast<const uint16_t*>(p.w.data), p.w.ld, n,
                                                          p.w.cols, p.x, p.x_ld, p.y, p.y_ld, p.accumulate,
                                                          p.row_ids);
}

template <DType D, int T = 1>
void LaunchForT(const MatMulParams& p, cudaStream_t stream) {
  if constexpr (T <= kSkinnyMatMulMaxRows) {
    if (p.t == T) {
      Launch<T, D>(p, stream);
    } else {
      LaunchForT<D, T + 1>(p, stream);
    }
  }
}

bool Aligned16(const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; }

}  // namespace

bool SkinnyMatMulCudaApplies(const MatMulParams& p) {
  return p.t >= 1 && p.t <= kSkinnyMatMulMaxRows && p.w.device == Device::kCuda &&
         (p.w.dtype == DType::kBF16 || p.w.dtype == DType::kF16) && Aligned16(p.w.data) && p.w.ld % 8 == 0 &&
         Aligned16(p.x) && p.x_ld % 4 == 0 && p.w.rows <= INT32_MAX * int64_t{kRows} &&
         p.num_row_ids <= INT32_MAX * int64_t{kRows};
}

absl::Status SkinnyMatMulCuda(const MatMulParams& p, cudaStream_t stream) {
  if (!p.Valid() || !SkinnyMatMulCudaApplies(p)) {
    return absl::InvalidArgumentError("SkinnyMatMulCuda: parameters outside its contract");
  }
  if (p.w.rows == 0 || (p.row_ids != nullptr && p.num_row_ids == 0)) return absl::OkStatus();
  if (p.w.dtype == DType::kBF16) {
    LaunchForT<DType::kBF16>(p, stream);
  } else {
    LaunchForT<DType::kF16>(p, stream);
  }
  CUDA_RETURN_IF_ERROR(cudaGetLastError());
  return absl::OkStatus();
}

}  // namespace matspec
