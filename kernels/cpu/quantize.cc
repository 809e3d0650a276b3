// Block quantization: the scalar definitions of kernels/quantize.h.
#include "kernels/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace matspec {
namespace {

// nearbyint(v) in the default rounding mode (to nearest, ties to even) for
// |v| <= 2^22, without a library call, so that the loops below vectorise:
// adding 1.5 * 2^23 leaves no fraction bits. Every v here is a value over its
// block's scale, |v| <= 255.
inline float RoundToNearestEven(float v) {
  constexpr float kShift = 12582912.f;  // 1.5 * 2^23
  return (v + kShift) - kShift;
}

// The largest |x[i]| of a block, as the bits of a float: for finite values
// the bits of |x| order as the values do, and an integer maximum vectorises.
inline uint32_t BlockAbsMaxBits(const float* x) {
  uint32_t bits[kQuantBlock];
  std::memcpy(bits, x, sizeof bits);
  uint32_t m = 0;
  for (int64_t i = 0; i < kQuantBlock; ++i) m = std::max(m, bits[i] & 0x7fffffffu);
  return m;
}

// q[i] = clamp(round(x[i] / d), lo, hi) (d != 0).
inline void RoundBlock(const float* x, float d, int lo, int hi, int32_t* q) {
  for (int64_t i = 0; i < kQuantBlock; ++i) {
    q[i] = std::clamp(static_cast<int32_t>(RoundToNearestEven(x[i] / d)), lo, hi);
  }
}

void QuantizeBlockQ8(const float* x, int8_t* q, uint16_t* scale) {
  const uint32_t amax_bits = BlockAbsMaxBits(x);
  float amax;
  std::memcpy(&amax, &amax_bits, sizeof amax);
  const uint16_t d16 = F32ToF16(amax / 127.f);
  const float d = F16ToF32(d16);
  *scale = d16;
  if (d == 0.f) {
    std::memset(q, 0, kQuantBlock);
    return;
  }
  int32_t v[kQuantBlock];
  RoundBlock(x, d, -127, 127, v);
  for (int64_t i = 0; i < kQuantBlock; ++i) q[i] = static_cast<int8_t>(v[i]);
}

void QuantizeBlockQ4(const float* x, uint8_t* packed, uint16_t* scale) {
  // m: the first element of the largest magnitude (+0 for a block of zeros).
  const uint32_t amax_bits = BlockAbsMaxBits(x);
  float m = 0.f;
  for (int64_t i = 0; amax_bits != 0 && i < kQuantBlock; ++i) {
    uint32_t b;
    std::memcpy(&b, x + i, sizeof b);
    if ((b & 0x7fffffffu) == amax_bits) {
      m = x[i];
      break;
    }
  }
  const uint16_t d16 = F32ToF16(m / -8.f);
  const float d = F16ToF32(d16);
  *scale = d16;
  uint8_t nib[kQuantBlock];
  if (d == 0.f) {
    std::memset(nib, 8, kQuantBlock);
  } else {
    int32_t v[kQuantBlock];
    RoundBlock(x, d, -8, 7, v);
    for (int64_t i = 0; i < kQuantBlock; ++i) nib[i] = static_cast<uint8_t>(v[i] + 8);
  }
  for (int i = 0; i < 16; ++i) packed[i] = static_cast<uint8_t>(nib[i] | (nib[i + 16] << 4));
}

// True when no value is NaN or infinite (all exponent bits set), in integer
// operations that vectorise.
bool AllFinite(const float* x, int64_t n) {
  uint32_t non_finite = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t b;
    std::memcpy(&b, x + i, sizeof b);
    non_finite |= static_cast<uint32_t>((b & 0x7f800000u) == 0x7f800000u);
  }
  return non_finite == 0;
}

// Row r of the dense matrix src as f32.
void RowToF32(const MatrixView& src, int64_t r, float* out) {
  const char* row = static_cast<const char*>(src.data) + r * src.ld * DTypeSize(src.dtype);
  switch (src.dtype) {
    case DType::kF32: std::memcpy(out, row, src.cols * sizeof(float)); break;
    case DType::kBF16: {
      const auto* v = reinterpret_cast<const uint16_t*>(row);
      for (int64_t c = 0; c < src.cols; ++c) out[c] = Bf16ToF32(v[c]);
      break;
    }
    default:
      for (int64_t c = 0; c < src.cols; ++c) out[c] = src.At(r, c);
  }
}

}  // namespace

void QuantizeRow(const float* x, int64_t n, DType to, void* values, uint16_t* scales) {
  for (int64_t b = 0; b < n / kQuantBlock; ++b) {
    if (to == DType::kQ8) {
      QuantizeBlockQ8(x + b * kQuantBlock, static_cast<int8_t*>(values) + b * kQuantBlock, scales + b);
    } else {
      QuantizeBlockQ4(x + b * kQuantBlock, static_cast<uint8_t*>(values) + b * 16, scales + b);
    }
  }
}

absl::Status QuantizeMatrix(const MatrixView& src, DType to, const std::string& name, int num_threads,
                            void* values, uint16_t* scales) {
  if (!IsQuantized(to)) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "': ", std::string(DTypeName(to)), " is not a quantized dtype"));
  }
  if (IsQuantized(src.dtype)) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", name, "' is already quantized (", std::string(DTypeName(src.dtype)), "); it cannot be quantized again"));
  }
  if (src.cols % kQuantBlock != 0) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "' has ", src.cols,
                                                   " columns, not a multiple of the quantization block (",
                                                   kQuantBlock, ")"));
  }
  const int64_t row_bytes = DTypeRowBytes(to, src.cols), blocks = src.cols / kQuantBlock;
  int64_t bad_row = -1, bad_col = -1;
#pragma omp parallel num_threads(std::max(1, num_threads))
  {
    std::vector<float> row(src.cols);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < src.rows; ++r) {
      RowToF32(src, r, row.data());
      if (!AllFinite(row.data(), src.cols)) {
        const int64_t c = std::find_if(row.begin(), row.end(), [](float v) { return !std::isfinite(v); }) - row.begin();
#pragma omp critical
        if (bad_row < 0 || r < bad_row) bad_row = r, bad_col = c;
      }
      QuantizeRow(row.data(), src.cols, to, static_cast<char*>(values) + r * row_bytes, scales + r * blocks);
    }
  }
  if (bad_row >= 0) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "' holds a NaN or infinity at [", bad_row, ", ",
                                                   bad_col, "]; it cannot be quantized"));
  }
  return absl::OkStatus();
}

MatrixView QuantizedView(DType to, int64_t rows, int64_t cols, const void* values, const uint16_t* scales) {
  MatrixView v;
  v.data = values;
  v.dtype = to;
  v.rows = rows;
  v.cols = cols;
  v.ld = cols;
  v.scales = scales;
  return v;
}

float QuantizeActivationBlock(const float* x, int64_t len, int8_t* q) {
  float amax = 0.f;
  bool finite = true;
  for (int64_t i = 0; i < len; ++i) {
    finite = finite && std::isfinite(x[i]);
    amax = std::max(amax, std::fabs(x[i]));
  }
  if (!finite || amax == 0.f) {
    std::memset(q, 0, kQuantBlock);
    return finite ? 0.f : std::nanf("");
  }
  const float inv = 127.f / amax;
  for (int64_t i = 0; i < kQuantBlock; ++i) {
    q[i] = i < len ? static_cast<int8_t>(std::clamp(std::nearbyint(x[i] * inv), -127.f, 127.f)) : 0;
  }
  return amax / 127.f;
}

void QuantizeActivationsLikeMatMul(const float* x, int64_t n, float* out) {
  int8_t q[kQuantBlock];
  for (int64_t b = 0; b < n; b += kQuantBlock) {
    const int64_t len = std::min(kQuantBlock, n - b);
    const float d = QuantizeActivationBlock(x + b, len, q);
    for (int64_t i = 0; i < len; ++i) out[b + i] = static_cast<float>(q[i]) * d;
  }
}

}  // namespace matspec
