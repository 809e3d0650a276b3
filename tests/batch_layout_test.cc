// LayoutBatch and ProductGroups (engine/batch_layout.h): the host-side plan of
// a batched forward that the GPU's ForwardBatch follows. Rows, tokens and
// positions in segment order; head rows (all, last, none) and where each
// segment's logits land; products that keep every row on the kernel path of
// its segment alone.
#include "engine/batch_layout.h"

#include <numeric>

#include "gtest/gtest.h"

namespace matspec {
namespace {

std::unique_ptr<KvCache> CacheOfLength(int64_t length) {
  auto kv = std::make_unique<KvCache>(std::vector<bool>{true}, 1, 2, 64);
  kv->Advance(length);
  return kv;
}

TEST(LayoutBatchTest, RowsTokensPositionsAndHeadRowsFollowTheSegments) {
  auto a = CacheOfLength(5), b = CacheOfLength(0), c = CacheOfLength(12), d = CacheOfLength(3);
  const std::vector<int32_t> ta = {7, 8, 9}, tb = {1}, tc = {4, 4}, td = {2, 3, 5, 6};
  float la[3 * 4], lb[4], ld[4];
  const std::vector<BatchSegment> segments = {
      {.tokens = ta.data(), .t = 3, .kv = a.get(), .logits = la, .all_logits = true},  // verify: every row
      {.tokens = tb.data(), .t = 1, .kv = b.get(), .logits = lb},                      // decode: the last row
      {.tokens = tc.data(), .t = 2, .kv = c.get()},                                    // prefill chunk: none
      {.tokens = td.data(), .t = 4, .kv = d.get(), .logits = ld},                      // the last of 4
  };
  const BatchLayout l = LayoutBatch(segments);
  EXPECT_EQ(l.rows, 10);
  EXPECT_EQ(l.tokens, (std::vector<int32_t>{7, 8, 9, 1, 4, 4, 2, 3, 5, 6}));
  EXPECT_EQ(l.positions, (std::vector<int64_t>{5, 6, 7, 0, 12, 13, 3, 4, 5, 6}));
  EXPECT_EQ(l.segment_rows, (std::vector<RowRange>{{0, 3}, {3, 1}, {4, 2}, {6, 4}}));
  EXPECT_EQ(l.head_rows, (std::vector<RowRange>{{0, 3}, {3, 1}, {6, 0}, {9, 1}}));
  EXPECT_EQ(l.logit_offset, (std::vector<int64_t>{0, 3, 4, 4}));
  EXPECT_EQ(l.logit_rows, 5);
  // The caches are only read.
  EXPECT_EQ(a->length(), 5);
  EXPECT_EQ(c->length(), 12);
}

// Every row covered once, in order, by consecutive ranges.
void ExpectCovers(const std::vector<RowRange>& groups, int64_t rows) {
  int64_t next = 0;
  for (const RowRange& g : groups) {
    EXPECT_EQ(g.begin, next);
    EXPECT_GT(g.rows, 0);
    next += g.rows;
  }
  EXPECT_EQ(next, rows);
}

TEST(ProductGroupsTest, SmallSegmentsShareChunksOfTheLimit) {
  // 8 decode rows and a verification of 5: one product of 13 rows.
  const std::vector<int64_t> decode = {1, 1, 1, 1, 1, 1, 1, 1, 5};
  EXPECT_EQ(ProductGroups(decode, 16), (std::vector<RowRange>{{0, 13}}));
  // 20 decode rows: 16, then 4.
  const std::vector<int64_t> twenty(20, 1);
  EXPECT_EQ(ProductGroups(twenty, 16), (std::vector<RowRange>{{0, 16}, {16, 4}}));
  // Segments of 9 straddle the chunk boundary: 27 rows in 16 + 11.
  const std::vector<int64_t> nines = {9, 9, 9};
  EXPECT_EQ(ProductGroups(nines, 16), (std::vector<RowRange>{{0, 16}, {16, 11}}));
}

TEST(ProductGroupsTest, LongSegmentsRunAloneWithExactlyTheirRows) {
  // A 40-token prefill chunk between decode rows; a 17-row verification.
  const std::vector<int64_t> rows = {1, 2, 40, 3, 17, 16};
  const std::vector<RowRange> g = ProductGroups(rows, 16);
  EXPECT_EQ(g, (std::vector<RowRange>{{0, 3}, {3, 40}, {43, 3}, {46, 17}, {63, 16}}));
  ExpectCovers(g, 79);
}

TEST(ProductGroupsTest, ZeroRowSegmentsAreSkipped) {
  const std::vector<int64_t> rows = {0, 1, 0, 3, 0};
  EXPECT_EQ(ProductGroups(rows, 16), (std::vector<RowRange>{{0, 4}}));
  EXPECT_EQ(ProductGroups(rows, 0), (std::vector<RowRange>{{0, 1}, {1, 3}}));
  EXPECT_TRUE(ProductGroups(std::vector<int64_t>{0, 0}, 16).empty());
  EXPECT_TRUE(ProductGroups(std::vector<int64_t>{}, -1).empty());
}

TEST(ProductGroupsTest, NoSharingGivesEverySegmentItsOwnProduct) {
  const std::vector<int64_t> rows = {1, 4, 1, 30};
  EXPECT_EQ(ProductGroups(rows, 0), (std::vector<RowRange>{{0, 1}, {1, 4}, {5, 1}, {6, 30}}));
}

TEST(ProductGroupsTest, UnlimitedSharingIsOneProduct) {
  const std::vector<int64_t> rows = {1, 4, 1, 300};
  EXPECT_EQ(ProductGroups(rows, -1), (std::vector<RowRange>{{0, 306}}));
}

TEST(ProductGroupsTest, EveryLimitCoversEveryRowWithinTheLimitOrAlone) {
  const std::vector<int64_t> rows = {3, 1, 1, 18, 7, 7, 7, 2, 64, 1, 16, 15, 1};
  const int64_t total = std::accumulate(rows.begin(), rows.end(), int64_t{0});
  for (int64_t limit : {1, 2, 5, 8, 16, 17, 64}) {
    SCOPED_TRACE(limit);
    const std::vector<RowRange> g = ProductGroups(rows, limit);
    ExpectCovers(g, total);
    // A segment longer than the limit is exactly one group.
    int64_t row = 0;
    for (int64_t n : rows) {
      if (n > limit) {
        EXPECT_NE(std::find(g.begin(), g.end(), RowRange{row, n}), g.end()) << "segment at row " << row;
      }
      row += n;
    }
    for (const RowRange& r : g) {
      const bool alone = std::find(rows.begin(), rows.end(), r.rows) != rows.end() && r.rows > limit;
      EXPECT_TRUE(r.rows <= limit || alone) << r.begin << "+" << r.rows;
    }
  }
}

TEST(RowCountsTest, CountsOfRanges) {
  const std::vector<RowRange> r = {{0, 3}, {3, 0}, {3, 5}};
  EXPECT_EQ(RowCounts(r), (std::vector<int64_t>{3, 0, 5}));
}

}  // namespace
}  // namespace matspec
