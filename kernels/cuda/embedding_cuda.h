// CUDA embedding gather, the contract of kernels/embedding.h on device memory:
// out[j, :] = table[ids[j], :] * scale, converted to f32 (bit-identical to the
// CPU kernel). Asynchronous on `stream`; allocates nothing.
#ifndef MATSPEC_KERNELS_CUDA_EMBEDDING_CUDA_H_
#define MATSPEC_KERNELS_CUDA_EMBEDDING_CUDA_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"
#include "kernels/tensor_view.h"

namespace matspec {

// table: [vocab, dim] device view (device == kCuda), any dtype, rows table.ld
// apart; a quantized table (q8, q4) is dequantized row by row exactly as
// MatrixView::At does (value * f16 scale, then * scale). ids: [t] int32 in device memory; the caller validates them, and an id
// outside [0, table.rows) yields a row of NaN rather than a wild read.
// out: [t, table.cols] f32 device memory. InvalidArgument for a bad view.
absl::Status EmbeddingGatherCuda(const MatrixView& table, const int32_t* ids, int64_t t, float scale,
                                 float* out, cudaStream_t stream);

}  // namespace matspec

#endif  // MATSPEC_KERNELS_CUDA_EMBEDDING_CUDA_H_
