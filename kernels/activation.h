// Gated FFN activation: out[i] = act(gate[i]) * up[i], over n elements of each
// of `rows` rows. SiLU for llama (SwiGLU), tanh-approximated GELU for Gemma.
// out may alias gate.
#ifndef MATSPEC_KERNELS_ACTIVATION_H_
#define MATSPEC_KERNELS_ACTIVATION_H_

#include <cstdint>

namespace matspec {

enum class Activation : uint8_t { kSilu, kGeluTanh };

struct GatedActivationParams {
  Activation act = Activation::kSilu;
  const float* gate = nullptr;  // [rows, stride] f32
  const float* up = nullptr;    // [rows, stride] f32
  float* out = nullptr;         // [rows, stride] f32, may equal gate
  int64_t rows = 0;
  int64_t n = 0;                // used elements per row
  int64_t stride = 0;           // elements between rows; >= n
};

void GatedActivation(const GatedActivationParams& p);

// x[i] += y[i] for i < n.
void AddInPlace(float* x, const float* y, int64_t n);

}  // namespace matspec

#endif  // MATSPEC_KERNELS_ACTIVATION_H_
