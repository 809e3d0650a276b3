// GatedActivationCuda and AddInPlaceCuda against the CPU kernels: SiLU and
// GELU-tanh, rows with padding (stride > n, padding untouched), out == gate.
#include "kernels/activation.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "kernels/cuda/activation_cuda.h"
#include "tests/cuda/cuda_test_util.h"

namespace matspec {
namespace {

using cuda_test::CudaTest;
using ActivationCudaTest = CudaTest;

TEST_F(ActivationCudaTest, GatedMatchesCpu) {
  std::mt19937 rng(17);
  for (Activation act : {Activation::kSilu, Activation::kGeluTanh}) {
    for (int64_t n : {1, 3, 17, 61, 130, 1000}) {
      for (int64_t rows : {1, 2, 5, 9, 17}) {
        for (bool in_place : {false, true}) {
          const int64_t stride = n + 7;
          const std::vector<float> gate = cuda_test::RandomFloats(rows * stride, rng(), -8.f, 8.f);
          const std::vector<float> up = cuda_test::RandomFloats(rows * stride, rng(), -2.f, 2.f);
          std::vector<float> want = in_place ? gate : std::vector<float>(rows * stride, 5.f);
          GatedActivationParams cpu;
          cpu.act = act;
          cpu.gate = gate.data();
          cpu.up = up.data();
          cpu.out = want.data();
          cpu.rows = rows;
          cpu.n = n;
          cpu.stride = stride;
          GatedActivation(cpu);

          DeviceBuffer dev_gate = cuda_test::ToDevice(gate);
          DeviceBuffer dev_up = cuda_test::ToDevice(up);
          DeviceBuffer dev_out = cuda_test::ToDevice(std::vector<float>(rows * stride, 5.f));
          GatedActivationParams gpu = cpu;
          gpu.gate = dev_gate.As<float>();
          gpu.up = dev_up.As<float>();
          gpu.out = in_place ? dev_gate.As<float>() : dev_out.As<float>();
          ASSERT_TRUE(GatedActivationCuda(gpu, stream()).ok());
          const std::vector<float> got = cuda_test::FromDevice<float>(gpu.out, rows * stride);
          ASSERT_TRUE(cuda_test::AllClose(got, want, cuda_test::kCudaActivationTol))
              << (act == Activation::kSilu ? "silu" : "gelu_tanh") << " n " << n << " rows " << rows
              << (in_place ? " in place" : "");
        }
      }
    }
  }
}

TEST_F(ActivationCudaTest, AddInPlaceMatchesCpu) {
  for (int64_t n : {1, 3, 17, 61, 130, 1000, 3072, 100003}) {
    std::vector<float> x = cuda_test::RandomFloats(n, 1 + n);
    const std::vector<float> y = cuda_test::RandomFloats(n, 2 + n);
    DeviceBuffer dev_x = cuda_test::ToDevice(x);
    DeviceBuffer dev_y = cuda_test::ToDevice(y);
    AddInPlace(x.data(), y.data(), n);
    ASSERT_TRUE(AddInPlaceCuda(dev_x.As<float>(), dev_y.As<float>(), n, stream()).ok());
    ASSERT_TRUE(
        cuda_test::AllClose(cuda_test::FromDevice<float>(dev_x.data(), n), x, cuda_test::kCudaExactTol))
        << "n " << n;
  }
}

}  // namespace
}  // namespace matspec
