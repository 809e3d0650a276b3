// Internal to the CPU attention (kernels/cpu/attention.cc): one (token, head)
// pair on AVX-512, for head_dim 16, 32, 64, 128 or 256. The same
// two-pass softmax as the portable code, vectorised: four keys' dot products
// at a time (one 16-lane FMA chain per key over head_dim, then the lane tree
// of matmul_avx512_reduce.h), exp over 16 scores at a time (avx512_exp.h), the weights summed in f64, and the weighted values
// accumulated in registers (even and odd keys apart, added at the end). The
// heads of one KV head can run together, sharing the loads of the cache rows
// (which made one head at a time bound by L2 bandwidth), each with the
// arithmetic of one head alone.
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

// Query heads AttentionAvx512Heads(p) of one KV head at once, so that they
// share each cache row load: 3 when the GQA group is a multiple of 3 and
// head_dim <= 32 (the bundled model: 6 heads over 2 KV heads, head_dim 32);
// else 2 when the group is even and head_dim <= 64; else 1. Only where
// Avx512AttentionApplies(p).
int AttentionAvx512Heads(const AttentionParams& p);

// Token j, query heads h .. h + AttentionAvx512Heads(p) - 1 (h a multiple of
// it) into p.out; `scores` holds that many rows of >= past + t floats,
// score_stride apart.
void AttendAvx512(const AttentionParams& p, int64_t j, int64_t h, float* scores, int64_t score_stride);

}  // namespace matspec::attention_internal

#endif  // MATSPEC_KERNELS_CPU_ATTENTION_AVX512_H_
