// RmsNormCuda against the CPU RmsNorm: every weight dtype, no weight, the
// Gemma-style offset, in place and out of place, dims not multiples of a tile.
#include "kernels/rms_norm.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "kernels/cuda/rms_norm_cuda.h"
#include "tests/cuda/cuda_test_util.h"

namespace matspec {
namespace {

using cuda_test::CudaTest;
using RmsNormCudaTest = CudaTest;

TEST_F(RmsNormCudaTest, MatchesCpu) {
  std::mt19937 rng(11);
  for (int weight_kind = 0; weight_kind < 4; ++weight_kind) {  // f32, f16, bf16, none
    for (int64_t dim : {1, 3, 17, 61, 130, 1000, 3072}) {
      for (int64_t rows : {1, 2, 5, 9, 17}) {
        for (bool in_place : {false, true}) {
          const DType dtype = weight_kind < 3 ? testing::kAllDTypes[weight_kind] : DType::kF32;
          const std::vector<float> x = cuda_test::RandomFloats(rows * dim, rng(), -3.f, 3.f);
          testing::WeightBuffer w(dtype, 1, dim, 1, dim, cuda_test::RandomFloats(dim, rng()));
          cuda_test::DeviceMatrix dev_w = cuda_test::ToDevice(w, 1);

          RmsNormParams cpu;
          cpu.x = x.data();
          if (weight_kind < 3) cpu.weight = VectorView{w.view().data, dtype, dim, Device::kCpu};
          cpu.weight_offset = weight_kind == 1 ? 1.f : 0.f;
          cpu.eps = weight_kind == 2 ? 1e-5f : 1e-6f;
          cpu.rows = rows;
          cpu.dim = dim;
          std::vector<float> want(rows * dim);
          cpu.out = want.data();
          RmsNorm(cpu);

          DeviceBuffer dev_x = cuda_test::ToDevice(x);
          DeviceBuffer dev_out = cuda_test::ToDevice(std::vector<float>(rows * dim));
          RmsNormParams gpu = cpu;
          gpu.x = dev_x.As<float>();
          gpu.out = in_place ? dev_x.As<float>() : dev_out.As<float>();
          if (weight_kind < 3) gpu.weight = VectorView{dev_w.view.data, dtype, dim, Device::kCuda};
          ASSERT_TRUE(RmsNormCuda(gpu, stream()).ok());
          const std::vector<float> got = cuda_test::FromDevice<float>(gpu.out, rows * dim);
          ASSERT_TRUE(cuda_test::AllClose(got, want, cuda_test::kCudaRmsNormTol))
              << "weight kind " << weight_kind << " dim " << dim << " rows " << rows
              << (in_place ? " in place" : "");
        }
      }
    }
  }
}

TEST_F(RmsNormCudaTest, RejectsAHostWeight) {
  std::vector<float> w(4, 1.f);
  DeviceBuffer dev_x = cuda_test::ToDevice(std::vector<float>(4, 1.f));
  RmsNormParams p;
  p.x = dev_x.As<float>();
  p.out = dev_x.As<float>();
  p.weight = VectorView{w.data(), DType::kF32, 4, Device::kCpu};
  p.rows = 1;
  p.dim = 4;
  EXPECT_EQ(RmsNormCuda(p, stream()).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace matspec
