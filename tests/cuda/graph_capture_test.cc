// A draft step built from the CUDA launchers (embedding, RMSNorm, matmuls on a
// half-width FFN slice, RoPE, attention over a cache, activation, residual adds,
// LM head, logits processing and a sampled token) is captured in a CUDA graph
// and replayed. Capture fails if any launcher allocates or synchronises, so this
// proves the "launchers never allocate" contract; the replays must reproduce
// the eagerly computed probabilities and token.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "absl/status/status.h"
#include "kernels/cuda/activation_cuda.h"
#include "kernels/cuda/attention_cuda.h"
#include "kernels/cuda/embedding_cuda.h"
#include "kernels/cuda/logits_cuda.h"
#include "kernels/cuda/matmul_cuda.h"
#include "kernels/cuda/rms_norm_cuda.h"
#include "kernels/cuda/rope_cuda.h"
#include "tests/cuda/cuda_test_util.h"

namespace matspec {
namespace {

using cuda_test::CudaTest;
using GraphCaptureTest = CudaTest;

constexpr int64_t kHidden = 64, kVocab = 1000, kHeads = 4, kKvHeads = 2, kHeadDim = 16;
constexpr int64_t kFfn = 96, kSliceFfn = 48, kPast = 300;

#define RETURN_IF_NOT_OK(expr)      \
  do {                              \
    const absl::Status s_ = (expr); \
    if (!s_.ok()) return s_;        \
  } while (0)

cuda_test::DeviceMatrix RandomWeights(int64_t rows, int64_t cols, uint32_t seed) {
  testing::WeightBuffer w(DType::kBF16, rows, cols, rows, cols,
                          cuda_test::RandomFloats(rows * cols, seed, -0.2f, 0.2f));
  return cuda_test::ToDevice(w, rows);
}

TEST_F(GraphCaptureTest, DraftStepCapturesAndReplaysIdentically) {
  const cuda_test::DeviceMatrix embed = RandomWeights(kVocab, kHidden, 1);
  const cuda_test::DeviceMatrix wq = RandomWeights(kHeads * kHeadDim, kHidden, 2);
  const cuda_test::DeviceMatrix wo = RandomWeights(kHidden, kHeads * kHeadDim, 3);
  const cuda_test::DeviceMatrix gate = RandomWeights(kFfn, kHidden, 4);
  const cuda_test::DeviceMatrix up = RandomWeights(kFfn, kHidden, 5);
  const cuda_test::DeviceMatrix down = RandomWeights(kHidden, kFfn, 6);
  const cuda_test::DeviceMatrix head = RandomWeights(kVocab, kHidden, 7);
  const int64_t kv_len = kPast + 1, kv_row = kKvHeads * kHeadDim;
  DeviceBuffer k_cache = cuda_test::ToDevice(cuda_test::RandomFloats(kv_len * kv_row, 8));
  DeviceBuffer v_cache = cuda_test::ToDevice(cuda_test::RandomFloats(kv_len * kv_row, 9));
  DeviceBuffer norm = cuda_test::ToDevice(cuda_test::RandomFloats(kHidden, 10, 0.5f, 1.5f));
  DeviceBuffer ids = cuda_test::ToDevice(std::vector<int32_t>{123});
  DeviceBuffer positions = cuda_test::ToDevice(std::vector<int64_t>{kPast});
  DeviceBuffer u = cuda_test::ToDevice(std::vector<double>{0.37});
  DeviceBuffer x = cuda_test::ToDevice(std::vector<float>(kHidden));
  DeviceBuffer h = cuda_test::ToDevice(std::vector<float>(kHidden));
  DeviceBuffer q = cuda_test::ToDevice(std::vector<float>(kHeads * kHeadDim));
  DeviceBuffer attn = cuda_test::ToDevice(std::vector<float>(kHeads * kHeadDim));
  DeviceBuffer g = cuda_test::ToDevice(std::vector<float>(kFfn));
  DeviceBuffer upo = cuda_test::ToDevice(std::vector<float>(kFfn));
  DeviceBuffer logits = cuda_test::ToDevice(std::vector<float>(kVocab));
  DeviceBuffer probs = cuda_test::ToDevice(std::vector<float>(kVocab));
  DeviceBuffer token = cuda_test::ToDevice(std::vector<int32_t>{-5});

  const SamplingConfig cfg{0.9f, 50, 0.95f};
  absl::StatusOr<size_t> logits_ws = ProcessLogitsCudaWorkspaceBytes(1, kVocab, cfg);
  absl::StatusOr<size_t> sample_ws = SampleFromWeightsCudaWorkspaceBytes(kVocab);
  ASSERT_TRUE(logits_ws.ok() && sample_ws.ok());
  Reserve(std::max({*logits_ws, *sample_ws, MatMulCudaWorkspaceBytes(1, kFfn, DType::kBF16),
                    AttentionCudaWorkspaceBytes(1, kHeads, kHeadDim)}));
  const CudaWorkspace ws = ctx_->workspace();
  const cudaStream_t s = stream();
  const VectorView norm_view{norm.data(), DType::kF32, kHidden, Device::kCuda};

  auto mm = [&](const float* in, int64_t in_ld, const MatrixView& w, float* out, int64_t out_ld, bool acc) {
    return MatMulCuda(*ctx_, MatMulParams{in, in_ld, 1, w, out, out_ld, acc}, ws, s);
  };
  auto step = [&]() -> absl::Status {
    RETURN_IF_NOT_OK(EmbeddingGatherCuda(embed.view, ids.As<int32_t>(), 1, 1.f, x.As<float>(), s));
    RETURN_IF_NOT_OK(RmsNormCuda({x.As<float>(), norm_view, 0.f, 1e-6f, 1, kHidden, h.As<float>()}, s));
    RETURN_IF_NOT_OK(mm(h.As<float>(), kHidden, wq.view, q.As<float>(), kHeads * kHeadDim, false));
    RETURN_IF_NOT_OK(ApplyRopeCuda(
        {q.As<float>(), kHeads * kHeadDim, 1, kHeads, kHeadDim, positions.As<int64_t>(), 10000.0}, s));
    AttentionParams a;
    a.q = q.As<float>();
    a.q_stride = kHeads * kHeadDim;
    a.k_cache = k_cache.As<float>();
    a.v_cache = v_cache.As<float>();
    a.past = kPast;
    a.t = 1;
    a.num_heads = kHeads;
    a.num_kv_heads = kKvHeads;
    a.head_dim = kHeadDim;
    a.scale = 0.25f;
    a.out = attn.As<float>();
    a.out_stride = kHeads * kHeadDim;
    RETURN_IF_NOT_OK(AttentionCuda(a, ws, s));
    RETURN_IF_NOT_OK(mm(attn.As<float>(), kHeads * kHeadDim, wo.view, x.As<float>(), kHidden, true));
    RETURN_IF_NOT_OK(RmsNormCuda({x.As<float>(), norm_view, 0.f, 1e-6f, 1, kHidden, h.As<float>()}, s));
    RETURN_IF_NOT_OK(
        mm(h.As<float>(), kHidden, gate.view.FirstRows(kSliceFfn), g.As<float>(), kSliceFfn, false));
    RETURN_IF_NOT_OK(
        mm(h.As<float>(), kHidden, up.view.FirstRows(kSliceFfn), upo.As<float>(), kSliceFfn, false));
    RETURN_IF_NOT_OK(GatedActivationCuda(
        {Activation::kSilu, g.As<float>(), upo.As<float>(), g.As<float>(), 1, kSliceFfn, kSliceFfn}, s));
    RETURN_IF_NOT_OK(
        mm(g.As<float>(), kSliceFfn, down.view.FirstCols(kSliceFfn), h.As<float>(), kHidden, false));
    RETURN_IF_NOT_OK(AddInPlaceCuda(x.As<float>(), h.As<float>(), kHidden, s));
    RETURN_IF_NOT_OK(mm(x.As<float>(), kHidden, head.view, logits.As<float>(), kVocab, false));
    RETURN_IF_NOT_OK(ProcessLogitsCuda(logits.As<float>(), 1, kVocab, cfg, probs.As<float>(), ws, s));
    return SampleFromWeightsCuda(probs.As<float>(), kVocab, u.As<double>(), token.As<int32_t>(), ws, s);
  };

  // Eager run: the reference.
  ASSERT_TRUE(step().ok());
  const std::vector<float> eager_probs = cuda_test::FromDevice<float>(probs.data(), kVocab);
  const int32_t eager_token = cuda_test::FromDevice<int32_t>(token.data(), 1)[0];
  ASSERT_GE(eager_token, 0);
  ASSERT_GT(eager_probs[eager_token], 0.f);

  // Capture. Any allocation or synchronisation inside a launcher fails here.
  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  const absl::Status captured = step();
  cudaGraph_t graph = nullptr;
  const cudaError_t end = cudaStreamEndCapture(s, &graph);
  ASSERT_TRUE(captured.ok()) << captured;
  ASSERT_EQ(end, cudaSuccess) << cudaGetErrorString(end);
  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);

  for (int replay = 0; replay < 3; ++replay) {
    // Clobber the outputs so a replay that did nothing cannot pass.
    ASSERT_EQ(cudaMemset(probs.data(), 0, kVocab * sizeof(float)), cudaSuccess);
    ASSERT_EQ(cudaMemset(token.data(), 0xff, sizeof(int32_t)), cudaSuccess);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    ASSERT_EQ(cudaGraphLaunch(exec, s), cudaSuccess);
    const std::vector<float> got = cuda_test::FromDevice<float>(probs.data(), kVocab);
    EXPECT_TRUE(cuda_test::AllClose(got, eager_probs, cuda_test::kCudaProbsTol)) << "replay " << replay;
    EXPECT_EQ(cuda_test::FromDevice<int32_t>(token.data(), 1)[0], eager_token) << "replay " << replay;
  }
  EXPECT_EQ(cudaGraphExecDestroy(exec), cudaSuccess);
  EXPECT_EQ(cudaGraphDestroy(graph), cudaSuccess);
}

}  // namespace
}  // namespace matspec
