// AcceptCuda against the CPU Accept of verify/acceptance.h: for the same q, p
// and uniforms (drawn with engine/random.h exactly as the speculative loop
// draws them) both must accept the same number of tokens and emit the same next
// token, greedy and sampling, for vocabularies up to 262400 and k up to 16.
// Plus the corner cases: q(x) = 0, p == q (empty residual), the bonus token,
// and a drafted id outside the vocabulary.
#include "verify/acceptance.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "engine/random.h"
#include "kernels/cuda/acceptance_cuda.h"
#include "kernels/logits.h"
#include "tests/cuda/cuda_test_util.h"

namespace matspec {
namespace {

using cuda_test::CudaTest;

struct Round {
  bool greedy = false;
  int64_t k = 0;
  int64_t vocab = 0;
  std::vector<int32_t> draft;    // [k]
  std::vector<float> q;          // [k, vocab]
  std::vector<float> p;          // [k+1, vocab]
  std::vector<double> accept_u;  // [k]
  std::vector<double> final_u;   // [k+1]
};

// q and p from correlated random logits (shared base, separate noise) under
// `cfg`; drafted tokens sampled from q like the drafter does.
Round MakeRound(int64_t vocab, int64_t k, const SamplingConfig& cfg, uint64_t seed) {
  Round r;
  r.greedy = cfg.greedy();
  r.k = k;
  r.vocab = vocab;
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::normal_distribution<float> base_dist(0.f, 2.f), noise(0.f, 0.7f);
  std::vector<float> base(vocab), logits(vocab);
  std::vector<int32_t> scratch(vocab);
  r.q.resize(k * vocab);
  r.p.resize((k + 1) * vocab);
  for (int64_t i = 0; i <= k; ++i) {
    for (float& b : base) b = base_dist(rng);
    if (i < k) {
      for (int64_t v = 0; v < vocab; ++v) logits[v] = base[v] + noise(rng);
      ProcessLogits(logits.data(), vocab, cfg, r.q.data() + i * vocab, scratch.data());
      const int32_t x =
          SampleFromWeights(r.q.data() + i * vocab, vocab, Uniform(seed, i, RandomStream::kDraft));
      r.draft.push_back(x);
      r.accept_u.push_back(Uniform(seed, i, RandomStream::kAccept));
    }
    for (int64_t v = 0; v < vocab; ++v) logits[v] = base[v] + noise(rng);
    ProcessLogits(logits.data(), vocab, cfg, r.p.data() + i * vocab, scratch.data());
    r.final_u.push_back(Uniform(seed, i, RandomStream::kTarget));
  }
  return r;
}

AcceptanceResult CpuAccept(const Round& r) {
  std::vector<float> scratch(r.vocab);
  AcceptanceParams a;
  a.greedy = r.greedy;
  a.k = r.k;
  a.vocab = r.vocab;
  a.draft_tokens = r.draft.data();
  a.q = r.q.data();
  a.p = r.p.data();
  a.accept_uniforms = r.accept_u.data();
  a.final_uniforms = r.final_u.data();
  a.scratch = scratch.data();
  return Accept(a);
}

class AcceptanceCudaTest : public CudaTest {
 protected:
  AcceptanceCudaResult GpuAccept(const Round& r) {
    DeviceBuffer draft = cuda_test::ToDevice(r.draft);
    DeviceBuffer q = cuda_test::ToDevice(r.q);
    DeviceBuffer p = cuda_test::ToDevice(r.p);
    DeviceBuffer accept_u = cuda_test::ToDevice(r.accept_u);
    DeviceBuffer final_u = cuda_test::ToDevice(r.final_u);
    DeviceBuffer result = cuda_test::ToDevice(std::vector<AcceptanceCudaResult>(1));
    AcceptanceCudaParams a;
    a.greedy = r.greedy;
    a.k = r.k;
    a.vocab = r.vocab;
    a.draft_tokens = draft.As<int32_t>();
    a.q = q.As<float>();
    a.p = p.As<float>();
    a.accept_uniforms = accept_u.As<double>();
    a.final_uniforms = final_u.As<double>();
    a.result = result.As<AcceptanceCudaResult>();
    absl::StatusOr<size_t> ws = AcceptCudaWorkspaceBytes(r.k, r.vocab, r.greedy);
    EXPECT_TRUE(ws.ok()) << ws.status();
    if (!ws.ok()) return {};
    Reserve(*ws);
    const absl::Status s = AcceptCuda(a, ctx_->workspace(), stream());
    EXPECT_TRUE(s.ok()) << s;
    return cuda_test::FromDevice<AcceptanceCudaResult>(result.data(), 1)[0];
  }

  void ExpectSame(const Round& r, const char* what) {
    const AcceptanceResult want = CpuAccept(r);
    const AcceptanceCudaResult got = GpuAccept(r);
    EXPECT_EQ(got.accepted, want.accepted) << what << " vocab " << r.vocab << " k " << r.k;
    EXPECT_EQ(got.next_token, want.next_token) << what << " vocab " << r.vocab << " k " << r.k;
  }
};

TEST_F(AcceptanceCudaTest, SameTokensAsCpuForTheSameUniforms) {
  const SamplingConfig configs[] = {
      {0.f, 0, 1.f},    // greedy: one-hot p and q
      {1.f, 0, 1.f},    // plain sampling
      {0.8f, 20, 1.f},  // top-k: zeros in p and q
      {1.f, 0, 0.85f},  // top-p
  };
  uint64_t seed = 1000;
  for (int64_t vocab : {3, 17, 1000, 262400}) {
    for (int64_t k : {0, 1, 2, 4, 8, 16}) {
      const int trials = vocab > 1000 ? 2 : 12;
      for (const SamplingConfig& cfg : configs) {
        for (int trial = 0; trial < trials; ++trial) {
          ExpectSame(MakeRound(vocab, k, cfg, ++seed), cfg.greedy() ? "greedy" : "sampling");
          if (HasFailure()) return;
        }
      }
    }
  }
}

TEST_F(AcceptanceCudaTest, GreedyOnNonOneHotTargetsUsesArgmaxWithLowestIdTies) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    Round r = MakeRound(61, 5, SamplingConfig{1.f, 0, 1.f}, seed);
    r.greedy = true;
    // Make the drafted tokens the target's argmax for a random prefix.
    const int64_t agree = static_cast<int64_t>(seed % 6);
    for (int64_t i = 0; i < agree && i < r.k; ++i) r.draft[i] = Argmax(r.p.data() + i * 61, 61);
    // A tie in the bonus row: the lower id must win on both sides.
    r.p[5 * 61 + 3] = r.p[5 * 61 + 40] = 2.f;
    ExpectSame(r, "greedy ties");
  }
}

TEST_F(AcceptanceCudaTest, RejectsWhereQIsZeroAndFallsBackToPOnAnEmptyResidual) {
  // Row 0: q(x) = 0 -> rejected whatever u; p == q there, so max(0, p - q) is
  // empty and the next token is drawn from p.
  Round r;
  r.k = 2;
  r.vocab = 4;
  r.draft = {0, 1};
  r.q = {0.f, 0.5f, 0.5f, 0.f, /*row 1*/ 0.25f, 0.25f, 0.25f, 0.25f};
  r.p = {0.f, 0.5f, 0.5f, 0.f, /*row 1*/ 0.1f, 0.2f, 0.3f, 0.4f, /*bonus*/ 0.f, 0.f, 1.f, 0.f};
  r.accept_u = {0.0, 0.0};
  for (double u : {0.0, 0.49, 0.51, 0.99}) {
    r.final_u = {u, u, u};
    ExpectSame(r, "q(x) = 0");
    const AcceptanceResult want = CpuAccept(r);
    EXPECT_EQ(want.accepted, 0);
    EXPECT_EQ(want.next_token, u < 0.5 ? 1 : 2);
  }
}

TEST_F(AcceptanceCudaTest, AllAcceptedGivesTheBonusTokenFromTheLastRow) {
  Round r;
  r.k = 2;
  r.vocab = 3;
  r.draft = {2, 2};
  r.q = {0.f, 0.f, 1.f, 0.f, 0.f, 1.f};
  r.p = {0.f, 0.f, 1.f, 0.f, 0.f, 1.f, /*bonus*/ 0.6f, 0.4f, 0.f};
  r.accept_u = {0.99, 0.99};
  r.final_u = {0.5, 0.5, 0.7};
  ExpectSame(r, "bonus");
  const AcceptanceCudaResult got = GpuAccept(r);
  EXPECT_EQ(got.accepted, 2);
  EXPECT_EQ(got.next_token, 1);
}

TEST_F(AcceptanceCudaTest, DraftIdOutsideTheVocabularyIsRejectedNotRead) {
  Round r;
  r.k = 2;
  r.vocab = 3;
  r.draft = {1, 7};
  r.q = {0.f, 1.f, 0.f, 0.f, 1.f, 0.f};
  r.p = {0.f, 1.f, 0.f, 0.2f, 0.3f, 0.5f, 1.f, 0.f, 0.f};
  r.accept_u = {0.5, 0.5};
  r.final_u = {0.1, 0.1, 0.1};
  const AcceptanceCudaResult got = GpuAccept(r);
  EXPECT_EQ(got.accepted, 1);
  // Rejected at row 1 (q(7) = 0): residual max(0, p1 - q1) = {0.2, 0, 0.5}, u = 0.1 -> token 0.
  EXPECT_EQ(got.next_token, 0);
}

}  // namespace
}  // namespace matspec
