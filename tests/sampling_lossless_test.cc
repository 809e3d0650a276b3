// Lossless speculative sampling, end to end: on a tiny-vocabulary model whose
// draft slice disagrees with the full model, the first two tokens emitted by
// speculative decoding follow the full model's (processed) distribution, for
// plain temperature sampling, for top-k where the draft puts mass on tokens
// the target forbids, for top-p < 1 (alone and after top-k), and for three
// tokens where the later ones come from rounds after a rejection and rollback,
// and for four tokens with an adaptive draft length.
// 20,000 samples per case, chi-square test (small cells pooled, see frequency.h).
#include <algorithm>
#include <cmath>
#include <fstream>

#include "draft/slice_spec.h"
#include "engine/model.h"
#include "gtest/gtest.h"
#include "tests/testing/checkpoint_writer.h"
#include "tests/testing/frequency.h"

namespace matspec {
namespace {

constexpr int64_t kVocab = 6;
constexpr int64_t kSamples = 20000;

class SamplingLosslessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const testing::TinyLlamaOptions opt = testing::LosslessSamplingModel();
    ASSERT_EQ(opt.vocab, kVocab);
    ASSERT_TRUE(testing::WriteTinyLlama(dir_.path(), opt).ok());
    LoadOptions lo;
    lo.model_dir = dir_.path();
    lo.num_threads = 1;
    auto e = Engine::Load(lo);
    ASSERT_TRUE(e.ok()) << e.status();
    engine_ = std::move(*e);
    // A draft that differs: layer 1 skipped, layer 0 at 1/8 width.
    draft_.draft.ffn = "6";
    draft_.draft.skip = "1";
  }

  SliceView DraftSlice() {
    auto spec = SliceSpecFromFlags(draft_.draft.ffn, draft_.draft.skip, engine_->model().config());
    EXPECT_TRUE(spec.ok()) << spec.status();
    auto slice = ValidateSlice(*spec, engine_->model().config());
    EXPECT_TRUE(slice.ok()) << slice.status();
    return *slice;
  }

  testing::ScopedTempDir dir_{"sampling_lossless"};
  std::unique_ptr<Engine> engine_;
  GenerationOptions draft_;
};

TEST_F(SamplingLosslessTest, TemperatureSamplingFollowsTarget) {
  GenerationOptions o = draft_;
  o.temperature = 1.0;
  const std::vector<int32_t> prompt = {1, 4, 2};
  // The draft must actually differ from the target for the test to mean anything.
  const auto p = testing::TargetDistribution(*engine_, prompt, o);
  const auto q = testing::Distribution(*engine_, DraftSlice(), prompt, o);
  double tv = 0.0;
  for (int i = 0; i < kVocab; ++i) tv += std::abs(p[i] - q[i]) / 2;
  ASSERT_GT(tv, 0.05) << "draft and target distributions are too close";
  for (int64_t k : {1, 3}) {
    o.draft.draft_max = k;
    EXPECT_LT(testing::SpeculativeJointZ(*engine_, prompt, o, kSamples), 4.0) << "k=" << k;
  }
}

// A reduced-vocabulary draft head gives q = 0 to the tokens it does not score;
// the residual max(0, p - q) must then carry their whole target mass.
TEST_F(SamplingLosslessTest, ReducedVocabularyDraftHeadStaysLossless) {
  GenerationOptions o = draft_;
  o.temperature = 1.0;
  o.draft.draft_vocab = kVocab / 2;
  for (int64_t k : {1, 3}) {
    o.draft.draft_max = k;
    EXPECT_LT(testing::SpeculativeJointZ(*engine_, {1, 4, 2}, o, kSamples), 4.0) << "k=" << k;
  }
  // A token list that leaves out ids in the middle of the vocabulary.
  o.draft.draft_vocab = 0;
  o.draft.draft_vocab_file = dir_.path() + "/draft_vocab.txt";
  std::ofstream(o.draft.draft_vocab_file) << "4 0 2 5\n";
  o.draft.draft_max = 2;
  EXPECT_LT(testing::SpeculativeJointZ(*engine_, {1, 4, 2}, o, kSamples), 4.0) << "token list";
}

TEST_F(SamplingLosslessTest, TopKWhereDraftPutsMassOnForbiddenTokens) {
  GenerationOptions o = draft_;
  o.temperature = 0.8;
  o.top_k = 2;
  o.draft.draft_max = 2;
  // Find a prompt where the draft's kept set includes a token the target forbids.
  std::vector<int32_t> prompt;
  for (int trial = 0; trial < 200 && prompt.empty(); ++trial) {
    std::vector<int32_t> cand = {static_cast<int32_t>(trial % kVocab), static_cast<int32_t>((trial / kVocab) % kVocab),
                                 static_cast<int32_t>((trial * 7 + 3) % kVocab)};
    const auto p = testing::TargetDistribution(*engine_, cand, o);
    const auto q = testing::Distribution(*engine_, DraftSlice(), cand, o);
    for (int i = 0; i < kVocab; ++i) {
      if (q[i] > 0.05 && p[i] == 0.0) prompt = cand;
    }
  }
  ASSERT_FALSE(prompt.empty()) << "no prompt where the draft favours a token the target's top-k forbids";
  EXPECT_LT(testing::SpeculativeJointZ(*engine_, prompt, o, kSamples), 4.0);
}

// Top-p < 1 on both sides: a nucleus that cuts tokens the draft still favours.
TEST_F(SamplingLosslessTest, TopPBelowOneFollowsTarget) {
  GenerationOptions o = draft_;
  o.temperature = 1.0;
  o.top_p = 0.7;
  const std::vector<int32_t> prompt = {1, 4, 2};
  // top-p must cut something from the target, or the case is plain sampling.
  const auto p = testing::TargetDistribution(*engine_, prompt, o);
  ASSERT_GE(std::count(p.begin(), p.end(), 0.0), 1) << "top-p 0.7 keeps the whole vocabulary";
  for (int64_t k : {1, 3}) {
    o.draft.draft_max = k;
    EXPECT_LT(testing::SpeculativeJointZ(*engine_, prompt, o, kSamples), 4.0) << "top-p 0.7, k=" << k;
  }
  o.top_k = 4;
  o.top_p = 0.8;
  o.draft.draft_max = 2;
  EXPECT_LT(testing::SpeculativeJointZ(*engine_, prompt, o, kSamples), 4.0) << "top-k 4 then top-p 0.8";
}

// Three tokens with k = 3: the first round drafts two; whenever it rejects one,
// the caches roll back and a second round draws the rest. The joint law of all
// three tokens must still be the target's.
TEST_F(SamplingLosslessTest, RoundsAfterARollbackFollowTarget) {
  GenerationOptions o = draft_;
  o.temperature = 1.0;
  o.draft.draft_max = 3;
  int64_t after_rejection = 0;
  EXPECT_LT(testing::SpeculativeJointZ(*engine_, {1, 4, 2}, o, kSamples, 3, &after_rejection), 4.0);
  EXPECT_GT(after_rejection, kSamples / 10) << "too few generations ran a round after a rollback";
  o.top_p = 0.8;
  EXPECT_LT(testing::SpeculativeJointZ(*engine_, {1, 4, 2}, o, kSamples, 3, &after_rejection), 4.0) << "top-p 0.8";
  EXPECT_GT(after_rejection, kSamples / 10);
}

// Adaptive draft length: each round's k depends on the rounds before it (on
// which tokens were accepted), and the tokens must still follow the target.
// Four tokens, so that a round after a rejection has room to choose its k.
// The engine's sequences share what they learn (draft/draft_length_memory.h),
// so k also depends on earlier generations; draft-min 1 keeps every round
// drafting (on this small model plain rounds would otherwise win).
TEST_F(SamplingLosslessTest, AdaptiveDraftLengthFollowsTarget) {
  GenerationOptions o = draft_;
  o.temperature = 1.0;
  o.draft.draft_max = 3;
  o.draft.draft_min = 1;
  o.draft.draft_adaptive = true;
  int64_t after_rejection = 0;
  EXPECT_LT(testing::SpeculativeJointZ(*engine_, {1, 4, 2}, o, kSamples, 4, &after_rejection), 4.0);
  EXPECT_GT(after_rejection, kSamples / 10) << "too few generations ran a round after a rollback";
  o.top_k = 4;
  EXPECT_LT(testing::SpeculativeJointZ(*engine_, {1, 4, 2}, o, kSamples, 4), 4.0) << "top-k 4";
}

}  // namespace
}  // namespace matspec
