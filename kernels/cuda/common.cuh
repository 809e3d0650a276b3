// Device-side helpers shared by the CUDA kernels: dtype loads matching
// kernels/dtype.h bit for bit, warp reductions and grid sizing. Included only
// by .cu files.
#ifndef MATSPEC_KERNELS_CUDA_COMMON_CUH_
#define MATSPEC_KERNELS_CUDA_COMMON_CUH_

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "kernels/dtype.h"

namespace matspec {
namespace cuda_detail {

// Element i of a buffer of dtype D as f32: exact for all three dtypes, the same
// values kernels/dtype.h's LoadAsF32 gives on the CPU.
template <DType D>
__device__ __forceinline__ float LoadF32(const void* data, int64_t i) {
  if constexpr (D == DType::kF32) {
    return static_cast<const float*>(data)[i];
  } else if constexpr (D == DType::kBF16) {
    const uint16_t v = static_cast<const uint16_t*>(data)[i];
    return __uint_as_float(static_cast<uint32_t>(v) << 16);
  } else {
    const uint16_t v = static_cast<const uint16_t*>(data)[i];
    return __half2float(__ushort_as_half(v));
  }
}

__device__ __forceinline__ float WarpSum(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// Blocks for a grid-stride loop over n items: enough to fill the GPU, at most
// `cap` so huge n does not make a huge grid, at least 1.
inline unsigned GridFor(int64_t n, int threads, int64_t cap = 4096) {
  const int64_t blocks = (n + threads - 1) / threads;
  return static_cast<unsigned>(std::clamp<int64_t>(blocks, 1, cap));
}

// Calls f.template operator()<D>() for the runtime dtype, so launchers write
// one templated body instead of a switch per kernel.
template <typename F>
void DispatchDType(DType dtype, F&& f) {
  switch (dtype) {
    case DType::kF32:
      f.template operator()<DType::kF32>();
      return;
    case DType::kF16:
      f.template operator()<DType::kF16>();
      return;
    case DType::kBF16:
      f.template operator()<DType::kBF16>();
      return;
  }
}

}  // namespace cuda_detail
}  // namespace matspec

#endif  // MATSPEC_KERNELS_CUDA_COMMON_CUH_
