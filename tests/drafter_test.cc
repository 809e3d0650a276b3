// The Drafter below the decoding loop, on a tiny random llama model:
//  draft length: with --draft-p-min set so high that every step would stop,
//    exactly draft_min tokens are drafted (the boundary "i == draft_min" stops),
//    draft_min == draft_max drafts them all, draft_min == 0 drafts none;
//  rollback: after a proposal, a partial acceptance and Rollback(L), the next
//    proposal (tokens and q) equals that of a fresh drafter fed the committed
//    sequence, greedy and sampling;
//  adopted rows (DraftPolicy::adopt_verifier_kv): AdoptRows copies the other
//    cache's rows of exactly the missing positions, a full-slice draft that
//    adopts a full-slice cache proposes what one that prefilled proposes, and
//    a cache of another layout or one too short is refused with nothing copied.
#include "draft/drafter.h"

#include <algorithm>
#include <cmath>
#include <vector>

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

// A stop rule that allows `keep` tokens and records what it was shown.
class CountingStop final : public DraftStopRule {
 public:
  explicit CountingStop(int64_t keep) : keep_(keep) {}
  bool KeepDrafting(const float* gaps, int64_t drafted) const override {
    seen.assign(gaps, gaps + drafted);
    ++calls;
    return drafted < keep_;
  }
  mutable std::vector<float> seen;
  mutable int calls = 0;

 private:
  int64_t keep_;
};

// The stop rule ends the draft after the token it refuses at, is asked after
// every token once draft_min are drafted, never changes the tokens drafted
// (a prefix of the full proposal), and sees each token's logit gap.
TEST_F(DrafterTest, StopRuleEndsTheDraftAfterDraftMin) {
  auto full_drafter = NewDrafter();
  ASSERT_TRUE(full_drafter->Prefill(prompt_).ok());
  DraftPolicy policy;
  policy.draft_max = 6;
  DraftProposal full;
  ASSERT_TRUE(full_drafter->Propose(prompt_, 6, policy, &full).ok());
  ASSERT_EQ(full.tokens.size(), 6u);
  EXPECT_TRUE(full.logit_gap.empty()) << "no rule, no record: no gaps";
  for (int64_t draft_min : {0, 2}) {
    for (int64_t keep : {1, 3, 6}) {
      auto drafter = NewDrafter();
      ASSERT_TRUE(drafter->Prefill(prompt_).ok());
      CountingStop stop(keep);
      policy.draft_min = draft_min;
      policy.stop_rule = &stop;
      DraftProposal out;
      ASSERT_TRUE(drafter->Propose(prompt_, 6, policy, &out).ok());
      const int64_t want = std::max(keep, draft_min);
      ASSERT_EQ(static_cast<int64_t>(out.tokens.size()), want) << "keep " << keep << " min " << draft_min;
      EXPECT_TRUE(std::equal(out.tokens.begin(), out.tokens.end(), full.tokens.begin()));
      ASSERT_EQ(out.logit_gap.size(), out.tokens.size());
      for (float g : out.logit_gap) EXPECT_GE(g, 0.f);
      // Asked after tokens max(draft_min, 1) .. want (not after the last of the budget).
      const int64_t asked = std::min<int64_t>(want, 5) - std::max<int64_t>(draft_min, 1) + 1;
      EXPECT_EQ(stop.calls, asked) << "keep " << keep << " min " << draft_min;
      if (stop.calls > 0) {
        EXPECT_EQ(stop.seen, std::vector<float>(out.logit_gap.begin(), out.logit_gap.begin() + stop.seen.size()));
      }
    }
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

// A cache of the full model filled by a forward over sequence[0..L-2]: what the verifier holds.
std::unique_ptr<KvCache> FullCacheOf(const Model& model, const std::vector<int32_t>& sequence) {
  const SliceView full = model.FullSlice();
  auto cache = model.NewKvCache(full, 128);
  auto scratch = model.NewScratch();
  ForwardArgs args;
  args.slice = &full;
  args.tokens = sequence.data();
  args.t = static_cast<int64_t>(sequence.size()) - 1;
  args.kv = cache.get();
  args.scratch = scratch.get();
  EXPECT_TRUE(model.Forward(args).ok());
  return cache;
}

TEST_F(DrafterTest, AdoptedRowsAreTheOtherCachesOfTheMissingPositions) {
  std::vector<int32_t> longer = prompt_;
  longer.insert(longer.end(), {7, 30, 12});
  const std::unique_ptr<KvCache> full = FullCacheOf(*m_.model, longer);
  auto drafter = NewDrafter();
  ASSERT_TRUE(drafter->Prefill(prompt_).ok());  // its own rows of prompt_[0..4]
  const int64_t own = drafter->cache_length();
  ASSERT_TRUE(drafter->CanAdoptRows(*full));
  ASSERT_TRUE(drafter->AdoptRows(*full, static_cast<int64_t>(longer.size())).ok());
  ASSERT_EQ(drafter->cache_length(), static_cast<int64_t>(longer.size()) - 1);
  const KvCache& got = drafter->cache();
  const int64_t row = got.row_floats();
  for (int64_t l = 0; l < got.num_layers(); ++l) {
    ASSERT_TRUE(got.stores(l));
    for (int64_t i = 0; i < (got.length() - own) * row; ++i) {
      ASSERT_EQ(got.keys(l)[own * row + i], full->keys(l)[own * row + i]) << "layer " << l;
      ASSERT_EQ(got.values(l)[own * row + i], full->values(l)[own * row + i]) << "layer " << l;
    }
  }
  // The slice's own rows stay its own: the draft's layers above 0 differ from the full model's.
  bool differs = false;
  for (int64_t i = 0; i < own * row; ++i) differs = differs || got.keys(2)[i] != full->keys(2)[i];
  EXPECT_TRUE(differs);
  // Nothing missing: nothing copied.
  EXPECT_TRUE(drafter->AdoptRows(*full, static_cast<int64_t>(longer.size())).ok());
  EXPECT_EQ(drafter->cache_length(), static_cast<int64_t>(longer.size()) - 1);
}

TEST_F(DrafterTest, FullSliceDraftThatAdoptsProposesWhatOneThatPrefilledDoes) {
  slice_ = m_.model->FullSlice();
  SamplingConfig sampled;
  sampled.temperature = 0.9f;
  for (const SamplingConfig& sampling : {SamplingConfig{}, sampled}) {
    SCOPED_TRACE(sampling.greedy() ? "greedy" : "sampling");
    const std::unique_ptr<KvCache> full = FullCacheOf(*m_.model, prompt_);
    DraftPolicy policy;
    policy.draft_max = 4;
    auto adopting = NewDrafter(sampling);
    ASSERT_TRUE(adopting->AdoptRows(*full, static_cast<int64_t>(prompt_.size())).ok());
    DraftProposal got;
    ASSERT_TRUE(adopting->Propose(prompt_, 4, policy, &got).ok());
    auto prefilled = NewDrafter(sampling);
    ASSERT_TRUE(prefilled->Prefill(prompt_).ok());
    DraftProposal want;
    ASSERT_TRUE(prefilled->Propose(prompt_, 4, policy, &want).ok());
    EXPECT_EQ(got.tokens, want.tokens);
    EXPECT_EQ(got.q, want.q);
  }
}

TEST_F(DrafterTest, AdoptingFromAnotherLayoutOrATooShortCacheIsRefused) {
  auto drafter = NewDrafter();
  // Another head_dim: not the same layout.
  KvCache other(std::vector<bool>(m_.config.num_layers, true), m_.config.num_kv_heads, m_.config.head_dim + 2, 128);
  other.Advance(8);
  EXPECT_FALSE(drafter->CanAdoptRows(other));
  absl::Status s = drafter->AdoptRows(other, 6);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_EQ(drafter->cache_length(), 0);
  // The right layout but only 3 positions held: rows up to 5 cannot come from it.
  const std::unique_ptr<KvCache> short_cache = FullCacheOf(*m_.model, {4, 17, 9, 33});
  s = drafter->AdoptRows(*short_cache, 6);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_EQ(drafter->cache_length(), 0);
  // A draft cache that skips a layer needs only the layers it stores; a source lacking one it stores is refused.
  std::vector<bool> without_first(m_.config.num_layers, true);
  without_first[0] = false;
  KvCache lacking(without_first, m_.config.num_kv_heads, m_.config.head_dim, 128);
  EXPECT_FALSE(drafter->CanAdoptRows(lacking));
  EXPECT_TRUE(CanCopyKvRows(*short_cache, lacking));
}

}  // namespace
}  // namespace matspec
