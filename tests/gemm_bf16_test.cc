// The many-token bf16 GEMM (kernels/cpu/gemm_bf16.h), reached through
// MatMulWithPath(kAvx512Bf16) with t >= kGemmMinTokens on CPUs that have
// AVX512_BF16 (skipped elsewhere):
//  - against the f64 reference fed the same bf16-rounded x
//    (kMatMulBf16SameXTol), over k with every kind of tail (k < 32, odd
//    32-column steps, a partial last step of either parity), rows not a
//    multiple of the 3-row tile, tokens not a multiple of the 4-token tile,
//    slices whose padding is NaN, wide x / y strides, accumulate and a row
//    gather (columns outside the gather and the y padding stay untouched);
//  - bit for bit against the single-token products (which take the tiles),
//    with several L2 token blocks, on 1 and 2 OpenMP threads and on a pool.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/gemm_bf16.h"
#include "kernels/cpu_thread_pool.h"
#include "kernels/matmul.h"
#include "tests/testing/kernel_checks.h"

namespace matspec {
namespace {

using ::matspec::testing::AllClose;
using ::matspec::testing::kMatMulBf16SameXTol;
using ::matspec::testing::RandomFloats;
using ::matspec::testing::WeightBuffer;

bool HasBf16Path() {
  const std::vector<MatMulPath> paths = AvailableMatMulPaths();
  return std::find(paths.begin(), paths.end(), MatMulPath::kAvx512Bf16) != paths.end();
}

struct Case {
  int64_t n, k, t;
  bool slice = false;
  bool accumulate = false;
  bool gather = false;
};

std::string Describe(const Case& c) {
  return "n=" + std::to_string(c.n) + " k=" + std::to_string(c.k) + " t=" + std::to_string(c.t) +
         (c.slice ? " slice" : "") + (c.accumulate ? " accumulate" : "") + (c.gather ? " gather" : "");
}

// Everything one product needs; x, y and the weights are random.
struct Problem {
  explicit Problem(const Case& c)
      : rng(static_cast<uint32_t>(c.n * 131 + c.k * 7 + c.t)),
        w(DType::kBF16, c.slice ? c.n + 2 : c.n, c.slice ? c.k + 9 : c.k, c.n, c.k, Weights(c)),
        x_ld(c.k + (c.slice ? 3 : 0)),
        y_ld(c.n + (c.slice ? 5 : 0)),
        x(RandomFloats(rng, c.t * x_ld)),
        y0(RandomFloats(rng, c.t * y_ld)) {
    for (int64_t i = c.n - 1; i >= 0; i -= 3) ids.push_back(static_cast<int32_t>(i));
    params = MatMulParams{x.data(), x_ld, c.t, w.view(), nullptr, y_ld, c.accumulate};
    if (c.gather) {
      params.row_ids = ids.data();
      params.num_row_ids = static_cast<int64_t>(ids.size());
    }
  }

  std::vector<float> Weights(const Case& c) {
    std::vector<float> v = RandomFloats(rng, c.n * c.k);
    for (float& f : v) f /= std::sqrt(static_cast<float>(c.k));
    return v;
  }

  std::vector<float> Run(const CpuContext& ctx) const {
    std::vector<float> y = y0;
    MatMulParams p = params;
    p.y = y.data();
    MatMulWithPath(MatMulPath::kAvx512Bf16, ctx, p);
    return y;
  }

  // One token at a time (t = 1: the tiles, never the GEMM).
  std::vector<float> RunRowByRow() const {
    std::vector<float> y = y0;
    for (int64_t j = 0; j < params.t; ++j) {
      MatMulParams p = params;
      p.t = 1;
      p.x = params.x + j * x_ld;
      p.y = y.data() + j * y_ld;
      MatMulWithPath(MatMulPath::kAvx512Bf16, CpuContext{1, false}, p);
    }
    return y;
  }

  std::mt19937 rng;
  WeightBuffer w;
  int64_t x_ld, y_ld;
  std::vector<float> x, y0;
  std::vector<int32_t> ids;
  MatMulParams params;
};

TEST(GemmBf16Test, MatchesTheReferenceOnTheSameRoundedX) {
  if (!HasBf16Path()) GTEST_SKIP() << "no AVX512_BF16 on this CPU";
  const int64_t t0 = gemm_internal::kGemmMinTokens;
  const Case cases[] = {
      {37, 75, t0, true},         {5, 1, t0 + 1},           {64, 31, t0 + 3, false, true},
      {50, 33, t0 + 2, true, false, true}, {29, 64, 41},  {70, 100, t0, false, true, true},
      {33, 1030, 37, true},       {10, 4100, 29, false, true},
      {1, 96, t0},  // one row
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(Describe(c));
    Problem prob(c);
    const std::vector<float> got = prob.Run(CpuContext{1, false});
    // The reference on the same bf16-rounded x.
    std::vector<float> x_rounded = prob.x;
    for (int64_t j = 0; j < c.t; ++j) RoundToBf16LikeMatMul(&prob.x[j * prob.x_ld], c.k, &x_rounded[j * prob.x_ld]);
    std::vector<float> want = prob.y0;
    MatMulParams ref = prob.params;
    ref.x = x_rounded.data();
    ref.y = want.data();
    MatMulReference(ref);
    // Written columns against the reference; every other value untouched.
    std::vector<bool> written(c.n, !c.gather);
    if (c.gather) {
      for (int32_t id : prob.ids) written[id] = true;
    }
    std::vector<float> got_used;
    std::vector<double> want_used;
    for (int64_t j = 0; j < c.t; ++j) {
      for (int64_t i = 0; i < prob.y_ld; ++i) {
        const int64_t at = j * prob.y_ld + i;
        if (i < c.n && written[i]) {
          got_used.push_back(got[at]);
          want_used.push_back(want[at]);
        } else {
          ASSERT_EQ(got[at], prob.y0[at]) << "token " << j << " column " << i << " was written";
        }
      }
    }
    EXPECT_TRUE(AllClose(got_used, want_used, kMatMulBf16SameXTol));
  }
}

TEST(GemmBf16Test, EqualsSingleTokenProductsBitForBitOnAnyThreads) {
  if (!HasBf16Path()) GTEST_SKIP() << "no AVX512_BF16 on this CPU";
  CpuThreadPool pool(2);
  // k = 4100: packed x of a 4-token tile is ~33 KB, so 150 tokens span several
  // L2 token blocks; n = 67 leaves a 1-row tile.
  const Case cases[] = {
      {67, 4100, 150, true, true},
      {130, 517, gemm_internal::kGemmMinTokens, false, false, true},
      {263, 2071, 61},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(Describe(c));
    Problem prob(c);
    const std::vector<float> one = prob.Run(CpuContext{1, false});
    EXPECT_EQ(one, prob.RunRowByRow()) << "row by row";
    EXPECT_EQ(one, prob.Run(CpuContext{2, false})) << "2 OpenMP threads";
    EXPECT_EQ(one, prob.Run(CpuContext{2, false, &pool})) << "2 threads on a pool";
  }
}

}  // namespace
}  // namespace matspec
