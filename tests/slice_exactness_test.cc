// Slices are exact: the identity slice gives the full model's logits bit for
// bit; a width-w slice and a layer-skip slice give the same logits (<= 1e-5) as
// a checkpoint physically cut that way; a slice adds no weight memory.
#include <filesystem>

#include "draft/slice_spec.h"
#include "gtest/gtest.h"
#include "tests/testing/kernel_checks.h"
#include "tests/testing/checkpoint_writer.h"
#include "tests/testing/model_loading.h"

namespace matspec {
namespace {

class SliceExactnessTest : public ::testing::TestWithParam<DType> {
 protected:
  void SetUp() override {
    root_ = testing::MakeTempDir("slice_exact");
    testing::TinyLlamaOptions opt;
    opt.vocab = 53;
    opt.hidden = 36;
    opt.layers = 4;
    opt.heads = 3;
    opt.kv_heads = 1;
    opt.head_dim = 16;  // q dim 48 != hidden 36
    opt.ffn_widths = {72, 64, 72, 56};
    opt.dtype = GetParam();
    opt.seed = 3;
    ASSERT_TRUE(testing::WriteTinyLlama(root_ + "/full", opt).ok());
    auto loaded = testing::LoadLlama(root_ + "/full");
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    full_ = std::move(*loaded);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  // Logits of the slice over the original weights vs the cut checkpoint's full model.
  void ExpectSliceMatchesCut(const std::string& ffn, const std::string& skip) {
    auto spec = SliceSpecFromFlags(ffn, skip, full_.config);
    ASSERT_TRUE(spec.ok()) << spec.status();
    auto slice = ValidateSlice(*spec, full_.config);
    ASSERT_TRUE(slice.ok()) << slice.status();
    const std::string cut_dir = root_ + "/cut_" + std::to_string(counter_++);
    std::vector<int64_t> kept_widths;
    for (int64_t l : slice->layers) kept_widths.push_back(slice->ffn_widths[l]);
    ASSERT_TRUE(testing::WriteCutLlama(root_ + "/full", cut_dir, slice->layers, kept_widths).ok());
    auto cut = testing::LoadLlama(cut_dir);
    ASSERT_TRUE(cut.ok()) << cut.status();

    const std::vector<int32_t> tokens = {5, 17, 3, 44, 21, 8, 0, 52, 13, 30, 7, 7, 19, 2, 41, 11, 26, 35, 1, 9, 48};
    // Prefill in chunks then decode, so both the T>1 and T=1 paths are compared.
    const std::vector<int64_t> chunks = {13, 1, 4, 1, 2};
    const auto a = testing::RunLogits(*full_.model, *slice, tokens, true, chunks);
    const auto b = testing::RunLogits(*cut->model, cut->model->FullSlice(), tokens, true, chunks);
    ASSERT_EQ(a.size(), b.size());
    ASSERT_FALSE(a.empty());
    float worst = 0.f;
    for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
    EXPECT_LE(worst, 1e-5 * testing::ToleranceScale()) << "slice ffn=" << ffn << " skip=" << skip;
  }

  std::string root_;
  testing::LoadedModel full_;
  int counter_ = 0;
};

TEST_P(SliceExactnessTest, IdentitySliceIsTheFullModel) {
  const std::vector<int32_t> tokens = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  auto spec = SliceSpecFromFlags("", "", full_.config);
  ASSERT_TRUE(spec.ok());
  auto slice = ValidateSlice(*spec, full_.config);
  ASSERT_TRUE(slice.ok());
  EXPECT_EQ(slice->ffn_widths, full_.config.ffn_widths);
  EXPECT_EQ(slice->layers.size(), full_.config.ffn_widths.size());
  const auto a = testing::RunLogits(*full_.model, *slice, tokens, true);
  const auto b = testing::RunLogits(*full_.model, full_.model->FullSlice(), tokens, true);
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(a, b);  // bit-identical
}

TEST_P(SliceExactnessTest, UniformWidthSliceMatchesCutCheckpoint) { ExpectSliceMatchesCut("24", ""); }
TEST_P(SliceExactnessTest, PerLayerWidthSliceMatchesCutCheckpoint) { ExpectSliceMatchesCut("72,8,40,17", ""); }
TEST_P(SliceExactnessTest, LayerSkipSliceMatchesCutCheckpoint) { ExpectSliceMatchesCut("", "1,2"); }
TEST_P(SliceExactnessTest, SkipAndWidthSliceMatchesCutCheckpoint) { ExpectSliceMatchesCut("33,9", "0,2"); }

TEST_P(SliceExactnessTest, SliceAddsNoWeightMemory) {
  const int64_t before = full_.store->total_bytes();
  auto slice = ValidateSlice(*SliceSpecFromFlags("8", "3", full_.config), full_.config);
  ASSERT_TRUE(slice.ok());
  const auto logits = testing::RunLogits(*full_.model, *slice, {1, 2, 3}, false);
  ASSERT_FALSE(logits.empty());
  EXPECT_EQ(full_.store->total_bytes(), before);
  EXPECT_LT(full_.model->ParameterCount(*slice), full_.model->ParameterCount(full_.model->FullSlice()));
}

INSTANTIATE_TEST_SUITE_P(Dtypes, SliceExactnessTest, ::testing::Values(DType::kF32, DType::kBF16, DType::kF16),
                         [](const auto& info) { return std::string(DTypeName(info.param)); });

}  // namespace
}  // namespace matspec
