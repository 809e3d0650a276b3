// RmsNorm against an f64 evaluation of the header's formula: every weight
// dtype, weight_offset 0 and 1, no weight, out aliasing x, several rows, dims
// that are not multiples of a SIMD width; plus exact values on a constant row.
#include "kernels/rms_norm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "tests/testing/kernel_checks.h"

namespace matspec {
namespace {

using ::matspec::testing::AllClose;
using ::matspec::testing::kAllDTypes;
using ::matspec::testing::kRmsNormTol;
using ::matspec::testing::RandomFloats;
using ::matspec::testing::WeightBuffer;

std::vector<double> Reference(const std::vector<float>& x, const VectorView& w, float offset,
                              double eps, int64_t rows, int64_t dim) {
  std::vector<double> out(rows * dim);
  for (int64_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (int64_t i = 0; i < dim; ++i) ss += double(x[r * dim + i]) * x[r * dim + i];
    const double inv = 1.0 / std::sqrt(ss / dim + eps);
    for (int64_t i = 0; i < dim; ++i) {
      const double scale = w.data ? double(w.At(i)) + offset : 1.0;
      out[r * dim + i] = x[r * dim + i] * inv * scale;
    }
  }
  return out;
}

TEST(RmsNormTest, MatchesReference) {
  for (DType dtype : kAllDTypes) {
    for (int64_t dim : {1, 3, 17, 61, 130}) {
      for (float offset : {0.f, 1.f}) {
        for (bool with_weight : {true, false}) {
          for (bool in_place : {false, true}) {
            SCOPED_TRACE(std::string(DTypeName(dtype)) + " dim=" + std::to_string(dim) +
                         " offset=" + std::to_string(offset) + (with_weight ? "" : " no-weight") +
                         (in_place ? " in-place" : ""));
            std::mt19937 rng(static_cast<uint32_t>(dim + 100 * int(dtype)));
            const int64_t rows = 5;
            std::vector<float> x = RandomFloats(rng, rows * dim, -3.f, 3.f);
            WeightBuffer w(dtype, 1, dim, 1, dim, RandomFloats(rng, dim, -2.f, 2.f));
            VectorView wv{with_weight ? w.view().data : nullptr, dtype, dim};
            const float eps = 1e-5f;
            const std::vector<double> want = Reference(x, wv, offset, eps, rows, dim);

            std::vector<float> out(rows * dim, 0.f);
            RmsNormParams p{x.data(), wv, offset, eps, rows, dim, in_place ? x.data() : out.data()};
            RmsNorm(p);
            EXPECT_TRUE(AllClose(in_place ? x : out, want, kRmsNormTol));
          }
        }
      }
    }
  }
}

TEST(RmsNormTest, ConstantRowHasUnitRms) {
  std::vector<float> x(8, -3.f), out(8);
  RmsNormParams p{x.data(), VectorView{}, 0.f, 0.f, 1, 8, out.data()};
  RmsNorm(p);
  for (float v : out) EXPECT_FLOAT_EQ(v, -1.f);
}

}  // namespace
}  // namespace matspec
