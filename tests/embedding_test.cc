// EmbeddingGather against the header's formula: each dtype, a table whose ld
// padding and unused rows are NaN (so reading them fails), repeated ids, and a
// scale. The result is exact: one conversion and one f32 product per element.
#include "kernels/embedding.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "tests/testing/kernel_checks.h"

namespace matspec {
namespace {

using ::matspec::testing::AllClose;
using ::matspec::testing::kAllDTypes;
using ::matspec::testing::kEmbeddingTol;
using ::matspec::testing::RandomFloats;
using ::matspec::testing::WeightBuffer;

TEST(EmbeddingTest, GathersScaledRowsOfEveryDType) {
  for (DType dtype : kAllDTypes) {
    for (int64_t dim : {1, 3, 17, 61, 130}) {
      for (bool padded : {false, true}) {
        SCOPED_TRACE(std::string(DTypeName(dtype)) + " dim=" + std::to_string(dim) +
                     (padded ? " padded" : ""));
        std::mt19937 rng(static_cast<uint32_t>(dim * 7 + int(dtype)));
        const int64_t vocab = 37;
        const int64_t ld = padded ? dim + 3 : dim;
        std::vector<float> values = RandomFloats(rng, vocab * dim, -4.f, 4.f);
        // The view is the first vocab rows of a taller buffer when padded.
        WeightBuffer table(dtype, padded ? vocab + 2 : vocab, ld, vocab, dim, values);
        const std::vector<int32_t> ids = {0, 36, 5, 5, 17, 0, 1};
        const float scale = padded ? 2.75f : 1.f;
        std::vector<float> out(ids.size() * dim, -1.f);
        EmbeddingGather(table.view(), ids.data(), static_cast<int64_t>(ids.size()), scale, out.data());

        std::vector<double> want;
        for (int32_t id : ids) {
          for (int64_t c = 0; c < dim; ++c) want.push_back(table.view().At(id, c) * scale);
        }
        EXPECT_TRUE(AllClose(out, want, kEmbeddingTol));
      }
    }
  }
}

TEST(EmbeddingTest, ZeroTokensWritesNothing) {
  std::vector<float> table_values = {1, 2, 3, 4};
  WeightBuffer table(DType::kF32, 2, 2, 2, 2, table_values);
  float out = 42.f;
  EmbeddingGather(table.view(), nullptr, 0, 1.f, &out);
  EXPECT_EQ(out, 42.f);
}

}  // namespace
}  // namespace matspec
