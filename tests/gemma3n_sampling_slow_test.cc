// Lossless speculative sampling on Gemma 3n: with a narrow, layer-skipping
// slice drafting, the first two emitted tokens follow the full model's
// distribution (20,000 samples, chi-square). Slow: release build only.
#include "engine/model.h"
#include "gtest/gtest.h"
#include "matspec/matspec.h"
#include "tests/testing/frequency.h"

namespace matspec {
namespace {

class Gemma3nSamplingTest : public ::testing::TestWithParam<std::string> {};

TEST_P(Gemma3nSamplingTest, SamplingFollowsTarget) {
  const std::string dir_ = "tests/fixtures/" + GetParam();
  LoadOptions lo;
  lo.model_dir = dir_;
  lo.num_threads = 1;
  auto engine = Engine::Load(lo);
  ASSERT_TRUE(engine.ok()) << engine.status();
  auto& engine_ = *engine;
  auto slices = engine_->DescribeSlices(dir_ + "/slices.csv");
  ASSERT_TRUE(slices.ok());
  GenerationOptions o;
  o.temperature = 1.0;
  o.top_k = 4;  // small support keeps 20,000 samples informative; the draft's top 4 may differ
  o.draft.slice_table = dir_ + "/slices.csv";
  o.draft.slice_name = slices->back().name;  // a layer-skipping, narrow slice
  o.draft.draft_max = 2;
  EXPECT_LT(testing::SpeculativeJointZ(*engine_, {2, 7, 11, 3}, o, 20000), 4.0);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Gemma3nSamplingTest, ::testing::Values("gemma3n_window", "gemma3n_kvshare"));

}  // namespace
}  // namespace matspec
