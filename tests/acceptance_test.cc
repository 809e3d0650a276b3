// Acceptance rules: exact answers on one-hot distributions, invariants, and a
// frequency test showing the emitted token follows the target p whatever q is.
#include "verify/acceptance.h"

#include <cmath>
#include <vector>

#include "engine/random.h"
#include "kernels/logits.h"
#include "gtest/gtest.h"
#include "tests/testing/frequency.h"

namespace matspec {
namespace {

std::vector<float> OneHot(int64_t vocab, int32_t at) {
  std::vector<float> v(vocab, 0.f);
  v[at] = 1.f;
  return v;
}

TEST(AcceptanceTest, GreedyAcceptsMatchingPrefixThenCorrects) {
  const int64_t vocab = 5;
  std::vector<int32_t> draft = {1, 2, 3};
  std::vector<float> p;
  for (int32_t t : {1, 2, 4, 0}) {  // target agrees on 2 tokens, then says 4
    auto h = OneHot(vocab, t);
    p.insert(p.end(), h.begin(), h.end());
  }
  AcceptanceParams a;
  a.greedy = true;
  a.k = 3;
  a.vocab = vocab;
  a.draft_tokens = draft.data();
  a.p = p.data();
  AcceptanceResult r = Accept(a);
  EXPECT_EQ(r.accepted, 2);
  EXPECT_EQ(r.next_token, 4);
}

TEST(AcceptanceTest, GreedyFullAcceptanceGivesBonusToken) {
  const int64_t vocab = 4;
  std::vector<int32_t> draft = {3, 3};
  std::vector<float> p;
  for (int32_t t : {3, 3, 1}) {
    auto h = OneHot(vocab, t);
    p.insert(p.end(), h.begin(), h.end());
  }
  AcceptanceParams a;
  a.k = 2;
  a.vocab = vocab;
  a.draft_tokens = draft.data();
  a.p = p.data();
  AcceptanceResult r = Accept(a);
  EXPECT_EQ(r.accepted, 2);
  EXPECT_EQ(r.next_token, 1);
}

TEST(AcceptanceTest, ZeroDraftsIsAPlainTargetStep) {
  std::vector<float> p = {0.1f, 0.2f, 0.7f};
  double fu = 0.95;  // lands in the last bin
  AcceptanceParams a;
  a.greedy = false;
  a.k = 0;
  a.vocab = 3;
  a.p = p.data();
  a.final_uniforms = &fu;
  AcceptanceResult r = Accept(a);
  EXPECT_EQ(r.accepted, 0);
  EXPECT_EQ(r.next_token, 2);
}

TEST(AcceptanceTest, SamplingRejectsTokenTheTargetForbids) {
  // q puts all mass on token 0, which p forbids: always rejected, the residual is p.
  std::vector<float> q = {1.f, 0.f, 0.f};
  std::vector<float> p = {0.f, 0.5f, 0.5f, /*bonus*/ 1.f, 0.f, 0.f};
  std::vector<int32_t> draft = {0};
  std::vector<float> scratch(3);
  for (double u : {0.0, 0.3, 0.999}) {
    double fu[2] = {0.25, 0.25};
    AcceptanceParams a;
    a.greedy = false;
    a.k = 1;
    a.vocab = 3;
    a.draft_tokens = draft.data();
    a.q = q.data();
    a.p = p.data();
    a.accept_uniforms = &u;
    a.final_uniforms = fu;
    a.scratch = scratch.data();
    AcceptanceResult r = Accept(a);
    EXPECT_EQ(r.accepted, 0);
    EXPECT_EQ(r.next_token, 1);  // u = 0.25 of the residual {0, .5, .5}
  }
}

TEST(AcceptanceTest, SamplingAlwaysAcceptsWhenTargetAgreesOrExceeds) {
  std::vector<float> q = {0.5f, 0.5f};
  std::vector<float> p = {0.5f, 0.5f, 0.3f, 0.7f};
  std::vector<int32_t> draft = {1};
  std::vector<float> scratch(2);
  double u = 0.999999;
  double fu[2] = {0.1, 0.9};
  AcceptanceParams a;
  a.greedy = false;
  a.k = 1;
  a.vocab = 2;
  a.draft_tokens = draft.data();
  a.q = q.data();
  a.p = p.data();
  a.accept_uniforms = &u;
  a.final_uniforms = fu;
  a.scratch = scratch.data();
  AcceptanceResult r = Accept(a);
  EXPECT_EQ(r.accepted, 1);
  EXPECT_EQ(r.next_token, 1);  // bonus drawn from p_2 = {0.3, 0.7} at u = 0.9
}

// After k acceptances the bonus token is drawn from p_{k+1} (not from p_k)
// with final_uniforms[k] (not another entry): exact answers on rows that
// disagree, then the frequencies of the bonus token over many uniforms.
TEST(AcceptanceTest, BonusTokenAfterFullAcceptanceIsDrawnFromTheLastRow) {
  const int64_t vocab = 4;
  std::vector<int32_t> draft = {1, 2};
  // q == p on the drafted rows: p/q = 1, so every u < 1 accepts.
  const std::vector<float> p = {0.05f, 0.8f, 0.1f, 0.05f,  // p_1: u 0.1 -> 1, u 0.9 -> 2
                                0.05f, 0.1f, 0.8f, 0.05f,  // p_2: u 0.1 -> 1, u 0.9 -> 2
                                0.25f, 0.f, 0.f, 0.75f};  // p_3: the bonus row
  const std::vector<float> q(p.begin(), p.begin() + 2 * vocab);
  std::vector<float> scratch(vocab);
  auto run = [&](double au, const double* fu) {
    double accept[2] = {au, au};
    AcceptanceParams a;
    a.greedy = false;
    a.k = 2;
    a.vocab = vocab;
    a.draft_tokens = draft.data();
    a.q = q.data();
    a.p = p.data();
    a.accept_uniforms = accept;
    a.final_uniforms = fu;
    a.scratch = scratch.data();
    return Accept(a);
  };
  const double low_last[3] = {0.9, 0.9, 0.1};   // only entry 2 says "token 0"
  const double high_last[3] = {0.1, 0.1, 0.9};  // only entry 2 says "token 3"
  for (double au : {0.0, 0.5, 0.999999}) {
    AcceptanceResult r = run(au, low_last);
    EXPECT_EQ(r.accepted, 2);
    EXPECT_EQ(r.next_token, 0);
    r = run(au, high_last);
    EXPECT_EQ(r.accepted, 2);
    EXPECT_EQ(r.next_token, 3);
  }
  std::vector<int64_t> counts(vocab, 0);
  const int64_t n = 20000;
  for (int64_t s = 0; s < n; ++s) {
    const double fu[3] = {Uniform(s, 0, RandomStream::kTarget), Uniform(s, 1, RandomStream::kTarget),
                          Uniform(s, 2, RandomStream::kTarget)};
    AcceptanceResult r = run(Uniform(s, 0, RandomStream::kAccept), fu);
    ASSERT_EQ(r.accepted, 2);
    counts[r.next_token] += 1;
  }
  EXPECT_LT(testing::ChiSquareZ(counts, {0.25, 0.0, 0.0, 0.75}, n), 4.0);
}

// Greedy: the correction after a mismatch is argmax of that position's p, the
// bonus after a full match argmax of the last row.
TEST(AcceptanceTest, GreedyCorrectionAndBonusComeFromTheirOwnRows) {
  const int64_t vocab = 3;
  std::vector<int32_t> draft = {2, 0};
  const std::vector<float> p = {0.1f, 0.2f, 0.7f,  // argmax 2: accept
                                0.1f, 0.8f, 0.1f,  // argmax 1: reject draft 0, correct to 1
                                0.6f, 0.3f, 0.1f};
  AcceptanceParams a;
  a.k = 2;
  a.vocab = vocab;
  a.draft_tokens = draft.data();
  a.p = p.data();
  AcceptanceResult r = Accept(a);
  EXPECT_EQ(r.accepted, 1);
  EXPECT_EQ(r.next_token, 1);
  draft[1] = 1;
  r = Accept(a);
  EXPECT_EQ(r.accepted, 2);
  EXPECT_EQ(r.next_token, 0);
}

// Drafting from q and accepting with the lossless rule must emit tokens
// distributed as p, for the first token and jointly for two tokens.
TEST(AcceptanceTest, EmittedTokensFollowTargetDistribution) {
  const int64_t vocab = 4;
  // Position 1 and 2 distributions (position 2 is used as fixed, independent of
  // token 1, which keeps the oracle simple: joint = p1 x p2).
  const std::vector<float> p1 = {0.1f, 0.4f, 0.0f, 0.5f};
  const std::vector<float> q1 = {0.5f, 0.1f, 0.3f, 0.1f};  // mass on a forbidden token
  const std::vector<float> p2 = {0.25f, 0.25f, 0.3f, 0.2f};
  const std::vector<float> q2 = {0.7f, 0.1f, 0.1f, 0.1f};
  const std::vector<float> p3 = {0.6f, 0.1f, 0.1f, 0.2f};
  std::vector<float> p, q;
  for (const auto* v : {&p1, &p2, &p3}) p.insert(p.end(), v->begin(), v->end());
  for (const auto* v : {&q1, &q2}) q.insert(q.end(), v->begin(), v->end());
  const int64_t n = 200000;
  std::vector<int64_t> first(vocab, 0), joint(vocab * vocab, 0);
  int64_t joint_n = 0;
  std::vector<float> scratch(vocab);
  for (int64_t s = 0; s < n; ++s) {
    int32_t draft[2];
    draft[0] = SampleFromWeights(q1.data(), vocab, Uniform(s, 0, RandomStream::kDraft));
    draft[1] = SampleFromWeights(q2.data(), vocab, Uniform(s, 1, RandomStream::kDraft));
    double au[2] = {Uniform(s, 0, RandomStream::kAccept), Uniform(s, 1, RandomStream::kAccept)};
    double fu[3] = {Uniform(s, 0, RandomStream::kTarget), Uniform(s, 1, RandomStream::kTarget),
                    Uniform(s, 2, RandomStream::kTarget)};
    AcceptanceParams a;
    a.greedy = false;
    a.k = 2;
    a.vocab = vocab;
    a.draft_tokens = draft;
    a.q = q.data();
    a.p = p.data();
    a.accept_uniforms = au;
    a.final_uniforms = fu;
    a.scratch = scratch.data();
    AcceptanceResult r = Accept(a);
    const int32_t t1 = r.accepted >= 1 ? draft[0] : r.next_token;
    first[t1] += 1;
    if (r.accepted >= 1) {  // the second token is emitted in this round
      const int32_t t2 = r.accepted >= 2 ? draft[1] : r.next_token;
      joint[t1 * vocab + t2] += 1;
      joint_n += 1;
    }
  }
  const std::vector<double> pf(p1.begin(), p1.end());
  EXPECT_LT(testing::ChiSquareZ(first, pf, n), 4.0);
  // Given token 1 was accepted from the draft, token 2 must still follow p2:
  // check the conditional of token 2 pooled over token 1.
  std::vector<int64_t> second(vocab, 0);
  for (int64_t i = 0; i < vocab * vocab; ++i) second[i % vocab] += joint[i];
  const std::vector<double> ps(p2.begin(), p2.end());
  EXPECT_LT(testing::ChiSquareZ(second, ps, joint_n), 4.0);
}

}  // namespace
}  // namespace matspec
