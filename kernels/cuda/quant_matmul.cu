// Quantized (q8, q4) matmul on the GPU: one warp per output row, token tiles
// of up to 16 rows of x (see quant_matmul_cuda.h for the contract and the
// arithmetic).
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/quant_matmul_cuda.h"
#include "kernels/cuda/quant_word_layout.h"

namespace matspec {
namespace {

constexpr int kWarpsPerBlock = 4;  // one output row per warp

template <int T, DType D>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    QuantKernel(const uint8_t* __restrict__ w, int64_t row_bytes, const uint16_t* __restrict__ scales,
                int64_t scale_ld, int64_t n, int64_t blocks, const float* __restrict__ x, int64_t x_ld,
                float* __restrict__ y, int64_t y_ld, bool accumulate, const int32_t* __restrict__ row_ids) {
  using L = QuantWordLayout<D>;
  const int64_t item = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  if (item >= n) return;  // the whole warp leaves together
  const int lane = threadIdx.x % 32;
  const int64_t row = row_ids != nullptr ? row_ids[item] : item;
  const uint8_t* wr = w + row * row_bytes;
  const uint16_t* sr = scales + row * scale_ld;
  const int sub = lane % L::kLanesPerBlock;

  float acc[T];
#pragma unroll
  for (int j = 0; j < T; ++j) acc[j] = 0.f;

  for (int64_t b = lane / L::kLanesPerBlock; b < blocks; b += L::kBlocksPerWarpStep) {
    const float d = __half2float(__ushort_as_half(__ldg(sr + b)));
    const uint32_t word = __ldg(reinterpret_cast<const uint32_t*>(wr + b * L::kBlockBytes + sub * 4));
    float q[L::kElementsPerWord];
    int col[L::kElementsPerWord];
    UnpackQuantWord<D>(word, sub, q, col);
    const float* xb = x + b * kQuantBlock;
#pragma unroll
    for (int j = 0; j < T; ++j) {
      float s = 0.f;
#pragma unroll
      for (int i = 0; i < L::kElementsPerWord; ++i) s = fmaf(q[i], xb[j * x_ld + col[i]], s);
      acc[j] = fmaf(d, s, acc[j]);
    }
  }

#pragma unroll
  for (int j = 0; j < T; ++j) {
    const float v = cuda_detail::WarpSum(acc[j]);
    if (lane == 0) {
      float* out = y + j * y_ld + row;
      *out = accumulate ? *out + v : v;
    }
  }
}

// One launch for a tile of `rows` (1..16) rows of x starting at x / y.
template <DType D, int T = 1>
void LaunchTile(const MatMulParams& p, int64_t rows, const float* x, float* y, int64_t n, unsigned grid,
                cudaStream_t stream) {
  if constexpr (T <= kQuantMatMulTileRows) {
    if (rows != T) {
      LaunchTile<D, T + 1>(p, rows, x, y, n, grid, stream);
      return;
    }
    QuantKernel<T, D><<<grid, kWarpsPerBlock * 32, 0, stream>>>(
        static_cast<const uint8_t*>(p.w.data), DTypeRowBytes(D, p.w.ld), p.w.scales, p.w.ld / kQuantBlock, n,
        p.w.cols / kQuantBlock, x, p.x_ld, y, p.y_ld, p.accumulate, p.row_ids);
  }
}

}  // namespace

absl::Status QuantMatMulCuda(const MatMulParams& p, cudaStream_t stream) {
  if (!p.Valid()) return absl::InvalidArgumentError("QuantMatMulCuda: invalid MatMulParams");
  if (!IsQuantized(p.w.dtype)) return absl::InvalidArgumentError("QuantMatMulCuda: weights are not q8 / q4");
  if (p.w.device != Device::kCuda) return absl::InvalidArgumentError("QuantMatMulCuda: weights are not on the GPU");
  if (reinterpret_cast<uintptr_t>(p.w.data) % 4 != 0) {
    return absl::InvalidArgumentError("QuantMatMulCuda: weight values are not 4-byte aligned");
  }
  const int64_t n = p.row_ids != nullptr ? p.num_row_ids : p.w.rows;
  if (n == 0 || p.t == 0) return absl::OkStatus();
  const int64_t grid = (n + kWarpsPerBlock - 1) / kWarpsPerBlock;
  if (grid > INT32_MAX) return absl::InvalidArgumentError("QuantMatMulCuda: too many rows for one grid");
  for (int64_t j0 = 0; j0 < p.t; j0 += kQuantMatMulTileRows) {
    const int64_t rows = std::min(kQuantMatMulTileRows, p.t - j0);
    const float* x = p.x + j0 * p.x_ld;
    float* y = p.y + j0 * p.y_ld;
    if (p.w.dtype == DType::kQ8) {
      LaunchTile<DType::kQ8>(p, rows, x, y, n, static_cast<unsigned>(grid), stream);
    } else {
      LaunchTile<DType::kQ4>(p, rows, x, y, n, static_cast<unsigned>(grid), stream);
    }
    CUDA_RETURN_IF_ERROR(cudaGetLastError());
  }
  return absl::OkStatus();
}

}  // namespace matspec
