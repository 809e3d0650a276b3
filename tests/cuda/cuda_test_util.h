// Shared helpers of the CUDA kernel tests: a fixture that skips without a GPU
// and owns a CudaContext, host <-> device copies, device copies of the
// NaN-padded weight buffers of tests/testing/kernel_checks.h, and the CUDA rows
// of the tolerance table. Header-only (only tests/cuda/*_test.cc are compiled).
#ifndef MATSPEC_TESTS_CUDA_CUDA_TEST_UTIL_H_
#define MATSPEC_TESTS_CUDA_CUDA_TEST_UTIL_H_

#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <utility>
#include <vector>

#include "kernels/cuda/cuda_context.h"
#include "kernels/dtype.h"
#include "kernels/tensor_view.h"
#include "tests/testing/kernel_checks.h"

namespace matspec::cuda_test {

using ::matspec::testing::Tolerance;

// CUDA kernel vs CPU kernel: the CUDA rows of tests/TOLERANCES.md. Change both together.
inline constexpr Tolerance kCudaMatMulF32Tol{1e-5, 1e-4};    // f32 weights, f32 x on both sides
inline constexpr Tolerance kCudaMatMulSameXTol{2e-5, 1e-4};  // CPU also fed x rounded to the weight dtype
inline constexpr Tolerance kCudaMatMulF16Tol{2e-3, 2e-3};    // f16 weights, CPU on the f32 x
inline constexpr Tolerance kCudaMatMulBf16Tol{1e-2, 1e-2};   // bf16 weights, CPU on the f32 x
inline constexpr Tolerance kCudaSkinnyMatMulTol{2e-5, 1e-4};  // skinny kernel: f32 x on both sides
inline constexpr Tolerance kCudaQuantMatMulTol{2e-5, 1e-4};   // q8 / q4, f32 x, vs the f64 reference
inline constexpr Tolerance kCudaAttentionTol{1e-5, 1e-4};
inline constexpr Tolerance kCudaRmsNormTol{1e-5, 1e-5};
inline constexpr Tolerance kCudaRopeTol{1e-5, 1e-5};
inline constexpr Tolerance kCudaActivationTol{1e-5, 1e-5};
inline constexpr Tolerance kCudaExactTol{0.0, 0.0};  // embedding gather, residual add
inline constexpr Tolerance kCudaProbsTol{1e-6, 1e-4};
inline constexpr Tolerance kCudaGemma3nOpsTol{1e-5, 1e-5};  // the CPU's ops, no FMA; tanhf within 2 ulp

// Skips the test when there is no usable GPU; otherwise gives it a context whose
// workspace a test grows with Reserve.
class CudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!CudaDeviceAvailable().ok()) GTEST_SKIP() << "no CUDA device";
    absl::StatusOr<std::unique_ptr<CudaContext>> ctx = CudaContext::Create(size_t{1} << 20);
    ASSERT_TRUE(ctx.ok()) << ctx.status();
    ctx_ = std::move(*ctx);
  }

  void Reserve(size_t bytes) {
    const absl::Status s = ctx_->ReserveWorkspace(bytes);
    ASSERT_TRUE(s.ok()) << s;
  }

  cudaStream_t stream() const { return ctx_->stream(); }

  std::unique_ptr<CudaContext> ctx_;
};

// A new device buffer holding `host` (at least one element, so an empty vector
// still gives a valid pointer). Synchronises the device, so kernels on the
// context's non-blocking stream see the data.
template <typename T>
DeviceBuffer ToDevice(const std::vector<T>& host) {
  absl::StatusOr<DeviceBuffer> buf = DeviceBuffer::Allocate(std::max<size_t>(host.size(), 1) * sizeof(T));
  EXPECT_TRUE(buf.ok()) << buf.status();
  if (!buf.ok()) return DeviceBuffer();
  if (!host.empty()) {
    EXPECT_EQ(cudaMemcpy(buf->data(), host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice),
              cudaSuccess);
  }
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  return std::move(*buf);
}

// Waits for all queued work, then copies `count` elements back.
template <typename T>
std::vector<T> FromDevice(const void* device, size_t count) {
  std::vector<T> host(count);
  const cudaError_t sync = cudaDeviceSynchronize();
  EXPECT_EQ(sync, cudaSuccess) << cudaGetErrorString(sync);
  if (count > 0) {
    EXPECT_EQ(cudaMemcpy(host.data(), device, count * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
  }
  return host;
}

inline std::vector<float> RandomFloats(size_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  return ::matspec::testing::RandomFloats(rng, static_cast<int64_t>(n), lo, hi);
}

// got (GPU) against want (CPU kernel); prints the first mismatches and the
// worst element on failure.
inline ::testing::AssertionResult AllClose(const std::vector<float>& got, const std::vector<float>& want,
                                           Tolerance tol) {
  return ::matspec::testing::AllClose(got, std::vector<double>(want.begin(), want.end()), tol);
}

// A device copy of a WeightBuffer (NaN outside its view) with its device view.
struct DeviceMatrix {
  DeviceBuffer buffer;
  MatrixView view;
};

// storage_rows: the rows the WeightBuffer was built with (>= its view's rows).
inline DeviceMatrix ToDevice(const ::matspec::testing::WeightBuffer& w, int64_t storage_rows) {
  const MatrixView& hv = w.view();
  const size_t bytes = static_cast<size_t>(storage_rows * hv.ld * DTypeSize(hv.dtype));
  std::vector<uint8_t> raw(bytes);
  std::memcpy(raw.data(), hv.data, bytes);
  DeviceMatrix m;
  m.buffer = ToDevice(raw);
  m.view = hv;
  m.view.data = m.buffer.data();
  m.view.device = Device::kCuda;
  return m;
}

inline const char* Name(DType d) {
  switch (d) {
    case DType::kF32:
      return "f32";
    case DType::kF16:
      return "f16";
    case DType::kBF16:
      return "bf16";
    case DType::kQ8:
      return "q8";
    case DType::kQ4:
      return "q4";
  }
  return "?";
}

}  // namespace matspec::cuda_test

#endif  // MATSPEC_TESTS_CUDA_CUDA_TEST_UTIL_H_
