// Element types of weights and activations, and the scalar conversions
// between them. Weights stay in their checkpoint dtype (bf16, f16 or f32) or
// are block-quantized at load (q8, q4); activations are always f32. The
// conversions here are the single definition used by every CPU kernel, the
// test oracles and the checkpoint writers.
//
// Block-quantized formats (kQ8, kQ4). A matrix [rows, cols] is cut along the
// input dimension (cols) into blocks of kQuantBlock = 32 elements; every block
// has one f16 scale d. The values and the scales are two row-major arrays:
//   values: q8: int8 q[rows][ld], element = q * d, q in [-127, 127];
//           q4: uint8 [rows][ld / 2], block b of a row is 16 bytes at b * 16:
//               element b*32 + i (i < 16) is the low nibble of byte i, element
//               b*32 + 16 + i the high nibble; element = (nibble - 8) * d.
//   scales: f16 [rows][ld / 32] (MatrixView::scales), block b of row r.
// ld is a multiple of 32. A prefix of rows is a prefix of both arrays and a
// prefix of 32-aligned columns is a prefix of every row of both arrays, so a
// MatFormer slice (FirstRows of gate/up, FirstCols of down) stays a view.
// The scale is f16, not f32: it costs 2 bytes per 32 weights instead of 4
// (6 % of a q8 weight's bytes, 11 % of a q4's, and decoding is bound by the
// bytes read), and its relative error (2^-11) is far below the quantization
// step (2^-7 of the block maximum for q8).
#ifndef MATSPEC_KERNELS_DTYPE_H_
#define MATSPEC_KERNELS_DTYPE_H_

#include <cstdint>
#include <cstring>
#include <string_view>

namespace matspec {

enum class DType : uint8_t { kF32, kF16, kBF16, kQ8, kQ4 };
inline constexpr int kNumDTypes = 5;
inline constexpr int64_t kQuantBlock = 32;  // elements per block of kQ8 / kQ4

constexpr bool IsQuantized(DType t) { return t == DType::kQ8 || t == DType::kQ4; }

// Bytes per element of the dense dtypes (f32, f16, bf16); for q8 the byte of
// one value and for q4 1 as well (half a byte does not fit the type): code
// that may see a quantized dtype uses DTypeRowBytes and QuantScaleBytes.
constexpr int64_t DTypeSize(DType t) {
  return t == DType::kF32 ? 4 : (t == DType::kQ8 || t == DType::kQ4) ? 1 : 2;
}

// Bytes of n consecutive elements of one row (values only; n a multiple of 32
// for the quantized dtypes).
constexpr int64_t DTypeRowBytes(DType t, int64_t n) {
  return t == DType::kQ4 ? n / 2 : n * DTypeSize(t);
}

// Bytes of the block scales of n consecutive elements of one row (0 if dense).
constexpr int64_t QuantScaleBytes(DType t, int64_t n) {
  return IsQuantized(t) ? n / kQuantBlock * 2 : 0;
}

// Safetensors spelling: "F32", "F16", "BF16"; "Q8", "Q4" for matspec's formats.
constexpr std::string_view DTypeName(DType t) {
  switch (t) {
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
    case DType::kQ8: return "Q8";
    case DType::kQ4: return "Q4";
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

// Reads element i of a buffer of a dense dtype t as f32 (0 for a quantized
// dtype: those need their scales, see LoadQuantizedAsF32).
inline float LoadAsF32(const void* data, DType t, int64_t i) {
  switch (t) {
    case DType::kF32: return static_cast<const float*>(data)[i];
    case DType::kBF16: return Bf16ToF32(static_cast<const uint16_t*>(data)[i]);
    case DType::kF16: return F16ToF32(static_cast<const uint16_t*>(data)[i]);
    case DType::kQ8:
    case DType::kQ4: break;
  }
  return 0.f;
}

// The integer value of element c of a quantized row (q8: q; q4: nibble - 8).
inline int QuantizedValue(const void* row_values, DType t, int64_t c) {
  if (t == DType::kQ8) return static_cast<const int8_t*>(row_values)[c];
  const uint8_t byte = static_cast<const uint8_t*>(row_values)[c / kQuantBlock * 16 + c % 16];
  return ((c % kQuantBlock) < 16 ? (byte & 0xf) : (byte >> 4)) - 8;
}

// Element c of a quantized row, dequantized: value * f16 scale of its block.
inline float LoadQuantizedAsF32(const void* row_values, const uint16_t* row_scales, DType t, int64_t c) {
  return static_cast<float>(QuantizedValue(row_values, t, c)) * F16ToF32(row_scales[c / kQuantBlock]);
}

}  // namespace matspec

#endif  // MATSPEC_KERNELS_DTYPE_H_
