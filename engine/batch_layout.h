// BatchLayout: where the rows of a batched forward (Model::ForwardBatch) go,
// worked out on the host before anything runs on a device. The segments'
// new tokens are concatenated, segment after segment, into one block of
// activation rows; each row keeps its own absolute position (its cache's
// length plus its index in the segment); the head scores, per segment, all of
// its rows or its last one (or none), gathered in segment order.
//
// ProductGroups says how a batch's matrix products are split so that every
// row takes the kernel path it would take in a forward of its segment alone,
// and so gets the same bits. A backend whose kernels give a row the same bits
// whatever the product's row count only up to some count (the CUDA matmul:
// its f32-activation kernels up to 16 rows with 16-bit weights, cuBLAS beyond:
// kernels/cuda/matmul_cuda.h) lets the segments of at most that many rows
// share products, in chunks of at most that many rows, and gives every longer
// segment a product of its own, of its own row count, as alone. A backend
// whose kernels are batch-invariant at any row count (the CPU) needs no split.
//
// Plain host code, no device: tested on the CPU (tests/batch_layout_test.cc).
#ifndef MATSPEC_ENGINE_BATCH_LAYOUT_H_
#define MATSPEC_ENGINE_BATCH_LAYOUT_H_

#include <cstdint>
#include <span>
#include <vector>

#include "engine/model.h"

namespace matspec {

// Rows [begin, begin + rows) of a block of activation rows.
struct RowRange {
  int64_t begin = 0;
  int64_t rows = 0;
  bool operator==(const RowRange&) const = default;
};

struct BatchLayout {
  int64_t rows = 0;                     // sum of the segments' t
  std::vector<RowRange> segment_rows;   // [segments] each segment's rows of the batch
  std::vector<int32_t> tokens;          // [rows] the segments' tokens, in order
  std::vector<int64_t> positions;       // [rows] kv->length() + j for row j of its segment
  // [segments] the rows of the batch the head scores for each segment (t or
  // 1 at the segment's end; 0 rows without logits).
  std::vector<RowRange> head_rows;
  // [segments] where each segment's logits start among the gathered head
  // rows (a segment's logits are rows [begin, begin + head_rows[i].rows)).
  std::vector<int64_t> logit_offset;
  int64_t logit_rows = 0;               // head rows of every segment together
};

// The layout of `segments` (each with t >= 1 and a cache: ValidateBatch
// first). Reads each cache's length; changes nothing.
BatchLayout LayoutBatch(std::span<const BatchSegment> segments);

// The products of a batch whose segments have `segment_rows` rows each (0-row
// entries are skipped: a segment without head rows), as consecutive row ranges
// covering every row in order. Runs of consecutive segments of at most
// `shared_max_rows` rows share products of at most shared_max_rows rows (a
// segment may straddle two of them: such kernels give each row the same bits
// wherever it sits); a longer segment is one product of exactly its rows.
// shared_max_rows == 0: one product per segment. shared_max_rows < 0: one
// product for everything (kernels batch-invariant at any row count).
std::vector<RowRange> ProductGroups(std::span<const int64_t> segment_rows, int64_t shared_max_rows);

// The row counts of `ranges` (for ProductGroups).
std::vector<int64_t> RowCounts(std::span<const RowRange> ranges);

}  // namespace matspec

#endif  // MATSPEC_ENGINE_BATCH_LAYOUT_H_
