// AdaptiveDraftLength: the bookkeeping and the choice of k, with a fixed draft
// cost (deterministic) and with measured times. Lossless decoding with it on
// is tested end to end in bundled_model_slow_test and sampling_lossless_test.
#include "draft/adaptive_draft_length.h"

#include <cmath>

#include "gtest/gtest.h"

namespace matspec {
namespace {

AdaptiveDraftLength WithCost(double c, int64_t max_k = 8) {
  return AdaptiveDraftLength({.min_k = 1, .max_k = max_k, .draft_cost = c, .decay = 1.0});
}

// Feeds `rounds` rounds of `k` drafted tokens where each position is accepted
// (given the earlier ones) with probability `a`: the expected counts, rounded.
void FeedRate(AdaptiveDraftLength* adaptive, double a, int64_t k, int rounds) {
  // Round r accepts the first n tokens, with n distributed as under a constant conditional rate.
  std::vector<int64_t> accepted_counts;
  for (int64_t n = 0; n <= k; ++n) {
    const double p = n < k ? std::pow(a, n) * (1 - a) : std::pow(a, k);
    for (int i = 0; i < static_cast<int>(std::lround(p * rounds)); ++i) accepted_counts.push_back(n);
  }
  for (int64_t n : accepted_counts) adaptive->Record(k, n, 0.0, 0.0);
}

TEST(AdaptiveDraftLengthTest, StartsAtMaxK) {
  EXPECT_EQ(WithCost(0.1).NextDraftLength(), 8);
  EXPECT_EQ(AdaptiveDraftLength({.min_k = 2, .max_k = 5}).NextDraftLength(), 5);
}

TEST(AdaptiveDraftLengthTest, OptionsAreClamped) {
  AdaptiveDraftLength a({.min_k = 0, .max_k = -3, .draft_cost = 0.5, .decay = 7.0});
  EXPECT_EQ(a.NextDraftLength(), 1);  // min_k 1, max_k raised to it
  a.Record(1, 1, 0, 0);
  EXPECT_EQ(a.NextDraftLength(), 1);
}

TEST(AdaptiveDraftLengthTest, EveryTokenAcceptedAndCheapDraftKeepsMaxK) {
  AdaptiveDraftLength a = WithCost(0.05);
  for (int i = 0; i < 20; ++i) a.Record(8, 8, 0, 0);
  EXPECT_EQ(a.NextDraftLength(), 8);
  EXPECT_GT(a.ConditionalAcceptance(1), 0.9);
}

TEST(AdaptiveDraftLengthTest, NothingAcceptedFallsToMinK) {
  AdaptiveDraftLength a({.min_k = 2, .max_k = 8, .draft_cost = 0.2, .decay = 1.0});
  for (int i = 0; i < 20; ++i) a.Record(8, 0, 0, 0);
  EXPECT_EQ(a.NextDraftLength(), 2);
  EXPECT_LT(a.ConditionalAcceptance(1), 0.1);
}

// With a constant conditional rate a and cost c the best k maximises
// (1 - a^(k+1)) / ((1 - a)(k c + 1)); here checked on cases worked by hand.
TEST(AdaptiveDraftLengthTest, ChoosesTheAnalyticOptimum) {
  {  // a = 0.5, c = 0.5: k=1 gives 1.5/1.5 = 1.0, k=2 gives 1.75/2 = 0.875
    AdaptiveDraftLength a = WithCost(0.5);
    FeedRate(&a, 0.5, 8, 4000);
    EXPECT_EQ(a.NextDraftLength(), 1);
  }
  {  // a = 0.9, c = 0.05: the rate still grows at k = 8 (4.38 vs 4.27 at k = 7)
    AdaptiveDraftLength a = WithCost(0.05);
    FeedRate(&a, 0.9, 8, 4000);
    EXPECT_EQ(a.NextDraftLength(), 8);
  }
  {  // a = 0.8, c = 0.2: k=2 2.44/1.4 = 1.743, k=3 2.952/1.6 = 1.845, k=4 3.362/1.8 = 1.868, k=5 3.689/2.0
     // = 1.845
    AdaptiveDraftLength a = WithCost(0.2);
    FeedRate(&a, 0.8, 8, 20000);
    EXPECT_NEAR(a.ConditionalAcceptance(1), 0.8, 0.01);
    EXPECT_NEAR(a.ConditionalAcceptance(5), 0.8, 0.02);
    EXPECT_EQ(a.NextDraftLength(), 4);
  }
}

TEST(AdaptiveDraftLengthTest, ExpectedTokensFollowsTheConditionalRates) {
  AdaptiveDraftLength a = WithCost(0.1, 2);
  // 10 rounds of k = 2: 4 reject position 1, 3 reject position 2, 3 accept both.
  for (int i = 0; i < 4; ++i) a.Record(2, 0, 0, 0);
  for (int i = 0; i < 3; ++i) a.Record(2, 1, 0, 0);
  for (int i = 0; i < 3; ++i) a.Record(2, 2, 0, 0);
  // pooled = (6 + 3 + 1) / (10 + 6 + 2) = 10/18; a1 = (6 + 2 pooled) / 12; a2 = (3 + 2 pooled) / 8.
  const double pooled = 10.0 / 18.0, a1 = (6 + 2 * pooled) / 12, a2 = (3 + 2 * pooled) / 8;
  EXPECT_NEAR(a.ConditionalAcceptance(1), a1, 1e-12);
  EXPECT_NEAR(a.ConditionalAcceptance(2), a2, 1e-12);
  EXPECT_NEAR(a.ConditionalAcceptance(7), pooled, 1e-12);  // never drafted: the pooled rate
  EXPECT_NEAR(a.ExpectedTokens(2), 1 + a1 + a1 * a2, 1e-12);
  EXPECT_NEAR(a.RoundTime(2), 1.2, 1e-12);
}

// Measured times: verification that grows with k (a compute-bound verifier)
// makes long drafts expensive even when drafting itself is cheap.
TEST(AdaptiveDraftLengthTest, MeasuredVerificationSlopeShortensDrafts) {
  AdaptiveDraftLength flat({.min_k = 1, .max_k = 8, .decay = 1.0});
  AdaptiveDraftLength steep({.min_k = 1, .max_k = 8, .decay = 1.0});
  for (int i = 0; i < 200; ++i) {
    const int64_t k = 1 + i % 8, accepted = (i % 3 == 0) ? k : k / 2;  // acceptance ~0.7
    flat.Record(k, accepted, 0.01 * k, 1.0);
    steep.Record(k, accepted, 0.01 * k, 1.0 + 0.5 * k);
  }
  EXPECT_NEAR(steep.RoundTime(0), 1.0, 1e-9);
  EXPECT_NEAR(steep.RoundTime(4), 4 * 0.51 + 1.0, 1e-9);
  EXPECT_LT(steep.BestDraftLength(), flat.BestDraftLength());
}

// Measured times: the first rounds probe max_k, the middle and min_k (so the
// verification line has points), then a neighbour of the choice every probe_every rounds.
TEST(AdaptiveDraftLengthTest, MeasuredTimesProbeOtherLengths) {
  AdaptiveDraftLength a({.min_k = 2, .max_k = 8, .decay = 1.0, .probe_every = 4});
  std::vector<int64_t> ks;
  for (int i = 0; i < 13; ++i) {
    const int64_t k = a.NextDraftLength();
    ks.push_back(k);
    a.Record(k, k, 0.001 * k, 0.01);  // everything accepted, flat verification: the best k is max_k
  }
  EXPECT_EQ(ks[0], 8);
  EXPECT_EQ(ks[1], 5);
  EXPECT_EQ(ks[2], 2);
  EXPECT_EQ(a.BestDraftLength(), 8);
  EXPECT_EQ(ks[3], 8);
  EXPECT_EQ(ks[4], 7);   // round 4: a probe; one above 8 is out of range, so one below
  EXPECT_EQ(ks[8], 7);   // round 8: one below
  EXPECT_EQ(ks[12], 7);  // round 12: one above is out of range again
  for (int i : {5, 6, 7, 9, 10, 11}) EXPECT_EQ(ks[i], 8) << i;
  // A single allowed k is never left.
  AdaptiveDraftLength one({.min_k = 3, .max_k = 3, .probe_every = 1});
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(one.NextDraftLength(), 3);
    one.Record(3, 1, 0.01, 0.01);
  }
}

// With min_k = 0 a plain round (k = 0) wins when drafting costs more than it
// brings, and the probes keep measuring k = 1 so that k can come back.
TEST(AdaptiveDraftLengthTest, PlainRoundsWinWhenDraftingDoesNotPay) {
  AdaptiveDraftLength a({.min_k = 0, .max_k = 4, .decay = 1.0, .probe_every = 8});
  std::vector<int64_t> ks;
  for (int i = 0; i < 40; ++i) {
    const int64_t k = a.NextDraftLength();
    ks.push_back(k);
    // Each drafted token costs 0.9 of a verification pass and half are accepted.
    a.Record(k, k / 2, 0.9 * k, 1.0);
  }
  EXPECT_EQ(ks[2], 0);  // the third probe: min_k
  EXPECT_EQ(a.BestDraftLength(), 0);
  EXPECT_NEAR(a.RoundTime(0), 1.0, 1e-9);
  EXPECT_EQ(ks[16], 1);  // a probe above 0
  EXPECT_EQ(ks[24], 1);  // below 0 is out of range: above again
  EXPECT_EQ(ks[20], 0);
  // A fixed cost has no probes, so it never goes down to 0.
  EXPECT_EQ(AdaptiveDraftLength({.min_k = 0, .max_k = 4, .draft_cost = 5.0}).NextDraftLength(), 4);
  AdaptiveDraftLength fixed({.min_k = 0, .max_k = 4, .draft_cost = 5.0});
  fixed.Record(4, 0, 0, 0);
  EXPECT_EQ(fixed.NextDraftLength(), 1);
}

// A drafting round first feeds the tokens its draft missed: one after a fully
// accepted round, one more per plain round before it. That catch-up is fitted
// apart from the cost per drafted token (else plain rounds would make drafting
// look dearer, and win more often), and a plain round is charged for the token
// it leaves the draft to catch up on.
TEST(AdaptiveDraftLengthTest, CatchUpAfterPlainRoundsIsFittedApart) {
  AdaptiveDraftLength a({.min_k = 0, .max_k = 4, .decay = 1.0, .probe_every = 0});
  EXPECT_EQ(a.CatchUpSeconds(), 0.0);
  int64_t missed = 0;
  // A fixed pattern: plain runs of 0-3 rounds between drafting rounds of k = 1-4,
  // some fully accepted. Draft seconds = 1.0 per drafted token + 0.25 per missed one.
  for (int i = 0; i < 60; ++i) {
    for (int p = 0; p < i % 4; ++p) {
      a.Record(0, 0, 0.0, 2.0);
      ++missed;
    }
    const int64_t k = 1 + (i + i / 4) % 4, accepted = i % 3 == 0 ? k : 0;
    a.Record(k, accepted, 1.0 * k + 0.25 * missed, 2.0);
    missed = accepted == k ? 1 : 0;
  }
  EXPECT_NEAR(a.DraftStepSeconds(), 1.0, 1e-9);
  EXPECT_NEAR(a.CatchUpSeconds(), 0.25, 1e-9);
  EXPECT_NEAR(a.RoundTime(0), 2.0 + 0.25, 1e-9);
  const double all_accepted_2 = a.ConditionalAcceptance(1) * a.ConditionalAcceptance(2);
  EXPECT_NEAR(a.RoundTime(2), 2.0 + 2 * 1.0 + 0.25 * all_accepted_2, 1e-9);
  // Until the missed counts vary, a missed token is taken to cost a draft step.
  AdaptiveDraftLength b({.min_k = 0, .max_k = 4, .decay = 1.0});
  for (int i = 0; i < 5; ++i) b.Record(2, 0, 0.5, 1.0);
  EXPECT_NEAR(b.DraftStepSeconds(), 0.25, 1e-12);
  EXPECT_NEAR(b.CatchUpSeconds(), 0.25, 1e-12);
  // Absorb carries the fit.
  AdaptiveDraftLength c({.min_k = 0, .max_k = 4, .decay = 1.0});
  c.Absorb(a, 16, 8);
  EXPECT_NEAR(c.DraftStepSeconds(), 1.0, 1e-9);
  EXPECT_NEAR(c.CatchUpSeconds(), 0.25, 1e-9);
}

// Old rounds fade: after a run of rejections, a run of full acceptances lifts k again.
TEST(AdaptiveDraftLengthTest, FollowsAChangeInAcceptance) {
  AdaptiveDraftLength a({.min_k = 1, .max_k = 6, .draft_cost = 0.1, .decay = 0.9});
  for (int i = 0; i < 50; ++i) a.Record(a.NextDraftLength(), 0, 0, 0);
  EXPECT_EQ(a.NextDraftLength(), 1);
  for (int i = 0; i < 60; ++i) {
    const int64_t k = a.NextDraftLength();
    a.Record(k, k, 0, 0);
  }
  EXPECT_EQ(a.NextDraftLength(), 6);
}

// Absorb: another estimator's rounds count as a capped prior; a seeded
// estimator with a known verification line skips the opening probes.
TEST(AdaptiveDraftLengthTest, AbsorbSeedsAndIsCapped) {
  AdaptiveDraftLength learned({.min_k = 1, .max_k = 8, .decay = 1.0});
  for (int i = 0; i < 100; ++i) {
    const int64_t k = 1 + i % 8;
    learned.Record(k, k, 0.001 * k, 1.0 + 0.5 * k);  // steep verification, all accepted
  }
  ASSERT_TRUE(learned.KnowsVerificationSlope());
  AdaptiveDraftLength fresh({.min_k = 1, .max_k = 8, .decay = 1.0});
  EXPECT_FALSE(fresh.KnowsVerificationSlope());
  fresh.Absorb(learned, 16, 4);
  EXPECT_NEAR(fresh.weight(), 16.0, 1e-9);
  EXPECT_TRUE(fresh.KnowsVerificationSlope());
  EXPECT_NEAR(fresh.RoundTime(4), learned.RoundTime(4), 1e-9) << "scaling keeps the fitted line";
  EXPECT_NEAR(fresh.ConditionalAcceptance(1), learned.ConditionalAcceptance(1), 0.05);
  // One wide probe (the far end from the choice: min_k here), then the optimum
  // of the seeded estimates (near the learned one; the capped acceptance prior
  // is a little more cautious), never the unseeded middle probe.
  EXPECT_GE(fresh.BestDraftLength(), learned.BestDraftLength() - 2);
  EXPECT_EQ(fresh.NextDraftLength(), 1);
  fresh.Record(1, 1, 0.001, 1.5);
  for (int i = 0; i < 3; ++i) {
    const int64_t k = fresh.NextDraftLength();
    EXPECT_EQ(k, fresh.BestDraftLength()) << "round " << i;
    EXPECT_GT(k, 1) << "round " << i;
    fresh.Record(k, k, 0.001 * k, 1.0 + 0.5 * k);
  }
  // The prior is capped: 20 own rounds of rejections outweigh its 4 rounds of acceptance,
  // and the same machine's costs make k = 1 the choice.
  for (int i = 0; i < 21; ++i) {  // 25 rounds in all: the next is not a probe
    const int64_t k = fresh.NextDraftLength();
    fresh.Record(k, 0, 0.001 * k, 1.0 + 0.5 * k);
  }
  EXPECT_LT(fresh.ConditionalAcceptance(1), 0.35);
  EXPECT_EQ(fresh.NextDraftLength(), 1);
  // Absorbing an estimator with no timing seeds nothing.
  AdaptiveDraftLength empty({.min_k = 1, .max_k = 8});
  AdaptiveDraftLength other({.min_k = 1, .max_k = 8});
  other.Absorb(empty, 16, 4);
  EXPECT_EQ(other.weight(), 0);
  EXPECT_EQ(other.NextDraftLength(), 8);
}

}  // namespace
}  // namespace matspec
