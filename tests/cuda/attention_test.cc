// AttentionCuda against the CPU Attention: T in {1, 2, 5, 9, 17} new tokens
// over caches of 0 .. 5000 past tokens, grouped-query heads, odd head sizes,
// soft-cap and sliding window; q and out rows with padding (out padding must
// stay untouched). The long caches exercise the split ("flash-decoding") path,
// the large-T cases the single-pass path.
#include "kernels/attention.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cuda/attention_cuda.h"
#include "tests/cuda/attention_case.h"
#include "tests/cuda/cuda_test_util.h"

namespace matspec {
namespace {

using cuda_test::CudaTest;
using AttentionCudaTest = CudaTest;

using cuda_test::AttentionShape;

void CheckAgainstCpu(CudaContext& ctx, const AttentionShape& shape, int64_t t, int64_t past, uint32_t seed) {
  const cuda_test::AttentionCase c = cuda_test::MakeAttentionCase(shape, t, past, seed);
  DeviceBuffer dev_q = cuda_test::ToDevice(c.q);
  DeviceBuffer dev_k = cuda_test::ToDevice(c.k);
  DeviceBuffer dev_v = cuda_test::ToDevice(c.v);
  DeviceBuffer dev_out = cuda_test::ToDevice(c.out0);
  const size_t ws = AttentionCudaWorkspaceBytes(t, shape.heads, shape.head_dim);
  ASSERT_TRUE(ctx.ReserveWorkspace(ws).ok());
  AttentionParams g = c.Params();
  g.q = dev_q.As<float>();
  g.k_cache = dev_k.As<float>();
  g.v_cache = dev_v.As<float>();
  g.out = dev_out.As<float>();
  const absl::Status s = AttentionCuda(g, ctx.workspace(), ctx.stream());
  ASSERT_TRUE(s.ok()) << s;
  const std::vector<float> got = cuda_test::FromDevice<float>(dev_out.data(), t * c.out_stride);
  ASSERT_TRUE(cuda_test::AllClose(got, c.want, cuda_test::kCudaAttentionTol)) << c.Describe();
}

TEST_F(AttentionCudaTest, MatchesCpuOverCachesAndTokenCounts) {
  uint32_t seed = 23;
  for (const AttentionShape& c : cuda_test::kAttentionShapes) {
    for (int64_t t : {1, 2, 5, 9, 17}) {
      for (int64_t past : {0, 1, 60, 1000, 5000}) {
        CheckAgainstCpu(*ctx_, c, t, past, seed += 3);
        if (HasFatalFailure()) return;
      }
    }
  }
}

TEST_F(AttentionCudaTest, MatchesCpuForPrefillSizedBlocks) {
  // 520 and 488 (token, head) pairs: either side of the split threshold.
  CheckAgainstCpu(*ctx_, {4, 2, 64, 0.f, 0}, 130, 0, 101);
  CheckAgainstCpu(*ctx_, {8, 2, 128, 0.f, 0}, 61, 1000, 102);
  CheckAgainstCpu(*ctx_, {4, 1, 128, 0.f, 300}, 130, 3000, 103);
}

TEST_F(AttentionCudaTest, WorkspaceDoesNotDependOnCacheLength) {
  const size_t decode = AttentionCudaWorkspaceBytes(1, 32, 128);
  EXPECT_GT(decode, 0u);
  EXPECT_EQ(AttentionCudaWorkspaceBytes(1000, 32, 128), 0u);  // enough pairs: no split
}

TEST_F(AttentionCudaTest, RejectsBadShapes) {
  AttentionParams p;
  p.t = 1;
  p.num_heads = 3;
  p.num_kv_heads = 2;  // does not divide
  p.head_dim = 8;
  EXPECT_EQ(AttentionCuda(p, ctx_->workspace(), stream()).code(), absl::StatusCode::kInvalidArgument);
  p.num_kv_heads = 1;
  p.head_dim = 2048;  // too large
  EXPECT_EQ(AttentionCuda(p, ctx_->workspace(), stream()).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace matspec
