// MatMulCuda against the CPU MatMul on sliced weight views: the view keeps the
// first n rows and k columns of a larger matrix (rows ld > k apart), every
// element outside it is NaN, so any read past the slice poisons the output.
// x rows have NaN padding too, y rows have padding that must stay untouched.
//
// Two comparisons per case: (1) against the CPU fed x rounded to the weight
// dtype, which isolates cuBLAS's summation order (tight); (2) against the CPU
// on the f32 x, which adds the bf16 / f16 rounding of the activations that the
// GPU path makes (see kernels/cuda/matmul_cuda.h). With 16-bit weights and
// t <= 16 these views (ld = k + 9) take the warp-per-row kernel on the f32 x:
// one comparison against the CPU on the f32 x at the skinny kernel's tolerance.
#include "kernels/matmul.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "kernels/cuda/matmul_cuda.h"
#include "kernels/cuda/skinny_matmul_cuda.h"
#include "tests/cuda/cuda_test_util.h"

namespace matspec {
namespace {

using cuda_test::CudaTest;
using MatMulCudaTest = CudaTest;

float RoundTo(DType dtype, float v) {
  switch (dtype) {
    case DType::kF32:
      return v;
    case DType::kBF16:
      return Bf16ToF32(F32ToBf16(v));
    case DType::kF16:
      return F16ToF32(F32ToF16(v));
    default:  // quantized weights are not rounded to a float type here
      return v;
  }
}

TEST_F(MatMulCudaTest, SlicedViewsMatchCpu) {
  std::mt19937 rng(19);
  const CpuContext cpu_ctx{2};
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (DType dtype : testing::kAllDTypes) {
    for (int64_t n : {1, 3, 17, 61, 130, 1000}) {
      for (int64_t k : {1, 3, 17, 61, 130, 1000}) {
        const int64_t storage_rows = n + 2, ld = k + 9;
        std::vector<float> values = cuda_test::RandomFloats(n * k, rng());
        const float inv_sqrt_k = 1.f / std::sqrt(static_cast<float>(k));
        for (float& v : values) v *= inv_sqrt_k;
        testing::WeightBuffer w(dtype, storage_rows, ld, n, k, values);
        cuda_test::DeviceMatrix dev_w = cuda_test::ToDevice(w, storage_rows);

        for (int64_t t : {1, 2, 5, 9, 17}) {
          for (bool accumulate : {false, true}) {
            const int64_t x_ld = k + 3, y_ld = n + 4;
            std::vector<float> x = cuda_test::RandomFloats(t * x_ld, rng());
            std::vector<float> x_rounded(x.size());
            for (size_t i = 0; i < x.size(); ++i) {
              if (static_cast<int64_t>(i) % x_ld >= k) x[i] = nan;  // padding: never read
              x_rounded[i] = RoundTo(dtype, x[i]);
            }
            const std::vector<float> y0 = cuda_test::RandomFloats(t * y_ld, rng());

            MatMulParams p;
            p.x_ld = x_ld;
            p.t = t;
            p.w = w.view();
            p.y_ld = y_ld;
            p.accumulate = accumulate;
            std::vector<float> want_same_x = y0, want_f32_x = y0;
            p.x = x_rounded.data();
            p.y = want_same_x.data();
            MatMul(cpu_ctx, p);
            p.x = x.data();
            p.y = want_f32_x.data();
            MatMul(cpu_ctx, p);

            DeviceBuffer dev_x = cuda_test::ToDevice(x);
            DeviceBuffer dev_y = cuda_test::ToDevice(y0);
            Reserve(MatMulCudaWorkspaceBytes(t, k, dtype));
            MatMulParams g = p;
            g.x = dev_x.As<float>();
            g.y = dev_y.As<float>();
            g.w = dev_w.view;
            const absl::Status s = MatMulCuda(*ctx_, g, ctx_->workspace(), stream());
            ASSERT_TRUE(s.ok()) << s;
            const std::vector<float> got = cuda_test::FromDevice<float>(dev_y.data(), t * y_ld);

            const char* name = cuda_test::Name(dtype);
            if (dtype != DType::kF32 && t <= kSkinnyMatMulMaxRows) {
              // These views (ld = k + 9) are not the skinny kernel's: the
              // warp-per-row kernel multiplies the f32 x, no rounding.
              ASSERT_TRUE(cuda_test::AllClose(got, want_f32_x, cuda_test::kCudaSkinnyMatMulTol))
                  << name << " f32-x rows kernel n " << n << " k " << k << " t " << t
                  << (accumulate ? " accumulate" : "");
              continue;
            }
            const testing::Tolerance same_tol =
                dtype == DType::kF32 ? cuda_test::kCudaMatMulF32Tol : cuda_test::kCudaMatMulSameXTol;
            ASSERT_TRUE(cuda_test::AllClose(got, want_same_x, same_tol))
                << name << " same-x n " << n << " k " << k << " t " << t << (accumulate ? " accumulate" : "");
            const testing::Tolerance f32_tol = dtype == DType::kF32   ? cuda_test::kCudaMatMulF32Tol
                                               : dtype == DType::kF16 ? cuda_test::kCudaMatMulF16Tol
                                                                      : cuda_test::kCudaMatMulBf16Tol;
            ASSERT_TRUE(cuda_test::AllClose(got, want_f32_x, f32_tol))
                << name << " f32-x n " << n << " k " << k << " t " << t << (accumulate ? " accumulate" : "");
          }
        }
      }
    }
  }
}

// A width-f FFN slice exactly as the draft reads it: gate/up keep their first f
// rows, down keeps its first f columns with ld = the full width F.
TEST_F(MatMulCudaTest, FfnSliceThroughLeadingDimension) {
  const int64_t hidden = 61, full = 1000, f = 250, t = 5;
  const CpuContext cpu_ctx{2};
  std::vector<float> up_values = cuda_test::RandomFloats(full * hidden, 3, -0.1f, 0.1f);
  std::vector<float> down_values = cuda_test::RandomFloats(hidden * full, 4, -0.05f, 0.05f);
  testing::WeightBuffer up(DType::kBF16, full, hidden, full, hidden, up_values);
  testing::WeightBuffer down(DType::kBF16, hidden, full, hidden, full, down_values);
  cuda_test::DeviceMatrix dev_up = cuda_test::ToDevice(up, full);
  cuda_test::DeviceMatrix dev_down = cuda_test::ToDevice(down, hidden);

  const std::vector<float> x = cuda_test::RandomFloats(t * hidden, 5);
  std::vector<float> h(t * f), y(t * hidden);
  MatMulParams p1{x.data(), hidden, t, up.view().FirstRows(f), h.data(), f, false};
  MatMul(cpu_ctx, p1);
  MatMulParams p2{h.data(), f, t, down.view().FirstCols(f), y.data(), hidden, false};
  MatMul(cpu_ctx, p2);

  DeviceBuffer dev_x = cuda_test::ToDevice(x);
  DeviceBuffer dev_h = cuda_test::ToDevice(std::vector<float>(t * f));
  DeviceBuffer dev_y = cuda_test::ToDevice(std::vector<float>(t * hidden));
  Reserve(MatMulCudaWorkspaceBytes(t, full, DType::kBF16));
  MatMulParams g1{dev_x.As<float>(), hidden, t, dev_up.view.FirstRows(f), dev_h.As<float>(), f, false};
  MatMulParams g2{dev_h.As<float>(), f, t, dev_down.view.FirstCols(f), dev_y.As<float>(), hidden, false};
  EXPECT_EQ(g2.w.ld, full);
  ASSERT_TRUE(MatMulCuda(*ctx_, g1, ctx_->workspace(), stream()).ok());
  ASSERT_TRUE(MatMulCuda(*ctx_, g2, ctx_->workspace(), stream()).ok());
  EXPECT_TRUE(cuda_test::AllClose(cuda_test::FromDevice<float>(dev_y.data(), t * hidden), y,
                                  cuda_test::kCudaMatMulBf16Tol));
}

// The skinny kernel (t <= 16, 16-bit weights, aligned): f32 x like the CPU, so
// it must match the CPU on the unrounded x, for every t it covers, with k
// tails that are not multiples of 8, row counts that are not multiples of 4,
// NaN padding that must never be read, and an FFN slice read through ld.
TEST_F(MatMulCudaTest, SkinnyKernelMatchesCpuOnF32Activations) {
  const CpuContext cpu_ctx{2};
  std::mt19937 rng(99);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (DType dtype : {DType::kBF16, DType::kF16}) {
    for (int64_t n : {1, 3, 5, 130, 1001}) {
      for (int64_t k : {5, 8, 13, 64, 250, 3075}) {
        const int64_t ld = (k + 7) / 8 * 8 + 8;  // aligned rows with NaN padding after column k
        std::vector<float> values = cuda_test::RandomFloats(n * k, rng(), -1.f, 1.f);
        for (float& v : values) v /= std::sqrt(static_cast<float>(k));
        testing::WeightBuffer w(dtype, n + 1, ld, n, k, values);
        cuda_test::DeviceMatrix dev_w = cuda_test::ToDevice(w, n + 1);
        for (int64_t t = 1; t <= kSkinnyMatMulMaxRows; t += (t < 4 ? 1 : 5)) {
          const bool accumulate = (t + n) % 2 == 0;
          const int64_t x_ld = (k + 3) / 4 * 4 + 4, y_ld = n + 3;
          std::vector<float> x = cuda_test::RandomFloats(t * x_ld, rng());
          for (size_t i = 0; i < x.size(); ++i) {
            if (static_cast<int64_t>(i) % x_ld >= k) x[i] = nan;
          }
          const std::vector<float> y0 = cuda_test::RandomFloats(t * y_ld, rng());
          std::vector<float> want = y0;
          MatMulParams p{x.data(), x_ld, t, w.view(), want.data(), y_ld, accumulate};
          MatMul(cpu_ctx, p);
          DeviceBuffer dev_x = cuda_test::ToDevice(x);
          DeviceBuffer dev_y = cuda_test::ToDevice(y0);
          MatMulParams g{dev_x.As<float>(), x_ld, t, dev_w.view, dev_y.As<float>(), y_ld, accumulate};
          ASSERT_TRUE(SkinnyMatMulCudaApplies(g)) << "n " << n << " k " << k << " t " << t;
          ASSERT_TRUE(MatMulCuda(*ctx_, g, CudaWorkspace{}, stream()).ok());  // needs no workspace
          const std::vector<float> got = cuda_test::FromDevice<float>(dev_y.data(), t * y_ld);
          for (int64_t j = 0; j < t; ++j) {
            for (int64_t c = n; c < y_ld; ++c) ASSERT_EQ(got[j * y_ld + c], y0[j * y_ld + c]) << "y padding written";
          }
          ASSERT_TRUE(cuda_test::AllClose(got, want, cuda_test::kCudaSkinnyMatMulTol))
              << cuda_test::Name(dtype) << " n " << n << " k " << k << " t " << t;
        }
      }
    }
  }
  // An FFN down projection slice: the first 250 of 1000 columns, ld = 1000.
  const int64_t hidden = 64, full = 1000, f = 250, t = 3;
  testing::WeightBuffer down(DType::kBF16, hidden, full, hidden, full,
                             cuda_test::RandomFloats(hidden * full, 4, -0.05f, 0.05f));
  cuda_test::DeviceMatrix dev_down = cuda_test::ToDevice(down, hidden);
  const std::vector<float> h = cuda_test::RandomFloats(t * 252, 5);
  std::vector<float> want(t * hidden);
  MatMul(cpu_ctx, MatMulParams{h.data(), 252, t, down.view().FirstCols(f), want.data(), hidden, false});
  DeviceBuffer dev_h = cuda_test::ToDevice(h);
  DeviceBuffer dev_y = cuda_test::ToDevice(std::vector<float>(t * hidden));
  MatMulParams g{dev_h.As<float>(), 252, t, dev_down.view.FirstCols(f), dev_y.As<float>(), hidden, false};
  ASSERT_TRUE(SkinnyMatMulCudaApplies(g));
  ASSERT_TRUE(SkinnyMatMulCuda(g, stream()).ok());
  EXPECT_TRUE(cuda_test::AllClose(cuda_test::FromDevice<float>(dev_y.data(), t * hidden), want,
                                  cuda_test::kCudaSkinnyMatMulTol));
}

// A row gather through both GPU paths (the skinny kernel for aligned 16-bit
// weights, the warp-per-row kernel for f32 weights and t > 16): the listed
// columns match the CPU gather, the others keep their values.
TEST_F(MatMulCudaTest, RowGatherMatchesCpu) {
  const CpuContext cpu_ctx{2};
  std::mt19937 rng(5);
  const std::vector<int32_t> ids = {0, 2, 3, 4, 9, 100, 511, 1000, 1002};
  DeviceBuffer dev_ids = cuda_test::ToDevice(ids);
  for (DType dtype : {DType::kBF16, DType::kF32}) {
    for (int64_t t : {1, 3, 17}) {
      const int64_t n = 1003, k = 136, ld = 144;
      testing::WeightBuffer w(dtype, n, ld, n, k, cuda_test::RandomFloats(n * k, rng(), -0.1f, 0.1f));
      cuda_test::DeviceMatrix dev_w = cuda_test::ToDevice(w, n);
      const std::vector<float> x = cuda_test::RandomFloats(t * k, rng());
      const std::vector<float> y0(t * n, -3.f);
      std::vector<float> want = y0;
      MatMulParams p{x.data(), k, t, w.view(), want.data(), n, false};
      p.row_ids = ids.data();
      p.num_row_ids = static_cast<int64_t>(ids.size());
      MatMul(cpu_ctx, p);
      DeviceBuffer dev_x = cuda_test::ToDevice(x);
      DeviceBuffer dev_y = cuda_test::ToDevice(y0);
      MatMulParams g{dev_x.As<float>(), k, t, dev_w.view, dev_y.As<float>(), n, false};
      g.row_ids = dev_ids.As<int32_t>();
      g.num_row_ids = p.num_row_ids;
      const absl::Status s = MatMulCuda(*ctx_, g, CudaWorkspace{}, stream());  // a gather needs no workspace
      ASSERT_TRUE(s.ok()) << s;
      const std::vector<float> got = cuda_test::FromDevice<float>(dev_y.data(), t * n);
      for (int64_t i = 0; i < t * n; ++i) {
        if (want[i] == -3.f) {
          ASSERT_EQ(got[i], -3.f) << "column " << i % n << " written";
        }
      }
      ASSERT_TRUE(cuda_test::AllClose(got, want, cuda_test::kCudaSkinnyMatMulTol))
          << cuda_test::Name(dtype) << " t " << t;
    }
  }
}

TEST_F(MatMulCudaTest, EmptySumWritesZerosOrKeepsY) {
  testing::WeightBuffer w(DType::kBF16, 3, 4, 3, 0, {});
  cuda_test::DeviceMatrix dev_w = cuda_test::ToDevice(w, 3);
  DeviceBuffer dev_x = cuda_test::ToDevice(std::vector<float>(2, 1.f));
  const std::vector<float> y0 = {1, 2, 3, 4, 5, 6, 7, 8};  // t = 2, y_ld = 4, n = 3
  for (bool accumulate : {false, true}) {
    DeviceBuffer dev_y = cuda_test::ToDevice(y0);
    MatMulParams g{dev_x.As<float>(), 1, 2, dev_w.view, dev_y.As<float>(), 4, accumulate};
    ASSERT_TRUE(MatMulCuda(*ctx_, g, ctx_->workspace(), stream()).ok());
    const std::vector<float> got = cuda_test::FromDevice<float>(dev_y.data(), 8);
    const std::vector<float> want = accumulate ? y0 : std::vector<float>{0, 0, 0, 4, 0, 0, 0, 8};
    EXPECT_EQ(got, want) << (accumulate ? "accumulate" : "store");
  }
}

TEST_F(MatMulCudaTest, RejectsHostWeightsAndSmallWorkspace) {
  // 17 rows: past the f32-x kernels, so cuBLAS needs the converted x in the workspace.
  constexpr int64_t kT = kSkinnyMatMulMaxRows + 1;
  testing::WeightBuffer w(DType::kBF16, 4, 4, 4, 4, cuda_test::RandomFloats(16, 1));
  cuda_test::DeviceMatrix dev_w = cuda_test::ToDevice(w, 4);
  DeviceBuffer dev_x = cuda_test::ToDevice(std::vector<float>(4 * kT, 1.f));
  DeviceBuffer dev_y = cuda_test::ToDevice(std::vector<float>(4 * kT));
  MatMulParams g{dev_x.As<float>(), 4, kT, w.view(), dev_y.As<float>(), 4, false};
  EXPECT_EQ(MatMulCuda(*ctx_, g, ctx_->workspace(), stream()).code(), absl::StatusCode::kInvalidArgument);
  g.w = dev_w.view;
  EXPECT_EQ(MatMulCuda(*ctx_, g, CudaWorkspace{}, stream()).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace matspec
