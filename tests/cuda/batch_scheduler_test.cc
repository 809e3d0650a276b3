// The batching scheduler on the GPU (LoadOptions::gpu_batching: the engine's
// BatchScheduler drives CudaLlamaModel::ForwardBatch), on the bundled model:
// every request of a batch must get exactly the tokens it gets alone.
//   - "alone" is the same scheduler with --max-sequences 1 (the same host
//     sampling and acceptance, one segment per forward), for every request;
//   - greedy requests must also equal the independent GPU path without
//     --gpu-batching (each round on a CudaRoundRunner, replayed as a CUDA
//     graph), which uses graphs where the batched engine uses none;
//   - batches of 1 to 16 mixed requests (prompt lengths, draft slices with and
//     without skipped layers and a reduced draft vocabulary, k, plain, greedy
//     and sampled with a seed), prompts whole or in chunks of 3 tokens;
//   - requests joining while others run; Gemma 3n (its batched forward,
//     CudaGemma3nModel::QueueBatch) with 8 threads' requests equals each alone.
// Skips without a GPU.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cuda/cuda_context.h"
#include "matspec/matspec.h"
#include "tests/testing/concurrent_generation.h"
#include "tests/testing/mixed_workload.h"

namespace matspec {
namespace {

constexpr const char* kModel = testing::kBundledModel;

std::unique_ptr<Engine> LoadGpu(bool gpu_batching, int64_t max_sequences = 16, int64_t prefill_chunk = 256) {
  LoadOptions lo;
  lo.model_dir = kModel;
  lo.device = "cuda";
  lo.gpu_batching = gpu_batching;
  lo.max_sequences = max_sequences;
  lo.prefill_chunk = prefill_chunk;
  auto e = Engine::Load(lo);
  EXPECT_TRUE(e.ok()) << e.status();
  return e.ok() ? std::move(*e) : nullptr;
}

using testing::Job;
using testing::MixedJob;

bool Greedy(const Job& job) { return job.options.temperature <= 0.0; }

class CudaBatchSchedulerTest : public ::testing::TestWithParam<int64_t> {
 protected:
  void SetUp() override {
    if (!CudaDeviceAvailable().ok()) GTEST_SKIP() << "no CUDA device";
    alone_ = LoadGpu(/*gpu_batching=*/true, /*max_sequences=*/1);
    rounds_ = LoadGpu(/*gpu_batching=*/false);
    ASSERT_TRUE(alone_ && rounds_);
  }

  // Request i's result equals job i alone (and, greedy, on the round runner).
  void ExpectEachAlone(std::vector<std::shared_ptr<Request>>& requests, const std::vector<Job>& jobs) {
    for (size_t i = 0; i < requests.size(); ++i) {
      SCOPED_TRACE(::testing::Message() << "request " << i << " of " << requests.size());
      absl::StatusOr<GenerationResult> got = requests[i]->Wait();
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(got->stats.cuda_graph_launches, 0);  // the scheduler's forwards, not a round runner's
      absl::StatusOr<GenerationResult> alone = alone_->GenerateTokens(jobs[i].prompt, jobs[i].options);
      ASSERT_TRUE(alone.ok()) << alone.status();
      EXPECT_EQ(got->tokens, alone->tokens);
      EXPECT_EQ(got->stats.generated_tokens, jobs[i].options.max_new_tokens);
      if (Greedy(jobs[i])) {
        absl::StatusOr<GenerationResult> runner = rounds_->GenerateTokens(jobs[i].prompt, jobs[i].options);
        ASSERT_TRUE(runner.ok()) << runner.status();
        EXPECT_EQ(got->tokens, runner->tokens) << "against the CUDA round runner";
      }
    }
  }

  std::unique_ptr<Engine> alone_, rounds_;
};

TEST_P(CudaBatchSchedulerTest, MixedBatchesOfOneToSixteenEqualEachRequestAlone) {
  std::unique_ptr<Engine> engine = LoadGpu(/*gpu_batching=*/true, 16, /*prefill_chunk=*/GetParam());
  ASSERT_NE(engine, nullptr);
  for (int n : {1, 2, 5, 8, 16}) {
    SCOPED_TRACE(::testing::Message() << "batch of " << n);
    std::vector<Job> jobs;
    for (int i = 0; i < n; ++i) jobs.push_back(MixedJob(i + n));
    std::vector<std::shared_ptr<Request>> requests;
    for (const Job& job : jobs) {
      auto r = engine->SubmitTokens(job.prompt, job.options);
      ASSERT_TRUE(r.ok()) << r.status();
      requests.push_back(*r);
    }
    ExpectEachAlone(requests, jobs);
  }
}

TEST_P(CudaBatchSchedulerTest, RequestsJoiningMidRunEqualEachAlone) {
  std::unique_ptr<Engine> engine = LoadGpu(/*gpu_batching=*/true, 16, /*prefill_chunk=*/GetParam());
  ASSERT_NE(engine, nullptr);
  std::vector<Job> jobs;
  std::vector<std::shared_ptr<Request>> requests;
  auto submit = [&](int i) {
    jobs.push_back(MixedJob(i));
    auto r = engine->SubmitTokens(jobs.back().prompt, jobs.back().options);
    ASSERT_TRUE(r.ok()) << r.status();
    requests.push_back(*r);
  };
  for (int i = 0; i < 4; ++i) submit(i);
  ASSERT_TRUE(requests[0]->Next().has_value());  // the first batch is running
  for (int i = 4; i < 10; ++i) submit(i);
  ExpectEachAlone(requests, jobs);
}

INSTANTIATE_TEST_SUITE_P(PrefillChunk, CudaBatchSchedulerTest, ::testing::Values(256, 3));

TEST(CudaBatchSchedulerOptionsTest, TheRoundRunnerPathStillReplaysGraphs) {
  if (!CudaDeviceAvailable().ok()) GTEST_SKIP() << "no CUDA device";
  std::unique_ptr<Engine> engine = LoadGpu(/*gpu_batching=*/false);
  ASSERT_NE(engine, nullptr);
  Job job = MixedJob(1);
  job.options.max_new_tokens = 24;
  absl::StatusOr<GenerationResult> r = engine->GenerateTokens(job.prompt, job.options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GT(r->stats.cuda_graph_launches, 0);
}

// Gemma 3n has a batched GPU forward too: 8 threads' mixed requests on one
// --gpu-batching engine each get the tokens (and greedy counts) they get alone.
TEST(CudaBatchSchedulerOptionsTest, Gemma3nBatchedOnTheGpuEqualsEachRequestAlone) {
  if (!CudaDeviceAvailable().ok()) GTEST_SKIP() << "no CUDA device";
  const std::string dir = "tests/fixtures/gemma3n_window";
  LoadOptions lo;
  lo.model_dir = dir;
  lo.device = "cuda";
  lo.gpu_batching = true;
  lo.batch_aware_draft = false;  // every request keeps its k: greedy counts must match too
  absl::StatusOr<std::unique_ptr<Engine>> e = Engine::Load(lo);
  ASSERT_TRUE(e.ok()) << e.status();
  const DraftOptions draft = testing::FixtureLastSliceDraft(**e, dir);
  ASSERT_FALSE(draft.slice_name.empty());
  testing::ExpectConcurrentEqualsSolo(**e, testing::MixedRequests((*e)->Describe().vocab_size, draft, 16), 8,
                                      /*greedy_counts_exact=*/true);
}

}  // namespace
}  // namespace matspec
