// KvAppendCuda (rows copied into the cache at a row offset read from device
// memory) and AddToCounterCuda: exact copies, cache rows outside the written
// range and the source rows' padding (NaN) untouched / unread, a negative
// offset writes nothing; argument checks (those run without a GPU).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "kernels/cuda/kv_append_cuda.h"
#include "tests/cuda/cuda_test_util.h"

namespace matspec {
namespace {

using cuda_test::CudaTest;
using KvAppendCudaTest = CudaTest;

constexpr float kSentinel = -777.25f;

// Bitwise equality, so that a NaN read from the padding is a mismatch.
bool SameBits(float a, float b) { return std::memcmp(&a, &b, sizeof(float)) == 0; }

TEST_F(KvAppendCudaTest, CopiesRowsAtTheDevicePast) {
  uint32_t seed = 5;
  for (int64_t row_floats : {1, 33, 256, 1000}) {
    for (int64_t t : {1, 2, 5, 17}) {
      for (int64_t past : {0, 1, 77}) {
        const int64_t stride = row_floats + 3;
        const int64_t rows_cap = past + t + 4;  // 4 spare rows after the written ones
        std::vector<float> rows = cuda_test::RandomFloats(t * stride, seed++);
        for (int64_t i = 0; i < t; ++i) {
          for (int64_t c = row_floats; c < stride; ++c)
            rows[i * stride + c] = std::numeric_limits<float>::quiet_NaN();
        }
        DeviceBuffer dev_rows = cuda_test::ToDevice(rows);
        DeviceBuffer dev_cache = cuda_test::ToDevice(std::vector<float>(rows_cap * row_floats, kSentinel));
        DeviceBuffer dev_past = cuda_test::ToDevice(std::vector<int64_t>{past});
        const absl::Status s = KvAppendCuda(dev_rows.As<float>(), stride, t, row_floats,
                                            dev_past.As<int64_t>(), dev_cache.As<float>(), stream());
        ASSERT_TRUE(s.ok()) << s;
        const std::vector<float> got = cuda_test::FromDevice<float>(dev_cache.data(), rows_cap * row_floats);
        for (int64_t r = 0; r < rows_cap; ++r) {
          for (int64_t c = 0; c < row_floats; ++c) {
            const bool written = r >= past && r < past + t;
            const float want = written ? rows[(r - past) * stride + c] : kSentinel;
            ASSERT_TRUE(SameBits(got[r * row_floats + c], want))
                << "row_floats " << row_floats << " t " << t << " past " << past << " row " << r << " col "
                << c << ": got " << got[r * row_floats + c] << " want " << want;
          }
        }
      }
    }
  }
}

TEST_F(KvAppendCudaTest, NegativePastWritesNothing) {
  DeviceBuffer dev_rows = cuda_test::ToDevice(std::vector<float>(8, 1.f));
  DeviceBuffer dev_cache = cuda_test::ToDevice(std::vector<float>(32, kSentinel));
  DeviceBuffer dev_past = cuda_test::ToDevice(std::vector<int64_t>{-1});
  ASSERT_TRUE(KvAppendCuda(dev_rows.As<float>(), 8, 1, 8, dev_past.As<int64_t>(), dev_cache.As<float>() + 16,
                           stream())
                  .ok());
  const std::vector<float> got = cuda_test::FromDevice<float>(dev_cache.data(), 32);
  for (float x : got) ASSERT_EQ(x, kSentinel);
}

TEST_F(KvAppendCudaTest, AddToCounterAddsOnTheDeviceInStreamOrder) {
  DeviceBuffer dev = cuda_test::ToDevice(std::vector<int64_t>{-9, 5, -9});
  int64_t* counter = dev.As<int64_t>() + 1;
  ASSERT_TRUE(AddToCounterCuda(counter, 1, stream()).ok());
  ASSERT_TRUE(AddToCounterCuda(counter, 3, stream()).ok());
  ASSERT_TRUE(AddToCounterCuda(counter, -2, stream()).ok());
  EXPECT_EQ(cuda_test::FromDevice<int64_t>(dev.data(), 3), (std::vector<int64_t>{-9, 7, -9}));
}

// Host-only: argument checks happen before any CUDA call.
TEST(KvAppendCudaArgs, RejectsBadParametersNamingThem) {
  float* const f = reinterpret_cast<float*>(uintptr_t{256});
  int64_t* const past = reinterpret_cast<int64_t*>(uintptr_t{512});
  auto expect_bad = [](const absl::Status& s, const std::string& name) {
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_NE(std::string(s.message()).find(name), std::string::npos) << s;
  };
  expect_bad(KvAppendCuda(f, 8, -1, 8, past, f, nullptr), "t < 0");
  expect_bad(KvAppendCuda(f, 8, 1, -8, past, f, nullptr), "row_floats");
  expect_bad(KvAppendCuda(f, 7, 1, 8, past, f, nullptr), "rows_stride");
  expect_bad(KvAppendCuda(nullptr, 8, 1, 8, past, f, nullptr), "rows is null");
  expect_bad(KvAppendCuda(f, 8, 1, 8, nullptr, f, nullptr), "d_past");
  expect_bad(KvAppendCuda(f, 8, 1, 8, past, nullptr, nullptr), "cache");
  expect_bad(KvAppendCuda(f, int64_t{1} << 40, int64_t{1} << 30, 8, past, f, nullptr), "overflows");
  EXPECT_TRUE(KvAppendCuda(nullptr, 8, 0, 8, nullptr, nullptr, nullptr).ok());  // t = 0: nothing to do
  expect_bad(AddToCounterCuda(nullptr, 1, nullptr), "d_counter");
}

}  // namespace
}  // namespace matspec
