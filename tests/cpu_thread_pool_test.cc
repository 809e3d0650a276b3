// CpuThreadPool: every item runs exactly once whatever the team size, calls
// from several application threads at once on one pool, workers that went to
// sleep wake for the next call, and MatMul on a pool gives the bits it gives
// on OpenMP.
#include "kernels/cpu_thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>
#include <thread>
#include <vector>

#include "kernels/matmul.h"
#include "tests/testing/kernel_checks.h"

namespace matspec {
namespace {

TEST(CpuThreadPoolTest, EveryItemRunsExactlyOnce) {
  for (int threads : {1, 2, 4}) {
    CpuThreadPool pool(threads);
    EXPECT_EQ(pool.num_threads(), threads);
    for (int64_t n : {0, 1, 2, 7, 1000}) {
      std::vector<std::atomic<int>> hits(n);
      pool.ParallelFor(n, [&](int64_t i) { hits[i].fetch_add(1); });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "item " << i << " of " << n;
    }
  }
}

TEST(CpuThreadPoolTest, ConcurrentCallersShareOnePool) {
  CpuThreadPool pool(3);
  std::atomic<int64_t> total{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 4; ++c) {
    callers.emplace_back([&] {
      for (int rep = 0; rep < 200; ++rep) {
        pool.ParallelFor(17, [&](int64_t i) { total.fetch_add(i + 1); });
      }
    });
  }
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(total.load(), 4 * 200 * (17 * 18 / 2));
}

TEST(CpuThreadPoolTest, SleepingWorkersWakeUp) {
  CpuThreadPool pool(2);
  for (int rep = 0; rep < 3; ++rep) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // workers are asleep by now
    std::atomic<int> count{0};
    pool.ParallelFor(64, [&](int64_t) { count.fetch_add(1); });
    EXPECT_EQ(count.load(), 64);
  }
}

TEST(CpuThreadPoolTest, MatMulOnAPoolMatchesOpenMpBits) {
  std::mt19937 rng(3);
  const int64_t n = 517, k = 2071;
  CpuThreadPool pool(2);
  for (DType dtype : {DType::kBF16, DType::kF32}) {
    testing::WeightBuffer w(dtype, n, k, n, k, testing::RandomFloats(rng, n * k));
    for (int64_t t : {1, 5, 40}) {
      const std::vector<float> x = testing::RandomFloats(rng, t * k);
      std::vector<float> y_omp(t * n), y_pool(t * n);
      MatMulParams p{x.data(), k, t, w.view(), y_omp.data(), n, false};
      for (MatMulPath path : AvailableMatMulPaths()) {
        MatMulWithPath(path, CpuContext{2}, p);
        CpuContext ctx{2};
        ctx.pool = &pool;
        MatMulParams q = p;
        q.y = y_pool.data();
        MatMulWithPath(path, ctx, q);
        EXPECT_EQ(y_omp, y_pool) << MatMulPathName(path) << " t=" << t;
      }
    }
  }
}

}  // namespace
}  // namespace matspec
