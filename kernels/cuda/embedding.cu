// CUDA embedding gather: one block per token, threads across the row.
#include <cmath>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/embedding_cuda.h"

namespace matspec {
namespace {

constexpr int kThreads = 256;

template <DType D>
__global__ void GatherKernel(const void* table, int64_t rows, int64_t cols, int64_t ld, const int32_t* ids,
                             float scale, float* out) {
  const int64_t j = blockIdx.x;
  const int32_t id = ids[j];
  float* o = out + j * cols;
  if (id < 0 || id >= rows) {
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) o[c] = NAN;
    return;
  }
  const int64_t base = static_cast<int64_t>(id) * ld;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    o[c] = cuda_detail::LoadF32<D>(table, base + c) * scale;
  }
}

// A quantized table (q8, q4; a tied LM head quantized at load): element c of
// the row is its integer value times the block's f16 scale, then times
// `scale`, the CPU's MatrixView::At(id, c) * scale bit for bit.
template <DType D>
__global__ void QuantGatherKernel(const uint8_t* values, const uint16_t* scales, int64_t rows, int64_t cols,
                                  int64_t ld, const int32_t* ids, float scale, float* out) {
  const int64_t j = blockIdx.x;
  const int32_t id = ids[j];
  float* o = out + j * cols;
  if (id < 0 || id >= rows) {
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) o[c] = NAN;
    return;
  }
  const uint8_t* row = values + DTypeRowBytes(D, static_cast<int64_t>(id) * ld);
  const uint16_t* row_scales = scales + static_cast<int64_t>(id) * (ld / kQuantBlock);
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    int q;
    if constexpr (D == DType::kQ8) {
      q = static_cast<int8_t>(row[c]);
    } else {
      const uint8_t byte = row[c / kQuantBlock * 16 + c % 16];
      q = ((c % kQuantBlock) < 16 ? (byte & 0xf) : (byte >> 4)) - 8;
    }
    const float d = __half2float(__ushort_as_half(row_scales[c / kQuantBlock]));
    o[c] = static_cast<float>(q) * d * scale;
  }
}

}  // namespace

absl::Status EmbeddingGatherCuda(const MatrixView& table, const int32_t* ids, int64_t t, float scale,
                                 float* out, cudaStream_t stream) {
  if (t < 0 || t > INT32_MAX) return absl::InvalidArgumentError("EmbeddingGatherCuda: bad t");
  if (t == 0 || table.cols == 0) return absl::OkStatus();
  if (table.device != Device::kCuda) {
    return absl::InvalidArgumentError("EmbeddingGatherCuda: table view is not on the GPU");
  }
  if (table.data == nullptr || ids == nullptr || out == nullptr || table.rows <= 0 || table.cols < 0 ||
      table.ld < table.cols) {
    return absl::InvalidArgumentError("EmbeddingGatherCuda: null pointer or bad table shape");
  }
  if (IsQuantized(table.dtype)) {
    if (table.scales == nullptr || table.ld % kQuantBlock != 0) {
      return absl::InvalidArgumentError("EmbeddingGatherCuda: quantized table without scales or with ld off the block");
    }
    const unsigned grid = static_cast<unsigned>(t);
    const auto* values = static_cast<const uint8_t*>(table.data);
    if (table.dtype == DType::kQ8) {
      QuantGatherKernel<DType::kQ8><<<grid, kThreads, 0, stream>>>(values, table.scales, table.rows, table.cols,
                                                                   table.ld, ids, scale, out);
    } else {
      QuantGatherKernel<DType::kQ4><<<grid, kThreads, 0, stream>>>(values, table.scales, table.rows, table.cols,
                                                                   table.ld, ids, scale, out);
    }
    CUDA_RETURN_IF_ERROR(cudaGetLastError());
    return absl::OkStatus();
  }
  cuda_detail::DispatchDType(table.dtype, [&]<DType D>() {
    GatherKernel<D><<<static_cast<unsigned>(t), kThreads, 0, stream>>>(table.data, table.rows, table.cols,
                                                                       table.ld, ids, scale, out);
  });
  CUDA_RETURN_IF_ERROR(cudaGetLastError());
  return absl::OkStatus();
}

}  // namespace matspec
