// ApplyRopeCuda against the CPU ApplyRope: several head sizes and thetas, rows
// with padding (row_stride > heads * head_dim, the padding must stay
// untouched), small and very large positions.
#include "kernels/rope.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "kernels/cuda/rope_cuda.h"
#include "tests/cuda/cuda_test_util.h"

namespace matspec {
namespace {

using cuda_test::CudaTest;
using RopeCudaTest = CudaTest;

TEST_F(RopeCudaTest, MatchesCpu) {
  std::mt19937 rng(13);
  for (double theta : {10000.0, 500000.0, 1000000.0}) {
    for (int64_t heads : {1, 3, 8}) {
      for (int64_t head_dim : {2, 64, 128, 130, 256}) {
        for (int64_t t : {1, 2, 5, 9, 17}) {
          const int64_t stride = heads * head_dim + 3;
          const std::vector<float> x = cuda_test::RandomFloats(t * stride, rng(), -2.f, 2.f);
          std::vector<int64_t> positions(t);
          std::uniform_int_distribution<int64_t> small(0, 4096), large(0, 131071);
          const bool use_large = rng() % 2 == 0;
          for (int64_t j = 0; j < t; ++j) positions[j] = use_large ? large(rng) : small(rng);

          std::vector<float> want = x;
          RopeParams cpu;
          cpu.x = want.data();
          cpu.row_stride = stride;
          cpu.t = t;
          cpu.num_heads = heads;
          cpu.head_dim = head_dim;
          cpu.positions = positions.data();
          cpu.theta = theta;
          ApplyRope(cpu);

          DeviceBuffer dev_x = cuda_test::ToDevice(x);
          DeviceBuffer dev_pos = cuda_test::ToDevice(positions);
          RopeParams gpu = cpu;
          gpu.x = dev_x.As<float>();
          gpu.positions = dev_pos.As<int64_t>();
          ASSERT_TRUE(ApplyRopeCuda(gpu, stream()).ok());
          const std::vector<float> got = cuda_test::FromDevice<float>(dev_x.data(), t * stride);
          ASSERT_TRUE(cuda_test::AllClose(got, want, cuda_test::kCudaRopeTol))
              << "theta " << theta << " heads " << heads << " head_dim " << head_dim << " t " << t;
        }
      }
    }
  }
}

TEST_F(RopeCudaTest, RejectsAnOddHeadDim) {
  DeviceBuffer dev_x = cuda_test::ToDevice(std::vector<float>(3));
  DeviceBuffer dev_pos = cuda_test::ToDevice(std::vector<int64_t>{0});
  RopeParams p;
  p.x = dev_x.As<float>();
  p.row_stride = 3;
  p.t = 1;
  p.num_heads = 1;
  p.head_dim = 3;
  p.positions = dev_pos.As<int64_t>();
  EXPECT_EQ(ApplyRopeCuda(p, stream()).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace matspec
