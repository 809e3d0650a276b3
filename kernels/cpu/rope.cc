// CPU rotary position embedding (rotate_half convention).
//
// The angle is formed the way Hugging Face forms it, in f32: inv_freq =
// 1 / theta^(2i/d) rounded to f32, angle = f32(position) * inv_freq rounded to
// f32; cos and sin of that f32 angle are then taken in f64. At long positions
// the f32 rounding of the angle is the largest difference from an exact
// computation, so reproducing it keeps logits close to transformers'.
#include "kernels/rope.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace matspec {
namespace {

// Pairs whose cos/sin are computed at once; stack storage, no allocation.
constexpr int64_t kPairChunk = 128;

}  // namespace

void ApplyRope(const RopeParams& p) {
  const int64_t half = p.head_dim / 2;
  float cos_v[kPairChunk];
  float sin_v[kPairChunk];
  for (int64_t j = 0; j < p.t; ++j) {
    float* row = p.x + j * p.row_stride;
    const float pos = static_cast<float>(p.positions[j]);
    for (int64_t i0 = 0; i0 < half; i0 += kPairChunk) {
      const int64_t i1 = std::min(half, i0 + kPairChunk);
      for (int64_t i = i0; i < i1; ++i) {
        const float exponent = static_cast<float>(2 * i) / static_cast<float>(p.head_dim);
        const float inv_freq =
            static_cast<float>(1.0 / static_cast<float>(std::pow(p.theta, static_cast<double>(exponent))));
        const float angle = pos * inv_freq;
        cos_v[i - i0] = static_cast<float>(std::cos(static_cast<double>(angle)));
        sin_v[i - i0] = static_cast<float>(std::sin(static_cast<double>(angle)));
      }
      for (int64_t h = 0; h < p.num_heads; ++h) {
        float* lo = row + h * p.head_dim;
        float* hi = lo + half;
        for (int64_t i = i0; i < i1; ++i) {
          const float a = lo[i], b = hi[i];
          const float c = cos_v[i - i0], s = sin_v[i - i0];
          lo[i] = a * c - b * s;
          hi[i] = b * c + a * s;
        }
      }
    }
  }
}

}  // namespace matspec
