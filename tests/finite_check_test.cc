// Tests for engine/finite_check.h and its uses: a NaN or infinity in the logits
// stops generation with an error naming the position and the model that
// produced it (never an "accepted" draft token), and CheckWeights lists the
// tensors that hold them. The checkpoints are tiny random llamas with a NaN
// written into one tensor's bytes.
#include "engine/finite_check.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "matspec/matspec.h"
#include "matspec/weight_check.h"
#include "nlohmann/json.hpp"
#include "tests/testing/checkpoint_writer.h"
#include "tests/testing/status_matchers.h"

namespace matspec {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

TEST(CheckLogitsFiniteTest, FiniteRowPasses) {
  const float row[] = {0.f, -3.f, 1e30f};
  EXPECT_TRUE(CheckLogitsFinite(row, 3, false, "the full model", 7).ok());
}

TEST(CheckLogitsFiniteTest, NaNAndInfNameProducerPositionAndToken) {
  const float nan_row[] = {0.f, kNaN, 1.f};
  absl::Status s = CheckLogitsFinite(nan_row, 3, false, "the full model", 7);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(s.message(), AllOf(HasSubstr("the full model"), HasSubstr("position 7"), HasSubstr("token 1"),
                                 HasSubstr("NaN")));
  const float inf_row[] = {0.f, 1.f, kInf};
  EXPECT_THAT(CheckLogitsFinite(inf_row, 3, true, "the draft", 2).message(),
              AllOf(HasSubstr("the draft"), HasSubstr("position 2"), HasSubstr("token 2"), HasSubstr("+inf")));
}

TEST(CheckLogitsFiniteTest, NegativeInfinityOnlyWhereAllowedAndNeverAlone) {
  const float masked[] = {-kInf, 2.f, -kInf};
  EXPECT_TRUE(CheckLogitsFinite(masked, 3, /*allow_negative_infinity=*/true, "the draft", 0).ok());
  EXPECT_FALSE(CheckLogitsFinite(masked, 3, /*allow_negative_infinity=*/false, "the full model", 0).ok());
  const float all_masked[] = {-kInf, -kInf};
  EXPECT_THAT(CheckLogitsFinite(all_masked, 2, true, "the draft", 4).message(), HasSubstr("no finite logit"));
}

// A 4-layer f32 llama (FFN 64) in `dir` with `value` written at element `index`
// of tensor `name`.
void WriteLlamaWith(const std::string& dir, const std::string& name, int64_t index, float value) {
  testing::TinyLlamaOptions opt;
  opt.vocab = 71;
  opt.hidden = 32;
  opt.layers = 4;
  opt.ffn_widths = {64, 64, 64, 64};
  opt.max_pos = 96;
  ASSERT_TRUE(testing::WriteTinyLlama(dir, opt).ok());
  const std::string path = dir + "/model.safetensors";
  absl::StatusOr<std::string> bytes = testing::ReadFileBytes(path);
  ASSERT_TRUE(bytes.ok());
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes->data(), 8);
  const nlohmann::json header = nlohmann::json::parse(bytes->substr(8, header_len));
  ASSERT_TRUE(header.contains(name)) << name;
  ASSERT_EQ(header[name]["dtype"], "F32");
  const int64_t begin = header[name]["data_offsets"][0].get<int64_t>();
  std::memcpy(bytes->data() + 8 + header_len + begin + index * 4, &value, 4);
  ASSERT_TRUE(testing::WriteFileBytes(path, *bytes).ok());
}

// draft_own_kv: the draft computes its own keys and values (a draft that adopts
// the verifier's reads whatever the full model's prefill wrote there).
absl::StatusOr<GenerationResult> Generate(const std::string& dir, bool speculative,
                                          bool draft_own_kv = true) {
  LoadOptions lo;
  lo.model_dir = dir;
  lo.num_threads = 1;
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Load(lo);
  if (!engine.ok()) return engine.status();
  GenerationOptions o;
  o.max_new_tokens = 8;
  o.speculative = speculative;
  o.draft.ffn = "32";  // the draft reads rows [0, 32) of gate/up
  o.draft.draft_own_kv = draft_own_kv;
  return (*engine)->GenerateTokens({3, 14, 15}, o);
}

TEST(NonFiniteGenerationTest, NaNOnlyTheFullModelReadsStopsAtTheFirstVerification) {
  testing::ScopedTempDir dir;
  // Row 40 of layer 1's up projection: outside the draft's 32 rows.
  WriteLlamaWith(dir.path(), "model.layers.1.mlp.up_proj.weight", 40 * 32 + 5, kNaN);
  for (bool speculative : {true, false}) {
    absl::StatusOr<GenerationResult> r = Generate(dir.path(), speculative);
    ASSERT_FALSE(r.ok()) << "speculative " << speculative << ": generated " << r->tokens.size() << " tokens";
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
    // The prompt has 3 tokens: the first verified row predicts position 3.
    EXPECT_THAT(r.status().message(), AllOf(HasSubstr("the full model"), HasSubstr("position 3"), HasSubstr("NaN")));
  }
  // A draft that adopts the verifier's keys and values reads the NaN the full
  // model's prefill wrote there: the first draft step stops, and says why.
  absl::StatusOr<GenerationResult> r = Generate(dir.path(), /*speculative=*/true, /*draft_own_kv=*/false);
  ASSERT_FALSE(r.ok()) << "generated " << r->tokens.size() << " tokens";
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(r.status().message(), AllOf(HasSubstr("the draft"), HasSubstr("position 3"), HasSubstr("NaN"),
                                          HasSubstr("the full model's keys and values"), HasSubstr("--draft-own-kv")));
}

TEST(NonFiniteGenerationTest, NaNTheDraftReadsIsNeverProposed) {
  testing::ScopedTempDir dir;
  WriteLlamaWith(dir.path(), "model.norm.weight", 3, kInf);  // both read it; the draft runs first
  absl::StatusOr<GenerationResult> r = Generate(dir.path(), /*speculative=*/true);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(r.status().message(), AllOf(HasSubstr("the draft"), HasSubstr("position 3")));
}

TEST(CheckWeightsTest, ListsExactlyTheTensorsHoldingNaNOrInf) {
  testing::ScopedTempDir dir;
  WriteLlamaWith(dir.path(), "model.layers.2.self_attn.k_proj.weight", 17, kNaN);
  absl::StatusOr<WeightCheckReport> report = CheckWeights(dir.path());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_GT(report->tensors, 30);
  ASSERT_EQ(report->non_finite.size(), 1u);
  const TensorNonFiniteCount& t = report->non_finite[0];
  EXPECT_EQ(t.name, "model.layers.2.self_attn.k_proj.weight");
  EXPECT_EQ(t.nan_count, 1);
  EXPECT_EQ(t.inf_count, 0);
  EXPECT_EQ(t.first_index, 17);

  testing::ScopedTempDir clean;
  WriteLlamaWith(clean.path(), "model.norm.weight", 0, 1.0f);
  report = CheckWeights(clean.path());
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->non_finite.empty());
}

TEST(CheckWeightsTest, HalfPrecisionBitPatterns) {
  testing::ScopedTempDir dir;
  testing::SafetensorsWriter w;
  // bf16: 0x7FC0 NaN, 0xFF80 -inf, 0x7F7F finite max; f16: 0x7E00 NaN, 0x7C00 +inf, 0x7BFF max.
  w.AddRaw("bf16", "BF16", {3}, std::string("\xC0\x7F\x80\xFF\x7F\x7F", 6));
  w.AddRaw("f16", "F16", {3}, std::string("\xFF\x7B\x00\x7E\x00\x7C", 6));
  w.AddRaw("fine", "F16", {1}, std::string("\x00\x3C", 2));
  ASSERT_TRUE(w.Write(dir.Sub("model.safetensors")).ok());
  absl::StatusOr<WeightCheckReport> report = CheckWeights(dir.path());
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->non_finite.size(), 2u);
  EXPECT_EQ(report->non_finite[0].name, "bf16");
  EXPECT_EQ(report->non_finite[0].nan_count, 1);
  EXPECT_EQ(report->non_finite[0].inf_count, 1);
  EXPECT_EQ(report->non_finite[0].first_index, 0);
  EXPECT_EQ(report->non_finite[1].name, "f16");
  EXPECT_EQ(report->non_finite[1].nan_count, 1);
  EXPECT_EQ(report->non_finite[1].inf_count, 1);
  EXPECT_EQ(report->non_finite[1].first_index, 1);
}

}  // namespace
}  // namespace matspec
