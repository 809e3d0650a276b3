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

void QuantizeBlockQ8(const float* x, int8_t* q, uint16_t* scale) {
  float amax = 0.f;
  for (int64_t i = 0; i < kQuantBlock; ++i) amax = std::max(amax, std::fabs(x[i]));
  const uint16_t d16 = F32ToF16(amax / 127.f);
  const float d = F16ToF32(d16);
  *scale = d16;
  for (int64_t i = 0; i < kQuantBlock; ++i) {
    const float v = d == 0.f ? 0.f : std::nearbyint(x[i] / d);
    q[i] = static_cast<int8_t>(std::clamp(v, -127.f, 127.f));
  }
}

void QuantizeBlockQ4(const float* x, uint8_t* packed, uint16_t* scale) {
  float m = 0.f;
  for (int64_t i = 0; i < kQuantBlock; ++i) {
    if (std::fabs(x[i]) > std::fabs(m)) m = x[i];
  }
  const uint16_t d16 = F32ToF16(m / -8.f);
  const float d = F16ToF32(d16);
  *scale = d16;
  uint8_t nib[kQuantBlock];
  for (int64_t i = 0; i < kQuantBlock; ++i) {
    const float v = d == 0.f ? 0.f : std::nearbyint(x[i] / d);
    nib[i] = static_cast<uint8_t>(std::clamp(v, -8.f, 7.f) + 8.f);
  }
  for (int i = 0; i < 16; ++i) packed[i] = static_cast<uint8_t>(nib[i] | (nib[i + 16] << 4));
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
      for (int64_t c = 0; c < src.cols; ++c) {
        row[c] = src.At(r, c);
        if (!std::isfinite(row[c])) {
#pragma omp critical
          if (bad_row < 0 || r < bad_row) bad_row = r, bad_col = c;
        }
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
