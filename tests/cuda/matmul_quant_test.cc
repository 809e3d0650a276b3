// MatMulCuda with block-quantized weights (q8, q4; QuantMatMulCuda) against the
// CPU scalar reference (MatMulReference: the same stored weights dequantized,
// the f32 x, f64 sums) at kCudaQuantMatMulTol, for every t in 1..17 and 33,
// with accumulate, on slices: the view keeps the first n rows and the first k
// columns (a prefix of the input blocks, as a MatFormer down projection) of a
// larger quantized matrix whose other elements are large, so reading past the
// slice shows; x padding is NaN, y padding must stay untouched. Then bit-for-
// bit batch invariance (a row has the same bits whatever t is and wherever it
// sits), a row gather (the listed columns bit-equal to the full product, the
// others untouched) and the refusals. Skips without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "kernels/cuda/matmul_cuda.h"
#include "kernels/cuda/quant_matmul_cuda.h"
#include "kernels/matmul.h"
#include "kernels/quantize.h"
#include "tests/cuda/cuda_test_util.h"

namespace matspec {
namespace {

using cuda_test::CudaTest;
using QuantMatMulCudaTest = CudaTest;

constexpr DType kQuantDTypes[] = {DType::kQ8, DType::kQ4};

// A [storage_rows, ld] quantized matrix on the host and the GPU; view() is its
// [n, k] corner (FirstRows(n).FirstCols(k)). Values inside the corner are
// uniform(-1, 1) / sqrt(k); outside it they are 100, so a read past the
// slice moves the output far beyond the tolerance.
struct QuantSlice {
  QuantSlice(DType dtype, int64_t storage_rows, int64_t ld, int64_t n, int64_t k, uint32_t seed)
      : values(storage_rows * DTypeRowBytes(dtype, ld)), scales(storage_rows * ld / kQuantBlock) {
    std::mt19937 rng(seed);
    std::vector<float> f = ::matspec::testing::RandomFloats(rng, storage_rows * ld);
    for (int64_t r = 0; r < storage_rows; ++r) {
      for (int64_t c = 0; c < ld; ++c) {
        float& v = f[r * ld + c];
        v = (r < n && c < k) ? v / std::sqrt(static_cast<float>(k)) : 100.f;
      }
    }
    const MatrixView src{f.data(), DType::kF32, storage_rows, ld, ld};
    const absl::Status s = QuantizeMatrix(src, dtype, "test", 2, values.data(), scales.data());
    EXPECT_TRUE(s.ok()) << s;
    host = QuantizedView(dtype, storage_rows, ld, values.data(), scales.data()).FirstRows(n).FirstCols(k);
    dev_values = cuda_test::ToDevice(values);
    dev_scales = cuda_test::ToDevice(scales);
    dev = host;
    dev.data = dev_values.data();
    dev.scales = dev_scales.As<uint16_t>();
    dev.device = Device::kCuda;
  }
  std::vector<uint8_t> values;
  std::vector<uint16_t> scales;
  MatrixView host, dev;
  DeviceBuffer dev_values, dev_scales;
};

// MatMulCuda on device copies of x and y0; returns y.
std::vector<float> RunGpu(CudaContext& ctx, const MatrixView& w, const std::vector<float>& x, int64_t x_ld,
                          int64_t t, const std::vector<float>& y0, int64_t y_ld, bool accumulate,
                          const int32_t* dev_ids = nullptr, int64_t num_ids = 0) {
  DeviceBuffer dev_x = cuda_test::ToDevice(x);
  DeviceBuffer dev_y = cuda_test::ToDevice(y0);
  MatMulParams g{dev_x.As<float>(), x_ld, t, w, dev_y.As<float>(), y_ld, accumulate};
  g.row_ids = dev_ids;
  g.num_row_ids = num_ids;
  const absl::Status s = MatMulCuda(ctx, g, CudaWorkspace{}, ctx.stream());  // quantized: no workspace
  EXPECT_TRUE(s.ok()) << s;
  return cuda_test::FromDevice<float>(dev_y.data(), y0.size());
}

TEST_F(QuantMatMulCudaTest, SlicesMatchCpuReferenceForEveryT) {
  std::mt19937 rng(23);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (DType dtype : kQuantDTypes) {
    for (int64_t n : {1, 61, 1001}) {
      for (int64_t k : {32, 224, 3104}) {
        const int64_t ld = k + 64;  // two blocks past the slice
        QuantSlice w(dtype, n + 3, ld, n, k, rng());
        for (int64_t t = 1; t <= 34; t = t < 17 ? t + 1 : t + 16) {
          const bool accumulate = (t + n) % 2 == 1;
          const int64_t x_ld = k + 5, y_ld = n + 3;
          std::vector<float> x = cuda_test::RandomFloats(t * x_ld, rng());
          for (size_t i = 0; i < x.size(); ++i) {
            if (static_cast<int64_t>(i) % x_ld >= k) x[i] = nan;  // padding: never read
          }
          const std::vector<float> y0 = cuda_test::RandomFloats(t * y_ld, rng());
          std::vector<float> want = y0;
          MatMulReference(MatMulParams{x.data(), x_ld, t, w.host, want.data(), y_ld, accumulate});
          const std::vector<float> got = RunGpu(*ctx_, w.dev, x, x_ld, t, y0, y_ld, accumulate);
          for (int64_t j = 0; j < t; ++j) {
            for (int64_t c = n; c < y_ld; ++c) ASSERT_EQ(got[j * y_ld + c], y0[j * y_ld + c]) << "y padding written";
          }
          ASSERT_TRUE(cuda_test::AllClose(got, want, cuda_test::kCudaQuantMatMulTol))
              << DTypeName(dtype) << " n " << n << " k " << k << " t " << t << (accumulate ? " accumulate" : "");
        }
      }
    }
  }
}

// Each output row has the same bits whatever t is (1..17, 33: one tile, a
// partial second tile, three tiles) and wherever it sits among the t.
TEST_F(QuantMatMulCudaTest, RowsKeepTheirBitsWhateverT) {
  for (DType dtype : kQuantDTypes) {
    const int64_t n = 77, k = 352, ld = 384;
    QuantSlice w(dtype, n, ld, n, k, 41);
    const int64_t all = 33;
    const std::vector<float> x = cuda_test::RandomFloats(all * k, 42);
    const std::vector<float> full = RunGpu(*ctx_, w.dev, x, k, all, std::vector<float>(all * n), n, false);
    for (int64_t t = 1; t <= 17; ++t) {
      const std::vector<float> prefix(x.begin(), x.begin() + t * k);
      const std::vector<float> got = RunGpu(*ctx_, w.dev, prefix, k, t, std::vector<float>(t * n), n, false);
      for (int64_t i = 0; i < t * n; ++i) {
        ASSERT_EQ(got[i], full[i]) << DTypeName(dtype) << " t " << t << " row " << i / n << " col " << i % n;
      }
    }
    for (int64_t j = 0; j < all; ++j) {  // every row alone
      const std::vector<float> row(x.begin() + j * k, x.begin() + (j + 1) * k);
      const std::vector<float> got = RunGpu(*ctx_, w.dev, row, k, 1, std::vector<float>(n), n, false);
      for (int64_t c = 0; c < n; ++c) ASSERT_EQ(got[c], full[j * n + c]) << DTypeName(dtype) << " row " << j;
    }
  }
}

// A row gather (a draft's reduced-vocabulary head): the listed columns get the
// bits of the full product, the others keep their values; t = 3 and 17.
TEST_F(QuantMatMulCudaTest, RowGatherGivesTheFullProductsBits) {
  const std::vector<int32_t> ids = {0, 2, 3, 4, 9, 100, 511, 1000, 1002};
  DeviceBuffer dev_ids = cuda_test::ToDevice(ids);
  for (DType dtype : kQuantDTypes) {
    const int64_t n = 1003, k = 160, ld = 192;
    QuantSlice w(dtype, n, ld, n, k, 7);
    for (int64_t t : {3, 17}) {
      const std::vector<float> x = cuda_test::RandomFloats(t * k, 8);
      const std::vector<float> full = RunGpu(*ctx_, w.dev, x, k, t, std::vector<float>(t * n), n, false);
      const std::vector<float> y0(t * n, -3.f);
      const std::vector<float> got =
          RunGpu(*ctx_, w.dev, x, k, t, y0, n, false, dev_ids.As<int32_t>(), static_cast<int64_t>(ids.size()));
      std::vector<bool> listed(n, false);
      for (int32_t id : ids) listed[id] = true;
      for (int64_t i = 0; i < t * n; ++i) {
        if (listed[i % n]) {
          ASSERT_EQ(got[i], full[i]) << DTypeName(dtype) << " t " << t << " column " << i % n;
        } else {
          ASSERT_EQ(got[i], -3.f) << DTypeName(dtype) << " column " << i % n << " written";
        }
      }
    }
  }
}

TEST_F(QuantMatMulCudaTest, RefusesHostWeightsAndDenseWeights) {
  QuantSlice w(DType::kQ8, 4, 32, 4, 32, 1);
  DeviceBuffer dev_x = cuda_test::ToDevice(std::vector<float>(32, 1.f));
  DeviceBuffer dev_y = cuda_test::ToDevice(std::vector<float>(4));
  MatMulParams g{dev_x.As<float>(), 32, 1, w.host, dev_y.As<float>(), 4, false};
  EXPECT_EQ(MatMulCuda(*ctx_, g, CudaWorkspace{}, stream()).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(QuantMatMulCuda(g, stream()).code(), absl::StatusCode::kInvalidArgument);
  g.w = w.dev;
  g.w.scales = nullptr;  // a quantized view without its scales
  EXPECT_EQ(QuantMatMulCuda(g, stream()).code(), absl::StatusCode::kInvalidArgument);
  g.w = w.dev;
  g.w.dtype = DType::kBF16;
  EXPECT_EQ(QuantMatMulCuda(g, stream()).code(), absl::StatusCode::kInvalidArgument);
  g.w = w.dev;
  EXPECT_TRUE(QuantMatMulCuda(g, stream()).ok());
  EXPECT_EQ(MatMulCudaWorkspaceBytes(17, 4096, DType::kQ4), 0u);
}

}  // namespace
}  // namespace matspec
