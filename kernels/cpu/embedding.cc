// CPU embedding gather: one table row per token, converted to f32 and scaled.
// Memory bound and small (t rows of dim elements); no threads.
#include "kernels/embedding.h"

#include <cstdint>

namespace matspec {
namespace {

template <DType D>
void GatherRows(const MatrixView& table, const int32_t* ids, int64_t t, float scale, float* out) {
  const int64_t dim = table.cols;
  for (int64_t j = 0; j < t; ++j) {
    const void* row = table.Row(ids[j]);
    float* o = out + j * dim;
    for (int64_t c = 0; c < dim; ++c) o[c] = LoadAsF32(row, D, c) * scale;
  }
}

}  // namespace

void EmbeddingGather(const MatrixView& table, const int32_t* ids, int64_t t, float scale, float* out) {
  switch (table.dtype) {
    case DType::kBF16: GatherRows<DType::kBF16>(table, ids, t, scale, out); return;
    case DType::kF16: GatherRows<DType::kF16>(table, ids, t, scale, out); return;
    case DType::kF32: GatherRows<DType::kF32>(table, ids, t, scale, out); return;
    case DType::kQ8:
    case DType::kQ4:  // a quantized table: dequantize the row
      for (int64_t j = 0; j < t; ++j) {
        for (int64_t c = 0; c < table.cols; ++c) out[j * table.cols + c] = table.At(ids[j], c) * scale;
      }
      return;
  }
}

}  // namespace matspec
