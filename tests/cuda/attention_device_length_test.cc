// AttentionCudaDeviceLength against the CPU Attention and against AttentionCuda:
// the shapes of attention_test.cc (GQA, odd head sizes, soft-cap, sliding
// window) with T in {1, 2, 5, 9} over past in {0, 1, 60, 1000, 5000}, past read
// from device memory, and the host bound max_kv_len both tight (= past + t) and
// far larger (so most splits of the grid are empty). Cache rows past the actual
// length are NaN, so a block that reads beyond it fails the test. The argument
// checks run without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "kernels/attention.h"
#include "kernels/cuda/attention_cuda.h"
#include "tests/cuda/attention_case.h"
#include "tests/cuda/cuda_test_util.h"

namespace matspec {
namespace {

using cuda_test::CudaTest;
using AttentionCudaDeviceLengthTest = CudaTest;

using cuda_test::AttentionShape;

void CheckAgainstCpu(CudaContext& ctx, const AttentionShape& shape, int64_t t, int64_t past, int64_t max_kv_len,
                     uint32_t seed) {
  const cuda_test::AttentionCase c = cuda_test::MakeAttentionCase(shape, t, past, seed);
  const int64_t kv_row = c.kv_row, out_stride = c.out_stride;
  const std::vector<float>& k = c.k;
  const std::vector<float>& v = c.v;
  const std::vector<float>& q = c.q;
  const std::vector<float>& out0 = c.out0;
  const std::vector<float>& want = c.want;
  const AttentionParams p = c.Params();
  // The device cache has max_kv_len rows; those at and after kv_len are NaN.
  std::vector<float> k_dev(max_kv_len * kv_row, std::numeric_limits<float>::quiet_NaN());
  std::vector<float> v_dev = k_dev;
  std::copy(k.begin(), k.end(), k_dev.begin());
  std::copy(v.begin(), v.end(), v_dev.begin());
  DeviceBuffer dev_q = cuda_test::ToDevice(q);
  DeviceBuffer dev_k = cuda_test::ToDevice(k_dev);
  DeviceBuffer dev_v = cuda_test::ToDevice(v_dev);
  DeviceBuffer dev_out = cuda_test::ToDevice(out0);
  DeviceBuffer dev_ref = cuda_test::ToDevice(out0);
  DeviceBuffer dev_past = cuda_test::ToDevice(std::vector<int64_t>{past});
  const size_t ws = std::max(AttentionCudaDeviceLengthWorkspaceBytes(t, shape.heads, shape.head_dim, max_kv_len),
                             AttentionCudaWorkspaceBytes(t, shape.heads, shape.head_dim));
  ASSERT_TRUE(ctx.ReserveWorkspace(ws).ok());
  AttentionParams g = p;
  g.q = dev_q.As<float>();
  g.k_cache = dev_k.As<float>();
  g.v_cache = dev_v.As<float>();
  g.out = dev_out.As<float>();
  g.scratch = nullptr;
  g.past = -7;  // ignored: the kernels read *d_past
  const absl::Status s =
      AttentionCudaDeviceLength(g, dev_past.As<int64_t>(), max_kv_len, ctx.workspace(), ctx.stream());
  ASSERT_TRUE(s.ok()) << s;
  const std::vector<float> got = cuda_test::FromDevice<float>(dev_out.data(), t * out_stride);
  const std::string what = c.Describe() + " max_kv_len " + std::to_string(max_kv_len);
  ASSERT_TRUE(cuda_test::AllClose(got, want, cuda_test::kCudaAttentionTol)) << what;

  // The splits in use are AttentionCuda's for the actual length: same bits.
  g.past = past;
  g.out = dev_ref.As<float>();
  const absl::Status r = AttentionCuda(g, ctx.workspace(), ctx.stream());
  ASSERT_TRUE(r.ok()) << r;
  const std::vector<float> ref = cuda_test::FromDevice<float>(dev_ref.data(), t * out_stride);
  int64_t differ = 0;
  for (size_t i = 0; i < got.size(); ++i) differ += got[i] != ref[i];
  EXPECT_EQ(differ, 0) << "values differing from AttentionCuda; " << what;
}

TEST_F(AttentionCudaDeviceLengthTest, MatchesCpuForTightAndLooseBounds) {
  uint32_t seed = 41;
  for (const AttentionShape& c : cuda_test::kAttentionShapes) {
    for (int64_t t : {1, 2, 5, 9}) {
      for (int64_t past : {0, 1, 60, 1000, 5000}) {
        for (int64_t slack : {0, 8192}) {
          CheckAgainstCpu(*ctx_, c, t, past, past + t + slack, seed += 3);
          if (HasFatalFailure()) return;
        }
      }
    }
  }
}

TEST_F(AttentionCudaDeviceLengthTest, MatchesCpuForPrefillSizedBlocks) {
  // Enough (token, head) pairs that neither bound splits: the single-pass kernel.
  CheckAgainstCpu(*ctx_, {4, 2, 64, 0.f, 0}, 130, 0, 4096, 101);
  CheckAgainstCpu(*ctx_, {4, 1, 128, 0.f, 300}, 130, 3000, 3130, 103);
}

// Host-only from here: argument checks happen before any CUDA call.

TEST(AttentionCudaDeviceLengthArgs, WorkspaceGrowsWithTheBoundUpToAttentionCudas) {
  EXPECT_EQ(AttentionCudaDeviceLengthWorkspaceBytes(1, 32, 128, 64), 0u);  // one split
  const size_t small = AttentionCudaDeviceLengthWorkspaceBytes(1, 32, 128, 256);
  const size_t large = AttentionCudaDeviceLengthWorkspaceBytes(1, 32, 128, 1 << 20);
  EXPECT_GT(small, 0u);
  EXPECT_GT(large, small);
  EXPECT_EQ(large, AttentionCudaWorkspaceBytes(1, 32, 128));
  EXPECT_EQ(AttentionCudaDeviceLengthWorkspaceBytes(1000, 32, 128, 1 << 20), 0u);  // enough pairs
  EXPECT_EQ(AttentionCudaDeviceLengthWorkspaceBytes(0, 32, 128, 100), 0u);
}

TEST(AttentionCudaDeviceLengthArgs, RejectsBadParametersNamingThem) {
  // Fake non-null device pointers: validation fails before anything is launched.
  float* const f = reinterpret_cast<float*>(uintptr_t{256});
  const int64_t* const d_past = reinterpret_cast<const int64_t*>(uintptr_t{512});
  AttentionParams good;
  good.q = f;
  good.k_cache = f;
  good.v_cache = f;
  good.out = f;
  good.t = 1;
  good.num_heads = 4;
  good.num_kv_heads = 2;
  good.head_dim = 64;
  good.q_stride = good.out_stride = 256;
  auto expect_bad = [&](const AttentionParams& p, const int64_t* past, int64_t max_kv_len, CudaWorkspace ws,
                        const std::string& name) {
    const absl::Status s = AttentionCudaDeviceLength(p, past, max_kv_len, ws, nullptr);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << name << ": " << s;
    EXPECT_NE(std::string(s.message()).find(name), std::string::npos) << s;
    EXPECT_NE(std::string(s.message()).find("AttentionCudaDeviceLength"), std::string::npos) << s;
  };
  expect_bad(good, nullptr, 100, {}, "d_past");
  expect_bad(good, d_past, 0, {}, "max_kv_len");
  AttentionParams p = good;
  p.t = -1;
  expect_bad(p, d_past, 100, {}, "t < 0");
  p = good;
  p.num_kv_heads = 3;
  expect_bad(p, d_past, 100, {}, "num_kv_heads");
  p = good;
  p.head_dim = 2048;
  expect_bad(p, d_past, 100, {}, "head_dim");
  p = good;
  p.sliding_window = -1;
  expect_bad(p, d_past, 100, {}, "sliding_window");
  p = good;
  p.softcap = std::numeric_limits<float>::quiet_NaN();
  expect_bad(p, d_past, 100, {}, "softcap");
  p = good;
  p.q = nullptr;
  expect_bad(p, d_past, 100, {}, "q is null");
  p = good;
  p.v_cache = nullptr;
  expect_bad(p, d_past, 100, {}, "v_cache");
  p = good;
  p.q_stride = 255;
  expect_bad(p, d_past, 100, {}, "q_stride");
  p = good;
  p.out_stride = 10;
  expect_bad(p, d_past, 100, {}, "out_stride");
  // A bound long enough to split needs the workspace.
  expect_bad(good, d_past, 4096, {}, "workspace");
  CudaWorkspace tiny{f, AttentionCudaDeviceLengthWorkspaceBytes(1, 4, 64, 4096) - 1};
  expect_bad(good, d_past, 4096, tiny, "workspace");
}

TEST(AttentionCudaDeviceLengthArgs, AttentionCudaStillNamesItself) {
  AttentionParams p;
  p.t = 1;
  p.past = -1;
  p.num_heads = 1;
  p.num_kv_heads = 1;
  p.head_dim = 8;
  const absl::Status s = AttentionCuda(p, {}, nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(s.message()).find("AttentionCuda: past"), std::string::npos) << s;
}

}  // namespace
}  // namespace matspec
