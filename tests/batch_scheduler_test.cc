// The batching scheduler (decoding/batch_scheduler.h) on the bundled model:
// every request of a batch must get exactly the tokens it gets alone, computed
// by an independent path (an engine with --no-batching: a thread per request,
// its own forwards). Batches of 1 to 16 mixed requests (prompt lengths, draft
// slices, with and without skipped layers and a reduced draft vocabulary, k
// fixed or adaptive, the draft's own keys and values or the verifier's,
// plain, greedy and sampled with a seed, lengths; prompts fed whole or in
// chunks of 3 tokens beside the decoding ones), requests that join and
// leave while others run, a queue beyond --max-sequences, a full queue
// (--max-queue), a cancel while queued, an error that ends only its own
// request, and bad options.
#include <chrono>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "matspec/matspec.h"
#include "tests/testing/mixed_workload.h"
#include "matspec/run_config.h"
#include "decoding/batch_scheduler.h"
#include "engine/round_runner.h"

namespace matspec {
namespace {

using ::testing::HasSubstr;

constexpr const char* kModel = testing::kBundledModel;

std::unique_ptr<Engine> Load(bool batching, int64_t max_sequences = 16, int64_t max_queue = 0,
                             int64_t prefill_chunk = 256) {
  LoadOptions lo;
  lo.prefill_chunk = prefill_chunk;
  lo.model_dir = kModel;
  lo.num_threads = 1;
  lo.batching = batching;
  lo.max_sequences = max_sequences;
  lo.max_queue = max_queue;
  auto e = Engine::Load(lo);
  EXPECT_TRUE(e.ok()) << e.status();
  return e.ok() ? std::move(*e) : nullptr;
}

using testing::Job;
using testing::MixedJob;

std::vector<int32_t> Solo(Engine& reference, const Job& job) {
  absl::StatusOr<GenerationResult> r = reference.GenerateTokens(job.prompt, job.options);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? r->tokens : std::vector<int32_t>{};
}

class BatchSchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    reference_ = Load(/*batching=*/false);
    ASSERT_NE(reference_, nullptr);
  }
  // Every request's result equals job i run alone.
  void ExpectEachAlone(const std::vector<std::shared_ptr<Request>>& requests, const std::vector<Job>& jobs) {
    for (size_t i = 0; i < requests.size(); ++i) {
      absl::StatusOr<GenerationResult> got = requests[i]->Wait();
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(got->tokens, Solo(*reference_, jobs[i])) << "request " << i << " of " << requests.size();
      EXPECT_EQ(got->stats.generated_tokens, static_cast<int64_t>(got->tokens.size()));
    }
  }

  // A long request that holds the only place of an engine with
  // --max-sequences 1 once this returns (it has streamed its first event).
  std::shared_ptr<Request> HoldTheOnlyPlace(Engine& engine, Job* job) {
    *job = MixedJob(1);
    job->options.max_new_tokens = 300;
    auto first = engine.SubmitTokens(job->prompt, job->options);
    EXPECT_TRUE(first.ok()) << first.status();
    if (!first.ok()) return nullptr;
    EXPECT_TRUE((*first)->Next().has_value());
    return *first;
  }

  std::unique_ptr<Engine> reference_;
};

class BatchSchedulerChunkTest : public BatchSchedulerTest, public ::testing::WithParamInterface<int64_t> {};

TEST_P(BatchSchedulerChunkTest, MixedBatchesOfOneToSixteenEqualEachRequestAlone) {
  // Prompts of 2-24 tokens: chunks of 3 spread most over several rounds.
  std::unique_ptr<Engine> engine = Load(/*batching=*/true, 16, 0, /*prefill_chunk=*/GetParam());
  ASSERT_NE(engine, nullptr);
  for (int n : {1, 2, 5, 8, 16}) {
    std::vector<Job> jobs;
    for (int i = 0; i < n; ++i) jobs.push_back(MixedJob(i + n));
    std::vector<std::shared_ptr<Request>> requests;
    for (const Job& job : jobs) {
      auto r = engine->SubmitTokens(job.prompt, job.options);
      ASSERT_TRUE(r.ok()) << r.status();
      requests.push_back(*r);
    }
    for (int i = 0; i < n; ++i) {
      absl::StatusOr<GenerationResult> got = requests[i]->Wait();
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(got->tokens, Solo(*reference_, jobs[i])) << "batch of " << n << ", request " << i;
      EXPECT_EQ(got->stats.stop_reason, "length");
      EXPECT_EQ(got->stats.generated_tokens, jobs[i].options.max_new_tokens);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(PrefillChunk, BatchSchedulerChunkTest, ::testing::Values(256, 3));

// The cap table measured in bench/RESULTS.md §8 (the quiet sweep of
// 2026-12-01): no cap alone, k <= 4 at 2, k <= 2 at 3-4, plain from 5.
TEST(BatchDraftCapTest, FollowsTheMeasuredTable) {
  EXPECT_EQ(BatchDraftCap(0), kMaxDraft);
  EXPECT_EQ(BatchDraftCap(1), kMaxDraft);
  EXPECT_EQ(BatchDraftCap(2), 4);
  EXPECT_EQ(BatchDraftCap(3), 2);
  EXPECT_EQ(BatchDraftCap(4), 2);
  EXPECT_EQ(BatchDraftCap(5), 0);
  EXPECT_EQ(BatchDraftCap(16), 0);
}

TEST_F(BatchSchedulerTest, RequestsJoiningAndLeavingMidRunEqualEachAlone) {
  std::unique_ptr<Engine> engine = Load(/*batching=*/true, 16, 0, /*prefill_chunk=*/4);
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
  for (int i = 4; i < 8; ++i) submit(i);
  ASSERT_TRUE(requests[1]->Wait().ok());  // one has left
  for (int i = 8; i < 12; ++i) submit(i);
  ExpectEachAlone(requests, jobs);
}

TEST_F(BatchSchedulerTest, RequestsBeyondMaxSequencesQueueAndStillEqualEachAlone) {
  std::unique_ptr<Engine> engine = Load(/*batching=*/true, /*max_sequences=*/2);
  ASSERT_NE(engine, nullptr);
  std::vector<Job> jobs;
  std::vector<std::shared_ptr<Request>> requests;
  for (int i = 0; i < 7; ++i) {
    jobs.push_back(MixedJob(30 + i));
    auto r = engine->SubmitTokens(jobs.back().prompt, jobs.back().options);
    ASSERT_TRUE(r.ok()) << r.status();
    requests.push_back(*r);
  }
  ExpectEachAlone(requests, jobs);
}

TEST_F(BatchSchedulerTest, ARequestCancelledWhileQueuedEndsAtOnceAndTheOthersGoOn) {
  std::unique_ptr<Engine> engine = Load(/*batching=*/true, /*max_sequences=*/1);
  ASSERT_NE(engine, nullptr);
  Job running;
  std::shared_ptr<Request> first = HoldTheOnlyPlace(*engine, &running);
  ASSERT_NE(first, nullptr);
  auto queued = engine->SubmitTokens(MixedJob(2).prompt, MixedJob(2).options);
  ASSERT_TRUE(queued.ok());
  (*queued)->Cancel();
  absl::StatusOr<GenerationResult> cancelled = (*queued)->Wait();
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->stats.stop_reason, "cancelled");
  EXPECT_TRUE(cancelled->tokens.empty());
  EXPECT_FALSE(first->Done());  // it was not waited for
  absl::StatusOr<GenerationResult> done = first->Wait();
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->tokens, Solo(*reference_, running));
}

TEST_F(BatchSchedulerTest, AFullQueueRefusesTheSubmissionAndLosesNothing) {
  std::unique_ptr<Engine> engine = Load(/*batching=*/true, /*max_sequences=*/1, /*max_queue=*/1);
  ASSERT_NE(engine, nullptr);
  Job running;
  std::shared_ptr<Request> first = HoldTheOnlyPlace(*engine, &running);
  ASSERT_NE(first, nullptr);
  const Job waiting = MixedJob(2);
  auto second = engine->SubmitTokens(waiting.prompt, waiting.options);
  ASSERT_TRUE(second.ok()) << second.status();  // the one place in the queue
  auto third = engine->SubmitTokens(MixedJob(3).prompt, MixedJob(3).options);
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(third.status().message()), HasSubstr("--max-queue"));
  absl::StatusOr<GenerationResult> a = first->Wait();
  absl::StatusOr<GenerationResult> b = (*second)->Wait();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->tokens, Solo(*reference_, running));
  EXPECT_EQ(b->tokens, Solo(*reference_, waiting));
}

TEST_F(BatchSchedulerTest, AnErrorEndsOnlyItsOwnRequest) {
  std::unique_ptr<Engine> engine = Load(/*batching=*/true);
  ASSERT_NE(engine, nullptr);
  Job bad = MixedJob(5);
  bad.options.context_size = static_cast<int64_t>(bad.prompt.size());  // no room for a new token
  std::vector<Job> good = {MixedJob(6), MixedJob(7), MixedJob(8)};
  std::vector<std::shared_ptr<Request>> requests;
  for (const Job& job : {good[0], bad, good[1], good[2]}) {
    auto r = engine->SubmitTokens(job.prompt, job.options);
    ASSERT_TRUE(r.ok()) << r.status();
    requests.push_back(*r);
  }
  absl::StatusOr<GenerationResult> failed = requests[1]->Wait();
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(std::string(failed.status().message()), HasSubstr("--ctx-size"));
  for (int i : {0, 2, 3}) {
    absl::StatusOr<GenerationResult> got = requests[i]->Wait();
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->tokens, Solo(*reference_, good[i == 0 ? 0 : i - 1])) << "request " << i;
  }
}

TEST_F(BatchSchedulerTest, GenerateFromManyThreadsGoesThroughOneBatch) {
  std::unique_ptr<Engine> engine = Load(/*batching=*/true);
  ASSERT_NE(engine, nullptr);
  std::vector<Job> jobs;
  for (int i = 0; i < 6; ++i) jobs.push_back(MixedJob(50 + i));
  std::vector<std::vector<int32_t>> got(jobs.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < jobs.size(); ++i) {
    threads.emplace_back([&, i] {
      absl::StatusOr<GenerationResult> r = engine->GenerateTokens(jobs[i].prompt, jobs[i].options);
      if (r.ok()) got[i] = r->tokens;
    });
  }
  for (std::thread& t : threads) t.join();
  for (size_t i = 0; i < jobs.size(); ++i) EXPECT_EQ(got[i], Solo(*reference_, jobs[i])) << "request " << i;
}

TEST(BatchSchedulerOptionsTest, BadBatchingOptionsAreRefusedNamingTheFlag) {
  LoadOptions lo;
  lo.model_dir = kModel;
  lo.max_sequences = 0;
  absl::StatusOr<std::unique_ptr<Engine>> e = Engine::Load(lo);
  ASSERT_FALSE(e.ok());
  EXPECT_THAT(std::string(e.status().message()), HasSubstr("--max-sequences"));
  lo.max_sequences = 4;
  lo.max_queue = -1;
  e = Engine::Load(lo);
  ASSERT_FALSE(e.ok());
  EXPECT_THAT(std::string(e.status().message()), HasSubstr("--max-queue"));
  lo.max_queue = 0;
  lo.prefill_chunk = 0;
  e = Engine::Load(lo);
  ASSERT_FALSE(e.ok());
  EXPECT_THAT(std::string(e.status().message()), HasSubstr("--prefill-chunk"));
}

// --gpu-batching (LoadOptions::gpu_batching) is a load flag, preset key and C ABI key; on the CPU,
// which batches anyway, it changes nothing (tests/cuda/batch_scheduler_test.cc covers the GPU).
TEST(BatchSchedulerOptionsTest, GpuBatchingParsesAndChangesNothingOnTheCpu) {
  RunConfig config;
  ASSERT_TRUE(SetRunOption(&config, "gpu-batching", "true", "--gpu-batching").ok());
  EXPECT_TRUE(config.load.gpu_batching);
  EXPECT_FALSE(SetRunOption(&config, "gpu-batching", "maybe", "--gpu-batching").ok());
  LoadOptions lo;
  lo.model_dir = kModel;
  lo.num_threads = 1;
  lo.gpu_batching = true;
  absl::StatusOr<std::unique_ptr<Engine>> e = Engine::Load(lo);
  ASSERT_TRUE(e.ok()) << e.status();
  const Job job = MixedJob(3);
  absl::StatusOr<GenerationResult> got = (*e)->GenerateTokens(job.prompt, job.options);
  ASSERT_TRUE(got.ok()) << got.status();
  std::unique_ptr<Engine> reference = Load(/*batching=*/false);
  ASSERT_NE(reference, nullptr);
  EXPECT_EQ(got->tokens, Solo(*reference, job));
}

}  // namespace
}  // namespace matspec
