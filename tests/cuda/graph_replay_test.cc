// CUDA-graph replay of the draft steps (engine/cuda/cuda_round_runner.h), on the
// bundled model:
//   - the device-length forward (cache length read from device memory, k/v
//     appended at that offset) gives the same bits as the host-length forward,
//     for one token and for several (all logits), step after step and after a
//     rollback, and advances only the device length;
//   - rounds replayed from a captured graph produce exactly the tokens and
//     acceptance counts of rounds queued kernel by kernel (greedy, sampling,
//     plain decoding), and a graph is captured once per draft length;
//   - growing the model's scratch marks captured graphs stale.
// Skips without a GPU.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "draft/slice_spec.h"
#include "engine/cuda/cuda_model.h"
#include "engine/cuda/cuda_round_runner.h"
#include "decoding/speculative_decoder.h"
#include "gtest/gtest.h"
#include "matspec/matspec.h"

namespace matspec {
namespace {

constexpr char kModel[] = "models/matlm-tiny";
constexpr char kTable[] = "matformer_configs/matlm-tiny.csv";

std::unique_ptr<Engine> LoadGpu(bool graphs) {
  LoadOptions lo;
  lo.model_dir = kModel;
  lo.device = "cuda";
  lo.cuda_graphs = graphs;
  absl::StatusOr<std::unique_ptr<Engine>> e = Engine::Load(lo);
  EXPECT_TRUE(e.ok()) << e.status();
  return e.ok() ? std::move(*e) : nullptr;
}

std::vector<int32_t> Prompt(int i, int64_t vocab) {
  std::vector<int32_t> p = {1};
  for (int j = 0; j < 3 + (i * 7) % 13; ++j) p.push_back(static_cast<int32_t>((i * 97 + j * 41 + 3) % vocab));
  return p;
}

SliceView TableSlice(const Model& model, int row) {
  absl::StatusOr<std::vector<SliceSpec>> table = LoadSliceTable(kTable);
  EXPECT_TRUE(table.ok()) << table.status();
  absl::StatusOr<SliceView> v = ValidateSlice((*table)[row], model.config());
  EXPECT_TRUE(v.ok()) << v.status();
  return *v;
}

class GraphReplayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!CudaDeviceAvailable().ok()) GTEST_SKIP() << "no CUDA device";
    graphs_ = LoadGpu(true);
    queued_ = LoadGpu(false);
    ASSERT_TRUE(graphs_ && queued_);
  }
  std::unique_ptr<Engine> graphs_, queued_;
};

TEST_F(GraphReplayTest, DeviceLengthForwardIsBitIdenticalToTheHostLengthForward) {
  auto* m = dynamic_cast<CudaModel*>(&graphs_->model());
  ASSERT_NE(m, nullptr);
  ASSERT_TRUE(m->supports_device_length());
  const int64_t vocab = m->vocab_size();
  for (const SliceView& slice : {m->FullSlice(), TableSlice(*m, 2)}) {
    std::unique_ptr<KvCache> host_kv = m->NewKvCache(slice, 64);
    std::unique_ptr<KvCache> dev_kv = m->NewKvCache(slice, 64);
    auto& a = static_cast<CudaKvCache&>(*host_kv);
    auto& b = static_cast<CudaKvCache&>(*dev_kv);
    const std::vector<int32_t> prompt = Prompt(4, vocab);
    std::vector<float> scratch(vocab);
    for (KvCache* kv : {host_kv.get(), dev_kv.get()}) {
      ForwardArgs args;
      args.slice = &slice;
      args.tokens = prompt.data();
      args.t = static_cast<int64_t>(prompt.size());
      args.kv = kv;
      args.logits = scratch.data();
      ASSERT_TRUE(m->Forward(args).ok());
    }
    constexpr int64_t kMaxT = 3;
    absl::StatusOr<DeviceBuffer> token = DeviceBuffer::Allocate(kMaxT * sizeof(int32_t));
    absl::StatusOr<DeviceBuffer> la = DeviceBuffer::Allocate(kMaxT * vocab * sizeof(float));
    absl::StatusOr<DeviceBuffer> lb = DeviceBuffer::Allocate(kMaxT * vocab * sizeof(float));
    ASSERT_TRUE(token.ok() && la.ok() && lb.ok());
    const cudaStream_t s = m->context().stream();
    std::vector<float> want(kMaxT * vocab), got(kMaxT * vocab);
    for (int step = 0; step < 10; ++step) {
      const int64_t t = step % 3 == 2 ? kMaxT : 1;  // also verification-shaped forwards
      if (step == 6) {  // roll both back over three positions, then go on
        ASSERT_TRUE(a.Truncate(a.length() - 3).ok());
        ASSERT_TRUE(b.Truncate(b.length() - 3).ok());
      }
      std::vector<int32_t> ids(t);
      for (int64_t j = 0; j < t; ++j) ids[j] = static_cast<int32_t>((step * 211 + j * 31 + 17) % vocab);
      ASSERT_EQ(cudaMemcpy(token->data(), ids.data(), t * sizeof(int32_t), cudaMemcpyHostToDevice), cudaSuccess);
      const int64_t before = b.length();
      ASSERT_TRUE(m->ForwardDevice(slice, token->As<int32_t>(), t, a, la->As<float>(), true).ok());
      ASSERT_TRUE(b.UploadLength(s).ok());
      ASSERT_TRUE(m->ForwardDeviceLength(slice, token->As<int32_t>(), t, b, lb->As<float>(), true).ok());
      ASSERT_TRUE(m->context().Synchronize().ok());
      EXPECT_EQ(b.length(), before) << "the device-length forward must not move the host length";
      int64_t device_length = -1;
      ASSERT_EQ(cudaMemcpy(&device_length, b.device_length(), sizeof(device_length), cudaMemcpyDeviceToHost),
                cudaSuccess);
      EXPECT_EQ(device_length, before + t);
      b.Advance(t);
      std::fill(want.begin(), want.end(), 0.f);
      std::fill(got.begin(), got.end(), 0.f);
      ASSERT_EQ(cudaMemcpy(want.data(), la->data(), t * vocab * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
      ASSERT_EQ(cudaMemcpy(got.data(), lb->data(), t * vocab * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
      ASSERT_EQ(got, want) << slice.name << " step " << step;
    }
  }
}

TEST_F(GraphReplayTest, ReplayedRoundsGiveTheTokensOfQueuedRounds) {
  const int64_t vocab = graphs_->model().vocab_size();
  int64_t launches = 0;
  for (const char* slice : {"half", "quarter", "eighth"}) {
    for (int64_t k : {2, 4, 8}) {
      for (int sampled = 0; sampled < 2; ++sampled) {
        for (int i = 0; i < 3; ++i) {
          GenerationOptions o;
          o.max_new_tokens = 48;
          o.stop_at_eos = false;
          o.draft.slice_table = kTable;
          o.draft.slice_name = slice;
          o.draft.draft_max = k;
          if (sampled) {
            o.temperature = 0.8;
            o.top_p = 0.9;
            o.seed = 11 + i;
          }
          auto g = graphs_->GenerateTokens(Prompt(i, vocab), o);
          auto q = queued_->GenerateTokens(Prompt(i, vocab), o);
          ASSERT_TRUE(g.ok()) << g.status();
          ASSERT_TRUE(q.ok()) << q.status();
          const std::string what = std::string(slice) + " k=" + std::to_string(k) + (sampled ? " sampled" : "") +
                                   " prompt " + std::to_string(i);
          EXPECT_EQ(g->tokens, q->tokens) << what;
          EXPECT_EQ(g->stats.accepted_tokens, q->stats.accepted_tokens) << what;
          EXPECT_EQ(g->stats.rounds, q->stats.rounds) << what;
          EXPECT_EQ(g->stats.cuda_graph_launches, g->stats.rounds) << what;
          EXPECT_EQ(q->stats.cuda_graph_launches, 0) << what;
          launches += g->stats.cuda_graph_launches;
        }
      }
    }
  }
  // Plain decoding replays the one-token verification graph.
  for (int i = 0; i < 3; ++i) {
    GenerationOptions o;
    o.max_new_tokens = 32;
    o.stop_at_eos = false;
    o.speculative = false;
    auto g = graphs_->GenerateTokens(Prompt(i, vocab), o);
    auto q = queued_->GenerateTokens(Prompt(i, vocab), o);
    ASSERT_TRUE(g.ok() && q.ok());
    EXPECT_EQ(g->tokens, q->tokens) << "plain, prompt " << i;
    EXPECT_EQ(g->stats.cuda_graph_launches, g->stats.rounds) << "plain, prompt " << i;
  }
  std::printf("graph replay == queued kernels: %lld graph launches compared\n", static_cast<long long>(launches));
}

TEST_F(GraphReplayTest, OneGraphPerDraftLengthAndStaleGraphsAreDropped) {
  auto* m = dynamic_cast<CudaModel*>(&graphs_->model());
  ASSERT_NE(m, nullptr);
  DecodeParams params;
  params.max_new_tokens = 40;
  params.context_size = 256;
  params.draft = TableSlice(*m, 1);
  params.policy.draft_max = 4;
  auto runner = CudaRoundRunner::Create(m, params.draft, params.policy, params.sampling, 0, RunnerCapacity(params));
  ASSERT_TRUE(runner.ok()) << runner.status();
  CudaRoundRunner* raw = runner->get();
  ASSERT_TRUE(raw->uses_graphs());
  SpeculativeDecoder d(std::move(*runner), params);
  std::vector<int32_t> out;
  GenerationStats stats;
  ASSERT_TRUE(d.Run(Prompt(2, m->vocab_size()), nullptr, &out, &stats).ok());
  EXPECT_EQ(raw->round_syncs(), stats.rounds);
  EXPECT_GT(raw->graph_launches(), 0);
  // Every round replays; k = 4 for every round but maybe the last ones (the
  // budget shortens them), one graph per k used.
  EXPECT_EQ(raw->graph_launches(), stats.rounds);
  EXPECT_GE(raw->graphs_captured(), 1);
  EXPECT_LE(raw->graphs_captured(), 5);

  const int64_t generation = m->scratch_generation();
  ASSERT_TRUE(m->EnsureCapacity(4096).ok());
  EXPECT_NE(m->scratch_generation(), generation) << "growing scratch must invalidate captured graphs";
}

}  // namespace
}  // namespace matspec
