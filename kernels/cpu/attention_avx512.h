// Internal to the CPU attention (kernels/cpu/attention.cc): one (token, head)
// pair on AVX-512, for head_dim 16, 32, 64, 128 or 256. The same
// two-pass softmax as the portable code, vectorised: four keys' dot products
// at a time (one 16-lane FMA chain per key over head_dim, then the lane tree
// of matmul_avx512_reduce.h), exp over 16 scores at a time (avx512_exp.h), the weights summed in f64, and the weighted values
// accumulated in registers (even and odd keys apart, added at the end).
//
// Every output is a function of its own (token, head) inputs only, in an
// order fixed by the number of visible keys, so T tokens at once equal T calls
// of one token bit for bit (greedy speculative decoding relies on it).
#ifndef MATSPEC_KERNELS_CPU_ATTENTION_AVX512_H_
#define MATSPEC_KERNELS_CPU_ATTENTION_AVX512_H_

#include <cstdint>

#include "kernels/attention.h"

namespace matspec::attention_internal {

// True when AttendOneAvx512 can run p: x86-64 with AVX-512 F/BW/VL/DQ and
// head_dim one of 16, 32, 64, 128, 256.
bool Avx512AttentionApplies(const AttentionParams& p);

// Token j, query head h of p into p.out; `scores` holds >= past + t floats.
void AttendOneAvx512(const AttentionParams& p, int64_t j, int64_t h, float* scores);

}  // namespace matspec::attention_internal

#endif  // MATSPEC_KERNELS_CPU_ATTENTION_AVX512_H_
