// One Engine shared by many threads (ARCHITECTURE.md §8): 8 threads each run
// 5 prompts at once, plain and speculative (greedy, and sampling with a seed),
// and every result must equal the same request run alone: the same tokens and
// the same speculation counts. Runs on the bundled llama-family model and on a
// Gemma 3n fixture (whose forward has ring caches and window buffers), each
// through the batching scheduler (the default: all 8 threads' requests in one
// batch; with the batch-aware cap off so that even greedy counts must match,
// and with it on, where greedy tokens must) and with --no-batching (a thread
// per request). The ThreadSanitizer stage of ./test.sh runs this test too.
#include <string>

#include "gtest/gtest.h"
#include "matspec/matspec.h"
#include "tests/testing/concurrent_generation.h"

namespace matspec {
namespace {

using testing::ExpectConcurrentEqualsSolo;
using testing::MixedRequests;

enum class Mode { kBatchedExactK, kBatchedCappedK, kThreadPerRequest };

class EngineConcurrencyTest : public ::testing::TestWithParam<Mode> {
 protected:
  LoadOptions Options(const std::string& dir) const {
    LoadOptions lo;
    lo.model_dir = dir;
    lo.num_threads = 1;
    lo.batching = GetParam() != Mode::kThreadPerRequest;
    lo.batch_aware_draft = GetParam() == Mode::kBatchedCappedK;
    return lo;
  }
  bool greedy_counts_exact() const { return GetParam() != Mode::kBatchedCappedK; }
};

TEST_P(EngineConcurrencyTest, BundledModelManyThreadsEqualSoloRuns) {
  LoadOptions lo = Options("models/matlm-tiny");
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Load(lo);
  ASSERT_TRUE(engine.ok()) << engine.status();
  const DraftOptions draft = testing::BundledQuarterDraft();
  ExpectConcurrentEqualsSolo(**engine, MixedRequests((*engine)->Describe().vocab_size, draft, 24), 8,
                             greedy_counts_exact());
}

TEST_P(EngineConcurrencyTest, Gemma3nManyThreadsEqualSoloRuns) {
  const std::string dir = "tests/fixtures/gemma3n_window";
  LoadOptions lo = Options(dir);
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Load(lo);
  ASSERT_TRUE(engine.ok()) << engine.status();
  const DraftOptions draft = testing::FixtureLastSliceDraft(**engine, dir);
  ASSERT_FALSE(draft.slice_name.empty());
  ExpectConcurrentEqualsSolo(**engine, MixedRequests((*engine)->Describe().vocab_size, draft, 20), 8,
                             greedy_counts_exact());
}

INSTANTIATE_TEST_SUITE_P(Scheduling, EngineConcurrencyTest,
                         ::testing::Values(Mode::kBatchedExactK, Mode::kBatchedCappedK, Mode::kThreadPerRequest),
                         [](const ::testing::TestParamInfo<Mode>& info) {
                           switch (info.param) {
                             case Mode::kBatchedExactK: return std::string("BatchedExactK");
                             case Mode::kBatchedCappedK: return std::string("BatchedCappedK");
                             case Mode::kThreadPerRequest: return std::string("ThreadPerRequest");
                           }
                           return std::string("Unknown");
                         });

}  // namespace
}  // namespace matspec
