// FillPositionsCuda and RopePositionsCuda (start read from device memory):
// exact values, the elements around the written range untouched, argument
// checks (those run without a GPU).
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/cuda/positions_cuda.h"
#include "tests/cuda/cuda_test_util.h"

namespace matspec {
namespace {

using cuda_test::CudaTest;
using PositionsCudaTest = CudaTest;

constexpr int64_t kPad = 3;
constexpr int64_t kSentinel = -12345;

TEST_F(PositionsCudaTest, RopePositionsReadThePastFromTheDevice) {
  for (int64_t past : {0, 1, 4095, 131071}) {
    for (int64_t offset : {0, 1, 5, -1}) {
      if (past + offset < 0) continue;
      for (int64_t t : {1, 2, 9, 17, 300}) {
        DeviceBuffer dev_past = cuda_test::ToDevice(std::vector<int64_t>{past});
        DeviceBuffer dev_pos = cuda_test::ToDevice(std::vector<int64_t>(t + 2 * kPad, kSentinel));
        const absl::Status s =
            RopePositionsCuda(dev_past.As<int64_t>(), offset, t, dev_pos.As<int64_t>() + kPad, stream());
        ASSERT_TRUE(s.ok()) << s;
        const std::vector<int64_t> got = cuda_test::FromDevice<int64_t>(dev_pos.data(), t + 2 * kPad);
        for (int64_t i = 0; i < t + 2 * kPad; ++i) {
          const int64_t want = i < kPad || i >= kPad + t ? kSentinel : past + offset + (i - kPad);
          ASSERT_EQ(got[i], want) << "past " << past << " offset " << offset << " t " << t << " at " << i;
        }
      }
    }
  }
}

TEST_F(PositionsCudaTest, RopePositionsFollowTheCounterBetweenLaunches) {
  DeviceBuffer dev_past = cuda_test::ToDevice(std::vector<int64_t>{10});
  DeviceBuffer dev_pos = cuda_test::ToDevice(std::vector<int64_t>(2));
  ASSERT_TRUE(RopePositionsCuda(dev_past.As<int64_t>(), 0, 2, dev_pos.As<int64_t>(), stream()).ok());
  EXPECT_EQ(cuda_test::FromDevice<int64_t>(dev_pos.data(), 2), (std::vector<int64_t>{10, 11}));
  const int64_t next = 700;
  ASSERT_EQ(cudaMemcpy(dev_past.data(), &next, sizeof(next), cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  ASSERT_TRUE(RopePositionsCuda(dev_past.As<int64_t>(), 0, 2, dev_pos.As<int64_t>(), stream()).ok());
  EXPECT_EQ(cuda_test::FromDevice<int64_t>(dev_pos.data(), 2), (std::vector<int64_t>{700, 701}));
}

TEST_F(PositionsCudaTest, FillPositionsWritesStartPlusIndex) {
  DeviceBuffer dev_pos = cuda_test::ToDevice(std::vector<int64_t>(5 + 2 * kPad, kSentinel));
  ASSERT_TRUE(FillPositionsCuda(42, 5, dev_pos.As<int64_t>() + kPad, stream()).ok());
  const std::vector<int64_t> got = cuda_test::FromDevice<int64_t>(dev_pos.data(), 5 + 2 * kPad);
  EXPECT_EQ(got, (std::vector<int64_t>{kSentinel, kSentinel, kSentinel, 42, 43, 44, 45, 46, kSentinel,
                                       kSentinel, kSentinel}));
}

// Host-only: argument checks happen before any CUDA call.
TEST(PositionsCudaArgs, RopePositionsRejectsBadParametersNamingThem) {
  int64_t* const fake = reinterpret_cast<int64_t*>(uintptr_t{256});
  auto expect_bad = [](const absl::Status& s, const std::string& name) {
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_NE(std::string(s.message()).find(name), std::string::npos) << s;
  };
  expect_bad(RopePositionsCuda(fake, 0, -1, fake, nullptr), "t < 0");
  expect_bad(RopePositionsCuda(nullptr, 0, 1, fake, nullptr), "d_past");
  expect_bad(RopePositionsCuda(fake, 0, 1, nullptr, nullptr), "positions");
  EXPECT_TRUE(RopePositionsCuda(nullptr, 0, 0, nullptr, nullptr).ok());  // t = 0: nothing to do
}

}  // namespace
}  // namespace matspec
