// The core engine's invariants on the CUDA backend (--device cuda), and CPU vs
// CUDA agreement on the bundled model:
//   - logits of the CUDA forward agree with the CPU forward within the tolerance
//     of tests/TOLERANCES.md, for the full model and for slices;
//   - the identity slice is bit-identical to the full model;
//   - after a rollback the cache gives the logits of a cache that never saw the
//     rejected tokens;
//   - greedy speculative output equals plain greedy output for every slice of the
//     bundled table and k in {1, 2, 4, 8}, 10 prompts x 64 tokens, with one host
//     synchronisation per round;
//   - sampling is lossless (the CPU suite's frequency test, run on the GPU);
//   - the draft adds no GPU weight memory; bad options get clear errors.
// Skips without a GPU.
#include <cmath>
#include <cstdio>

#include "draft/slice_spec.h"
#include "engine/cuda/cuda_llama_model.h"
#include "engine/cuda/cuda_round_runner.h"
#include "decoding/speculative_decoder.h"
#include "gtest/gtest.h"
#include "matspec/matspec.h"
#include "tests/testing/checkpoint_writer.h"
#include "tests/testing/frequency.h"
#include "tests/testing/model_loading.h"

namespace matspec {
namespace {

constexpr char kModel[] = "models/matlm-tiny";
constexpr char kTable[] = "matformer_configs/matlm-tiny.csv";
// CUDA forward vs CPU forward on the bundled bf16 model: the CUDA matmul rounds
// x to bf16 before each product (kernels/cuda/matmul_cuda.h). The row of
// tests/TOLERANCES.md; logits there are O(10).
constexpr double kLogitsAtol = 0.1;

std::unique_ptr<Engine> Load(const std::string& dir, const std::string& device) {
  LoadOptions lo;
  lo.model_dir = dir;
  lo.device = device;
  lo.num_threads = 2;
  absl::StatusOr<std::unique_ptr<Engine>> e = Engine::Load(lo);
  EXPECT_TRUE(e.ok()) << e.status();
  return e.ok() ? std::move(*e) : nullptr;
}

std::vector<SliceView> TableSlices(const Model& model) {
  std::vector<SliceView> out;
  absl::StatusOr<std::vector<SliceSpec>> table = LoadSliceTable(kTable);
  EXPECT_TRUE(table.ok()) << table.status();
  for (const SliceSpec& spec : *table) {
    absl::StatusOr<SliceView> v = ValidateSlice(spec, model.config());
    EXPECT_TRUE(v.ok()) << v.status();
    if (v.ok()) out.push_back(*v);
  }
  return out;
}

std::vector<int32_t> Prompt(int i, int64_t vocab) {
  std::vector<int32_t> p = {1};
  for (int j = 0; j < 4 + (i * 5) % 19; ++j) p.push_back(static_cast<int32_t>((i * 131 + j * 37 + 5) % vocab));
  return p;
}

class CudaEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!CudaDeviceAvailable().ok()) GTEST_SKIP() << "no CUDA device";
    gpu_ = Load(kModel, "cuda");
    cpu_ = Load(kModel, "cpu");
    ASSERT_TRUE(gpu_ && cpu_);
  }
  std::unique_ptr<Engine> gpu_, cpu_;
};

TEST_F(CudaEngineTest, LogitsMatchTheCpuForFullModelAndSlices) {
  Model& g = gpu_->model();
  Model& c = cpu_->model();
  ASSERT_NE(dynamic_cast<CudaLlamaModel*>(&g), nullptr);
  const std::vector<int32_t> tokens = Prompt(3, g.vocab_size());
  double worst = 0.0;
  for (const SliceView& slice : TableSlices(g)) {
    // Whole prompt at once (verification-shaped) and in chunks (decode-shaped).
    for (const std::vector<int64_t>& chunks : {std::vector<int64_t>{}, std::vector<int64_t>{5, 1, 1, 3}}) {
      const std::vector<float> want = testing::RunLogits(c, slice, tokens, true, chunks);
      const std::vector<float> got = testing::RunLogits(g, slice, tokens, true, chunks);
      ASSERT_EQ(got.size(), want.size());
      double err = 0.0;
      for (size_t i = 0; i < got.size(); ++i) err = std::max(err, std::abs(double(got[i]) - want[i]));
      worst = std::max(worst, err);
      EXPECT_LE(err, kLogitsAtol) << slice.name;
    }
  }
  std::printf("CUDA vs CPU logits on %s: worst |err| %.3g over every slice\n", kModel, worst);
}

TEST_F(CudaEngineTest, IdentitySliceIsBitIdenticalToTheFullModel) {
  Model& g = gpu_->model();
  const std::vector<int32_t> tokens = Prompt(7, g.vocab_size());
  const SliceView full = g.FullSlice();
  SliceView identity = IdentitySlice(g.config().ffn_widths);
  identity.name = "identity";
  EXPECT_EQ(testing::RunLogits(g, full, tokens, true), testing::RunLogits(g, identity, tokens, true));
}

TEST_F(CudaEngineTest, RollbackEqualsACacheThatNeverSawTheRejectedTokens) {
  Model& g = gpu_->model();
  const int64_t vocab = g.vocab_size();
  for (const SliceView& slice : {g.FullSlice(), TableSlices(g)[2]}) {
    const std::vector<int32_t> prompt = Prompt(1, vocab);
    auto rolled = g.NewKvCache(slice, 128);
    auto fresh = g.NewKvCache(slice, 128);
    std::vector<float> a(vocab), b(vocab);
    auto forward = [&](KvCache* kv, const std::vector<int32_t>& t, float* logits) {
      ForwardArgs args;
      args.slice = &slice;
      args.tokens = t.data();
      args.t = static_cast<int64_t>(t.size());
      args.kv = kv;
      args.logits = logits;
      const absl::Status s = g.Forward(args);
      ASSERT_TRUE(s.ok()) << s;
    };
    forward(rolled.get(), prompt, a.data());
    forward(fresh.get(), prompt, b.data());
    forward(rolled.get(), {7, 8, 9, 10, 11}, a.data());  // rejected
    ASSERT_TRUE(rolled->Truncate(static_cast<int64_t>(prompt.size())).ok());
    forward(rolled.get(), {42, 43}, a.data());
    forward(fresh.get(), {42, 43}, b.data());
    EXPECT_EQ(a, b) << slice.name;
  }
}

TEST_F(CudaEngineTest, GreedySpeculativeEqualsPlainForEverySliceAndK) {
  const int64_t vocab = gpu_->model().config().vocab_size;
  int64_t cpu_agree = 0, runs = 0;
  std::vector<std::vector<int32_t>> plain;
  for (int i = 0; i < 10; ++i) {
    GenerationOptions o;
    o.max_new_tokens = 64;
    o.speculative = false;
    o.stop_at_eos = false;
    auto r = gpu_->GenerateTokens(Prompt(i, vocab), o);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->tokens.size(), 64u);
    EXPECT_EQ(r->stats.rounds, 64);
    plain.push_back(r->tokens);
    auto c = cpu_->GenerateTokens(Prompt(i, vocab), o);
    ASSERT_TRUE(c.ok()) << c.status();
    cpu_agree += c->tokens == r->tokens;
  }
  absl::StatusOr<std::vector<SliceSpec>> table = LoadSliceTable(kTable);
  ASSERT_TRUE(table.ok());
  for (const SliceSpec& spec : *table) {
    for (int64_t k : {1, 2, 4, 8}) {
      for (int i = 0; i < 10; ++i) {
        GenerationOptions o;
        o.max_new_tokens = 64;
        o.stop_at_eos = false;
        o.draft.slice_table = kTable;
        o.draft.slice_name = spec.name;
        o.draft.draft_max = k;
        auto r = gpu_->GenerateTokens(Prompt(i, vocab), o);
        ASSERT_TRUE(r.ok()) << r.status();
        EXPECT_EQ(r->tokens, plain[i]) << spec.name << " k=" << k << " prompt " << i;
        EXPECT_GT(r->stats.drafted_tokens, 0);
        ++runs;
      }
    }
  }
  std::printf("greedy speculative == plain on the GPU: %lld runs; GPU plain == CPU plain for %lld of 10 prompts\n",
              static_cast<long long>(runs), static_cast<long long>(cpu_agree));
}

// Reduced-vocabulary draft heads on the GPU (an id prefix and the bundled
// frequency-ranked list): the output is still plain greedy's.
TEST_F(CudaEngineTest, ReducedVocabularyDraftHeadsKeepTheOutput) {
  const int64_t vocab = gpu_->model().config().vocab_size;
  for (int i = 0; i < 4; ++i) {
    GenerationOptions o;
    o.max_new_tokens = 48;
    o.stop_at_eos = false;
    o.speculative = false;
    auto plain = gpu_->GenerateTokens(Prompt(i, vocab), o);
    ASSERT_TRUE(plain.ok()) << plain.status();
    o.speculative = true;
    o.draft.slice_table = kTable;
    o.draft.slice_name = "quarter";
    o.draft.draft_max = 4;
    for (const char* file : {"", "models/matlm-tiny/draft_vocab.txt"}) {
      for (int64_t n : {1000, 256}) {
        o.draft.draft_vocab = n;
        o.draft.draft_vocab_file = file;
        auto r = gpu_->GenerateTokens(Prompt(i, vocab), o);
        ASSERT_TRUE(r.ok()) << r.status();
        EXPECT_EQ(r->tokens, plain->tokens) << "prompt " << i << " draft_vocab " << n << " " << file;
        EXPECT_EQ(r->stats.draft_vocab, n);
      }
    }
  }
}

TEST_F(CudaEngineTest, OneHostSynchronisationPerRound) {
  auto* g = dynamic_cast<CudaLlamaModel*>(&gpu_->model());
  ASSERT_NE(g, nullptr);
  absl::StatusOr<std::vector<SliceSpec>> table = LoadSliceTable(kTable);
  ASSERT_TRUE(table.ok());
  absl::StatusOr<SliceView> draft = ValidateSlice((*table)[1], g->config());
  ASSERT_TRUE(draft.ok());
  DecodeParams params;
  params.max_new_tokens = 40;
  params.context_size = 256;
  params.draft = *draft;
  params.policy.draft_max = 4;
  auto runner = CudaRoundRunner::Create(g, params.draft, params.policy, params.sampling, 0, RunnerCapacity(params));
  ASSERT_TRUE(runner.ok()) << runner.status();
  CudaRoundRunner* raw = runner->get();
  SpeculativeDecoder d(std::move(*runner), params);
  std::vector<int32_t> out;
  GenerationStats stats;
  ASSERT_TRUE(d.Run(Prompt(2, g->vocab_size()), nullptr, &out, &stats).ok());
  EXPECT_EQ(raw->round_syncs(), stats.rounds);
  EXPECT_LT(stats.rounds, 40);
}

TEST_F(CudaEngineTest, DraftAddsNoGpuWeightMemory) {
  GenerationOptions o;
  o.max_new_tokens = 8;
  o.speculative = false;
  auto plain = gpu_->GenerateTokens({1, 5, 9}, o);
  o.speculative = true;
  o.draft.slice_table = kTable;
  o.draft.slice_name = "eighth";
  auto spec = gpu_->GenerateTokens({1, 5, 9}, o);
  ASSERT_TRUE(plain.ok() && spec.ok());
  EXPECT_GT(plain->stats.gpu_weight_bytes, 0);
  EXPECT_EQ(plain->stats.gpu_weight_bytes, spec->stats.gpu_weight_bytes);
  EXPECT_EQ(spec->stats.device, "cuda");
  EXPECT_GT(spec->stats.draft_kv_bytes, 0);
}

TEST_F(CudaEngineTest, BadOptionsGetClearErrors) {
  GenerationOptions o;
  o.max_new_tokens = 4;
  o.draft.draft_p_min = 0.5;
  auto r = gpu_->GenerateTokens({1, 2}, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("--draft-p-min"), std::string::npos) << r.status();
  // A context that cannot hold the prompt.
  GenerationOptions small;
  small.context_size = 3;
  auto s = gpu_->GenerateTokens({1, 2, 3, 4}, small);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("context"), std::string::npos) << s.status();
}

// The CPU suite's lossless-sampling frequency test, on the GPU round.
TEST(CudaSamplingTest, SpeculativeSamplingFollowsTheTarget) {
  if (!CudaDeviceAvailable().ok()) GTEST_SKIP() << "no CUDA device";
  testing::ScopedTempDir dir("cuda_sampling");
  ASSERT_TRUE(testing::WriteTinyLlama(dir.path(), testing::LosslessSamplingModel()).ok());
  std::unique_ptr<Engine> engine = Load(dir.path(), "cuda");
  ASSERT_TRUE(engine);
  GenerationOptions o;
  o.draft.ffn = "6";
  o.draft.skip = "1";
  o.temperature = 1.0;
  o.draft.draft_max = 3;
  EXPECT_LT(testing::SpeculativeJointZ(*engine, {1, 4, 2}, o, 20000), 4.0) << "temperature 1, k=3";
  o.temperature = 0.8;
  o.top_k = 2;
  o.draft.draft_max = 2;
  EXPECT_LT(testing::SpeculativeJointZ(*engine, {1, 4, 2}, o, 20000), 4.0) << "top-k 2, k=2";
}

}  // namespace
}  // namespace matspec
