// Embedding gather: out[t, :] = table[ids[t], :] * scale, converted to f32.
#ifndef MATSPEC_KERNELS_EMBEDDING_H_
#define MATSPEC_KERNELS_EMBEDDING_H_

#include <cstdint>

#include "kernels/tensor_view.h"

namespace matspec {

// table: [vocab, dim] any dtype. ids: t values, each in [0, table.rows) (the
// caller validates ids). out: [t, table.cols] f32.
void EmbeddingGather(const MatrixView& table, const int32_t* ids, int64_t t, float scale, float* out);

}  // namespace matspec

#endif  // MATSPEC_KERNELS_EMBEDDING_H_
