// Rollback is exact: after rejected tokens are truncated away, the cache gives
// the same logits as a cache that never saw them, for the full model and for a
// draft slice, and for rollbacks to any point.
#include <filesystem>

#include "draft/slice_spec.h"
#include "gtest/gtest.h"
#include "tests/testing/kernel_checks.h"
#include "tests/testing/checkpoint_writer.h"
#include "tests/testing/model_loading.h"

namespace matspec {
namespace {

class RollbackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("rollback");
    testing::TinyLlamaOptions opt;
    opt.vocab = 47;
    opt.layers = 3;
    opt.dtype = DType::kBF16;
    ASSERT_TRUE(testing::WriteTinyLlama(dir_, opt).ok());
    auto loaded = testing::LoadLlama(dir_);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    m_ = std::move(*loaded);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::vector<float> Feed(KvCache* cache, const SliceView& slice, const std::vector<int32_t>& tokens) {
    std::vector<float> logits(tokens.size() * m_.config.vocab_size);
    ForwardArgs a;
    a.slice = &slice;
    a.tokens = tokens.data();
    a.t = static_cast<int64_t>(tokens.size());
    a.kv = cache;
    a.logits = logits.data();
    a.all_logits = true;
    EXPECT_TRUE(m_.model->Forward(a).ok());
    return logits;
  }

  void CheckRollback(const SliceView& slice) {
    const std::vector<int32_t> prefix = {3, 9, 27, 34, 8, 11};
    const std::vector<int32_t> rejected = {40, 41, 42, 43, 44};
    const std::vector<int32_t> next = {5, 6, 7};
    for (int64_t keep_extra = 0; keep_extra <= 3; ++keep_extra) {
      // Rolled back: prefix + rejected, truncated to prefix + keep_extra of them.
      auto rolled = m_.model->NewKvCache(slice, 64);
      Feed(rolled.get(), slice, prefix);
      Feed(rolled.get(), slice, rejected);
      ASSERT_TRUE(rolled->Truncate(prefix.size() + keep_extra).ok());
      const auto a = Feed(rolled.get(), slice, next);
      // Fresh: never saw the rejected tokens beyond those kept.
      auto fresh = m_.model->NewKvCache(slice, 64);
      Feed(fresh.get(), slice, prefix);
      if (keep_extra > 0) Feed(fresh.get(), slice, std::vector<int32_t>(rejected.begin(), rejected.begin() + keep_extra));
      const auto b = Feed(fresh.get(), slice, next);
      if (keep_extra == 0) {
        EXPECT_EQ(a, b) << "slice " << slice.name;  // identical computations: bit-identical
      } else {
        // The kept tokens' keys were computed in a wider batch; allow rounding.
        ASSERT_EQ(a.size(), b.size());
        float worst = 0.f;
        for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
        EXPECT_LE(worst, 1e-5 * testing::ToleranceScale()) << "slice " << slice.name << ", kept " << keep_extra << " rejected tokens";
      }
      EXPECT_EQ(rolled->length(), fresh->length());
    }
  }

  std::string dir_;
  testing::LoadedModel m_;
};

TEST_F(RollbackTest, FullModelRollbackIsExact) { CheckRollback(m_.model->FullSlice()); }

TEST_F(RollbackTest, DraftSliceRollbackIsExact) {
  auto slice = ValidateSlice(*SliceSpecFromFlags("20", "1", m_.config), m_.config);
  ASSERT_TRUE(slice.ok()) << slice.status();
  CheckRollback(*slice);
}

TEST_F(RollbackTest, TruncateBeyondLengthIsAnError) {
  auto cache = m_.model->NewKvCache(m_.model->FullSlice(), 8);
  Feed(cache.get(), m_.model->FullSlice(), {1, 2});
  EXPECT_FALSE(cache->Truncate(3).ok());
  EXPECT_TRUE(cache->Truncate(0).ok());
}

TEST_F(RollbackTest, ForwardPastCapacityIsAnError) {
  auto cache = m_.model->NewKvCache(m_.model->FullSlice(), 4);
  std::vector<int32_t> tokens = {1, 2, 3, 4, 5};
  ForwardArgs a;
  SliceView full = m_.model->FullSlice();
  a.slice = &full;
  a.tokens = tokens.data();
  a.t = 5;
  a.kv = cache.get();
  EXPECT_EQ(m_.model->Forward(a).code(), absl::StatusCode::kOutOfRange);
}

}  // namespace
}  // namespace matspec
