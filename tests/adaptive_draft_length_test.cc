// AdaptiveDraftLength: the bookkeeping and the choice of k, with a fixed draft
// cost (deterministic) and with measured times. Lossless decoding with it on
// is tested end to end in bundled_model_slow_test and sampling_lossless_test.
#include "draft/adaptive_draft_length.h"

#include <cmath>
#include <functional>
#include <utility>
#include <vector>

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

// The confidence stop. Rounds of 4 drafted tokens: the draft is sure (logit gap
// 2) of tokens the verifier keeps and unsure (gap 0.02) of the one it rejects.
// Times: 1 ms per drafted token, 2 ms for the rest of a round.
AdaptiveDraftLength SureThenUnsure(AdaptiveDraftLength::Options options = {.min_k = 0, .max_k = 6, .decay = 1.0}) {
  AdaptiveDraftLength a(options);
  const std::vector<float> gaps = {2.0f, 2.0f, 2.0f, 0.02f};
  for (int i = 0; i < 40; ++i) a.Record(4, 3, 4e-3, 2e-3, gaps);
  return a;
}

TEST(AdaptiveDraftLengthTest, AcceptanceIsCalibratedPerLogitGap) {
  const AdaptiveDraftLength a = SureThenUnsure();
  EXPECT_GT(a.GapAcceptance(2.0f), 0.95);
  EXPECT_GT(a.GapAcceptance(2.5f), 0.95) << "same bucket as 2.0";
  EXPECT_LT(a.GapAcceptance(0.02f), 0.1);
  EXPECT_NEAR(a.PooledGapAcceptance(), (120.0 + 1) / (160 + 2), 1e-12);
  // A bucket never seen takes the pooled rate.
  EXPECT_NEAR(a.GapAcceptance(0.4f), a.PooledGapAcceptance(), 1e-12);
  // 4 tokens per round of 6 ms.
  EXPECT_NEAR(a.MeasuredRate(), 4.0 / 6e-3, 1e-6);
  // Tokens past the first rejection were not verified: they teach nothing.
  AdaptiveDraftLength b({.min_k = 0, .max_k = 6, .decay = 1.0});
  for (int i = 0; i < 40; ++i) b.Record(3, 0, 3e-3, 2e-3, std::vector<float>{0.4f, 5.0f, 5.0f});
  EXPECT_LT(b.GapAcceptance(0.4f), 0.1);
  EXPECT_NEAR(b.GapAcceptance(5.0f), b.PooledGapAcceptance(), 1e-12);
  // Without gaps the calibration learns nothing (rounds from a runner that records none).
  AdaptiveDraftLength c({.min_k = 0, .max_k = 6, .decay = 1.0});
  for (int i = 0; i < 10; ++i) c.Record(3, 3, 3e-3, 2e-3);
  EXPECT_NEAR(c.PooledGapAcceptance(), 0.5, 1e-12);
}

TEST(AdaptiveDraftLengthTest, KeepsDraftingWhileTheDraftIsSure) {
  const AdaptiveDraftLength a = SureThenUnsure();
  const float sure[] = {2.0f, 2.0f, 2.0f, 2.0f, 2.0f};
  const float unsure[] = {2.0f, 0.02f};
  EXPECT_TRUE(a.KeepDrafting(nullptr, 0));
  for (int64_t drafted = 1; drafted <= 5; ++drafted) EXPECT_TRUE(a.KeepDrafting(sure, drafted)) << drafted;
  EXPECT_FALSE(a.KeepDrafting(sure, 6)) << "max_k";
  // After a token the verifier will almost surely reject, more tokens are waste.
  EXPECT_FALSE(a.KeepDrafting(unsure, 2));
  EXPECT_EQ(a.NextDraftCap(), 6);
  // min_k tokens are drafted whatever the draft's confidence.
  const AdaptiveDraftLength b = SureThenUnsure({.min_k = 3, .max_k = 6, .decay = 1.0});
  const float unsure_then_sure[] = {2.0f, 0.02f, 2.0f};
  EXPECT_TRUE(b.KeepDrafting(unsure_then_sure, 2));
  EXPECT_FALSE(b.KeepDrafting(unsure_then_sure, 3));
}

// The marginal rule: one more token is worth its time when what it is expected
// to add beats the rate reached so far. Here every round drafts 2 tokens of
// gap 1 (both kept) at 1 ms each plus 1 ms: 3 tokens per 3 ms, R = 1/ms. A
// third token of pooled acceptance ~1 adds ~1 token for 1 ms: at stop_margin
// 0.9 that pays, at 1.1 it does not.
TEST(AdaptiveDraftLengthTest, StopsWhereTheNextTokensDoNotPayTheirTime) {
  for (double margin : {0.9, 1.1}) {
    AdaptiveDraftLength a({.min_k = 0, .max_k = 4, .decay = 1.0, .probe_every = 0, .stop_margin = margin});
    for (int i = 0; i < 400; ++i) a.Record(2, 2, 2e-3, 1e-3, std::vector<float>{1.0f, 1.0f});
    EXPECT_NEAR(a.MeasuredRate(), 1000.0, 1e-6);
    const float gaps[] = {1.0f, 1.0f};
    EXPECT_EQ(a.KeepDrafting(gaps, 2), margin < 1.0) << margin;
  }
}

// The stop is the best stopping rule under the estimates: drafting token i + 1
// pays when the tokens it is expected to keep, plus what drafting on after it
// is then worth (stopping as soon as that no longer pays; its gap is not
// known before it is drafted), beat R times the extra round time. A
// brute-force recursion over every gap bucket the rounds saw, with the
// buckets' shares and calibrated acceptances, must give the same answer for
// every sequence of gaps a draft can have (the rule tabulates the values on a
// grid of the chance alive; decisions within 0.01 of the line are skipped).
// Verification here costs 0.6 ms more for a second token and 0.1 ms for a
// third and fourth (a CPU's tiles: bench/RESULTS.md §10.2.8), so looking only
// one token ahead decides otherwise in some states: a dear token followed by
// cheap ones can pay as a group.
TEST(AdaptiveDraftLengthTest, StopsWhereTheBestStoppingRuleDoes) {
  constexpr int64_t kMaxK = 5;
  AdaptiveDraftLength a({.min_k = 0, .max_k = kMaxK, .decay = 1.0, .probe_every = 0});
  // Gaps 2.5 (kept 29 times in 30) and 0.15 (kept 12 in 30), drawn in a fixed
  // pattern; rounds draft 1-5 tokens at 0.2 ms each, verification as above.
  const float kSure = 2.5f, kUnsure = 0.15f;
  const double verify_ms[kMaxK + 1] = {0.0, 1.0, 1.6, 1.7, 1.8, 2.4};
  double reached_sure = 0, reached_unsure = 0;
  for (int r = 0; r < 1000; ++r) {
    const int64_t k = 1 + r % kMaxK;
    std::vector<float> gaps;
    int64_t accepted = 0;
    bool alive = true;
    for (int64_t i = 0; i < k; ++i) {
      const int draw = (r * 7 + static_cast<int>(i) * 13) % 30;
      const bool sure = (r + i) % 3 != 0;
      gaps.push_back(sure ? kSure : kUnsure);
      if (!alive) continue;
      (sure ? reached_sure : reached_unsure) += 1;
      if (draw < (sure ? 29 : 12)) ++accepted; else alive = false;
    }
    a.Record(k, accepted, k * 0.2e-3, verify_ms[k] * 1e-3, gaps);
  }
  const double rate = a.MeasuredRate();
  const std::vector<std::pair<double, double>> outcomes = {
      {reached_sure / (reached_sure + reached_unsure), a.GapAcceptance(kSure)},
      {reached_unsure / (reached_sure + reached_unsure), a.GapAcceptance(kUnsure)}};
  ASSERT_GT(a.GapAcceptance(kSure), 0.9);
  ASSERT_LT(a.GapAcceptance(kUnsure), 0.5);
  std::vector<double> extra(kMaxK);
  for (int64_t i = 0; i < kMaxK; ++i) {
    extra[i] = a.RoundTime(i + 1) - a.RoundTime(i);
    ASSERT_GE(extra[i], a.DraftStepSeconds() - 1e-12) << "round times already rise by a draft step";
  }
  // continuation(i, alive): what drafting token i + 1 is worth, in tokens; value: the best of stopping (0) and it.
  std::function<double(int64_t, double)> value;
  const auto continuation = [&](int64_t i, double alive) {
    double worth = 0;
    for (const auto& [share, acceptance] : outcomes) worth += share * (alive * acceptance + value(i + 1, alive * acceptance));
    return worth;
  };
  value = [&](int64_t i, double alive) {
    return i >= kMaxK ? 0.0 : std::max(0.0, continuation(i, alive) - rate * extra[i]);
  };
  int keep = 0, stop = 0, myopic_differs = 0;
  for (int64_t drafted = 1; drafted < kMaxK; ++drafted) {
    for (int pattern = 0; pattern < (1 << drafted); ++pattern) {
      std::vector<float> gaps;
      double alive = 1.0;
      for (int64_t i = 0; i < drafted; ++i) {
        gaps.push_back((pattern >> i) & 1 ? kUnsure : kSure);
        alive *= a.GapAcceptance(gaps.back());
      }
      const double worth = continuation(drafted, alive), price = rate * extra[drafted];
      if (std::abs(worth - price) < 0.01) continue;
      EXPECT_EQ(a.KeepDrafting(gaps.data(), drafted), worth > price) << "drafted " << drafted << " pattern " << pattern;
      (worth > price ? keep : stop) += 1;
      double next = 0;
      for (const auto& [share, acceptance] : outcomes) next += share * alive * acceptance;
      if ((next > price) != (worth > price)) ++myopic_differs;
    }
  }
  EXPECT_GT(keep, 0);
  EXPECT_GT(stop, 0);
  EXPECT_GT(myopic_differs, 0) << "the scenario should need the look beyond the next token";
}

// Before the first token the margin is plain_margin (1): a drafting habit a
// little slower than plain rounds turns plain. Here rounds of 2 drafted tokens
// (both kept) take 3.2 ms for 3 tokens, plain rounds 1 ms for 1: drafting
// ahead adds ~0.9 tokens/ms against a rate of ~0.94/ms. At 0.9 it would
// draft on. Within a draft stop_margin applies instead.
TEST(AdaptiveDraftLengthTest, PlainMarginTurnsASlowerDraftingHabitPlain) {
  const auto habit = [](double stop_margin, double plain_margin) {
    AdaptiveDraftLength a({.min_k = 0, .max_k = 4, .decay = 1.0, .probe_every = 0, .stop_margin = stop_margin,
                           .plain_margin = plain_margin});
    for (int i = 0; i < 100; ++i) a.Record(2, 2, 2e-3, 1.2e-3, std::vector<float>{1.0f, 1.0f});
    for (int i = 0; i < 3; ++i) a.Record(0, 0, 0.0, 1e-3);
    EXPECT_NEAR(a.MeasuredRate(), 303.0 / 323e-3, 1e-6);
    return a;
  };
  EXPECT_EQ(habit(1.0, 1.0).NextDraftCap(), 0);
  EXPECT_EQ(habit(1.0, 0.9).NextDraftCap(), 4);
  const float sure[] = {1.0f};
  EXPECT_FALSE(habit(1.0, 1.0).KeepDrafting(sure, 1));
  EXPECT_TRUE(habit(0.9, 1.0).KeepDrafting(sure, 1));
}

// Acceptance fades with drafting rounds only: a run of plain rounds leaves the
// estimates where the last drafting round put them (fading them there drew
// them towards the prior 1/2 until drafting looked too poor to try).
TEST(AdaptiveDraftLengthTest, PlainRoundsLeaveAcceptanceAlone) {
  AdaptiveDraftLength a({.min_k = 0, .max_k = 4, .decay = 0.98, .probe_every = 0});
  for (int i = 0; i < 60; ++i) a.Record(2, i % 10 == 0 ? 1 : 2, 1e-3, 1e-3, std::vector<float>{1.0f, 0.4f});
  const double position1 = a.ConditionalAcceptance(1), position2 = a.ConditionalAcceptance(2);
  const double sure = a.GapAcceptance(1.0f), unsure = a.GapAcceptance(0.4f);
  for (int i = 0; i < 300; ++i) a.Record(0, 0, 0.0, 1e-3);
  EXPECT_NEAR(a.ConditionalAcceptance(1), position1, 1e-12);
  EXPECT_NEAR(a.ConditionalAcceptance(2), position2, 1e-12);
  EXPECT_NEAR(a.GapAcceptance(1.0f), sure, 1e-12);
  EXPECT_NEAR(a.GapAcceptance(0.4f), unsure, 1e-12);
  EXPECT_LT(a.ConditionalAcceptance(2), 0.95) << "the estimates are not at a bound";
  // Drafting rounds still fade them: a change of text shows.
  for (int i = 0; i < 100; ++i) a.Record(2, 0, 1e-3, 1e-3, std::vector<float>{1.0f, 0.4f});
  EXPECT_LT(a.ConditionalAcceptance(1), 0.3);
}

// A draft that is never kept: plain rounds (the cap falls to min_k = 0).
// Drafting rounds (4 tokens, 1 ms each, plus 0.1 ms per token missed in plain
// rounds before) alternate with runs of plain ones; every round's rest is 1 ms.
TEST(AdaptiveDraftLengthTest, CapFallsToMinKWhenDraftingDoesNotPay) {
  AdaptiveDraftLength a({.min_k = 0, .max_k = 4, .decay = 1.0});
  EXPECT_EQ(a.NextDraftCap(), 4) << "before any round";
  for (int i = 0; i < 30; ++i) {
    a.Record(4, 0, 4e-3 + 0.1e-3 * (i % 3), 1e-3, std::vector<float>{0.5f});
    for (int p = 0; p < (i + 1) % 3; ++p) a.Record(0, 0, 0.0, 1e-3);
  }
  EXPECT_NEAR(a.CatchUpSeconds(), 0.1e-3, 1e-9);
  EXPECT_EQ(a.NextDraftCap(), 0);
  EXPECT_FALSE(a.KeepDrafting(nullptr, 0));
  // probe_every (8) plain rounds in a row: one round may draft again.
  int plain = 0;
  while (a.NextDraftCap() == 0 && plain < 100) {
    a.Record(0, 0, 0.0, 1e-3);
    ++plain;
  }
  EXPECT_EQ(a.NextDraftCap(), 4);
  EXPECT_EQ(a.plain_run(), 8);
  EXPECT_EQ(plain, 8) << "the pattern ended on a drafting round";
  a.Record(1, 0, 1e-3, 1e-3, std::vector<float>{0.5f});
  EXPECT_EQ(a.NextDraftCap(), 0);
  // Each probe after which the rule stays plain doubles the run before the next, up to 128.
  for (int64_t expected : {16, 32, 64, 128, 128}) {
    plain = 0;
    while (a.NextDraftCap() == 0 && plain < 1000) {
      a.Record(0, 0, 0.0, 1e-3);
      ++plain;
    }
    EXPECT_EQ(plain, expected);
    EXPECT_EQ(a.probe_interval(), expected);
    a.Record(1, 0, 1e-3 + 0.1e-3 * plain, 1e-3, std::vector<float>{0.5f});  // the probe, which catches up
  }
  // A probe after which the rule drafts a few rounds and then turns plain again
  // failed all the same: the interval stays at its ceiling.
  for (int i = 0; i < 7; ++i) a.Record(2, 2, 2.0e-3, 1e-3, std::vector<float>{2.f, 2.f});
  a.Record(0, 0, 0.0, 1e-3);
  EXPECT_EQ(a.probe_interval(), 128);
  // Rounds the rule chose to draft, probe_every (8) of them in a row, put it back.
  for (int i = 0; i < 7; ++i) a.Record(2, 2, 2.0e-3, 1e-3, std::vector<float>{2.f, 2.f});
  EXPECT_EQ(a.probe_interval(), 128) << "7 drafting rounds: not yet";
  a.Record(2, 2, 2.0e-3, 1e-3, std::vector<float>{2.f, 2.f});
  EXPECT_EQ(a.probe_interval(), 8);
  // Absorb hands the interval to a fresh estimator (a new sequence seeded by a memory).
  AdaptiveDraftLength b({.min_k = 0, .max_k = 4, .decay = 1.0});
  a.set_probe_interval(64);
  b.Absorb(a, 64, 8);
  EXPECT_EQ(b.probe_interval(), 64);
  b.set_probe_interval(1000);
  EXPECT_EQ(b.probe_interval(), 128);
  AdaptiveDraftLength never({.min_k = 0, .max_k = 4, .probe_every = 0});
  never.Absorb(a, 64, 8);
  EXPECT_EQ(never.probe_interval(), 0) << "probe_every 0: never probes";
}

// A round that took far longer than expected (another process held the core)
// counts as twice the expected time, so a few of them cannot swing the choice.
TEST(AdaptiveDraftLengthTest, InterruptedRoundsAreClipped) {
  AdaptiveDraftLength a({.min_k = 0, .max_k = 4, .decay = 1.0});
  double draft = 30e-3, verify = 15e-3;
  a.ClipInterrupted(2, &draft, &verify);
  EXPECT_EQ(draft, 30e-3) << "no estimates yet: nothing to compare with";
  for (int i = 0; i < 20; ++i) a.Record(2, 1, 2e-3, 1e-3);
  a.ClipInterrupted(2, &draft, &verify);
  // Twice the expected round time: T(2), raised to at most a draft step above T(1) + a step.
  const double expected = (draft + verify) / 2;
  EXPECT_GE(expected, a.RoundTime(2) - 1e-12);
  EXPECT_LE(expected, a.RoundTime(2) + a.DraftStepSeconds());
  EXPECT_LT(expected, 5e-3);
  EXPECT_NEAR(draft / verify, 2.0, 1e-12) << "draft and verification scaled alike";
  double slow_draft = expected, slow_verify = expected / 2;  // 1.5x: slow, not interrupted
  a.ClipInterrupted(2, &slow_draft, &slow_verify);
  EXPECT_EQ(slow_draft, expected);
  EXPECT_EQ(slow_verify, expected / 2);
  double negative_draft = -1.0, negative_verify = -1.0;
  a.ClipInterrupted(2, &negative_draft, &negative_verify);
  EXPECT_EQ(negative_draft, 0.0);
  EXPECT_EQ(negative_verify, 0.0);
  // Record clips: a 15x round moves the estimates as the clipped one would ...
  AdaptiveDraftLength b = a, c = a, d = a;
  b.Record(2, 1, 30e-3, 15e-3);
  c.Record(2, 1, draft, verify);
  EXPECT_NEAR(b.RoundTime(2), c.RoundTime(2), 1e-12);
  EXPECT_NEAR(b.MeasuredRate(), c.MeasuredRate(), 1e-9);
  // ... and RecordAsMeasured does not.
  d.RecordAsMeasured(2, 1, 30e-3, 15e-3);
  EXPECT_GT(d.RoundTime(2), c.RoundTime(2) + 0.5e-3);
}

// With a fixed draft cost the rate and times are in verification passes.
TEST(AdaptiveDraftLengthTest, ConfidenceStopWithAFixedDraftCost) {
  AdaptiveDraftLength a({.min_k = 1, .max_k = 8, .draft_cost = 0.1, .decay = 1.0});
  for (int i = 0; i < 40; ++i) a.Record(4, 3, 0, 0, std::vector<float>{3.5f, 3.5f, 3.5f, 0.01f});
  EXPECT_NEAR(a.MeasuredRate(), 4.0 / 1.4, 1e-9);
  const float sure[] = {3.5f, 3.5f};
  const float unsure[] = {0.01f};
  EXPECT_TRUE(a.KeepDrafting(sure, 2));
  EXPECT_FALSE(a.KeepDrafting(unsure, 1));
}

// Absorb carries the calibration and the rate, weighed as timing.
TEST(AdaptiveDraftLengthTest, AbsorbCarriesTheGapCalibration) {
  const AdaptiveDraftLength learned = SureThenUnsure();
  AdaptiveDraftLength fresh({.min_k = 0, .max_k = 6, .decay = 1.0});
  fresh.Absorb(learned, 16, 8);
  EXPECT_GT(fresh.GapAcceptance(2.0f), 0.9);
  EXPECT_LT(fresh.GapAcceptance(0.02f), 0.15);
  EXPECT_NEAR(fresh.MeasuredRate(), learned.MeasuredRate(), 1e-6);
  const float unsure[] = {0.02f};
  EXPECT_FALSE(fresh.KeepDrafting(unsure, 1));
}

}  // namespace
}  // namespace matspec
