// IEEE 754 binary16 <-> binary32 conversions, exact in both directions:
// F16ToF32 is lossless, F32ToF16 rounds to nearest even (subnormals included),
// overflows to infinity and keeps NaN a (quiet) NaN. Written with integer
// arithmetic so the result never depends on the FPU rounding mode or on
// compiler support for _Float16.
#include "kernels/dtype.h"

#include <cstdint>
#include <cstring>

namespace matspec {
namespace {

uint32_t BitsOf(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
}

float FloatOf(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

}  // namespace

float F16ToF32(uint16_t v) {
  const uint32_t sign = static_cast<uint32_t>(v & 0x8000u) << 16;
  const uint32_t exp = (v >> 10) & 0x1fu;
  const uint32_t mant = v & 0x3ffu;
  if (exp == 0x1f) return FloatOf(sign | 0x7f800000u | (mant << 13));  // inf / NaN
  if (exp != 0) return FloatOf(sign | ((exp + 112u) << 23) | (mant << 13));
  if (mant == 0) return FloatOf(sign);  // signed zero
  // Subnormal: mant * 2^-24, exactly representable as a normal f32.
  const float magnitude = static_cast<float>(mant) * 0x1.0p-24f;
  return FloatOf(sign | BitsOf(magnitude));
}

uint16_t F32ToF16(float f) {
  uint32_t bits = BitsOf(f);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  bits &= 0x7fffffffu;
  if (bits > 0x7f800000u) {  // NaN: keep the top payload bits, force quiet
    return static_cast<uint16_t>(sign | 0x7e00u | ((bits >> 13) & 0x3ffu));
  }
  // 65520 (0x477ff000) is the midpoint between 65504 (largest half) and 2^16;
  // ties go to the even neighbour, which is 2^16, i.e. infinity.
  if (bits >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);
  if (bits >= 0x38800000u) {  // >= 2^-14: a normal half
    const uint32_t odd = (bits >> 13) & 1u;
    const uint32_t rounded = bits - (112u << 23) + 0xfffu + odd;  // rebias, then round
    return static_cast<uint16_t>(sign | (rounded >> 13));
  }
  // Subnormal half: result = round(|f| / 2^-24). |f| < 2^-25 rounds to zero
  // (2^-25 itself is a tie that goes to the even value, zero).
  const uint32_t exp = bits >> 23;
  if (exp < 102) return sign;
  const uint32_t mant = (bits & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126u - exp;  // 14..24
  uint32_t q = mant >> shift;
  const uint32_t rem = mant & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1u);
  if (rem > half || (rem == half && (q & 1u))) ++q;  // q == 0x400 is 2^-14, still right
  return static_cast<uint16_t>(sign | q);
}

}  // namespace matspec
