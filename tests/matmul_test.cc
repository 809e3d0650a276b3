// Every MatMul path this CPU has (AvailableMatMulPaths) against MatMulReference,
// and MatMulReference against an independent loop: every weight dtype, shapes that
// are not multiples of any SIMD width, slices with ld > cols whose padding is
// NaN (so reading it fails), x / y strides wider than the shapes (x padding
// NaN, y padding checked untouched), accumulate, 1 and 2 threads, t in
// {1, 2, 5, 9, 17}, and shapes large enough to take the threaded and the
// blocked paths. A path that rounds x to bf16 is held to kMatMulBf16SameXTol
// against the reference fed the same rounded x and to kMatMulBf16XTol against
// the reference on the f32 x; with CpuContext::f32_activations it is held to
// kMatMulTol. Batch invariance has its own test (matmul_batch_test.cc).
#include "kernels/matmul.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "tests/testing/kernel_checks.h"

namespace matspec {
namespace {

using ::matspec::testing::AllClose;
using ::matspec::testing::kMatMulBf16SameXTol;
using ::matspec::testing::kMatMulBf16XTol;
using ::matspec::testing::kMatMulTol;
using ::matspec::testing::RandomFloats;
using ::matspec::testing::WeightBuffer;

// Every path of this CPU, each with f32 activations forced and without.
struct PathCtx {
  MatMulPath path;
  bool f32_activations;
};
std::vector<PathCtx> AllPathContexts() {
  std::vector<PathCtx> v;
  for (MatMulPath path : AvailableMatMulPaths()) {
    v.push_back({path, false});
    v.push_back({path, true});
  }
  return v;
}

struct Case {
  int64_t n, k, t;
  bool slice;       // view inside a wider / taller buffer (FirstRows + FirstCols)
  bool accumulate;
};

std::string Describe(const Case& c, DType d, int threads, const std::string& path) {
  return path + " " + std::string(DTypeName(d)) + " n=" + std::to_string(c.n) +
         " k=" + std::to_string(c.k) + " t=" + std::to_string(c.t) + (c.slice ? " slice" : "") +
         (c.accumulate ? " accumulate" : "") + " threads=" + std::to_string(threads);
}

// Runs one case on `pc` and checks it against MatMulReference.
void CheckCase(const Case& c, DType dtype, int threads, PathCtx pc) {
  const CpuContext ctx{threads, pc.f32_activations};
  const bool rounds = MatMulRoundsXToBf16(pc.path, ctx, dtype);
  SCOPED_TRACE(Describe(c, dtype, threads,
                        std::string(MatMulPathName(pc.path)) + (pc.f32_activations ? " f32-x" : "") +
                            (rounds ? " (x rounded to bf16)" : "")));
  std::mt19937 rng(static_cast<uint32_t>(c.n * 1000003 + c.k * 1009 + c.t * 17 + int(dtype)));
  // Weights scaled so every output is O(1) whatever k is.
  std::vector<float> w_values = RandomFloats(rng, c.n * c.k, -1.f, 1.f);
  for (float& v : w_values) v /= std::sqrt(static_cast<float>(c.k));
  const int64_t buf_rows = c.slice ? c.n + 3 : c.n;
  const int64_t ld = c.slice ? c.k + 5 : c.k;
  WeightBuffer w(dtype, buf_rows, ld, c.n, c.k, w_values);

  const int64_t x_ld = c.k + (c.slice ? 7 : 0);
  const int64_t y_ld = c.n + (c.slice ? 3 : 0);
  std::vector<float> x = RandomFloats(rng, c.t * x_ld);
  for (int64_t j = 0; j < c.t; ++j) {  // x padding is never read either
    for (int64_t i = c.k; i < x_ld; ++i) x[j * x_ld + i] = std::nanf("");
  }
  std::vector<float> y0 = RandomFloats(rng, c.t * y_ld);  // prior contents (accumulate)

  MatMulParams p;
  p.x = x.data();
  p.x_ld = x_ld;
  p.t = c.t;
  p.w = w.view();
  p.y_ld = y_ld;
  p.accumulate = c.accumulate;

  std::vector<float> want = y0;
  p.y = want.data();
  ASSERT_TRUE(p.Valid());
  MatMulReference(p);
  // The reference fed x rounded as the kernel rounds it (the padding stays NaN).
  std::vector<float> x_rounded = x;
  for (int64_t j = 0; j < c.t; ++j) {
    RoundToBf16LikeMatMul(&x[j * x_ld], c.k, &x_rounded[j * x_ld]);
  }
  std::vector<float> want_same_x = y0;
  p.x = x_rounded.data();
  p.y = want_same_x.data();
  MatMulReference(p);
  p.x = x.data();

  std::vector<float> got = y0;
  p.y = got.data();
  MatMulWithPath(pc.path, ctx, p);

  std::vector<float> got_used;
  std::vector<double> want_d, want_same_x_d;
  for (int64_t j = 0; j < c.t; ++j) {
    for (int64_t r = 0; r < y_ld; ++r) {
      const int64_t i = j * y_ld + r;
      if (r < c.n) {
        got_used.push_back(got[i]);
        want_d.push_back(want[i]);
        want_same_x_d.push_back(want_same_x[i]);
      } else {
        ASSERT_EQ(got[i], y0[i]) << "wrote past the used columns of y at token " << j;
      }
    }
  }
  if (rounds) {
    EXPECT_TRUE(AllClose(got_used, want_same_x_d, kMatMulBf16SameXTol)) << "vs the same bf16 x";
    EXPECT_TRUE(AllClose(got_used, want_d, kMatMulBf16XTol)) << "vs the f32 x";
  } else {
    EXPECT_TRUE(AllClose(got_used, want_d, kMatMulTol));
  }
}

std::vector<Case> SmallCases() {
  std::vector<Case> cases;
  for (int64_t n : {1, 3, 17, 61}) {
    for (int64_t k : {1, 3, 17, 61, 64, 130, 160}) {  // 64, 160: what amx-bf16 takes
      for (int64_t t : {1, 2, 5, 9, 17}) {
        cases.push_back({n, k, t, false, false});
        cases.push_back({n, k, t, true, (n + k + t) % 2 == 0});
      }
    }
  }
  return cases;
}

// Large enough for a team of threads and for the software prefetch (weights
// over 1 MiB), with k tails that are not a multiple of 8, 16 or 32; and k a
// multiple of 32 (amx-bf16) with up to 3 token groups of 16.
std::vector<Case> LargeCases() {
  return {{1100, 1024, 1, false, false}, {270, 2048, 40, true, true}, {130, 1024, 8, false, false},
          {130, 517, 1, false, false}, {131, 517, 1, true, true},  {257, 1030, 1, true, false},
          {130, 130, 9, true, false},  {67, 4100, 17, true, false}, {67, 4100, 17, false, true},
          {45, 2053, 5, true, true},   {300, 300, 2, false, false},
          {263, 2071, 1, true, false}, {263, 2071, 7, false, true}};
}

class MatMulTest : public ::testing::TestWithParam<DType> {};

TEST_P(MatMulTest, SmallShapesAllPathsAndThreads) {
  for (const Case& c : SmallCases()) {
    for (int threads : {1, 2}) {
      for (PathCtx pc : AllPathContexts()) CheckCase(c, GetParam(), threads, pc);
    }
  }
}

TEST_P(MatMulTest, LargeShapesThreadedAndChunked) {
  for (const Case& c : LargeCases()) {
    for (int threads : {1, 2}) {
      for (PathCtx pc : AllPathContexts()) CheckCase(c, GetParam(), threads, pc);
    }
  }
}

// The dispatching entry point and MatMulPortable are the paths they name.
TEST_P(MatMulTest, EntryPointsAreTheirPaths) {
  std::mt19937 rng(7);
  const int64_t n = 250, k = 1000, t = 5;
  std::vector<float> wv = RandomFloats(rng, n * k);
  WeightBuffer w(GetParam(), n, k, n, k, wv);
  std::vector<float> x = RandomFloats(rng, t * k);
  std::vector<float> y1(t * n), y2(t * n);
  MatMulParams p{x.data(), k, t, w.view(), y1.data(), n, false};
  MatMul(CpuContext{2}, p);
  p.y = y2.data();
  MatMulWithPath(AvailableMatMulPaths().front(), CpuContext{1}, p);
  EXPECT_EQ(y1, y2);
  MatMulPortable(CpuContext{2}, p);
  p.y = y1.data();
  MatMulWithPath(MatMulPath::kPortable, CpuContext{1}, p);
  EXPECT_EQ(y1, y2);
}

INSTANTIATE_TEST_SUITE_P(AllDTypes, MatMulTest,
                         ::testing::Values(DType::kF32, DType::kF16, DType::kBF16),
                         [](const auto& info) { return std::string(DTypeName(info.param)); });

// The oracle itself against a loop written from the header's formula, reading
// the raw buffer with the row pitch, with exactly representable values.
TEST(MatMulReferenceTest, MatchesFormulaOnSlice) {
  const int64_t n = 3, k = 4, ld = 6, t = 2;
  std::vector<float> values = {1, 2, 3, 4, -1, 0.5f, 0, 2, 8, -8, 1, 1};
  WeightBuffer w(DType::kBF16, n + 1, ld, n, k, values);
  std::vector<float> x = {1, 1, 1, 1, 0, /*pad*/ 1, -1, 2, 0.25f, 0};
  std::vector<float> y(t * n, 0.f);
  MatMulParams p{x.data(), 5, t, w.view(), y.data(), n, false};
  MatMulReference(p);
  EXPECT_EQ(y, (std::vector<float>{10, 1.5f, 2, 6, -1, 18.25f}));
}

// A row gather (a reduced-vocabulary head): only the listed W rows are
// multiplied, each into its own y column; the other columns keep their values,
// and the listed ones are bit-identical to the full product's (batch invariance).
TEST(MatMulTest, RowGatherMatchesTheFullProductOnItsColumns) {
  std::mt19937 rng(7);
  for (DType dtype : {DType::kBF16, DType::kF16, DType::kF32}) {
    for (int64_t t : {1, 2, 5}) {
      const int64_t n = 301, k = 77, ld = 80;
      WeightBuffer w(dtype, n, ld, n, k, RandomFloats(rng, n * k, -1.f, 1.f));
      const std::vector<float> x = RandomFloats(rng, t * k);
      const std::vector<int32_t> ids = {0, 3, 4, 5, 17, 150, 299, 300};
      for (PathCtx pc : AllPathContexts()) {
        std::vector<float> full(t * n, 0.f);
        MatMulWithPath(pc.path, CpuContext{1, pc.f32_activations},
                       MatMulParams{x.data(), k, t, w.view(), full.data(), n, false});
        const bool rounds = MatMulRoundsXToBf16(pc.path, CpuContext{1, pc.f32_activations}, dtype);
        for (int threads : {1, 2}) {
          SCOPED_TRACE(std::string(MatMulPathName(pc.path)) + " " + std::string(DTypeName(dtype)) +
                       " t=" + std::to_string(t) + " threads=" + std::to_string(threads));
          std::vector<float> y(t * n, -7.f);
          MatMulParams p{x.data(), k, t, w.view(), y.data(), n, false};
          p.row_ids = ids.data();
          p.num_row_ids = static_cast<int64_t>(ids.size());
          MatMulWithPath(pc.path, CpuContext{threads, pc.f32_activations}, p);
          std::vector<float> ref(t * n, -7.f);
          p.y = ref.data();
          MatMulReference(p);
          for (int64_t j = 0; j < t; ++j) {
            for (int64_t c = 0; c < n; ++c) {
              const bool listed = std::find(ids.begin(), ids.end(), c) != ids.end();
              const float got = y[j * n + c];
              if (!listed) {
                ASSERT_EQ(got, -7.f) << "column " << c << " is not listed but was written";
                ASSERT_EQ(ref[j * n + c], -7.f);
              } else {
                ASSERT_EQ(got, full[j * n + c]) << "column " << c << " token " << j;
                ASSERT_NEAR(got, ref[j * n + c], rounds ? 2e-2 : 1e-4) << "reference";
              }
            }
          }
        }
      }
    }
  }
}

TEST(MatMulTest, ValidRejectsShortStrides) {
  std::vector<float> buf(64);
  MatrixView w{buf.data(), DType::kF32, 4, 8, 8};
  MatMulParams p{buf.data(), 8, 2, w, buf.data(), 4, false};
  EXPECT_TRUE(p.Valid());
  MatMulParams q = p;
  q.x_ld = 7;
  EXPECT_FALSE(q.Valid());
  q = p;
  q.y_ld = 3;
  EXPECT_FALSE(q.Valid());
  q = p;
  q.w.ld = 7;
  EXPECT_FALSE(q.Valid());
  q = p;
  q.x = nullptr;
  EXPECT_FALSE(q.Valid());
}

TEST(MatMulTest, ReportsIsa) {
  const std::string isa = MatMulIsaName();
  EXPECT_EQ(isa, MatMulPathName(AvailableMatMulPaths().front()));
  EXPECT_TRUE(isa == "amx-bf16" || isa == "avx512-bf16" || isa == "avx512" || isa == "avx2+fma+f16c" || isa == "portable")
      << isa;
  EXPECT_EQ(AvailableMatMulPaths().back(), MatMulPath::kPortable);
}

// Only the AMX and AVX512_BF16 paths with bf16 weights round x, and never
// with f32_activations.
TEST(MatMulTest, OnlyBf16WeightsOnTheBf16PathRoundX) {
  for (MatMulPath path : AvailableMatMulPaths()) {
    for (DType d : {DType::kF32, DType::kF16, DType::kBF16}) {
      const bool want =
          (path == MatMulPath::kAmxBf16 || path == MatMulPath::kAvx512Bf16) && d == DType::kBF16;
      EXPECT_EQ(MatMulRoundsXToBf16(path, CpuContext{1, false}, d), want) << MatMulPathName(path);
      EXPECT_FALSE(MatMulRoundsXToBf16(path, CpuContext{1, true}, d)) << MatMulPathName(path);
    }
  }
}

// RoundToBf16LikeMatMul: nearest even, subnormals to a signed zero, NaN kept.
TEST(MatMulTest, RoundToBf16LikeMatMul) {
  const float in[] = {1.f, 1.f + 0x1.0p-8f, 1.f + 0x1.0p-7f + 0x1.0p-8f, -3.14159f, 0x1.0p-130f,
                      -0x1.0p-140f, 0x1.0p-126f, std::nanf(""), INFINITY};
  const float want[] = {1.f, 1.f, 1.f + 0x1.0p-6f, -3.140625f, 0.f, -0.f, 0x1.0p-126f, NAN, INFINITY};
  float out[9];
  RoundToBf16LikeMatMul(in, 9, out);
  for (int i = 0; i < 9; ++i) {
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(out[i]));
    } else {
      EXPECT_EQ(out[i], want[i]) << i;
      EXPECT_EQ(std::signbit(out[i]), std::signbit(want[i])) << i;
    }
  }
}

// On the bf16-x paths a product with one weight equal to 1 (and 31 zeros, so
// that the AMX tiles take it) returns x rounded by the kernel itself (the
// product and the sum of zeros are exact), which must be
// RoundToBf16LikeMatMul(x) bit for bit: halfway cases, subnormals, NaN, infinity.
TEST(MatMulTest, Bf16PathsRoundXExactlyLikeRoundToBf16LikeMatMul) {
  std::vector<MatMulPath> paths;
  for (MatMulPath path : AvailableMatMulPaths()) {
    if (MatMulRoundsXToBf16(path, CpuContext{1}, DType::kBF16)) paths.push_back(path);
  }
  if (paths.empty()) GTEST_SKIP() << "no AVX512_BF16 on this CPU";
  std::mt19937 rng(11);
  std::vector<float> values = RandomFloats(rng, 200, -4.f, 4.f);
  const float specials[] = {1.f + 0x1.0p-8f, 1.f + 0x1.0p-7f + 0x1.0p-8f, -(1.f + 0x1.0p-8f),
                            0x1.0p-130f, -0x1.0p-140f, 0x1.0p-126f, 0x1.fffffep-127f,
                            3.4e38f, -3.4e38f, INFINITY, -INFINITY, 0.f, 1e-30f, 65504.f};
  values.insert(values.end(), std::begin(specials), std::end(specials));
  values.push_back(std::nanf(""));
  const int64_t t = static_cast<int64_t>(values.size()), k = 32;
  std::vector<float> x(t * k, 0.f), want(t);
  for (int64_t j = 0; j < t; ++j) x[j * k] = values[j];
  std::vector<float> w_values(k, 0.f);
  w_values[0] = 1.f;
  WeightBuffer w(DType::kBF16, 1, k, 1, k, w_values);
  RoundToBf16LikeMatMul(values.data(), t, want.data());
  for (MatMulPath path : paths) {
    SCOPED_TRACE(MatMulPathName(path));
    std::vector<float> y(t);
    MatMulWithPath(path, CpuContext{1}, MatMulParams{x.data(), k, t, w.view(), y.data(), 1, false});
    for (int64_t j = 0; j + 1 < t; ++j) EXPECT_EQ(y[j], want[j]) << "x = " << values[j];
    EXPECT_TRUE(std::isnan(y[t - 1])) << "NaN stays NaN";
  }
}

}  // namespace
}  // namespace matspec
