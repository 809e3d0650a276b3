// A T-token attention step whose position lives in device memory is captured
// ONCE in a CUDA graph and replayed at successive positions:
//   RopePositionsCuda(d_past) -> ApplyRopeCuda on q and on the new k rows ->
//   KvAppendCuda of the k and v rows at d_past -> AttentionCudaDeviceLength ->
//   AddToCounterCuda(d_past, t).
// Between replays only the step's inputs (fresh q, k, v rows) are written; the
// counter advances on the device. After each replay the output must match the
// CPU RoPE + Attention at the corresponding past, and the counter and positions
// must have advanced. Cache rows past the length are NaN, so a block that reads
// beyond it fails the test. Replays cross split-count boundaries (kv_len 256).
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "absl/status/status.h"
#include "kernels/attention.h"
#include "kernels/cuda/attention_cuda.h"
#include "kernels/cuda/kv_append_cuda.h"
#include "kernels/cuda/positions_cuda.h"
#include "kernels/cuda/rope_cuda.h"
#include "kernels/rope.h"
#include "tests/cuda/cuda_test_util.h"

namespace matspec {
namespace {

using cuda_test::CudaTest;
using DeviceLengthGraphTest = CudaTest;

#define RETURN_IF_NOT_OK(expr)      \
  do {                              \
    const absl::Status s_ = (expr); \
    if (!s_.ok()) return s_;        \
  } while (0)

struct StepConfig {
  int64_t heads, kv_heads, head_dim;
  float softcap;
  int64_t window;
  int64_t t;      // tokens per step (1: draft step; k+1: verification)
  int64_t past0;  // cache length before the first replay
  int64_t replays;
  int64_t capacity;  // cache rows = max_kv_len
};

constexpr double kTheta = 10000.0;

void Upload(DeviceBuffer& dst, const std::vector<float>& src) {
  ASSERT_EQ(cudaMemcpy(dst.data(), src.data(), src.size() * sizeof(float), cudaMemcpyHostToDevice),
            cudaSuccess);
}

void CaptureOnceReplayMany(CudaContext& ctx, const StepConfig& c) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const int64_t t = c.t, width = c.heads * c.head_dim, kv_row = c.kv_heads * c.head_dim;
  const int64_t q_stride = width + 3, kv_stride = kv_row + 2, out_stride = width + 1;
  ASSERT_LE(c.past0 + c.replays * t, c.capacity);

  // Host cache: the first past0 rows random; the device copy has NaN after them.
  std::vector<float> k_host = cuda_test::RandomFloats(c.past0 * kv_row, 1);
  std::vector<float> v_host = cuda_test::RandomFloats(c.past0 * kv_row, 2);
  std::vector<float> k_init(c.capacity * kv_row, nan), v_init(c.capacity * kv_row, nan);
  std::copy(k_host.begin(), k_host.end(), k_init.begin());
  std::copy(v_host.begin(), v_host.end(), v_init.begin());
  DeviceBuffer k_cache = cuda_test::ToDevice(k_init);
  DeviceBuffer v_cache = cuda_test::ToDevice(v_init);
  DeviceBuffer d_past = cuda_test::ToDevice(std::vector<int64_t>{c.past0});
  DeviceBuffer positions = cuda_test::ToDevice(std::vector<int64_t>(t, -1));
  DeviceBuffer q = cuda_test::ToDevice(std::vector<float>(t * q_stride));
  DeviceBuffer k_new = cuda_test::ToDevice(std::vector<float>(t * kv_stride));
  DeviceBuffer v_new = cuda_test::ToDevice(std::vector<float>(t * kv_stride));
  DeviceBuffer out = cuda_test::ToDevice(std::vector<float>(t * out_stride));
  ASSERT_TRUE(
      ctx.ReserveWorkspace(AttentionCudaDeviceLengthWorkspaceBytes(t, c.heads, c.head_dim, c.capacity)).ok());
  const CudaWorkspace ws = ctx.workspace();
  const cudaStream_t s = ctx.stream();

  AttentionParams a;
  a.q = q.As<float>();
  a.q_stride = q_stride;
  a.k_cache = k_cache.As<float>();
  a.v_cache = v_cache.As<float>();
  a.past = -1;  // ignored: the kernels read d_past
  a.t = t;
  a.num_heads = c.heads;
  a.num_kv_heads = c.kv_heads;
  a.head_dim = c.head_dim;
  a.scale = c.softcap > 0.f ? 1.f : 1.f / std::sqrt(static_cast<float>(c.head_dim));
  a.softcap = c.softcap;
  a.sliding_window = c.window;
  a.out = out.As<float>();
  a.out_stride = out_stride;
  const int64_t* past = d_past.As<int64_t>();
  auto step = [&]() -> absl::Status {
    RETURN_IF_NOT_OK(RopePositionsCuda(past, 0, t, positions.As<int64_t>(), s));
    RETURN_IF_NOT_OK(
        ApplyRopeCuda({q.As<float>(), q_stride, t, c.heads, c.head_dim, positions.As<int64_t>(), kTheta}, s));
    RETURN_IF_NOT_OK(ApplyRopeCuda(
        {k_new.As<float>(), kv_stride, t, c.kv_heads, c.head_dim, positions.As<int64_t>(), kTheta}, s));
    RETURN_IF_NOT_OK(KvAppendCuda(k_new.As<float>(), kv_stride, t, kv_row, past, k_cache.As<float>(), s));
    RETURN_IF_NOT_OK(KvAppendCuda(v_new.As<float>(), kv_stride, t, kv_row, past, v_cache.As<float>(), s));
    RETURN_IF_NOT_OK(AttentionCudaDeviceLength(a, past, c.capacity, ws, s));
    return AddToCounterCuda(d_past.As<int64_t>(), t, s);
  };

  // Capture once. Any allocation or synchronisation inside a launcher fails here.
  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  const absl::Status captured = step();
  cudaGraph_t graph = nullptr;
  const cudaError_t end = cudaStreamEndCapture(s, &graph);
  ASSERT_TRUE(captured.ok()) << captured;
  ASSERT_EQ(end, cudaSuccess) << cudaGetErrorString(end);
  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);

  const CpuContext cpu_ctx{2};
  for (int64_t r = 0; r < c.replays; ++r) {
    const int64_t cur = c.past0 + r * t;
    // This step's inputs (what earlier kernels of a real step would write);
    // the rows' padding is NaN and must not be read.
    std::vector<float> q_in = cuda_test::RandomFloats(t * q_stride, 100 + r, -2.f, 2.f);
    std::vector<float> k_in = cuda_test::RandomFloats(t * kv_stride, 200 + r);
    std::vector<float> v_in = cuda_test::RandomFloats(t * kv_stride, 300 + r);
    for (int64_t j = 0; j < t; ++j) {
      for (int64_t i = kv_row; i < kv_stride; ++i) k_in[j * kv_stride + i] = v_in[j * kv_stride + i] = nan;
    }
    Upload(q, q_in);
    Upload(k_new, k_in);
    Upload(v_new, v_in);
    const std::vector<float> out0(t * out_stride, 9.f);
    Upload(out, out0);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    ASSERT_EQ(cudaGraphLaunch(exec, s), cudaSuccess);

    // CPU: RoPE q and k at positions cur.., append k and v, attend with past = cur.
    std::vector<int64_t> pos(t);
    for (int64_t j = 0; j < t; ++j) pos[j] = cur + j;
    ApplyRope({q_in.data(), q_stride, t, c.heads, c.head_dim, pos.data(), kTheta});
    ApplyRope({k_in.data(), kv_stride, t, c.kv_heads, c.head_dim, pos.data(), kTheta});
    for (int64_t j = 0; j < t; ++j) {
      k_host.insert(k_host.end(), k_in.begin() + j * kv_stride, k_in.begin() + j * kv_stride + kv_row);
      v_host.insert(v_host.end(), v_in.begin() + j * kv_stride, v_in.begin() + j * kv_stride + kv_row);
    }
    AttentionParams cpu = a;
    cpu.q = q_in.data();
    cpu.k_cache = k_host.data();
    cpu.v_cache = v_host.data();
    cpu.past = cur;
    std::vector<float> want = out0;
    cpu.out = want.data();
    std::vector<float> scratch(AttentionScratchFloats(cur + t, cpu_ctx.num_threads));
    cpu.scratch = scratch.data();
    Attention(cpu_ctx, cpu);

    const std::vector<float> got = cuda_test::FromDevice<float>(out.data(), t * out_stride);
    ASSERT_TRUE(cuda_test::AllClose(got, want, cuda_test::kCudaAttentionTol))
        << "t " << t << " window " << c.window << " replay " << r << " past " << cur;
    EXPECT_EQ(cuda_test::FromDevice<int64_t>(d_past.data(), 1)[0], cur + t) << "replay " << r;
    EXPECT_EQ(cuda_test::FromDevice<int64_t>(positions.data(), t), pos) << "replay " << r;
  }
  EXPECT_EQ(cudaGraphExecDestroy(exec), cudaSuccess);
  EXPECT_EQ(cudaGraphDestroy(graph), cudaSuccess);
}

TEST_F(DeviceLengthGraphTest, DraftStepReplaysAtSuccessivePositions) {
  // kv_len 251 .. 258 with a bound of 320: 4 then 5 of the 5 splits in use.
  CaptureOnceReplayMany(*ctx_, {8, 2, 64, 0.f, 0, /*t=*/1, /*past0=*/250, /*replays=*/8, /*capacity=*/320});
}

TEST_F(DeviceLengthGraphTest, VerifyStepWithWindowAndSoftcapReplays) {
  CaptureOnceReplayMany(*ctx_,
                        {4, 1, 128, 30.f, 100, /*t=*/3, /*past0=*/240, /*replays=*/6, /*capacity=*/4096});
}

TEST_F(DeviceLengthGraphTest, StartsFromAnEmptyCache) {
  CaptureOnceReplayMany(*ctx_, {3, 3, 34, 0.f, 0, /*t=*/1, /*past0=*/0, /*replays=*/5, /*capacity=*/1000});
}

}  // namespace
}  // namespace matspec
