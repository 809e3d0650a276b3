// The scalar dtype conversions every kernel, oracle and writer share:
// F16ToF32 is exact for all 65536 half values, F32ToF16 rounds to nearest even
// (normals, subnormals, overflow to infinity, NaN stays NaN), and F32ToBf16 /
// Bf16ToF32 agree with the same rules at bf16 precision.
#include "kernels/dtype.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>

#include "gtest/gtest.h"

namespace matspec {
namespace {

float FromBits(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

uint32_t ToBits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

// Independent definition of a half's value from its fields.
double HalfValue(uint16_t h) {
  const int sign = (h & 0x8000) ? -1 : 1;
  const int exp = (h >> 10) & 0x1f;
  const int mant = h & 0x3ff;
  if (exp == 0x1f) return mant ? std::numeric_limits<double>::quiet_NaN() : sign * INFINITY;
  if (exp == 0) return sign * std::ldexp(mant, -24);
  return sign * std::ldexp(1024 + mant, exp - 25);
}

TEST(DTypeTest, SizesAndNames) {
  EXPECT_EQ(DTypeSize(DType::kF32), 4);
  EXPECT_EQ(DTypeSize(DType::kF16), 2);
  EXPECT_EQ(DTypeSize(DType::kBF16), 2);
  EXPECT_EQ(DTypeName(DType::kF32), "F32");
  EXPECT_EQ(DTypeName(DType::kF16), "F16");
  EXPECT_EQ(DTypeName(DType::kBF16), "BF16");
}

TEST(DTypeTest, F16ToF32IsExactForEveryHalf) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = F16ToF32(static_cast<uint16_t>(h));
    const double want = HalfValue(static_cast<uint16_t>(h));
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(f)) << std::hex << h;
    } else {
      ASSERT_EQ(static_cast<double>(f), want) << std::hex << h;
      ASSERT_EQ(std::signbit(f), (h & 0x8000) != 0) << std::hex << h;
    }
  }
}

TEST(DTypeTest, F32ToF16RoundTripsEveryHalf) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const uint16_t back = F32ToF16(F16ToF32(static_cast<uint16_t>(h)));
    if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0) {
      EXPECT_EQ(back & 0x7c00, 0x7c00) << std::hex << h;  // NaN stays NaN
      EXPECT_NE(back & 0x3ff, 0) << std::hex << h;
      EXPECT_EQ(back & 0x8000, h & 0x8000) << std::hex << h;
    } else {
      ASSERT_EQ(back, h) << std::hex << h;
    }
  }
}

// Midpoints between neighbouring halves go to the even one; one f32 ulp either
// side goes to the nearer one. Covers subnormals, the subnormal/normal seam
// and binade boundaries.
TEST(DTypeTest, F32ToF16RoundsToNearestEvenAtEveryMidpoint) {
  for (uint32_t h = 0; h < 0x7bff; ++h) {  // positive finite halves with a finite successor
    const double lo = HalfValue(static_cast<uint16_t>(h));
    const double hi = HalfValue(static_cast<uint16_t>(h + 1));
    const float mid = static_cast<float>((lo + hi) / 2);  // exact: halves need 11 bits
    ASSERT_EQ(static_cast<double>(mid), (lo + hi) / 2);
    const uint16_t even = (h & 1) ? static_cast<uint16_t>(h + 1) : static_cast<uint16_t>(h);
    ASSERT_EQ(F32ToF16(mid), even) << std::hex << h;
    ASSERT_EQ(F32ToF16(-mid), even | 0x8000) << std::hex << h;
    ASSERT_EQ(F32ToF16(std::nextafter(mid, 0.f)), h) << std::hex << h;
    ASSERT_EQ(F32ToF16(std::nextafter(mid, INFINITY)), h + 1) << std::hex << h;
  }
}

TEST(DTypeTest, F32ToF16MatchesNearestHalfOnRandomInputs) {
  std::mt19937 gen(42);
  std::uniform_int_distribution<uint32_t> bits;
  for (int i = 0; i < 200000; ++i) {
    // Exponents around the half range: 2^-30 .. 2^17.
    const uint32_t b = (bits(gen) & 0x807fffffu) | ((97u + bits(gen) % 48u) << 23);
    const float f = FromBits(b);
    const uint16_t h = F32ToF16(f);
    const double got = HalfValue(h);
    if (std::fabs(f) >= 65520.0) {
      ASSERT_TRUE(std::isinf(got)) << f;
      continue;
    }
    // No half is nearer: check both neighbours of the result.
    const double err = std::fabs(got - f);
    const uint16_t mag = h & 0x7fff;
    if (mag > 0) {
      ASSERT_LE(err, std::fabs(HalfValue((h & 0x8000) | (mag - 1)) - f)) << f;
    }
    if (mag < 0x7bff) {
      ASSERT_LE(err, std::fabs(HalfValue((h & 0x8000) | (mag + 1)) - f)) << f;
    }
    ASSERT_EQ(std::signbit(got), std::signbit(f)) << f;
  }
}

TEST(DTypeTest, F32ToF16SpecialValues) {
  EXPECT_EQ(F32ToF16(0.f), 0x0000);
  EXPECT_EQ(F32ToF16(-0.f), 0x8000);
  EXPECT_EQ(F32ToF16(1.f), 0x3c00);
  EXPECT_EQ(F32ToF16(-2.f), 0xc000);
  EXPECT_EQ(F32ToF16(65504.f), 0x7bff);                       // largest half
  EXPECT_EQ(F32ToF16(std::nextafter(65520.f, 0.f)), 0x7bff);  // just below the tie
  EXPECT_EQ(F32ToF16(65520.f), 0x7c00);                       // tie goes to even: inf
  EXPECT_EQ(F32ToF16(1e10f), 0x7c00);
  EXPECT_EQ(F32ToF16(-1e10f), 0xfc00);
  EXPECT_EQ(F32ToF16(INFINITY), 0x7c00);
  EXPECT_EQ(F32ToF16(-INFINITY), 0xfc00);
  EXPECT_EQ(F32ToF16(0x1.0p-14f), 0x0400);  // smallest normal
  EXPECT_EQ(F32ToF16(0x1.0p-24f), 0x0001);  // smallest subnormal
  EXPECT_EQ(F32ToF16(0x1.0p-25f), 0x0000);  // tie to even: zero
  EXPECT_EQ(F32ToF16(std::nextafter(0x1.0p-25f, 1.f)), 0x0001);
  EXPECT_EQ(F32ToF16(0x1.8p-24f), 0x0002);                         // 1.5 ulp: tie to even 2
  EXPECT_EQ(F32ToF16(-0x1.0p-26f), 0x8000);                        // underflow keeps the sign
  EXPECT_EQ(F32ToF16(FromBits(0x00000001u)), 0x0000);              // f32 subnormal
  EXPECT_EQ(F32ToF16(0x1.ff8p-15f), 0x03ff);                       // largest subnormal
  EXPECT_EQ(F32ToF16(std::nextafter(0x1.ffcp-15f, 0.f)), 0x03ff);  // just below the tie
  EXPECT_EQ(F32ToF16(0x1.ffcp-15f), 0x0400);                       // tie rounds up into the normals
  const uint16_t nan = F32ToF16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(nan & 0x7c00, 0x7c00);
  EXPECT_NE(nan & 0x3ff, 0);
  const uint16_t snan = F32ToF16(FromBits(0x7f800001u));  // payload only in low bits: still NaN
  EXPECT_EQ(snan & 0x7c00, 0x7c00);
  EXPECT_NE(snan & 0x3ff, 0);
}

TEST(DTypeTest, Bf16RoundsToNearestEven) {
  EXPECT_EQ(F32ToBf16(1.f), 0x3f80);
  EXPECT_EQ(Bf16ToF32(0x3f80), 1.f);
  // 1 + 2^-8 is the midpoint between 1 and 1 + 2^-7: goes to even (1).
  EXPECT_EQ(F32ToBf16(1.f + 0x1.0p-8f), 0x3f80);
  EXPECT_EQ(F32ToBf16(1.f + 0x1.0p-7f + 0x1.0p-8f), 0x3f82);  // odd below: goes up
  EXPECT_EQ(F32ToBf16(std::nextafter(1.f + 0x1.0p-8f, 2.f)), 0x3f81);
  EXPECT_TRUE(std::isnan(Bf16ToF32(F32ToBf16(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_TRUE(std::isnan(Bf16ToF32(F32ToBf16(FromBits(0x7f800001u)))));
  EXPECT_EQ(F32ToBf16(INFINITY), 0x7f80);
  for (uint32_t b = 0; b < 0x10000; ++b) {
    if ((b & 0x7f80) == 0x7f80 && (b & 0x7f)) continue;  // NaN
    ASSERT_EQ(F32ToBf16(Bf16ToF32(static_cast<uint16_t>(b))), b) << std::hex << b;
  }
}

TEST(DTypeTest, LoadAsF32ReadsEachDtype) {
  const float f32[2] = {1.5f, -2.25f};
  const uint16_t f16[2] = {F32ToF16(1.5f), F32ToF16(-2.25f)};
  const uint16_t bf16[2] = {F32ToBf16(1.5f), F32ToBf16(-2.25f)};
  EXPECT_EQ(LoadAsF32(f32, DType::kF32, 1), -2.25f);
  EXPECT_EQ(LoadAsF32(f16, DType::kF16, 1), -2.25f);
  EXPECT_EQ(LoadAsF32(bf16, DType::kBF16, 0), 1.5f);
  EXPECT_EQ(ToBits(LoadAsF32(f16, DType::kF16, 0)), ToBits(1.5f));
}

}  // namespace
}  // namespace matspec
