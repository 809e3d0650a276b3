// The Drafter below the decoding loop, on a tiny random llama model:
//  draft length: with --draft-p-min set so high that every step would stop,
//    exactly draft_min tokens are drafted (the boundary "i == draft_min" stops),
//    draft_min == draft_max drafts them all, draft_min == 0 drafts none;
//  rollback: after a proposal, a partial acceptance and Rollback(L), the next
//    proposal (tokens and q) equals that of a fresh drafter fed the committed
//    sequence, greedy and sampling.
#include "draft/drafter.h"

#include <cmath>

#include "draft/slice_spec.h"
#include "gtest/gtest.h"
#include "tests/testing/checkpoint_writer.h"
#include "tests/testing/model_loading.h"

namespace matspec {
namespace {

class DrafterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::TinyLlamaOptions opt;
    opt.vocab = 53;
    opt.hidden = 32;
    opt.layers = 3;
    opt.heads = 4;
    opt.kv_heads = 2;
    opt.ffn_widths = {64, 48, 64};
    opt.seed = 23;
    ASSERT_TRUE(testing::WriteTinyLlama(dir_.path(), opt).ok());
    auto loaded = testing::LoadLlama(dir_.path());
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    m_ = std::move(*loaded);
    auto spec = SliceSpecFromFlags("16", "", m_.config);
    ASSERT_TRUE(spec.ok()) << spec.status();
    auto slice = ValidateSlice(*spec, m_.config);
    ASSERT_TRUE(slice.ok()) << slice.status();
    slice_ = *slice;
  }

  std::unique_ptr<Drafter> NewDrafter(SamplingConfig sampling = {}, uint64_t seed = 5) {
    return std::make_unique<Drafter>(m_.model.get(), slice_, 128, sampling, seed);
  }

  testing::ScopedTempDir dir_{"drafter"};
  testing::LoadedModel m_;
  SliceView slice_;
  const std::vector<int32_t> prompt_ = {4, 17, 9, 33, 2, 41};
};

TEST_F(DrafterTest, DraftMinIsReachedExactlyWhenEveryStepWouldStop) {
  for (int64_t draft_min : {0, 1, 2, 4}) {
    auto drafter = NewDrafter();
    ASSERT_TRUE(drafter->Prefill(prompt_).ok());
    DraftPolicy policy;
    policy.draft_max = 4;
    policy.draft_min = draft_min;
    policy.draft_p_min = 0.999999f;  // a random model's top-1 probability is far below it
    DraftProposal out;
    ASSERT_TRUE(drafter->Propose(prompt_, policy.draft_max, policy, &out).ok());
    EXPECT_EQ(static_cast<int64_t>(out.tokens.size()), draft_min) << "draft_min " << draft_min;
    EXPECT_EQ(static_cast<int64_t>(out.q.size()), draft_min * m_.model->vocab_size());
  }
}

TEST_F(DrafterTest, WithoutPMinTheBudgetIsDraftedWhateverDraftMin) {
  for (int64_t budget : {1, 3, 4}) {
    auto drafter = NewDrafter();
    ASSERT_TRUE(drafter->Prefill(prompt_).ok());
    DraftPolicy policy;
    policy.draft_max = 4;
    policy.draft_min = 4;  // equal to draft_max
    DraftProposal out;
    ASSERT_TRUE(drafter->Propose(prompt_, budget, policy, &out).ok());
    EXPECT_EQ(static_cast<int64_t>(out.tokens.size()), budget);
  }
}

// One speculation round's cache protocol: propose 4, keep 1 and a correction,
// roll back; the next proposal must equal a fresh drafter's on the committed
// sequence (a cache that kept a rejected position would differ).
TEST_F(DrafterTest, ProposalAfterRollbackEqualsFreshDrafter) {
  SamplingConfig sampled;
  sampled.temperature = 0.9f;
  for (const SamplingConfig& sampling : {SamplingConfig{}, sampled}) {
    SCOPED_TRACE(sampling.greedy() ? "greedy" : "sampling");
    auto drafter = NewDrafter(sampling);
    ASSERT_TRUE(drafter->Prefill(prompt_).ok());
    DraftPolicy policy;
    policy.draft_max = 4;
    DraftProposal first;
    ASSERT_TRUE(drafter->Propose(prompt_, 4, policy, &first).ok());
    ASSERT_EQ(first.tokens.size(), 4u);
    std::vector<int32_t> committed = prompt_;
    committed.push_back(first.tokens[0]);                           // accepted
    committed.push_back((first.tokens[1] + 1) % m_.config.vocab_size);  // the correction
    ASSERT_TRUE(drafter->Rollback(static_cast<int64_t>(committed.size())).ok());
    EXPECT_EQ(drafter->cache_length(), static_cast<int64_t>(committed.size()) - 1);
    DraftProposal got;
    ASSERT_TRUE(drafter->Propose(committed, 3, policy, &got).ok());

    auto fresh = NewDrafter(sampling);
    ASSERT_TRUE(fresh->Prefill(committed).ok());
    DraftProposal want;
    ASSERT_TRUE(fresh->Propose(committed, 3, policy, &want).ok());
    EXPECT_EQ(got.tokens, want.tokens);
    ASSERT_EQ(got.q.size(), want.q.size());
    float worst = 0.f;
    for (size_t i = 0; i < got.q.size(); ++i) worst = std::max(worst, std::abs(got.q[i] - want.q[i]));
    EXPECT_LE(worst, 1e-6f) << "draft distributions after the rollback differ from a fresh drafter's";
  }
}

}  // namespace
}  // namespace matspec
