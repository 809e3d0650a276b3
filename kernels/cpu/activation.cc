// CPU gated FFN activations and the residual add. Element-wise; out may alias
// gate because each element is read before it is written. SiLU and GELU-tanh
// run on AVX-512 where the CPU has it (kernels/cpu/activation_avx512.h).
#include "kernels/activation.h"

#include <cmath>
#include <cstdint>

#include "kernels/cpu/activation_avx512.h"

namespace matspec {
namespace {

inline float Silu(float g) { return g / (1.f + std::exp(-g)); }

// tanh approximation of GELU (gelu_pytorch_tanh).
inline float GeluTanh(float g) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  const float inner = kSqrt2OverPi * (g + 0.044715f * g * g * g);
  return 0.5f * g * (1.f + std::tanh(inner));
}

template <float (*Act)(float)>
void GatedRows(const GatedActivationParams& p) {
  for (int64_t r = 0; r < p.rows; ++r) {
    const float* gate = p.gate + r * p.stride;
    const float* up = p.up + r * p.stride;
    float* out = p.out + r * p.stride;
    for (int64_t i = 0; i < p.n; ++i) out[i] = Act(gate[i]) * up[i];
  }
}

}  // namespace

void GatedActivation(const GatedActivationParams& p) {
  switch (p.act) {
    case Activation::kSilu:
      if (activation_internal::HasAvx512Activations()) {
        activation_internal::SiluRowsAvx512(p);
      } else {
        GatedRows<Silu>(p);
      }
      return;
    case Activation::kGeluTanh:
      if (activation_internal::HasAvx512Activations()) {
        activation_internal::GeluTanhRowsAvx512(p);
      } else {
        GatedRows<GeluTanh>(p);
      }
      return;
  }
}

void AddInPlace(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

}  // namespace matspec
