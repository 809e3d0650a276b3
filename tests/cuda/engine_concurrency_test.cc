// The GPU side of tests/engine_concurrency_test.cc: one Engine on --device
// cuda used by 8 threads at once. The GPU model takes one sequence at a time
// (the Engine serialises its generations), so every result must still equal
// the same request run alone. Skips without a GPU.
#include "gtest/gtest.h"
#include "kernels/cuda/cuda_context.h"
#include "matspec/matspec.h"
#include "tests/testing/concurrent_generation.h"

namespace matspec {
namespace {

TEST(CudaEngineConcurrencyTest, BundledModelManyThreadsEqualSoloRuns) {
  if (!CudaDeviceAvailable().ok()) GTEST_SKIP() << "no CUDA device";
  LoadOptions lo;
  lo.model_dir = "models/matlm-tiny";
  lo.device = "cuda";
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Load(lo);
  ASSERT_TRUE(engine.ok()) << engine.status();
  const DraftOptions draft = testing::BundledQuarterDraft();
  testing::ExpectConcurrentEqualsSolo(**engine, testing::MixedRequests((*engine)->Describe().vocab_size, draft, 24));
}

}  // namespace
}  // namespace matspec
