// Internal to the CPU activations (kernels/cpu/activation.cc): the SwiGLU
// product out = silu(gate) * up on AVX-512, 16 elements at a time, with the
// exp of avx512_exp.h (silu(g) = g / (1 + exp(-g)), within a few ulp of the
// portable code). Element-wise, so batch invariant.
#ifndef MATSPEC_KERNELS_CPU_ACTIVATION_AVX512_H_
#define MATSPEC_KERNELS_CPU_ACTIVATION_AVX512_H_

#include "kernels/activation.h"

namespace matspec::activation_internal {

// True on CPUs with AVX-512 F/BW/VL/DQ.
bool HasAvx512Silu();

// GatedActivation for p.act == kSilu; only where HasAvx512Silu().
void SiluRowsAvx512(const GatedActivationParams& p);

}  // namespace matspec::activation_internal

#endif  // MATSPEC_KERNELS_CPU_ACTIVATION_AVX512_H_
