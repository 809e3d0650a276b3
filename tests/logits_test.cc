// Logits processing and sampling, the three kinds of test of stochastic code:
//  exact answers: argmax and greedy one-hot (ties to the lowest id), top-k with
//    ties at the boundary, top-p on both sides of a boundary, top-p measured
//    on the top-k set, -inf logits;
//  invariants: probabilities sum to 1, are exactly 0 outside the kept set and
//    proportional to exp(logit / T) inside it (against an f64 reference that
//    fully sorts), on a 262,144-token vocabulary too; SampleFromWeights never
//    returns a zero-weight token, even for u just below 1;
//  frequency: 200,000 seeded draws follow a fixed distribution (chi-squared).
#include "kernels/logits.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "tests/testing/kernel_checks.h"

namespace matspec {
namespace {

using ::matspec::testing::AllClose;
using ::matspec::testing::kProbSumTol;
using ::matspec::testing::kProbsTol;

std::vector<float> Process(const std::vector<float>& logits, SamplingConfig cfg) {
  std::vector<float> probs(logits.size(), -1.f);
  std::vector<int32_t> scratch(logits.size());
  ProcessLogits(logits.data(), static_cast<int64_t>(logits.size()), cfg, probs.data(), scratch.data());
  return probs;
}

// f64 reference: full sort by (logit desc, id asc), then the header's rules.
std::vector<double> Reference(const std::vector<float>& logits, SamplingConfig cfg) {
  const int64_t n = static_cast<int64_t>(logits.size());
  std::vector<int32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return logits[a] != logits[b] ? logits[a] > logits[b] : a < b;
  });
  const double m = logits[order[0]];
  std::vector<double> w(n);
  for (int64_t v = 0; v < n; ++v) w[v] = std::exp((logits[v] - m) / cfg.temperature);
  int64_t kept = n;
  if (cfg.top_k > 0 && cfg.top_k < n) kept = cfg.top_k;
  if (cfg.top_p < 1.f) {
    double total = 0;
    for (int64_t i = 0; i < kept; ++i) total += w[order[i]];
    double mass = 0;
    int64_t prefix = 0;
    while (prefix < kept) {
      mass += w[order[prefix++]];
      if (mass >= cfg.top_p * total) break;
    }
    kept = prefix;
  }
  double total = 0;
  for (int64_t i = 0; i < kept; ++i) total += w[order[i]];
  std::vector<double> probs(n, 0.0);
  for (int64_t i = 0; i < kept; ++i) probs[order[i]] = w[order[i]] / total;
  return probs;
}

double Sum(const std::vector<float>& p) {
  double s = 0;
  for (float v : p) s += v;
  return s;
}

// Checks probs against the reference: close, summing to 1, and exactly zero
// wherever the reference is zero (and positive wherever it is not).
void ExpectMatchesReference(const std::vector<float>& logits, SamplingConfig cfg) {
  SCOPED_TRACE("T=" + std::to_string(cfg.temperature) + " top_k=" + std::to_string(cfg.top_k) +
               " top_p=" + std::to_string(cfg.top_p) + " vocab=" + std::to_string(logits.size()));
  const std::vector<float> got = Process(logits, cfg);
  const std::vector<double> want = Reference(logits, cfg);
  EXPECT_TRUE(AllClose(got, want, kProbsTol));
  EXPECT_NEAR(Sum(got), 1.0, kProbSumTol);
  for (size_t v = 0; v < got.size(); ++v) {
    if (want[v] == 0.0) {
      ASSERT_EQ(got[v], 0.f) << "token " << v << " is outside the kept set";
    } else if (want[v] > 1e-30) {
      ASSERT_GT(got[v], 0.f) << "token " << v << " is inside the kept set";
    }
  }
}

std::vector<float> LogitsOf(const std::vector<double>& probs) {
  std::vector<float> l;
  for (double p : probs) l.push_back(p > 0 ? static_cast<float>(std::log(p)) : -INFINITY);
  return l;
}

TEST(ArgmaxTest, LowestIdAmongEquals) {
  EXPECT_EQ(Argmax(std::vector<float>{3}.data(), 1), 0);
  const std::vector<float> x = {-5, 2, 7, 1, 7, -9};
  EXPECT_EQ(Argmax(x.data(), 6), 2);
  const std::vector<float> neg = {-3, -1, -2, -1};
  EXPECT_EQ(Argmax(neg.data(), 4), 1);
}

TEST(ProcessLogitsTest, GreedyIsOneHotAtArgmax) {
  const std::vector<float> logits = {0.5f, 4.f, -2.f, 4.f, 3.9f};
  for (SamplingConfig cfg : {SamplingConfig{}, SamplingConfig{0.f, 2, 0.5f}}) {
    EXPECT_EQ(Process(logits, cfg), (std::vector<float>{0, 1, 0, 0, 0}));
  }
}

TEST(ProcessLogitsTest, TemperatureSoftmax) {
  std::mt19937 rng(11);
  std::normal_distribution<float> dist(0.f, 3.f);
  for (int64_t vocab : {1, 3, 17, 130, 1000}) {
    std::vector<float> logits(vocab);
    for (float& l : logits) l = dist(rng);
    for (float temp : {0.25f, 1.f, 2.f, 10.f}) ExpectMatchesReference(logits, {temp, 0, 1.f});
  }
  // Exact ratios: a logit gap of T * ln 3 is a probability ratio of 3.
  const float temp = 0.7f;
  const std::vector<float> got = Process({0.f, temp * std::log(3.f)}, {temp, 0, 1.f});
  EXPECT_NEAR(got[0], 0.25, 1e-6);
  EXPECT_NEAR(got[1], 0.75, 1e-6);
}

TEST(ProcessLogitsTest, TopKKeepsKMostProbableTiesToLowerId) {
  // Ids 2, 3 and 4 tie at the boundary; k = 2 keeps 1 and then 2.
  const std::vector<float> logits = {1.f, 5.f, 3.f, 3.f, 3.f, 0.f};
  const std::vector<float> got = Process(logits, {1.f, 2, 1.f});
  const double z = std::exp(5.0) + std::exp(3.0);
  EXPECT_EQ(got[0], 0.f);
  EXPECT_NEAR(got[1], std::exp(5.0) / z, 1e-6);
  EXPECT_NEAR(got[2], std::exp(3.0) / z, 1e-6);
  EXPECT_EQ(got[3], 0.f);
  EXPECT_EQ(got[4], 0.f);
  EXPECT_EQ(got[5], 0.f);
  // k = 4 keeps all three tied tokens.
  const std::vector<float> four = Process(logits, {1.f, 4, 1.f});
  EXPECT_GT(four[4], 0.f);
  EXPECT_EQ(four[0], 0.f);
  // k = 1 is one-hot; k >= vocab is off.
  EXPECT_EQ(Process(logits, {3.f, 1, 1.f}), (std::vector<float>{0, 1, 0, 0, 0, 0}));
  ExpectMatchesReference(logits, {1.f, 6, 1.f});
  ExpectMatchesReference(logits, {1.f, 60, 1.f});
}

TEST(ProcessLogitsTest, TopPBoundary) {
  // Probabilities 1/2, 1/4, 1/8, 1/8 in shuffled order; the 1/8 pair ties.
  const std::vector<float> logits = LogitsOf({0.125, 0.5, 0.125, 0.25});
  auto kept = [&](float top_p) {
    const std::vector<float> p = Process(logits, {1.f, 0, top_p});
    std::string s;
    for (float v : p) s += v > 0 ? '1' : '0';
    return s;
  };
  EXPECT_EQ(kept(0.3f), "0100");
  EXPECT_EQ(kept(0.5f - 1e-4f), "0100");
  EXPECT_EQ(kept(0.5f + 1e-4f), "0101");
  EXPECT_EQ(kept(0.75f - 1e-4f), "0101");
  EXPECT_EQ(kept(0.75f + 1e-4f), "1101");  // of the tied pair, the lower id
  EXPECT_EQ(kept(0.999f), "1111");
  // Renormalised over the kept set.
  const std::vector<float> p = Process(logits, {1.f, 0, 0.6f});
  EXPECT_NEAR(p[1], 2.0 / 3.0, 1e-6);
  EXPECT_NEAR(p[3], 1.0 / 3.0, 1e-6);
}

// Mass exactly at the threshold: equal logits give weights of exactly 1, so
// the prefix masses are exact multiples of 1/8 and "reaches top_p" (>=) is
// decided without rounding. The kept set is the smallest reaching prefix.
TEST(ProcessLogitsTest, TopPMassExactlyAtTheThreshold) {
  const std::vector<float> logits(8, 0.5f);
  auto kept = [&](float top_p, int32_t top_k) {
    const std::vector<float> p = Process(logits, {1.f, top_k, top_p});
    std::string s;
    for (float v : p) s += v > 0 ? '1' : '0';
    return s;
  };
  EXPECT_EQ(kept(0.25f, 0), "11000000");
  EXPECT_EQ(kept(0.5f, 0), "11110000");
  EXPECT_EQ(kept(0.875f, 0), "11111110");
  EXPECT_EQ(kept(0.5f, 4), "11000000");  // half of the top-4 set
  EXPECT_EQ(Process(logits, {1.f, 0, 0.25f})[0], 0.5f);
}

// Softmax stability: logits far outside exp's range (|l| ~ 1e3..1e4, as an
// unscaled or soft-cap-free head can give) still give the reference
// probabilities, never inf or NaN.
TEST(ProcessLogitsTest, HugeLogitsStayFinite) {
  for (float base : {1000.f, -1000.f, 20000.f}) {
    SCOPED_TRACE("base " + std::to_string(base));
    const std::vector<float> logits = {base, base - 1.f, base + 0.5f, base - 3.f, base - 200.f};
    for (SamplingConfig cfg : {SamplingConfig{1.f, 0, 1.f}, SamplingConfig{0.7f, 3, 0.9f}}) {
      const std::vector<float> got = Process(logits, cfg);
      for (float v : got) ASSERT_TRUE(std::isfinite(v));
      ExpectMatchesReference(logits, cfg);
    }
  }
}

TEST(ProcessLogitsTest, TopPIsMeasuredOnTheTopKSet) {
  // 0.4, 0.3, 0.2, 0.1: after top-k = 2 the first token has 4/7 > 0.5 of the
  // mass, so top-p = 0.5 keeps it alone (0.4 of the full mass would not do).
  const std::vector<float> logits = LogitsOf({0.1, 0.3, 0.4, 0.2});
  EXPECT_EQ(Process(logits, {1.f, 2, 0.5f}), (std::vector<float>{0, 0, 1, 0}));
  const std::vector<float> both = Process(logits, {1.f, 3, 0.6f});  // 4/9, 7/9 >= 0.6
  EXPECT_NEAR(both[2], 4.0 / 7.0, 1e-6);
  EXPECT_NEAR(both[1], 3.0 / 7.0, 1e-6);
  EXPECT_EQ(both[0], 0.f);
  EXPECT_EQ(both[3], 0.f);
}

TEST(ProcessLogitsTest, MinusInfinityLogitsGetZero) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> logits = {-inf, 1.f, -inf, 1.f};
  EXPECT_EQ(Process(logits, {1.f, 0, 1.f}), (std::vector<float>{0, 0.5f, 0, 0.5f}));
  EXPECT_EQ(Process(logits, {1.f, 3, 0.9f}), (std::vector<float>{0, 0.5f, 0, 0.5f}));
}

TEST(MaskLogitsTailTest, OnlyTheTailOfEachRowBecomesMinusInfinity) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8};
  MaskLogitsTail(x.data(), 2, 4, 3);
  EXPECT_EQ(x, (std::vector<float>{1, 2, 3, -inf, 5, 6, 7, -inf}));
  std::vector<float> y = {1, 2, 3};
  MaskLogitsTail(y.data(), 1, 3, 3);  // keep == vocab: nothing to mask
  MaskLogitsTail(y.data(), 1, 3, 7);
  EXPECT_EQ(y, (std::vector<float>{1, 2, 3}));
  MaskLogitsTail(y.data(), 1, 3, 0);
  EXPECT_EQ(y, (std::vector<float>{-inf, -inf, -inf}));
}

// A Gemma-sized vocabulary: top-k by selection, top-p by a growing sorted
// prefix, both against the fully sorted reference.
TEST(ProcessLogitsTest, LargeVocabularyMatchesFullSort) {
  std::mt19937 rng(262144);
  std::normal_distribution<float> dist(0.f, 4.f);
  std::vector<float> logits(262144);
  for (float& l : logits) l = dist(rng);
  logits[77] = logits[78] = logits[79] = 40.f;  // ties among the top
  for (SamplingConfig cfg : {SamplingConfig{1.f, 50, 1.f}, SamplingConfig{1.f, 0, 0.9f},
                             SamplingConfig{0.5f, 0, 0.95f}, SamplingConfig{2.f, 1000, 0.8f},
                             SamplingConfig{1.f, 2, 1.f}, SamplingConfig{1.5f, 0, 1.f},
                             // Flat: top-p keeps most of the vocabulary (the prefix grows).
                             SamplingConfig{10.f, 0, 0.9f}, SamplingConfig{10.f, 100000, 0.5f}}) {
    ExpectMatchesReference(logits, cfg);
  }
}

TEST(SampleFromWeightsTest, ExactAnswers) {
  const std::vector<float> w = {0, 1, 0, 0, 2, 0};
  const double below_one = std::nextafter(1.0, 0.0);
  EXPECT_EQ(SampleFromWeights(w.data(), 6, 0.0), 1);
  EXPECT_EQ(SampleFromWeights(w.data(), 6, 0.3), 1);
  EXPECT_EQ(SampleFromWeights(w.data(), 6, 1.0 / 3.0), 4);  // cumulative must exceed u * total
  EXPECT_EQ(SampleFromWeights(w.data(), 6, 0.9), 4);
  EXPECT_EQ(SampleFromWeights(w.data(), 6, below_one), 4);
  const std::vector<float> one_hot = {0, 0, 0, 0.25f};
  for (double u : {0.0, 0.5, below_one}) EXPECT_EQ(SampleFromWeights(one_hot.data(), 4, u), 3);
  const std::vector<float> zeros = {0, 0, 0};
  EXPECT_EQ(SampleFromWeights(zeros.data(), 3, 0.5), -1);
  EXPECT_EQ(SampleFromWeights(zeros.data(), 0, 0.5), -1);
}

// Random weight vectors with zero runs (trailing ones especially) and u at or
// just below 1: the answer always has weight.
TEST(SampleFromWeightsTest, NeverReturnsZeroWeight) {
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<float> w_dist(0.f, 1.f);
  std::uniform_real_distribution<double> u_dist(0.0, 1.0);
  const double below_one = std::nextafter(1.0, 0.0);
  for (int trial = 0; trial < 2000; ++trial) {
    const int64_t n = 1 + trial % 50;
    std::vector<float> w(n);
    for (float& v : w) v = w_dist(rng) < 0.5f ? 0.f : w_dist(rng) * (trial % 3 == 0 ? 1e-30f : 1.f);
    w[n - 1] = 0.f;
    for (double u : {u_dist(rng), below_one, 1.0 - 1e-12, 0.0}) {
      const int32_t v = SampleFromWeights(w.data(), n, u);
      if (std::all_of(w.begin(), w.end(), [](float x) { return x == 0.f; })) {
        EXPECT_EQ(v, -1);
      } else {
        ASSERT_GE(v, 0);
        ASSERT_LT(v, n);
        ASSERT_GT(w[v], 0.f) << "trial " << trial << " u " << u;
      }
    }
  }
}

// 200,000 draws with a fixed seed from probabilities that went through
// ProcessLogits (top-k removes two tokens): chi-squared with 4 degrees of
// freedom against the 0.999 quantile (18.47), and no removed token drawn.
TEST(SampleFromWeightsTest, FrequenciesFollowTheDistribution) {
  const std::vector<float> logits = LogitsOf({0.1, 0.02, 0.2, 0.3, 0.05, 0.33});
  const std::vector<float> probs = Process(logits, {1.f, 5, 1.f});  // drops id 1
  ASSERT_EQ(probs[1], 0.f);
  std::mt19937_64 rng(20240601);
  std::uniform_real_distribution<double> u_dist(0.0, 1.0);
  const int kDraws = 200000;
  std::vector<int64_t> counts(probs.size(), 0);
  for (int i = 0; i < kDraws; ++i) {
    const int32_t v = SampleFromWeights(probs.data(), static_cast<int64_t>(probs.size()), u_dist(rng));
    ASSERT_GE(v, 0);
    ++counts[v];
  }
  EXPECT_EQ(counts[1], 0);
  double chi2 = 0;
  for (size_t v = 0; v < probs.size(); ++v) {
    if (probs[v] == 0.f) continue;
    const double expected = kDraws * static_cast<double>(probs[v]);
    chi2 += (counts[v] - expected) * (counts[v] - expected) / expected;
  }
  EXPECT_LT(chi2, 18.47) << "chi-squared with 4 degrees of freedom";
}

}  // namespace
}  // namespace matspec
