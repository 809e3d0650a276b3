// One Engine shared by many threads (ARCHITECTURE.md §8): 8 threads each run
// 5 prompts at once, plain and speculative (greedy, and sampling with a seed),
// and every result must equal the same request run alone: the same tokens and
// the same speculation counts. Runs on the bundled llama-family model and on a
// Gemma 3n fixture (whose forward has ring caches and window buffers). The
// ThreadSanitizer stage of ./test.sh runs this test too.
#include <string>

#include "gtest/gtest.h"
#include "matspec/matspec.h"
#include "tests/testing/concurrent_generation.h"

namespace matspec {
namespace {

using testing::ExpectConcurrentEqualsSolo;
using testing::MixedRequests;

TEST(EngineConcurrencyTest, BundledModelManyThreadsEqualSoloRuns) {
  LoadOptions lo;
  lo.model_dir = "models/matlm-tiny";
  lo.num_threads = 1;
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Load(lo);
  ASSERT_TRUE(engine.ok()) << engine.status();
  const DraftOptions draft = testing::BundledQuarterDraft();
  ExpectConcurrentEqualsSolo(**engine, MixedRequests((*engine)->Describe().vocab_size, draft, 24));
}

TEST(EngineConcurrencyTest, Gemma3nManyThreadsEqualSoloRuns) {
  const std::string dir = "tests/fixtures/gemma3n_window";
  LoadOptions lo;
  lo.model_dir = dir;
  lo.num_threads = 1;
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Load(lo);
  ASSERT_TRUE(engine.ok()) << engine.status();
  absl::StatusOr<std::vector<SliceInfo>> slices = (*engine)->DescribeSlices(dir + "/slices.csv");
  ASSERT_TRUE(slices.ok()) << slices.status();
  ASSERT_FALSE(slices->empty());
  DraftOptions draft;
  draft.slice_table = dir + "/slices.csv";
  draft.slice_name = slices->back().name;
  draft.draft_max = 2;
  ExpectConcurrentEqualsSolo(**engine, MixedRequests((*engine)->Describe().vocab_size, draft, 20));
}

}  // namespace
}  // namespace matspec
