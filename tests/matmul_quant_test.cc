// MatMul with block-quantized weights (q8, q4), on every path this CPU has:
// against MatMulReference on the same (dequantized) weights fed the same
// quantized x (kMatMulQuantSameXTol) and fed the f32 x (kMatMulQuantXTol);
// bit-for-bit batch invariance (a token alone, in batches of 2..17, through a
// row gather, on 1 and 2 threads); slices (FirstRows / FirstCols inside a
// larger quantized matrix) equal the matrix quantized after a physical cut;
// and the quantizers themselves (round trip within half a step, bad input).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/matmul_tiles.h"
#include "kernels/matmul.h"
#include "kernels/quantize.h"
#include "tests/testing/kernel_checks.h"

namespace matspec {
namespace {

using ::matspec::testing::AllClose;
using ::matspec::testing::kMatMulQuantSameXTol;
using ::matspec::testing::kMatMulQuantXTol;
using ::matspec::testing::RandomFloats;

constexpr DType kQuantDTypes[] = {DType::kQ8, DType::kQ4};

// A quantized [rows, cols] matrix made from f32 values.
struct QuantMatrix {
  QuantMatrix(DType to, int64_t rows, int64_t cols, const std::vector<float>& values)
      : bytes(rows * DTypeRowBytes(to, cols)), scales(rows * cols / kQuantBlock) {
    const MatrixView src{values.data(), DType::kF32, rows, cols, cols};
    const absl::Status s = QuantizeMatrix(src, to, "test", 2, bytes.data(), scales.data());
    EXPECT_TRUE(s.ok()) << s;
    view = QuantizedView(to, rows, cols, bytes.data(), scales.data());
  }
  std::vector<uint8_t> bytes;
  std::vector<uint16_t> scales;
  MatrixView view;
};

std::vector<float> ScaledWeights(std::mt19937& rng, int64_t n, int64_t k) {
  std::vector<float> w = RandomFloats(rng, n * k);
  for (float& v : w) v /= std::sqrt(static_cast<float>(k));
  return w;
}

std::vector<double> Reference(const MatrixView& w, const std::vector<float>& x, int64_t t) {
  std::vector<float> y(t * w.rows);
  MatMulParams p{.x = x.data(), .x_ld = w.cols, .t = t, .w = w, .y = y.data(), .y_ld = w.rows};
  MatMulReference(p);
  return std::vector<double>(y.begin(), y.end());
}

TEST(QuantizeTest, RoundTripWithinHalfAStep) {
  std::mt19937 rng(7);
  for (DType to : kQuantDTypes) {
    std::vector<float> x = RandomFloats(rng, 4 * 64, -3.f, 3.f);
    for (int i = 0; i < 32; ++i) x[64 + i] = 0.f;  // a zero block
    QuantMatrix q(to, 4, 64, x);
    for (int64_t r = 0; r < 4; ++r) {
      for (int64_t c = 0; c < 64; ++c) {
        const float d = std::fabs(F16ToF32(q.view.ScaleRow(r)[c / 32]));
        // q4's side opposite the block maximum clamps at +7: up to one step.
        const float bound = (to == DType::kQ8 ? 0.5f : 1.0f) * d + 1e-6f;
        EXPECT_LE(std::fabs(q.view.At(r, c) - x[r * 64 + c]), bound) << DTypeName(to) << " " << r << "," << c;
      }
    }
    EXPECT_EQ(q.view.At(1, 5), 0.f);
  }
}

// Halves round to the even integer (nearbyint in the default mode), then clamp.
TEST(QuantizeTest, RoundsHalvesToEvenAndClamps) {
  std::vector<float> x(32, 0.f);
  const float q8_in[] = {127.f, 2.5f, 3.5f, -2.5f, -0.5f, 0.5f, 1.5f, -126.5f};
  const int q8_want[] = {127, 2, 4, -2, 0, 0, 2, -126};
  std::copy(std::begin(q8_in), std::end(q8_in), x.begin());  // max |x| = 127: d = 1
  QuantMatrix q8(DType::kQ8, 1, 32, x);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(q8.view.At(0, i), static_cast<float>(q8_want[i])) << i;
  const float q4_in[] = {-8.f, 2.5f, 3.5f, -2.5f, 6.5f, 7.5f, -7.5f, 0.5f};
  const int q4_want[] = {-8, 2, 4, -2, 6, 7, -8, 0};
  std::fill(x.begin(), x.end(), 0.f);
  std::copy(std::begin(q4_in), std::end(q4_in), x.begin());  // m = -8: d = 1
  QuantMatrix q4(DType::kQ4, 1, 32, x);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(q4.view.At(0, i), static_cast<float>(q4_want[i])) << i;
}

TEST(QuantizeTest, RefusesBadInput) {
  std::vector<float> x(2 * 48, 1.f);
  std::vector<uint8_t> v(2 * 48);
  std::vector<uint16_t> s(4);
  absl::Status st = QuantizeMatrix({x.data(), DType::kF32, 2, 48, 48}, DType::kQ8, "blk.w", 1, v.data(), s.data());
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("blk.w"), std::string::npos) << st;
  EXPECT_NE(st.message().find("multiple"), std::string::npos) << st;
  x[48 + 5] = std::nanf("");
  st = QuantizeMatrix({x.data(), DType::kF32, 1, 32, 32}, DType::kQ8, "blk.w", 1, v.data(), s.data());
  EXPECT_TRUE(st.ok()) << st;  // row 1 is not part of a 1 x 32 view
  st = QuantizeMatrix({x.data(), DType::kF32, 2, 32, 48}, DType::kQ4, "blk.n", 1, v.data(), s.data());
  EXPECT_NE(st.message().find("NaN or infinity at [1, 5]"), std::string::npos) << st;
  QuantMatrix q(DType::kQ8, 1, 32, std::vector<float>(32, 1.f));
  st = QuantizeMatrix(q.view, DType::kQ4, "blk.q", 1, v.data(), s.data());
  EXPECT_NE(st.message().find("already quantized"), std::string::npos) << st;
}

struct Case {
  int64_t n, k, t;
};

#if defined(__x86_64__)
// The AVX-512 x quantizer writes QuantizeXRow's bytes (for q4 in the tiles'
// order, matmul_tiles.h): values, bias and scales, for partial blocks, zero and
// non-finite blocks, and values on rounding ties.
TEST(QuantizeXRowTest, VnniEqualsScalarBitForBit) {
  if (!GetCpuFeatures().avx512_vnni) GTEST_SKIP() << "no AVX512_VNNI on this CPU";
  using matmul_internal::QuantizeXRow;
  using matmul_internal::QuantizeXRowVnni;
  using matmul_internal::QuantXPaddedK;
  using matmul_internal::QuantXRowBytes;
  std::mt19937 rng(11);
  for (int64_t k : {32, 64, 96, 160, 1024, 1056}) {
    std::vector<float> x = RandomFloats(rng, k, -4.f, 4.f);
    for (int64_t i = 32; i < std::min<int64_t>(k, 64); ++i) x[i] = 0.f;  // a zero block
    if (k >= 128) {
      x[70] = std::nanf("");                                // a NaN block
      x[100] = std::numeric_limits<float>::infinity();      // an infinite block
      for (int64_t i = 128; i < 160; ++i) x[i] = 0.5f * static_cast<float>(i % 5 - 2);  // ties at 127 / 1
      x[130] = 1.f;
    }
    for (DType w : kQuantDTypes) {
      const int64_t kp = QuantXPaddedK(k);
      std::vector<char> want(QuantXRowBytes(k), 0), got(QuantXRowBytes(k), 0);
      QuantizeXRow(x.data(), k, w, want.data());
      QuantizeXRowVnni(x.data(), k, w, got.data());
      std::vector<char> order = want;  // the q4 tiles' order, per 128 columns (blocks A-D)
      if (w == DType::kQ4) {
        const auto* q = reinterpret_cast<const int8_t*>(want.data());
        const auto* block_d = reinterpret_cast<const float*>(want.data() + 3 * kp);
        auto* obias = reinterpret_cast<int32_t*>(order.data() + kp);
        auto* od = reinterpret_cast<float*>(order.data() + 2 * kp);
        for (int64_t c = 0; c < kp; c += 128) {
          for (int half = 0; half < 2; ++half) {  // low: columns 0-15 of each block, high: 16-31
            for (int b = 0; b < 4; ++b) std::memcpy(order.data() + c + 64 * half + 16 * b, q + c + 32 * b + 16 * half, 16);
          }
          const auto* lo = reinterpret_cast<const int8_t*>(order.data() + c);
          for (int l = 0; l < 32; ++l) {  // lanes 16-31 of bias and d are zero
            int32_t sum = 0;
            if (l < 16) {
              for (int i = 0; i < 4; ++i) sum += lo[4 * l + i] + lo[64 + 4 * l + i];
            }
            obias[c / 4 + l] = -8 * sum;
            od[c / 4 + l] = l < 16 ? block_d[c / 32 + l / 4] : 0.f;
          }
        }
      }
      ASSERT_EQ(0, std::memcmp(order.data(), got.data(), 3 * kp + kp / 8)) << "k " << k << " " << DTypeName(w);
    }
  }
}
#endif

TEST(MatMulQuantTest, EveryPathMatchesTheReference) {
  const Case cases[] = {{1, 32, 1},   {7, 96, 1},    {13, 64, 2},    {5, 160, 3},   {33, 256, 5},
                        {64, 512, 9}, {40, 1024, 4}, {300, 2048, 1}, {96, 4096, 17}, {1100, 1024, 2}};
  for (MatMulPath path : AvailableMatMulPaths()) {
    for (DType to : kQuantDTypes) {
      for (const Case& c : cases) {
        for (int threads : {1, 2}) {
          SCOPED_TRACE(std::string(MatMulPathName(path)) + "/" + QuantMatMulKernelName(path) + " " +
                       std::string(DTypeName(to)) + " n=" + std::to_string(c.n) + " k=" + std::to_string(c.k) +
                       " t=" + std::to_string(c.t) + " threads=" + std::to_string(threads));
          std::mt19937 rng(static_cast<uint32_t>(c.n * 31 + c.k * 7 + c.t));
          QuantMatrix w(to, c.n, c.k, ScaledWeights(rng, c.n, c.k));
          const std::vector<float> x = RandomFloats(rng, c.t * c.k);
          std::vector<float> xq(x.size());
          for (int64_t j = 0; j < c.t; ++j) QuantizeActivationsLikeMatMul(&x[j * c.k], c.k, &xq[j * c.k]);
          std::vector<float> y(c.t * c.n, -1.f);
          MatMulWithPath(path, CpuContext{threads},
                         {.x = x.data(), .x_ld = c.k, .t = c.t, .w = w.view, .y = y.data(), .y_ld = c.n});
          EXPECT_TRUE(AllClose(y, Reference(w.view, xq, c.t), kMatMulQuantSameXTol));
          EXPECT_TRUE(AllClose(y, Reference(w.view, x, c.t), kMatMulQuantXTol));
        }
      }
    }
  }
}

// Each output has the same bits whatever the token count, the threads and a
// row gather; accumulate adds onto y.
TEST(MatMulQuantTest, BatchInvariantOnEveryPath) {
  const int64_t n = 70, k = 1024 + 32;
  for (MatMulPath path : AvailableMatMulPaths()) {
    for (DType to : kQuantDTypes) {
      SCOPED_TRACE(std::string(MatMulPathName(path)) + " " + std::string(DTypeName(to)));
      std::mt19937 rng(3);
      QuantMatrix w(to, n, k, ScaledWeights(rng, n, k));
      const int64_t max_t = 33;
      const std::vector<float> x = RandomFloats(rng, max_t * k);
      std::vector<float> alone(max_t * n);
      for (int64_t j = 0; j < max_t; ++j) {
        MatMulWithPath(path, CpuContext{1}, {.x = &x[j * k], .x_ld = k, .t = 1, .w = w.view, .y = &alone[j * n], .y_ld = n});
      }
      for (int64_t t : {2, 3, 4, 5, 8, 9, 17, 33}) {
        for (int threads : {1, 2}) {
          std::vector<float> y(t * n);
          MatMulWithPath(path, CpuContext{threads}, {.x = x.data(), .x_ld = k, .t = t, .w = w.view, .y = y.data(), .y_ld = n});
          for (int64_t i = 0; i < t * n; ++i) {
            ASSERT_EQ(y[i], alone[i]) << "t=" << t << " threads=" << threads << " token " << i / n << " row " << i % n;
          }
        }
      }
      const std::vector<int32_t> ids = {69, 3, 0, 41};
      std::vector<float> g(3 * n, 5.f);
      MatMulWithPath(path, CpuContext{1}, {.x = x.data(), .x_ld = k, .t = 3, .w = w.view, .y = g.data(), .y_ld = n,
                                           .row_ids = ids.data(), .num_row_ids = 4});
      for (int64_t j = 0; j < 3; ++j) {
        for (int32_t id : ids) EXPECT_EQ(g[j * n + id], alone[j * n + id]);
        EXPECT_EQ(g[j * n + 1], 5.f);
      }
      std::vector<float> acc(2 * n, 1.f);
      MatMulWithPath(path, CpuContext{1}, {.x = x.data(), .x_ld = k, .t = 2, .w = w.view, .y = acc.data(), .y_ld = n,
                                           .accumulate = true});
      for (int64_t i = 0; i < 2 * n; ++i) EXPECT_EQ(acc[i], 1.f + alone[i]);
    }
  }
}

// A MatFormer slice of a quantized matrix (first f rows; first f columns with
// the full leading dimension) gives the bits of the physically cut matrix.
TEST(MatMulQuantTest, SlicesAreViewsOfTheQuantizedMatrix) {
  const int64_t n = 96, k = 512, f = 160, t = 4;
  for (MatMulPath path : AvailableMatMulPaths()) {
    for (DType to : kQuantDTypes) {
      SCOPED_TRACE(std::string(MatMulPathName(path)) + " " + std::string(DTypeName(to)));
      std::mt19937 rng(11);
      const std::vector<float> full = ScaledWeights(rng, n, k);
      QuantMatrix wq(to, n, k, full);
      std::vector<float> cut(n * f);
      for (int64_t r = 0; r < n; ++r) std::copy(&full[r * k], &full[r * k] + f, &cut[r * f]);
      QuantMatrix wcut(to, n, f, cut);
      const std::vector<float> x = RandomFloats(rng, t * k);
      std::vector<float> a(t * n), b(t * n);
      MatMulWithPath(path, CpuContext{2}, {.x = x.data(), .x_ld = k, .t = t, .w = wq.view.FirstCols(f), .y = a.data(), .y_ld = n});
      MatMulWithPath(path, CpuContext{2}, {.x = x.data(), .x_ld = k, .t = t, .w = wcut.view, .y = b.data(), .y_ld = n});
      EXPECT_EQ(a, b);
      std::vector<float> rows(t * 64);
      MatMulWithPath(path, CpuContext{1}, {.x = x.data(), .x_ld = k, .t = t, .w = wq.view.FirstRows(64), .y = rows.data(), .y_ld = 64});
      std::vector<float> all(t * n);
      MatMulWithPath(path, CpuContext{1}, {.x = x.data(), .x_ld = k, .t = t, .w = wq.view, .y = all.data(), .y_ld = n});
      for (int64_t j = 0; j < t; ++j)
        for (int64_t i = 0; i < 64; ++i) EXPECT_EQ(rows[j * 64 + i], all[j * n + i]);
    }
  }
}

}  // namespace
}  // namespace matspec
