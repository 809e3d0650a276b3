// The Gemma 3n CUDA ops (kernels/cuda/gemma3n_ops_cuda.h) against the CPU
// ops of kernels/gemma3n_ops.h: Gaussian top-k over a slice of wider rows
// (the padding must stay untouched), magnitude matching, AltUp predict and
// correct over 4 streams, the router coefficients and the logit soft-cap, on
// sizes that are not multiples of any block (1 .. 16387 columns, 1 .. 17 rows).
// Argument checks run without a GPU.
#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cuda/gemma3n_ops_cuda.h"
#include "kernels/gemma3n_ops.h"
#include "tests/cuda/cuda_test_util.h"

namespace matspec {
namespace {

using cuda_test::CudaTest;
using Gemma3nOpsCudaTest = CudaTest;

constexpr int64_t kWidths[] = {1, 3, 17, 130, 1000, 16387};
constexpr int64_t kRows[] = {1, 2, 5, 17};

TEST_F(Gemma3nOpsCudaTest, GaussianTopKMatchesCpuAndLeavesPaddingAlone) {
  uint32_t seed = 1;
  for (int64_t n : kWidths) {
    for (int64_t rows : kRows) {
      const int64_t stride = n + 7;
      std::vector<float> want = cuda_test::RandomFloats(rows * stride, seed++, -3.f, 3.f);
      DeviceBuffer d = cuda_test::ToDevice(want);
      const float multiplier = static_cast<float>(NormalQuantile(0.95));
      ASSERT_TRUE(GaussianTopKCuda(d.As<float>(), rows, n, stride, multiplier, stream()).ok());
      const std::vector<float> before = want;
      GaussianTopK(want.data(), rows, n, stride, multiplier);
      const std::vector<float> got = cuda_test::FromDevice<float>(d.data(), want.size());
      for (int64_t i = 0; i < rows * stride; ++i) {
        if (i % stride >= n) ASSERT_EQ(got[i], before[i]) << "padding written";
      }
      ASSERT_TRUE(cuda_test::AllClose(got, want, cuda_test::kCudaGemma3nOpsTol)) << "n " << n << " rows " << rows;
    }
  }
}

TEST_F(Gemma3nOpsCudaTest, MatchMagnitudeMatchesCpu) {
  uint32_t seed = 50;
  for (int64_t dim : kWidths) {
    for (int64_t rows : kRows) {
      std::vector<float> want = cuda_test::RandomFloats(rows * dim, seed++, -2.f, 2.f);
      const std::vector<float> target = cuda_test::RandomFloats(rows * dim, seed++, -5.f, 5.f);
      DeviceBuffer d = cuda_test::ToDevice(want);
      DeviceBuffer t = cuda_test::ToDevice(target);
      ASSERT_TRUE(MatchMagnitudeCuda(d.As<float>(), t.As<float>(), rows, dim, 1e-6f, stream()).ok());
      MatchMagnitude(want.data(), target.data(), rows, dim, 1e-6f);
      const std::vector<float> got = cuda_test::FromDevice<float>(d.data(), want.size());
      ASSERT_TRUE(cuda_test::AllClose(got, want, cuda_test::kCudaGemma3nOpsTol)) << "dim " << dim << " rows " << rows;
    }
  }
}

TEST_F(Gemma3nOpsCudaTest, AltUpPredictAndCorrectMatchCpu) {
  constexpr int64_t kN = 4, kActive = 0;
  uint32_t seed = 100;
  for (int64_t dim : {int64_t{1}, int64_t{130}, int64_t{2048 + 3}}) {
    for (int64_t rows : kRows) {
      std::vector<std::vector<float>> streams, pred_want;
      std::vector<DeviceBuffer> dev_streams, dev_pred;
      std::vector<const float*> in_ptrs, host_in;
      std::vector<float*> out_ptrs, host_out;
      for (int64_t i = 0; i < kN; ++i) {
        streams.push_back(cuda_test::RandomFloats(rows * dim, seed++));
        pred_want.emplace_back(rows * dim, 0.f);
        dev_streams.push_back(cuda_test::ToDevice(streams.back()));
        dev_pred.push_back(cuda_test::ToDevice(pred_want.back()));
      }
      for (int64_t i = 0; i < kN; ++i) {
        in_ptrs.push_back(dev_streams[i].As<float>());
        out_ptrs.push_back(dev_pred[i].As<float>());
        host_in.push_back(streams[i].data());
        host_out.push_back(pred_want[i].data());
      }
      const std::vector<float> coefs = cuda_test::RandomFloats(rows * kN * kN, seed++);
      DeviceBuffer dev_coefs = cuda_test::ToDevice(coefs);
      ASSERT_TRUE(AltUpPredictCuda(in_ptrs.data(), dev_coefs.As<float>(), kN, rows, dim, out_ptrs.data(), stream()).ok());
      AltUpPredict(host_in.data(), coefs.data(), kN, rows, dim, host_out.data());
      for (int64_t i = 0; i < kN; ++i) {
        const std::vector<float> got = cuda_test::FromDevice<float>(dev_pred[i].data(), rows * dim);
        ASSERT_TRUE(cuda_test::AllClose(got, pred_want[i], cuda_test::kCudaGemma3nOpsTol)) << "predict stream " << i;
      }
      const std::vector<float> y = cuda_test::RandomFloats(rows * dim, seed++);
      const std::vector<float> k = cuda_test::RandomFloats(rows * kN, seed++, 0.5f, 1.5f);
      DeviceBuffer dev_y = cuda_test::ToDevice(y);
      DeviceBuffer dev_k = cuda_test::ToDevice(k);
      // Correct the CPU's own prediction on both sides.
      for (int64_t i = 0; i < kN; ++i) {
        ASSERT_EQ(cudaMemcpy(dev_pred[i].data(), pred_want[i].data(), rows * dim * sizeof(float),
                             cudaMemcpyHostToDevice),
                  cudaSuccess);
      }
      ASSERT_TRUE(AltUpCorrectCuda(out_ptrs.data(), dev_y.As<float>(), dev_k.As<float>(), kN, kActive, rows, dim,
                                   stream())
                      .ok());
      AltUpCorrect(host_out.data(), y.data(), k.data(), kN, kActive, rows, dim);
      for (int64_t i = 0; i < kN; ++i) {
        const std::vector<float> got = cuda_test::FromDevice<float>(dev_pred[i].data(), rows * dim);
        ASSERT_TRUE(cuda_test::AllClose(got, pred_want[i], cuda_test::kCudaGemma3nOpsTol)) << "correct stream " << i;
      }
    }
  }
}

TEST_F(Gemma3nOpsCudaTest, RouterCoefficientsMatchTheCpuFormula) {
  constexpr int64_t kN = 4;
  for (int64_t rows : kRows) {
    for (bool correction : {false, true}) {
      const int64_t out_n = correction ? kN : kN * kN;
      const std::vector<float> raw = cuda_test::RandomFloats(rows * kN, 7 + rows, -3.f, 3.f);
      const std::vector<float> w = cuda_test::RandomFloats(out_n * kN, 8 + rows);
      std::vector<float> modal(rows * kN), want(rows * out_n);
      for (int64_t e = 0; e < rows * kN; ++e) modal[e] = std::tanh(raw[e]);
      for (int64_t t = 0; t < rows; ++t) {
        for (int64_t r = 0; r < out_n; ++r) {
          float acc = 0.f;
          for (int64_t c = 0; c < kN; ++c) acc += w[r * kN + c] * modal[t * kN + c];
          want[t * out_n + r] = correction ? acc + 1.f : acc;
        }
      }
      DeviceBuffer dev_raw = cuda_test::ToDevice(raw);
      DeviceBuffer dev_w = cuda_test::ToDevice(w);
      DeviceBuffer dev_out = cuda_test::ToDevice(std::vector<float>(rows * out_n));
      // In place: the tanh values overwrite raw after the coefficients are formed.
      ASSERT_TRUE(AltUpCoefsCuda(dev_raw.As<float>(), rows, kN, dev_w.As<float>(), out_n, correction,
                                 dev_raw.As<float>(), dev_out.As<float>(), stream())
                      .ok());
      ASSERT_TRUE(cuda_test::AllClose(cuda_test::FromDevice<float>(dev_out.data(), want.size()), want,
                                      cuda_test::kCudaGemma3nOpsTol));
      ASSERT_TRUE(cuda_test::AllClose(cuda_test::FromDevice<float>(dev_raw.data(), modal.size()), modal,
                                      cuda_test::kCudaGemma3nOpsTol));
    }
  }
}

TEST_F(Gemma3nOpsCudaTest, LogitSoftcapMatchesCpu) {
  for (int64_t n : {int64_t{1}, int64_t{1000}, int64_t{262400}}) {
    std::vector<float> want = cuda_test::RandomFloats(n, 3 + static_cast<uint32_t>(n), -80.f, 80.f);
    DeviceBuffer d = cuda_test::ToDevice(want);
    ASSERT_TRUE(LogitSoftcapCuda(d.As<float>(), n, 30.f, stream()).ok());
    LogitSoftcap(want.data(), n, 30.f);
    ASSERT_TRUE(cuda_test::AllClose(cuda_test::FromDevice<float>(d.data(), n), want, cuda_test::kCudaGemma3nOpsTol));
  }
}

// Argument checks need no GPU: they fail before any launch.
TEST(Gemma3nOpsCudaArgs, BadArgumentsAreRefused) {
  float x = 0.f;
  const float* in[9] = {};
  float* out[9] = {};
  EXPECT_EQ(GaussianTopKCuda(&x, 1, 4, 3, 1.f, nullptr).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GaussianTopKCuda(nullptr, 1, 4, 4, 1.f, nullptr).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MatchMagnitudeCuda(&x, nullptr, 1, 4, 0.f, nullptr).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AltUpPredictCuda(in, &x, 9, 1, 4, out, nullptr).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AltUpPredictCuda(in, &x, 4, 1, 4, out, nullptr).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AltUpCorrectCuda(out, &x, &x, 4, 4, 1, 4, nullptr).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AltUpCoefsCuda(&x, 1, 0, &x, 4, false, nullptr, &x, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LogitSoftcapCuda(&x, 1, 0.f, nullptr).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(LogitSoftcapCuda(nullptr, 0, 30.f, nullptr).ok());  // nothing to do
}

}  // namespace
}  // namespace matspec
