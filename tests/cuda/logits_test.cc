// ArgmaxCuda, ProcessLogitsCuda and SampleFromWeightsCuda against the CPU
// kernels of kernels/logits.h: every sampling mode on vocabularies from 1 to
// 262400 tokens, tie rules (equal logits, -0 vs +0, NaN at index 0), non-finite
// maxima, and the exact kept set (probabilities exactly 0 outside it).
#include "kernels/logits.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/cuda/logits_cuda.h"
#include "tests/cuda/cuda_test_util.h"

namespace matspec {
namespace {

using cuda_test::CudaTest;
using LogitsCudaTest = CudaTest;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNan = std::numeric_limits<float>::quiet_NaN();

std::vector<float> NormalLogits(int64_t n, uint32_t seed, float sigma) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.f, sigma);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

std::string Describe(const SamplingConfig& c) {
  return "T " + std::to_string(c.temperature) + " top_k " + std::to_string(c.top_k) + " top_p " +
         std::to_string(c.top_p);
}

class LogitsCheck : public LogitsCudaTest {
 protected:
  // Runs both kernels on `rows` rows of `logits` and compares.
  void Compare(const std::vector<float>& logits, int64_t rows, int64_t vocab, const SamplingConfig& cfg) {
    std::vector<float> want(rows * vocab);
    std::vector<int32_t> scratch(vocab);
    for (int64_t r = 0; r < rows; ++r) {
      ProcessLogits(logits.data() + r * vocab, vocab, cfg, want.data() + r * vocab, scratch.data());
    }
    absl::StatusOr<size_t> ws = ProcessLogitsCudaWorkspaceBytes(rows, vocab, cfg);
    ASSERT_TRUE(ws.ok()) << ws.status();
    Reserve(*ws);
    DeviceBuffer dev_logits = cuda_test::ToDevice(logits);
    DeviceBuffer dev_probs = cuda_test::ToDevice(std::vector<float>(rows * vocab, -1.f));
    const absl::Status s = ProcessLogitsCuda(dev_logits.As<float>(), rows, vocab, cfg, dev_probs.As<float>(),
                                             ctx_->workspace(), stream());
    ASSERT_TRUE(s.ok()) << s;
    const std::vector<float> got = cuda_test::FromDevice<float>(dev_probs.data(), rows * vocab);
    ASSERT_TRUE(cuda_test::AllClose(got, want, cuda_test::kCudaProbsTol))
        << Describe(cfg) << " vocab " << vocab;
    for (int64_t i = 0; i < rows * vocab; ++i) {
      ASSERT_EQ(got[i] == 0.f, want[i] == 0.f)
          << "kept set differs at row " << i / vocab << " token " << i % vocab << ": got " << got[i]
          << " want " << want[i] << " (" << Describe(cfg) << ", vocab " << vocab << ")";
    }
    for (int64_t r = 0; r < rows; ++r) {
      double sum = 0.0;
      for (int64_t v = 0; v < vocab; ++v) sum += got[r * vocab + v];
      EXPECT_NEAR(sum, 1.0, testing::kProbSumTol) << Describe(cfg);
    }
  }
};

TEST_F(LogitsCheck, MaskLogitsTailMatchesCpu) {
  for (int64_t vocab : {1, 17, 1000, 262400}) {
    for (int64_t keep : {int64_t{0}, int64_t{1}, vocab / 3, vocab - 1, vocab, vocab + 5}) {
      const int64_t rows = 3;
      std::vector<float> want(rows * vocab);
      for (int64_t i = 0; i < rows * vocab; ++i) want[i] = static_cast<float>(i % 977) * 0.25f;
      absl::StatusOr<DeviceBuffer> d = DeviceBuffer::Allocate(want.size() * sizeof(float));
      ASSERT_TRUE(d.ok());
      ASSERT_EQ(cudaMemcpy(d->data(), want.data(), want.size() * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
      ASSERT_TRUE(MaskLogitsTailCuda(d->As<float>(), rows, vocab, keep, nullptr).ok());
      std::vector<float> got(want.size());
      ASSERT_EQ(cudaMemcpy(got.data(), d->data(), got.size() * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
      MaskLogitsTail(want.data(), rows, vocab, keep);
      ASSERT_EQ(got, want) << "vocab " << vocab << " keep " << keep;
    }
  }
  EXPECT_FALSE(MaskLogitsTailCuda(nullptr, 1, 4, 2, nullptr).ok());
  EXPECT_FALSE(MaskLogitsTailCuda(nullptr, -1, 4, 2, nullptr).ok());
}

TEST_F(LogitsCheck, ArgmaxMatchesCpu) {
  for (int64_t n : {1, 3, 17, 61, 130, 1000, 262400}) {
    const int64_t rows = 3;
    std::vector<float> x = NormalLogits(rows * n, 29 + n, 2.f);
    if (n > 3) x[n + 2] = x[n + n - 1] = 100.f;  // a tie in row 1: the lower index wins
    Reserve(ArgmaxCudaWorkspaceBytes(rows, n));
    DeviceBuffer dev_x = cuda_test::ToDevice(x);
    DeviceBuffer dev_out = cuda_test::ToDevice(std::vector<int32_t>(rows, -5));
    ASSERT_TRUE(
        ArgmaxCuda(dev_x.As<float>(), rows, n, dev_out.As<int32_t>(), ctx_->workspace(), stream()).ok());
    const std::vector<int32_t> got = cuda_test::FromDevice<int32_t>(dev_out.data(), rows);
    for (int64_t r = 0; r < rows; ++r) {
      EXPECT_EQ(got[r], Argmax(x.data() + r * n, n)) << "n " << n << " row " << r;
    }
  }
}

TEST_F(LogitsCheck, ArgmaxTieRules) {
  const std::vector<std::vector<float>> cases = {
      {-0.f, 0.f, 0.f},       // -0 == +0: index 0
      {0.f, -0.f, -1.f},      // index 0
      {1.f, 3.f, 3.f, 2.f},   // first of the equal maxima
      {kNan, 5.f, 6.f},       // NaN at 0: the CPU scan never leaves index 0
      {1.f, kNan, 0.5f},      // NaN elsewhere is never the maximum
      {-kInf, -kInf, -kInf},  // all -inf: index 0
      {-kInf, kInf, kInf},    // first +inf
  };
  for (const std::vector<float>& x : cases) {
    const int64_t n = static_cast<int64_t>(x.size());
    Reserve(ArgmaxCudaWorkspaceBytes(1, n));
    DeviceBuffer dev_x = cuda_test::ToDevice(x);
    DeviceBuffer dev_out = cuda_test::ToDevice(std::vector<int32_t>(1, -5));
    ASSERT_TRUE(ArgmaxCuda(dev_x.As<float>(), 1, n, dev_out.As<int32_t>(), ctx_->workspace(), stream()).ok());
    EXPECT_EQ(cuda_test::FromDevice<int32_t>(dev_out.data(), 1)[0], Argmax(x.data(), n))
        << "case starting " << x[0] << ", " << x[1];
  }
}

TEST_F(LogitsCheck, ProcessLogitsMatchesCpuInEveryMode) {
  const SamplingConfig configs[] = {
      {0.f, 0, 1.f},         // greedy
      {0.7f, 0, 1.f},        // temperature only
      {1.f, 1, 1.f},         // top-1
      {1.f, 40, 1.f},        // top-k
      {0.8f, 0, 0.9f},       // top-p
      {1.3f, 50, 0.8f},      // both
      {1.f, 5000000, 0.5f},  // top-k off (>= vocab), top-p on
  };
  for (int64_t vocab : {1, 3, 17, 61, 130, 1000, 262400}) {
    const int64_t rows = vocab > 1000 ? 2 : 3;
    const std::vector<float> logits = NormalLogits(rows * vocab, 31 + vocab, 3.f);
    for (const SamplingConfig& cfg : configs) {
      Compare(logits, rows, vocab, cfg);
      if (HasFatalFailure()) return;
    }
  }
}

TEST_F(LogitsCheck, TiesAtTheTopKAndTopPBoundaries) {
  // Few distinct logits, so the top-k boundary falls inside a run of equals
  // (decided by lower id); -0 and +0 mixed. top_p values avoid exact mass ties.
  const int64_t vocab = 1000;
  std::mt19937 rng(37);
  std::vector<float> logits(2 * vocab);
  for (float& x : logits) {
    const int r = static_cast<int>(rng() % 5);
    x = r == 4 ? ((rng() % 2) ? 0.f : -0.f) : static_cast<float>(r) * 0.5f;
  }
  const SamplingConfig configs[] = {
      {1.f, 7, 1.f}, {1.f, 333, 1.f}, {1.f, 0, 0.37f}, {0.9f, 250, 0.77f}, {1.f, 990, 0.999f},
  };
  for (const SamplingConfig& cfg : configs) {
    Compare(logits, 2, vocab, cfg);
    if (HasFatalFailure()) return;
  }
}

TEST_F(LogitsCheck, NonFiniteMaximumIsOneHot) {
  std::vector<float> logits = NormalLogits(3 * 100, 41, 1.f);
  logits[17] = kInf;                                  // row 0: +inf
  for (int v = 100; v < 200; ++v) logits[v] = -kInf;  // row 1: all -inf
  logits[250] = kInf;
  logits[260] = kInf;  // row 2: two +inf
  Compare(logits, 3, 100, SamplingConfig{1.f, 10, 0.9f});
  Compare(logits, 3, 100, SamplingConfig{1.f, 0, 1.f});
}

TEST_F(LogitsCheck, SampleFromWeightsMatchesCpu) {
  for (int64_t n : {1, 3, 17, 1000, 262400}) {
    std::vector<float> w = cuda_test::RandomFloats(n, 43 + n, -0.3f, 1.f);  // ~23% non-positive
    if (n > 3) w[n / 2] = kNan;                                             // ignored by both
    absl::StatusOr<size_t> ws = SampleFromWeightsCudaWorkspaceBytes(n);
    ASSERT_TRUE(ws.ok()) << ws.status();
    Reserve(*ws);
    DeviceBuffer dev_w = cuda_test::ToDevice(w);
    DeviceBuffer dev_out = cuda_test::ToDevice(std::vector<int32_t>(1, -5));
    std::mt19937_64 rng(47);
    std::uniform_real_distribution<double> unif(0.0, 1.0);
    std::vector<double> draws = {0.0, 0.5, 0.999999999999};
    for (int i = 0; i < 60; ++i) draws.push_back(unif(rng));
    for (double u : draws) {
      DeviceBuffer dev_u = cuda_test::ToDevice(std::vector<double>{u});
      ASSERT_TRUE(SampleFromWeightsCuda(dev_w.As<float>(), n, dev_u.As<double>(), dev_out.As<int32_t>(),
                                        ctx_->workspace(), stream())
                      .ok());
      const int32_t got = cuda_test::FromDevice<int32_t>(dev_out.data(), 1)[0];
      ASSERT_EQ(got, SampleFromWeights(w.data(), n, u)) << "n " << n << " u " << u;
    }
  }
}

TEST_F(LogitsCheck, SampleFromAllZeroWeightsIsMinusOne) {
  const std::vector<float> w(50, 0.f);
  absl::StatusOr<size_t> ws = SampleFromWeightsCudaWorkspaceBytes(50);
  ASSERT_TRUE(ws.ok()) << ws.status();
  Reserve(*ws);
  DeviceBuffer dev_w = cuda_test::ToDevice(w);
  DeviceBuffer dev_u = cuda_test::ToDevice(std::vector<double>{0.3});
  DeviceBuffer dev_out = cuda_test::ToDevice(std::vector<int32_t>(1, 7));
  ASSERT_TRUE(SampleFromWeightsCuda(dev_w.As<float>(), 50, dev_u.As<double>(), dev_out.As<int32_t>(),
                                    ctx_->workspace(), stream())
                  .ok());
  EXPECT_EQ(cuda_test::FromDevice<int32_t>(dev_out.data(), 1)[0], -1);
}

}  // namespace
}  // namespace matspec
