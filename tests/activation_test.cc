// GatedActivation (SiLU, tanh-GELU) and AddInPlace against f64 evaluations of
// their formulas, with row strides wider than n (the padding must stay
// untouched), out aliasing gate, and known values.
#include "kernels/activation.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "tests/testing/kernel_checks.h"

namespace matspec {
namespace {

using ::matspec::testing::AllClose;
using ::matspec::testing::kActivationTol;
using ::matspec::testing::RandomFloats;

double RefAct(Activation act, double g) {
  if (act == Activation::kSilu) return g / (1.0 + std::exp(-g));
  return 0.5 * g * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (g + 0.044715 * g * g * g)));
}

TEST(ActivationTest, GatedMatchesReference) {
  for (Activation act : {Activation::kSilu, Activation::kGeluTanh}) {
    for (int64_t n : {1, 3, 17, 61, 130}) {
      for (bool in_place : {false, true}) {
        SCOPED_TRACE("act=" + std::to_string(int(act)) + " n=" + std::to_string(n) +
                     (in_place ? " in-place" : ""));
        std::mt19937 rng(static_cast<uint32_t>(n));
        const int64_t rows = 3, stride = n + 5;
        std::vector<float> gate = RandomFloats(rng, rows * stride, -8.f, 8.f);
        std::vector<float> up = RandomFloats(rng, rows * stride, -2.f, 2.f);
        std::vector<float> out(rows * stride, 99.f);
        std::vector<float> before = in_place ? gate : out;

        std::vector<double> want;
        for (int64_t r = 0; r < rows; ++r) {
          for (int64_t i = 0; i < n; ++i) {
            want.push_back(RefAct(act, gate[r * stride + i]) * up[r * stride + i]);
          }
        }
        float* dst = in_place ? gate.data() : out.data();
        GatedActivation({act, gate.data(), up.data(), dst, rows, n, stride});
        const std::vector<float>& result = in_place ? gate : out;

        std::vector<float> used;
        for (int64_t r = 0; r < rows; ++r) {
          for (int64_t i = 0; i < stride; ++i) {
            if (i < n) {
              used.push_back(result[r * stride + i]);
            } else {
              EXPECT_EQ(result[r * stride + i], before[r * stride + i]) << "padding written";
            }
          }
        }
        EXPECT_TRUE(AllClose(used, want, kActivationTol));
      }
    }
  }
}

TEST(ActivationTest, KnownValues) {
  std::vector<float> gate = {0.f, 1.f, -1.f, 30.f, -30.f}, up(5, 1.f), out(5);
  GatedActivation({Activation::kSilu, gate.data(), up.data(), out.data(), 1, 5, 5});
  EXPECT_EQ(out[0], 0.f);
  EXPECT_NEAR(out[1], 0.7310585786, 1e-7);
  EXPECT_NEAR(out[2], -0.2689414214, 1e-7);
  EXPECT_NEAR(out[3], 30.f, 1e-5);
  EXPECT_NEAR(out[4], 0.f, 1e-11);
  GatedActivation({Activation::kGeluTanh, gate.data(), up.data(), out.data(), 1, 5, 5});
  EXPECT_EQ(out[0], 0.f);
  EXPECT_NEAR(out[1], 0.8411919906, 1e-7);
  EXPECT_NEAR(out[2], -0.1588080094, 1e-7);
  EXPECT_EQ(out[3], 30.f);
  EXPECT_EQ(out[4], 0.f);
}

TEST(ActivationTest, AddInPlace) {
  std::mt19937 rng(3);
  for (int64_t n : {1, 3, 17, 61, 130}) {
    std::vector<float> x = RandomFloats(rng, n + 1), y = RandomFloats(rng, n + 1);
    std::vector<float> want = x;
    for (int64_t i = 0; i < n; ++i) want[i] = x[i] + y[i];
    AddInPlace(x.data(), y.data(), n);
    EXPECT_EQ(x, want);  // one f32 addition each: exact; element n untouched
  }
}

}  // namespace
}  // namespace matspec
