// Element types of weights and activations, and the scalar conversions
// between them. Weights stay in their checkpoint dtype (bf16, f16 or f32);
// activations are always f32. The conversions here are the single definition
// used by every CPU kernel, the test oracles and the checkpoint writers.
#ifndef MATSPEC_KERNELS_DTYPE_H_
#define MATSPEC_KERNELS_DTYPE_H_

#include <cstdint>
#include <cstring>
#include <string_view>

namespace matspec {

enum class DType : uint8_t { kF32, kF16, kBF16 };

// Bytes per element.
constexpr int64_t DTypeSize(DType t) { return t == DType::kF32 ? 4 : 2; }

// Safetensors spelling: "F32", "F16", "BF16".
constexpr std::string_view DTypeName(DType t) {
  switch (t) {
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
  }
  return "?";
}

inline float Bf16ToF32(uint16_t v) {
  uint32_t bits = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// Round to nearest even; NaN stays NaN.
inline uint16_t F32ToBf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

float F16ToF32(uint16_t v);
uint16_t F32ToF16(float f);  // round to nearest even, overflow to inf

// Reads element i of a buffer of dtype t as f32.
inline float LoadAsF32(const void* data, DType t, int64_t i) {
  switch (t) {
    case DType::kF32: return static_cast<const float*>(data)[i];
    case DType::kBF16: return Bf16ToF32(static_cast<const uint16_t*>(data)[i]);
    case DType::kF16: return F16ToF32(static_cast<const uint16_t*>(data)[i]);
  }
  return 0.f;
}

}  // namespace matspec

#endif  // MATSPEC_KERNELS_DTYPE_H_
