// Batch invariance of MatMul, bit for bit, on every path this CPU has (with and
// without f32_activations) and every weight dtype: the product of a batch of t
// tokens equals the t single-token products, and 2 threads equal 1 thread.
// Greedy speculative decoding relies on it (verifying k+1 tokens must
// reproduce single-token decoding exactly). Covers t in {1..17, 33}, shapes
// that are not multiples of any SIMD width, slices (ld > cols, NaN padding),
// x / y strides wider than the shapes, accumulate, a row gather, and weights
// large enough for the threaded and the software-prefetch paths; and with a
// CpuWorkspace kept across all calls, the same bits again.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu_workspace.h"
#include "kernels/matmul.h"
#include "tests/testing/kernel_checks.h"

namespace matspec {
namespace {

using ::matspec::testing::RandomFloats;
using ::matspec::testing::WeightBuffer;

struct Shape {
  int64_t n, k;
  bool slice;
  bool accumulate;
  bool gather;
};

std::vector<int64_t> TokenCounts() {
  std::vector<int64_t> ts;
  for (int64_t t = 1; t <= 17; ++t) ts.push_back(t);
  ts.push_back(33);
  return ts;
}

// y for the whole batch at once, with `threads` threads.
std::vector<float> Batch(MatMulPath path, const CpuContext& ctx, MatMulParams p) {
  std::vector<float> y(p.y, p.y + p.t * p.y_ld);
  p.y = y.data();
  MatMulWithPath(path, ctx, p);
  return y;
}

// y one token at a time.
std::vector<float> RowByRow(MatMulPath path, const CpuContext& ctx, MatMulParams p) {
  std::vector<float> y(p.y, p.y + p.t * p.y_ld);
  const int64_t t = p.t;
  for (int64_t j = 0; j < t; ++j) {
    MatMulParams q = p;
    q.t = 1;
    q.x = p.x + j * p.x_ld;
    q.y = y.data() + j * p.y_ld;
    MatMulWithPath(path, ctx, q);
  }
  return y;
}

// `workspace` is shared by every call of the test (shapes, token counts and
// paths in turn), as a sequence's scratch is shared by its products.
void CheckShape(const Shape& s, DType dtype, MatMulPath path, bool f32_activations, CpuWorkspace& workspace) {
  std::mt19937 rng(static_cast<uint32_t>(s.n * 31 + s.k * 7 + static_cast<int>(dtype)));
  std::vector<float> wv = RandomFloats(rng, s.n * s.k);
  for (float& v : wv) v /= std::sqrt(static_cast<float>(s.k));
  const int64_t ld = s.slice ? s.k + 9 : s.k;
  WeightBuffer w(dtype, s.slice ? s.n + 2 : s.n, ld, s.n, s.k, wv);
  const int64_t t_max = 33;
  const int64_t x_ld = s.k + (s.slice ? 3 : 0), y_ld = s.n + (s.slice ? 5 : 0);
  std::vector<float> x = RandomFloats(rng, t_max * x_ld);
  const std::vector<float> y0 = RandomFloats(rng, t_max * y_ld);
  std::vector<int32_t> ids;
  for (int64_t i = s.n - 1; i >= 0; i -= 3) ids.push_back(static_cast<int32_t>(i));
  for (int64_t t : TokenCounts()) {
    SCOPED_TRACE(std::string(MatMulPathName(path)) + (f32_activations ? " f32-x " : " ") +
                 std::string(DTypeName(dtype)) + " n=" + std::to_string(s.n) +
                 " k=" + std::to_string(s.k) + " t=" + std::to_string(t) +
                 (s.slice ? " slice" : "") + (s.accumulate ? " accumulate" : "") +
                 (s.gather ? " gather" : ""));
    std::vector<float> y = y0;
    MatMulParams p{x.data(), x_ld, t, w.view(), y.data(), y_ld, s.accumulate};
    if (s.gather) {
      p.row_ids = ids.data();
      p.num_row_ids = static_cast<int64_t>(ids.size());
    }
    const std::vector<float> one = Batch(path, CpuContext{1, f32_activations}, p);
    EXPECT_EQ(one, Batch(path, CpuContext{2, f32_activations}, p)) << "2 threads";
    EXPECT_EQ(one, RowByRow(path, CpuContext{1, f32_activations}, p)) << "row by row";
    const CpuContext with_workspace{.num_threads = 2, .f32_activations = f32_activations, .workspace = &workspace};
    EXPECT_EQ(one, Batch(path, with_workspace, p)) << "kept workspace";
    EXPECT_EQ(one, RowByRow(path, with_workspace, p)) << "kept workspace, row by row";
    if (t == 33) {
      EXPECT_EQ(one, RowByRow(path, CpuContext{2, f32_activations}, p));
    }
  }
}

class MatMulBatchTest : public ::testing::TestWithParam<DType> {};

TEST_P(MatMulBatchTest, BatchEqualsRowByRowAndThreadsDoNotMatter) {
  const Shape shapes[] = {
      {37, 75, true, false, false},     {61, 130, false, true, false},
      {130, 517, true, true, false},    {45, 1030, true, false, true},
      {263, 2071, false, false, false},  // > 1 MiB of bf16: threads and prefetch
      {300, 1800, true, true, false},    // ... from a slice (ld > k), accumulating
      {257, 2048, false, false, false},  // ... rows a power of two long
      // k a multiple of 32 (what the amx-bf16 path takes): row tiles cut short
      // at 16 and 32, a gather, a slice.
      {70, 96, true, true, false},       {33, 320, false, false, true},
      {48, 1024, true, false, true},
  };
  CpuWorkspace workspace;
  for (MatMulPath path : AvailableMatMulPaths()) {
    for (bool f32_activations : {false, true}) {
      for (const Shape& s : shapes) CheckShape(s, GetParam(), path, f32_activations, workspace);
    }
  }
}

// The f32-FMA tiles and GEMM (CpuContext::Bf16Sums::kFma) against vdpbf16ps
// (kDot) and against one token at a time, bit for bit, for every token count
// of the tiles (2-23) and a few of the GEMM's, on weights and x spread over
// many binades, with denormal, zero and cancelling entries; threads and column
// blocks included. Runs wherever the CPU can run them, whatever kAuto picks
// there.
TEST(MatMulBatchBf16SumsTest, FmaTilesAndGemmGiveTheBitsOfVdpbf16ps) {
  if (!Bf16FmaTilesAvailable()) GTEST_SKIP() << "no AVX512_BF16, or FMAs do not reproduce vdpbf16ps here";
  const Shape shapes[] = {{37, 75, true, false, false},
                          {130, 517, true, true, false},
                          {45, 1030, true, false, true},
                          {263, 2071, false, false, false},
                          {300, 1800, true, true, false}};
  CpuContext dot{1}, fma{1};
  dot.bf16_sums = CpuContext::Bf16Sums::kDot;
  fma.bf16_sums = CpuContext::Bf16Sums::kFma;
  for (const Shape& s : shapes) {
    std::mt19937 rng(static_cast<uint32_t>(s.n * 13 + s.k));
    std::uniform_int_distribution<int> binade(-40, 20);
    std::vector<float> wv = RandomFloats(rng, s.n * s.k);
    for (size_t i = 0; i < wv.size(); ++i) {
      wv[i] = std::ldexp(wv[i], binade(rng) / 4);
      if (i % 97 == 0) wv[i] = 1e-39f;  // a denormal bf16 weight
      if (i % 89 == 0) wv[i] = 0.f;
    }
    const int64_t ld = s.slice ? s.k + 9 : s.k;
    WeightBuffer w(DType::kBF16, s.slice ? s.n + 2 : s.n, ld, s.n, s.k, wv);
    const int64_t t_max = 40, x_ld = s.k + 3, y_ld = s.n + 5;
    std::vector<float> x = RandomFloats(rng, t_max * x_ld);
    for (size_t i = 0; i < x.size(); ++i) {
      x[i] = std::ldexp(x[i], binade(rng));
      if (i % 101 == 0) x[i] = -1e-40f;  // rounds to a signed zero
      if (i % 53 == 0) x[i] = -x[i > 0 ? i - 1 : 0];  // pairs that cancel
    }
    const std::vector<float> y0 = RandomFloats(rng, t_max * y_ld);
    for (int64_t t = 1; t <= t_max; t += t < 24 ? 1 : 8) {
      SCOPED_TRACE("n=" + std::to_string(s.n) + " k=" + std::to_string(s.k) + " t=" + std::to_string(t));
      std::vector<float> y = y0;
      MatMulParams p{x.data(), x_ld, t, w.view(), y.data(), y_ld, s.accumulate};
      const std::vector<float> want = Batch(MatMulPath::kAvx512Bf16, dot, p);
      EXPECT_EQ(Batch(MatMulPath::kAvx512Bf16, fma, p), want);
      CpuContext fma2 = fma;
      fma2.num_threads = 2;
      EXPECT_EQ(Batch(MatMulPath::kAvx512Bf16, fma2, p), want) << "2 threads";
      if (t == t_max) {
        EXPECT_EQ(RowByRow(MatMulPath::kAvx512Bf16, dot, p), want) << "row by row";
      }
    }
  }
}

// Which kernel the multi-token bf16 products take is named, and kDot is always vdpbf16ps.
TEST(MatMulBatchBf16SumsTest, KernelNames) {
  if (std::string(Bf16MultiTokenKernelName()).empty()) GTEST_SKIP() << "no AVX512_BF16";
  EXPECT_STREQ(Bf16MultiTokenKernelName(CpuContext::Bf16Sums::kDot), "vdpbf16ps");
  EXPECT_STREQ(Bf16MultiTokenKernelName(CpuContext::Bf16Sums::kFma),
               Bf16FmaTilesAvailable() ? "f32 fma" : "vdpbf16ps");
}

// amx-bf16 takes bf16 weights only when k is a multiple of 32; the others run
// on the avx512-bf16 tiles, the same bits at every token count (one matrix
// never mixes the two), and so do f16 / f32 weights.
TEST(MatMulBatchAmxTest, WhatTheAmxTilesDoNotTakeIsTheAvx512Bf16Path) {
  const std::vector<MatMulPath> paths = AvailableMatMulPaths();
  if (paths.front() != MatMulPath::kAmxBf16) GTEST_SKIP() << "no usable AMX-BF16 here";
  std::mt19937 rng(5);
  for (DType dtype : {DType::kBF16, DType::kF16}) {
    for (int64_t k : {30, 130, 1000}) {
      const int64_t n = 70;
      WeightBuffer w(dtype, n, k, n, k, RandomFloats(rng, n * k));
      for (int64_t t : {1, 5, 30}) {
        SCOPED_TRACE(std::string(DTypeName(dtype)) + " k=" + std::to_string(k) + " t=" + std::to_string(t));
        const std::vector<float> x = RandomFloats(rng, t * k);
        std::vector<float> a(t * n), b(t * n);
        MatMulWithPath(MatMulPath::kAmxBf16, CpuContext{2}, {x.data(), k, t, w.view(), a.data(), n, false});
        MatMulWithPath(MatMulPath::kAvx512Bf16, CpuContext{2}, {x.data(), k, t, w.view(), b.data(), n, false});
        EXPECT_EQ(a, b);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllDTypes, MatMulBatchTest,
                         ::testing::Values(DType::kF32, DType::kF16, DType::kBF16),
                         [](const auto& info) { return std::string(DTypeName(info.param)); });

}  // namespace
}  // namespace matspec
