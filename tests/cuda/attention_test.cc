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
#include "tests/cuda/cuda_test_util.h"

namespace matspec {
namespace {

using cuda_test::CudaTest;
using AttentionCudaTest = CudaTest;

struct Config {
  int64_t heads, kv_heads, head_dim;
  float softcap;
  int64_t window;
};

void CheckAgainstCpu(CudaContext& ctx, const Config& c, int64_t t, int64_t past, uint32_t seed) {
  const int64_t kv_len = past + t;
  const int64_t width = c.heads * c.head_dim;
  const int64_t q_stride = width + 5, out_stride = width + 3;
  const int64_t kv_row = c.kv_heads * c.head_dim;
  const std::vector<float> q = cuda_test::RandomFloats(t * q_stride, seed, -2.f, 2.f);
  const std::vector<float> k = cuda_test::RandomFloats(kv_len * kv_row, seed + 1);
  const std::vector<float> v = cuda_test::RandomFloats(kv_len * kv_row, seed + 2);
  const std::vector<float> out0(t * out_stride, 9.f);

  AttentionParams p;
  p.q = q.data();
  p.q_stride = q_stride;
  p.k_cache = k.data();
  p.v_cache = v.data();
  p.past = past;
  p.t = t;
  p.num_heads = c.heads;
  p.num_kv_heads = c.kv_heads;
  p.head_dim = c.head_dim;
  p.scale = c.softcap > 0.f ? 1.f : 1.f / std::sqrt(static_cast<float>(c.head_dim));
  p.softcap = c.softcap;
  p.sliding_window = c.window;
  std::vector<float> want = out0;
  p.out = want.data();
  p.out_stride = out_stride;
  const CpuContext cpu_ctx{2};
  std::vector<float> scratch(AttentionScratchFloats(kv_len, cpu_ctx.num_threads));
  p.scratch = scratch.data();
  Attention(cpu_ctx, p);

  DeviceBuffer dev_q = cuda_test::ToDevice(q);
  DeviceBuffer dev_k = cuda_test::ToDevice(k);
  DeviceBuffer dev_v = cuda_test::ToDevice(v);
  DeviceBuffer dev_out = cuda_test::ToDevice(out0);
  const size_t ws = AttentionCudaWorkspaceBytes(t, c.heads, c.head_dim);
  ASSERT_TRUE(ctx.ReserveWorkspace(ws).ok());
  AttentionParams g = p;
  g.q = dev_q.As<float>();
  g.k_cache = dev_k.As<float>();
  g.v_cache = dev_v.As<float>();
  g.out = dev_out.As<float>();
  g.scratch = nullptr;
  const absl::Status s = AttentionCuda(g, ctx.workspace(), ctx.stream());
  ASSERT_TRUE(s.ok()) << s;
  const std::vector<float> got = cuda_test::FromDevice<float>(dev_out.data(), t * out_stride);
  ASSERT_TRUE(cuda_test::AllClose(got, want, cuda_test::kCudaAttentionTol))
      << "heads " << c.heads << "/" << c.kv_heads << " head_dim " << c.head_dim << " softcap " << c.softcap
      << " window " << c.window << " t " << t << " past " << past;
}

TEST_F(AttentionCudaTest, MatchesCpuOverCachesAndTokenCounts) {
  const Config configs[] = {
      {8, 2, 128, 0.f, 0},                       // llama-like GQA
      {3, 1, 17, 30.f, 7},                       // odd head_dim, soft-cap, tiny window
      {4, 4, 256, 0.f, 100},                     // Gemma-like head_dim, window shorter than the cache
      {2, 1, 64, 50.f, 0},   {5, 5, 1, 0.f, 0},  // head_dim 1
  };
  uint32_t seed = 23;
  for (const Config& c : configs) {
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
