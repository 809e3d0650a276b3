// Rotary position embedding, HF "rotate_half" (non-interleaved) convention:
// for head vector x of size d and pair i < d/2, with
//   angle = position * theta^(-2i/d),
//   x'[i]       = x[i] cos(angle) - x[i + d/2] sin(angle)
//   x'[i + d/2] = x[i + d/2] cos(angle) + x[i] sin(angle).
// Applied in place to every head of every row.
#ifndef MATSPEC_KERNELS_ROPE_H_
#define MATSPEC_KERNELS_ROPE_H_

#include <cstdint>

namespace matspec {

struct RopeParams {
  float* x = nullptr;                // [t, num_heads, head_dim] f32, rows row_stride apart
  int64_t row_stride = 0;            // elements between tokens; >= num_heads * head_dim
  int64_t t = 0;
  int64_t num_heads = 0;
  int64_t head_dim = 0;              // even
  const int64_t* positions = nullptr;  // [t] absolute positions
  double theta = 10000.0;            // rope_theta
};

void ApplyRope(const RopeParams& p);

}  // namespace matspec

#endif  // MATSPEC_KERNELS_ROPE_H_
