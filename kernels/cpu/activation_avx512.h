// Internal to the CPU activations (kernels/cpu/activation.cc, and the
// soft-cap of kernels/cpu/gemma3n_ops.cc): on AVX-512, 16 elements at a time,
// with the exp of avx512_exp.h, within a few ulp of the portable code:
//   SwiGLU     out = silu(gate) * up,   silu(g) = g / (1 + exp(-g));
//   GELU-tanh  out = gelu(gate) * up,   0.5 g (1 + tanh(u)) = g / (1 + exp(-2u)),
//              u = sqrt(2/pi) (g + 0.044715 g^3) (exactly 0 where exp(-2u)
//              overflows, as the portable form gives);
//   soft-cap   x = cap tanh(x / cap),   tanh(y) = 1 - 2 / (exp(2y) + 1),
//              ±inf and NaN left as they are.
// Element-wise, so batch invariant. (The portable forms called libm's tanhf
// per element: ~9 % of a batched Gemma 3n E2B step on the CPU.)
#ifndef MATSPEC_KERNELS_CPU_ACTIVATION_AVX512_H_
#define MATSPEC_KERNELS_CPU_ACTIVATION_AVX512_H_

#include <cstdint>

#include "kernels/activation.h"

namespace matspec::activation_internal {

// True on CPUs with AVX-512 F/BW/VL/DQ.
bool HasAvx512Activations();

// GatedActivation for p.act == kSilu / kGeluTanh; only where HasAvx512Activations().
void SiluRowsAvx512(const GatedActivationParams& p);
void GeluTanhRowsAvx512(const GatedActivationParams& p);
// LogitSoftcap; only where HasAvx512Activations().
void LogitSoftcapAvx512(float* x, int64_t n, float cap);

}  // namespace matspec::activation_internal

#endif  // MATSPEC_KERNELS_CPU_ACTIVATION_AVX512_H_
