// ApplyRope against f64 evaluations of the rotate_half formula:
//  - with the angle formed as the kernel documents (f32 inv_freq, f32 product,
//    as Hugging Face does), tight tolerance, at positions up to 100k;
//  - with the exact f64 angle, at small positions (the f32 angle rounding is
//    the only difference and grows with the position);
// head dims from 2 to 300 (past the kernel's 128-pair chunk), several heads,
// row strides wider than the heads (padding untouched); position 0 is the
// identity; the rotation keeps each pair's norm.
#include "kernels/rope.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "tests/testing/kernel_checks.h"

namespace matspec {
namespace {

using ::matspec::testing::AllClose;
using ::matspec::testing::kRopeExactAngleTol;
using ::matspec::testing::kRopeTol;
using ::matspec::testing::RandomFloats;

double Angle(int64_t pos, int64_t i, int64_t d, double theta, bool f32_angle) {
  if (!f32_angle) return pos * std::pow(theta, -2.0 * i / d);
  const float inv_freq = static_cast<float>(
      1.0 / static_cast<float>(std::pow(theta, double(float(2 * i) / float(d)))));
  return static_cast<float>(pos) * inv_freq;  // f32 product
}

std::vector<double> Reference(const std::vector<float>& x, const std::vector<int64_t>& pos,
                              int64_t stride, int64_t heads, int64_t d, double theta, bool f32_angle) {
  std::vector<double> out(x.begin(), x.end());
  for (size_t j = 0; j < pos.size(); ++j) {
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t base = j * stride + h * d;
      for (int64_t i = 0; i < d / 2; ++i) {
        const double a = Angle(pos[j], i, d, theta, f32_angle);
        const double lo = x[base + i], hi = x[base + i + d / 2];
        out[base + i] = lo * std::cos(a) - hi * std::sin(a);
        out[base + i + d / 2] = hi * std::cos(a) + lo * std::sin(a);
      }
    }
  }
  return out;
}

struct Shape {
  int64_t heads, d;
};

void RunCase(const Shape& s, const std::vector<int64_t>& pos, double theta, bool f32_angle) {
  SCOPED_TRACE("heads=" + std::to_string(s.heads) + " d=" + std::to_string(s.d) + " theta=" +
               std::to_string(theta) + (f32_angle ? " f32-angle" : " exact-angle"));
  std::mt19937 rng(static_cast<uint32_t>(s.d * 31 + s.heads));
  const int64_t stride = s.heads * s.d + 3;
  std::vector<float> x = RandomFloats(rng, static_cast<int64_t>(pos.size()) * stride);
  const std::vector<double> want = Reference(x, pos, stride, s.heads, s.d, theta, f32_angle);
  RopeParams p{x.data(), stride, static_cast<int64_t>(pos.size()), s.heads, s.d, pos.data(), theta};
  ApplyRope(p);
  // Padding is copied unchanged into `want`, so comparing all of x checks it too.
  EXPECT_TRUE(AllClose(x, want, f32_angle ? kRopeTol : kRopeExactAngleTol));
}

const Shape kShapes[] = {{1, 2}, {3, 6}, {2, 34}, {4, 64}, {2, 130}, {1, 258}, {2, 300}};

TEST(RopeTest, MatchesReferenceWithF32Angle) {
  const std::vector<int64_t> pos = {0, 1, 2, 17, 61, 130, 4095, 100000};
  for (const Shape& s : kShapes) {
    for (double theta : {10000.0, 500000.0}) RunCase(s, pos, theta, true);
  }
}

TEST(RopeTest, MatchesExactAngleAtSmallPositions) {
  const std::vector<int64_t> pos = {0, 1, 5, 31, 63};
  for (const Shape& s : kShapes) RunCase(s, pos, 10000.0, false);
}

TEST(RopeTest, PositionZeroIsIdentityAndNormsArePreserved) {
  std::mt19937 rng(5);
  const int64_t heads = 2, d = 18, t = 2;
  std::vector<float> x = RandomFloats(rng, t * heads * d);
  const std::vector<float> before = x;
  const std::vector<int64_t> pos = {0, 1234};
  ApplyRope({x.data(), heads * d, t, heads, d, pos.data(), 10000.0});
  for (int64_t i = 0; i < heads * d; ++i) EXPECT_EQ(x[i], before[i]);
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < d / 2; ++i) {
      const int64_t lo = heads * d + h * d + i, hi = lo + d / 2;
      EXPECT_NEAR(std::hypot(x[lo], x[hi]), std::hypot(before[lo], before[hi]), 1e-6);
    }
  }
}

}  // namespace
}  // namespace matspec
