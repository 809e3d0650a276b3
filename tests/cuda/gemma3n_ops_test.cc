// The Gemma 3n CUDA ops (kernels/cuda/gemma3n_ops_cuda.h) against the CPU
// ops of kernels/gemma3n_ops.h: Gaussian top-k over a slice of wider rows
// (the padding must stay untouched), magnitude matching, AltUp predict and
// correct over 1 to 8 streams (any one active), the router coefficients and the logit soft-cap, on
// sizes that are not multiples of any block (1 .. 16387 columns, 1 .. 17 rows).
// The layer's element-wise launchers (scale, sum/divide, column scale, the
// per-layer input slot, id clamping) are bit-identical to the CPU loops, and
// the per-layer table is gathered from pinned, mapped host memory as
// CudaGemma3nModel does. Padding is NaN where it must not be read and a
// sentinel where it must not be written. Argument checks run without a GPU.
#include <cmath>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cuda/embedding_cuda.h"
#include "kernels/cuda/gemma3n_ops_cuda.h"
#include "kernels/dtype.h"
#include "kernels/embedding.h"
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
      for (int64_t i = 0; i < rows * stride; ++i) {
        if (i % stride >= n) want[i] = NAN;  // a read of the padding would poison the row's sums
      }
      DeviceBuffer d = cuda_test::ToDevice(want);
      const float multiplier = static_cast<float>(NormalQuantile(0.95));
      ASSERT_TRUE(GaussianTopKCuda(d.As<float>(), rows, n, stride, multiplier, stream()).ok());
      const std::vector<float> before = want;
      GaussianTopK(want.data(), rows, n, stride, multiplier);
      const std::vector<float> got = cuda_test::FromDevice<float>(d.data(), want.size());
      std::vector<float> got_used, want_used;
      for (int64_t i = 0; i < rows * stride; ++i) {
        if (i % stride >= n) {
          ASSERT_EQ(std::memcmp(&got[i], &before[i], sizeof(float)), 0) << "padding written at " << i;
        } else {
          got_used.push_back(got[i]);
          want_used.push_back(want[i]);
        }
      }
      ASSERT_TRUE(cuda_test::AllClose(got_used, want_used, cuda_test::kCudaGemma3nOpsTol))
          << "n " << n << " rows " << rows;
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
      ASSERT_TRUE(cuda_test::AllClose(got, want, cuda_test::kCudaGemma3nOpsTol))
          << "dim " << dim << " rows " << rows;
    }
  }
}

TEST_F(Gemma3nOpsCudaTest, MatchMagnitudeFloorsTinyAndZeroRows) {
  for (int64_t dim : {int64_t{17}, int64_t{2048 + 3}}) {
    constexpr int64_t kRowsHere = 3;  // tiny values (mean square below the floor), all zeros, a zero target
    std::vector<float> want =
        cuda_test::RandomFloats(kRowsHere * dim, 900 + static_cast<uint32_t>(dim), -1e-3f, 1e-3f);
    std::vector<float> target = cuda_test::RandomFloats(kRowsHere * dim, 901, -5.f, 5.f);
    std::fill(want.begin() + dim, want.begin() + 2 * dim, 0.f);
    std::fill(target.begin() + 2 * dim, target.end(), 0.f);
    DeviceBuffer d = cuda_test::ToDevice(want);
    DeviceBuffer t = cuda_test::ToDevice(target);
    ASSERT_TRUE(
        MatchMagnitudeCuda(d.As<float>(), t.As<float>(), kRowsHere, dim, kGemma3nMagnitudeFloor, stream())
            .ok());
    MatchMagnitude(want.data(), target.data(), kRowsHere, dim, kGemma3nMagnitudeFloor);
    ASSERT_TRUE(cuda_test::AllClose(cuda_test::FromDevice<float>(d.data(), want.size()), want,
                                    cuda_test::kCudaGemma3nOpsTol))
        << "dim " << dim;
  }
}

TEST_F(Gemma3nOpsCudaTest, AltUpPredictAndCorrectMatchCpu) {
  uint32_t seed = 100;
  struct Case {
    int64_t streams, active;
  };
  // Gemma 3n's 4 streams with stream 0 active, and other counts / active streams.
  for (const Case c : {Case{4, 0}, Case{1, 0}, Case{3, 2}, Case{kAltUpMaxStreams, 5}}) {
    const int64_t n_streams = c.streams, active = c.active;
    for (int64_t dim : {int64_t{1}, int64_t{130}, int64_t{2048 + 3}}) {
      for (int64_t rows : kRows) {
        std::vector<std::vector<float>> streams, pred_want;
        std::vector<DeviceBuffer> dev_streams, dev_pred;
        std::vector<const float*> in_ptrs, host_in;
        std::vector<float*> out_ptrs, host_out;
        for (int64_t i = 0; i < n_streams; ++i) {
          streams.push_back(cuda_test::RandomFloats(rows * dim, seed++));
          pred_want.emplace_back(rows * dim, 0.f);
          dev_streams.push_back(cuda_test::ToDevice(streams.back()));
          dev_pred.push_back(cuda_test::ToDevice(pred_want.back()));
        }
        for (int64_t i = 0; i < n_streams; ++i) {
          in_ptrs.push_back(dev_streams[i].As<float>());
          out_ptrs.push_back(dev_pred[i].As<float>());
          host_in.push_back(streams[i].data());
          host_out.push_back(pred_want[i].data());
        }
        const std::vector<float> coefs = cuda_test::RandomFloats(rows * n_streams * n_streams, seed++);
        DeviceBuffer dev_coefs = cuda_test::ToDevice(coefs);
        ASSERT_TRUE(AltUpPredictCuda(in_ptrs.data(), dev_coefs.As<float>(), n_streams, rows, dim,
                                     out_ptrs.data(), stream())
                        .ok());
        AltUpPredict(host_in.data(), coefs.data(), n_streams, rows, dim, host_out.data());
        for (int64_t i = 0; i < n_streams; ++i) {
          const std::vector<float> got = cuda_test::FromDevice<float>(dev_pred[i].data(), rows * dim);
          ASSERT_TRUE(cuda_test::AllClose(got, pred_want[i], cuda_test::kCudaGemma3nOpsTol))
              << "predict stream " << i << " of " << n_streams;
        }
        const std::vector<float> y = cuda_test::RandomFloats(rows * dim, seed++);
        const std::vector<float> k = cuda_test::RandomFloats(rows * n_streams, seed++, 0.5f, 1.5f);
        DeviceBuffer dev_y = cuda_test::ToDevice(y);
        DeviceBuffer dev_k = cuda_test::ToDevice(k);
        // Correct the CPU's own prediction on both sides.
        for (int64_t i = 0; i < n_streams; ++i) {
          ASSERT_EQ(cudaMemcpy(dev_pred[i].data(), pred_want[i].data(), rows * dim * sizeof(float),
                               cudaMemcpyHostToDevice),
                    cudaSuccess);
        }
        ASSERT_TRUE(AltUpCorrectCuda(out_ptrs.data(), dev_y.As<float>(), dev_k.As<float>(), n_streams, active,
                                     rows, dim, stream())
                        .ok());
        AltUpCorrect(host_out.data(), y.data(), k.data(), n_streams, active, rows, dim);
        for (int64_t i = 0; i < n_streams; ++i) {
          const std::vector<float> got = cuda_test::FromDevice<float>(dev_pred[i].data(), rows * dim);
          ASSERT_TRUE(cuda_test::AllClose(got, pred_want[i], cuda_test::kCudaGemma3nOpsTol))
              << "correct stream " << i << " of " << n_streams << ", active " << active;
        }
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
    ASSERT_TRUE(
        cuda_test::AllClose(cuda_test::FromDevice<float>(d.data(), n), want, cuda_test::kCudaGemma3nOpsTol));
  }
}

TEST_F(Gemma3nOpsCudaTest, LogitSoftcapLeavesInfinitiesAlone) {
  // The masked logits of a reduced-vocabulary head are -inf and must stay so.
  std::vector<float> x = cuda_test::RandomFloats(1000, 77, -80.f, 80.f);
  for (int64_t i = 0; i < 1000; i += 7) x[i] = (i % 2) ? INFINITY : -INFINITY;
  DeviceBuffer d = cuda_test::ToDevice(x);
  ASSERT_TRUE(LogitSoftcapCuda(d.As<float>(), 1000, 30.f, stream()).ok());
  std::vector<float> want = x;
  LogitSoftcap(want.data(), 1000, 30.f);
  const std::vector<float> got = cuda_test::FromDevice<float>(d.data(), 1000);
  std::vector<float> got_finite, want_finite;
  for (int64_t i = 0; i < 1000; ++i) {
    if (std::isinf(x[i])) {
      ASSERT_EQ(got[i], x[i]) << i;
    } else {
      got_finite.push_back(got[i]);
      want_finite.push_back(want[i]);
    }
  }
  ASSERT_TRUE(cuda_test::AllClose(got_finite, want_finite, cuda_test::kCudaGemma3nOpsTol));
}

// The layer's element-wise steps are the CPU loops' f32 operations (one add,
// multiply or divide each, nothing to contract into an FMA): bit-identical.
TEST_F(Gemma3nOpsCudaTest, ElementwiseStepsAreTheCpuLoopsBitForBit) {
  uint32_t seed = 300;
  for (int64_t n : kWidths) {
    const std::vector<float> a = cuda_test::RandomFloats(n, seed++, -4.f, 4.f);
    const std::vector<float> b = cuda_test::RandomFloats(n, seed++, -4.f, 4.f);
    const std::vector<float> c = cuda_test::RandomFloats(n, seed++, -4.f, 4.f);
    DeviceBuffer da = cuda_test::ToDevice(a), db = cuda_test::ToDevice(b), dc = cuda_test::ToDevice(c);
    DeviceBuffer out = cuda_test::ToDevice(std::vector<float>(n + 1, -7.f));  // one sentinel past the end
    const float sqrt2 = std::sqrt(2.f);
    std::vector<float> want(n + 1, -7.f);

    ASSERT_TRUE(
        SumDivCuda(da.As<float>(), db.As<float>(), dc.As<float>(), n, sqrt2, out.As<float>(), stream()).ok());
    for (int64_t e = 0; e < n; ++e) want[e] = ((a[e] + b[e]) + c[e]) / sqrt2;
    ASSERT_TRUE(
        cuda_test::AllClose(cuda_test::FromDevice<float>(out.data(), n + 1), want, cuda_test::kCudaExactTol))
        << "SumDiv(a, b, c) n " << n;

    ASSERT_TRUE(SumDivCuda(da.As<float>(), db.As<float>(), nullptr, n, 1.f, out.As<float>(), stream()).ok());
    for (int64_t e = 0; e < n; ++e) want[e] = a[e] + b[e];
    ASSERT_TRUE(
        cuda_test::AllClose(cuda_test::FromDevice<float>(out.data(), n + 1), want, cuda_test::kCudaExactTol))
        << "SumDiv(a, b) n " << n;

    ASSERT_TRUE(ScaleCuda(out.As<float>(), n, 1.f / 2048.f * 3.f, stream()).ok());
    for (int64_t e = 0; e < n; ++e) want[e] *= 1.f / 2048.f * 3.f;
    ASSERT_TRUE(
        cuda_test::AllClose(cuda_test::FromDevice<float>(out.data(), n + 1), want, cuda_test::kCudaExactTol))
        << "Scale n " << n;
  }
}

TEST_F(Gemma3nOpsCudaTest, ScaleColumnsReadsTheScaleInItsDtype) {
  uint32_t seed = 400;
  for (DType dt : {DType::kF32, DType::kBF16, DType::kF16}) {
    for (int64_t dim : {int64_t{1}, int64_t{130}, int64_t{2048 + 3}}) {
      for (int64_t rows : kRows) {
        const std::vector<float> x = cuda_test::RandomFloats(rows * dim, seed++, -3.f, 3.f);
        const std::vector<float> scale_f = cuda_test::RandomFloats(dim, seed++, -2.f, 2.f);
        std::vector<uint8_t> raw(dim * DTypeSize(dt));
        for (int64_t e = 0; e < dim; ++e) {
          if (dt == DType::kF32) {
            std::memcpy(raw.data() + e * 4, &scale_f[e], 4);
          } else {
            const uint16_t h = dt == DType::kBF16 ? F32ToBf16(scale_f[e]) : F32ToF16(scale_f[e]);
            std::memcpy(raw.data() + e * 2, &h, 2);
          }
        }
        const VectorView host_scale{raw.data(), dt, dim, Device::kCpu};
        DeviceBuffer dev_raw = cuda_test::ToDevice(raw);
        const VectorView dev_scale{dev_raw.data(), dt, dim, Device::kCuda};
        DeviceBuffer dx = cuda_test::ToDevice(x);
        DeviceBuffer out = cuda_test::ToDevice(std::vector<float>(rows * dim + 1, -7.f));
        ASSERT_TRUE(ScaleColumnsCuda(dx.As<float>(), rows, dim, dev_scale, out.As<float>(), stream()).ok());
        std::vector<float> want(rows * dim + 1, -7.f);
        for (int64_t j = 0; j < rows; ++j) {
          for (int64_t e = 0; e < dim; ++e) want[j * dim + e] = x[j * dim + e] * host_scale.At(e);
        }
        ASSERT_TRUE(cuda_test::AllClose(cuda_test::FromDevice<float>(out.data(), want.size()), want,
                                        cuda_test::kCudaExactTol))
            << cuda_test::Name(dt) << " dim " << dim << " rows " << rows;
      }
    }
  }
}

TEST_F(Gemma3nOpsCudaTest, PerLayerInputWritesOnlyItsLayerSlot) {
  constexpr int64_t kLayers = 5;
  uint32_t seed = 500;
  for (int64_t p : {int64_t{1}, int64_t{8}, int64_t{256 + 3}}) {
    for (int64_t t : kRows) {
      const std::vector<float> proj = cuda_test::RandomFloats(t * p, seed++, -3.f, 3.f);
      const std::vector<float> emb = cuda_test::RandomFloats(t * p, seed++, -3.f, 3.f);
      std::vector<float> want = cuda_test::RandomFloats(t * kLayers * p, seed++);  // other slots: sentinels
      DeviceBuffer dproj = cuda_test::ToDevice(proj), demb = cuda_test::ToDevice(emb);
      DeviceBuffer pli = cuda_test::ToDevice(want);
      const float scale = 1.f / std::sqrt(2.f);
      for (int64_t l : {int64_t{0}, int64_t{3}, kLayers - 1}) {
        ASSERT_TRUE(PerLayerInputCuda(dproj.As<float>(), demb.As<float>(), t, p, kLayers, l, scale,
                                      pli.As<float>(), stream())
                        .ok());
        for (int64_t j = 0; j < t; ++j) {
          for (int64_t i = 0; i < p; ++i)
            want[(j * kLayers + l) * p + i] = (proj[j * p + i] + emb[j * p + i]) * scale;
        }
        ASSERT_TRUE(cuda_test::AllClose(cuda_test::FromDevice<float>(pli.data(), want.size()), want,
                                        cuda_test::kCudaExactTol))
            << "p " << p << " t " << t << " layer " << l;
      }
    }
  }
}

// The per-layer embedding table of CudaGemma3nModel lives in pinned, mapped
// host memory: the gather reads it through the device alias of the host
// pointer, one layer's column block at a time, ids past the table clamped to
// row 0 on the device.
TEST_F(Gemma3nOpsCudaTest, PerLayerTableGatherFromMappedHostMemory) {
  constexpr int64_t kVocab = 1000, kLayers = 3, kP = 8 + 3;
  std::vector<float> values = cuda_test::RandomFloats(kVocab * kLayers * kP, 600, -2.f, 2.f);
  const size_t bytes = values.size() * sizeof(uint16_t);
  void* host = nullptr;
  ASSERT_EQ(cudaHostAlloc(&host, bytes, cudaHostAllocMapped), cudaSuccess);
  std::unique_ptr<void, cudaError_t (*)(void*)> free_host(host, cudaFreeHost);
  for (size_t i = 0; i < values.size(); ++i) static_cast<uint16_t*>(host)[i] = F32ToBf16(values[i]);
  void* mapped = nullptr;
  ASSERT_EQ(cudaHostGetDevicePointer(&mapped, host, 0), cudaSuccess);
  const MatrixView host_table{host, DType::kBF16, kVocab, kLayers * kP, kLayers * kP, Device::kCpu};
  MatrixView dev_table = host_table;
  dev_table.data = mapped;
  dev_table.device = Device::kCuda;

  const std::vector<int32_t> ids = {0, 1, 999, 1000, 262143, 17, 500};  // 1000 and 262143 are past the table
  std::vector<int32_t> clamped(ids.size());
  for (size_t j = 0; j < ids.size(); ++j) clamped[j] = ids[j] < kVocab ? ids[j] : 0;
  const int64_t t = static_cast<int64_t>(ids.size());
  DeviceBuffer dev_ids = cuda_test::ToDevice(ids);
  DeviceBuffer dev_clamped = cuda_test::ToDevice(std::vector<int32_t>(t, -1));
  ASSERT_TRUE(ClampIdsCuda(dev_ids.As<int32_t>(), t, kVocab, dev_clamped.As<int32_t>(), stream()).ok());
  ASSERT_EQ(cuda_test::FromDevice<int32_t>(dev_clamped.data(), t), clamped);

  DeviceBuffer out = cuda_test::ToDevice(std::vector<float>(t * kP));
  const float scale = std::sqrt(static_cast<float>(kP));
  for (int64_t l = 0; l < kLayers; ++l) {
    ASSERT_TRUE(EmbeddingGatherCuda(dev_table.ColBlock(l * kP, kP), dev_clamped.As<int32_t>(), t, scale,
                                    out.As<float>(), stream())
                    .ok());
    std::vector<float> want(t * kP);
    EmbeddingGather(host_table.ColBlock(l * kP, kP), clamped.data(), t, scale, want.data());
    ASSERT_TRUE(cuda_test::AllClose(cuda_test::FromDevice<float>(out.data(), want.size()), want,
                                    cuda_test::kCudaExactTol))
        << "layer " << l;
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
  EXPECT_EQ(AltUpCorrectCuda(out, &x, &x, 4, -1, 1, 4, nullptr).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ScaleCuda(&x, -1, 1.f, nullptr).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ScaleCuda(nullptr, 4, 1.f, nullptr).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SumDivCuda(&x, nullptr, nullptr, 4, 1.f, &x, nullptr).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SumDivCuda(&x, &x, nullptr, -1, 1.f, &x, nullptr).code(), absl::StatusCode::kInvalidArgument);
  const VectorView host_scale{&x, DType::kF32, 4, Device::kCpu};
  EXPECT_EQ(ScaleColumnsCuda(&x, 1, 4, host_scale, &x, nullptr).code(), absl::StatusCode::kInvalidArgument);
  const VectorView short_scale{&x, DType::kF32, 3, Device::kCuda};
  EXPECT_EQ(ScaleColumnsCuda(&x, 1, 4, short_scale, &x, nullptr).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PerLayerInputCuda(&x, &x, 1, 4, 3, 3, 1.f, &x, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PerLayerInputCuda(&x, nullptr, 1, 4, 3, 0, 1.f, &x, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  int32_t id = 0;
  EXPECT_EQ(ClampIdsCuda(&id, 1, 10, nullptr, nullptr).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ClampIdsCuda(&id, -1, 10, &id, nullptr).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace matspec
