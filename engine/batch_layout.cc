#include "engine/batch_layout.h"

#include <algorithm>

namespace matspec {

BatchLayout LayoutBatch(std::span<const BatchSegment> segments) {
  BatchLayout out;
  for (const BatchSegment& g : segments) out.rows += g.t;
  out.tokens.reserve(out.rows);
  out.positions.reserve(out.rows);
  int64_t row = 0;
  for (const BatchSegment& g : segments) {
    const int64_t past = g.kv->length();
    for (int64_t j = 0; j < g.t; ++j) {
      out.tokens.push_back(g.tokens[j]);
      out.positions.push_back(past + j);
    }
    out.segment_rows.push_back({.begin = row, .rows = g.t});
    const int64_t scored = g.logits == nullptr ? 0 : g.all_logits ? g.t : 1;
    out.head_rows.push_back({.begin = row + g.t - scored, .rows = scored});
    out.logit_offset.push_back(out.logit_rows);
    out.logit_rows += scored;
    row += g.t;
  }
  return out;
}

std::vector<RowRange> ProductGroups(std::span<const int64_t> segment_rows, int64_t shared_max_rows) {
  std::vector<RowRange> groups;
  int64_t row = 0;
  if (shared_max_rows < 0) {
    for (int64_t n : segment_rows) row += n;
    if (row > 0) groups.push_back({.begin = 0, .rows = row});
    return groups;
  }
  // The open shared product, if any: the last group, while `sharing`.
  bool sharing = false;
  for (int64_t n : segment_rows) {
    if (n <= 0) continue;
    if (n > shared_max_rows) {  // alone, exactly its rows
      groups.push_back({.begin = row, .rows = n});
      sharing = false;
      row += n;
      continue;
    }
    for (int64_t left = n; left > 0;) {
      if (!sharing || groups.back().rows == shared_max_rows) {
        groups.push_back({.begin = row, .rows = 0});
        sharing = true;
      }
      const int64_t take = std::min(left, shared_max_rows - groups.back().rows);
      groups.back().rows += take;
      row += take;
      left -= take;
    }
  }
  return groups;
}

std::vector<int64_t> RowCounts(std::span<const RowRange> ranges) {
  std::vector<int64_t> out;
  out.reserve(ranges.size());
  for (const RowRange& r : ranges) out.push_back(r.rows);
  return out;
}

}  // namespace matspec
