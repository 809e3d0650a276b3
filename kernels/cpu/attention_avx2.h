// Internal to the CPU attention (kernels/cpu/attention.cc): one (token, head)
// pair on AVX2 + FMA CPUs without AVX-512 (AMD Zen 1-3, Intel before Skylake-X),
// for head_dim 16, 32, 64 or 128. The two-pass softmax of the portable code,
// vectorised as kernels/cpu/attention_avx512.h does it in 8 lanes: four keys'
// dot products at a time (one 8-lane FMA chain per key over head_dim, then one
// fixed lane tree), exp over 8 scores at a time, the weights summed in f64,
// and the weighted values accumulated in registers (even and odd keys apart
// up to head_dim 32). The portable code spent ~40 % of a verification step of
// the bundled model in scalar exp and dot products (bench/RESULTS.md §10.2.8).
//
// Every output is a function of its own (token, head) inputs only, in an
// order fixed by the number of visible keys, so T tokens at once equal T calls
// of one token bit for bit (greedy speculative decoding relies on it).
#ifndef MATSPEC_KERNELS_CPU_ATTENTION_AVX2_H_
#define MATSPEC_KERNELS_CPU_ATTENTION_AVX2_H_

#include <cstdint>

#include "kernels/attention.h"

namespace matspec::attention_internal {

// True when AttendAvx2 can run p: x86-64 with AVX2 + FMA + F16C and head_dim
// one of 16, 32, 64, 128.
bool Avx2AttentionApplies(const AttentionParams& p);

// Token j, query head h into p.out; `scores` holds >= past + t floats rounded
// up to a multiple of 8.
void AttendAvx2(const AttentionParams& p, int64_t j, int64_t h, float* scores);

}  // namespace matspec::attention_internal

#endif  // MATSPEC_KERNELS_CPU_ATTENTION_AVX2_H_
