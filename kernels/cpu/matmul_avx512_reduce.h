// Internal to the AVX-512 MatMul tiles: the one lane reduction every AVX-512
// tile uses, so that an output's bits do not depend on the tile it was in.
// A 16-lane accumulator v is summed as a tree:
//   s8[i] = v[i] + v[i + 8];  s4[i] = s8[i] + s8[i + 4];
//   s2[i] = s4[i] + s4[i + 2];  sum = s2[0] + s2[1].
// Sum16 does that for one accumulator; Sum16x4 for four at once with the same
// additions (float addition is commutative, so only the tree matters), at
// about a third of the instructions. The tiles with one accumulator per
// output (avx512-bf16, the VNNI q8/q4 tiles) also share how they start, pause
// between column blocks and end: LoadTileAcc, StoreTileAcc, FinishTile. The
// f32-FMA bf16 kernels (tiles and GEMM) and their start-up check share one
// form of the pair sum: FmaBf16Pairs, with DenormalsAreZero.
#ifndef MATSPEC_KERNELS_CPU_MATMUL_AVX512_REDUCE_H_
#define MATSPEC_KERNELS_CPU_MATMUL_AVX512_REDUCE_H_

#if defined(__x86_64__)

#include <immintrin.h>

#include "kernels/cpu/matmul_tiles.h"

#define MATSPEC_AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")))

namespace matspec::matmul_internal {

MATSPEC_AVX512_TARGET inline float Sum16(__m512 v) {
  const __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(v),
                                  _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// {Sum16(a), Sum16(b), Sum16(c), Sum16(d)}.
MATSPEC_AVX512_TARGET inline __m128 Sum16x4(__m512 a, __m512 b, __m512 c, __m512 d) {
  // [a s8 | b s8] and [c s8 | d s8]
  const __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xEE));
  const __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(c, d, 0x44), _mm512_shuffle_f32x4(c, d, 0xEE));
  // [a s4 | b s4 | c s4 | d s4]
  const __m512 s4 = _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, 0x88), _mm512_shuffle_f32x4(ab, cd, 0xDD));
  // s2 in lanes 0, 1 of each quarter, then the sums in lanes 0, 4, 8, 12
  const __m512 s2 = _mm512_add_ps(s4, _mm512_permute_ps(s4, 0xEE));
  const __m512 s1 = _mm512_add_ps(s2, _mm512_permute_ps(s2, 0x01));
  return _mm512_castps512_ps128(_mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), s1));
}

// The f32-FMA form of vdpbf16ps (kernels/cpu/matmul_avx512_bf16.cc says why
// its bits are vdpbf16ps's). `pairs` is 16 dwords, each a (even, odd) pair of
// bf16 values; Bf16PairsEven / Bf16PairsOdd widen one element of every pair.
MATSPEC_AVX512_TARGET inline __m512 Bf16PairsEven(__m512i pairs) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(pairs, 16));
}
MATSPEC_AVX512_TARGET inline __m512 Bf16PairsOdd(__m512i pairs) {
  return _mm512_castsi512_ps(_mm512_and_si512(pairs, _mm512_set1_epi32(static_cast<int>(0xffff0000u))));
}
// x's pairs as the FMA kernels take them: out[0..15] the even, out[16..31] the odd elements.
MATSPEC_AVX512_TARGET inline void StoreSplitBf16Pairs(__m512i pairs, float* out) {
  _mm512_storeu_ps(out, Bf16PairsEven(pairs));
  _mm512_storeu_ps(out + 16, Bf16PairsOdd(pairs));
}
// acc + one 32-column step summed as vdpbf16ps sums it: the odd product of
// each pair first, then the even one (under DenormalsAreZero). w_even / w_odd
// are the widened weights, x the step's split x (StoreSplitBf16Pairs).
MATSPEC_AVX512_TARGET inline __m512 FmaBf16Pairs(__m512 acc, __m512 w_even, __m512 w_odd, const float* x) {
  return _mm512_fmadd_ps(w_even, _mm512_loadu_ps(x), _mm512_fmadd_ps(w_odd, _mm512_loadu_ps(x + 16), acc));
}

// MXCSR with DAZ (bit 6) and FTZ (bit 15) set for the life of the object:
// what the f32-FMA bf16 kernels need to reproduce vdpbf16ps (which reads
// denormals as zero and flushes denormal results whatever MXCSR says).
class DenormalsAreZero {
 public:
  DenormalsAreZero() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | 0x8040u); }
  ~DenormalsAreZero() { _mm_setcsr(saved_); }
  DenormalsAreZero(const DenormalsAreZero&) = delete;
  DenormalsAreZero& operator=(const DenormalsAreZero&) = delete;

 private:
  unsigned saved_;
};

// s[i] = Sum16(acc[i]) for the N accumulators of a tile.
template <int N>
MATSPEC_AVX512_TARGET inline void SumAll16(const __m512* acc, float* s) {
  int i = 0;
#pragma GCC unroll 8
  for (; i + 4 <= N; i += 4) _mm_storeu_ps(s + i, Sum16x4(acc[i], acc[i + 1], acc[i + 2], acc[i + 3]));
#pragma GCC unroll 4
  for (; i < N; ++i) s[i] = Sum16(acc[i]);
}

// One 16-lane accumulator per output of an R-row x T-token tile: zeros at the
// first column block (a.k0 == 0), else the ones the previous block left in
// a.acc ([R, T, 16]).
template <int R, int T>
MATSPEC_AVX512_TARGET __attribute__((always_inline)) inline void LoadTileAcc(const TileArgs& a,
                                                                             __m512 (&acc)[R][T]) {
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int j = 0; j < T; ++j) acc[r][j] = a.k0 == 0 ? _mm512_setzero_ps() : _mm512_loadu_ps(a.acc + (r * T + j) * 16);
}

// Leaves the accumulators in a.acc for the next column block (a.k1 < a.k).
template <int R, int T>
MATSPEC_AVX512_TARGET __attribute__((always_inline)) inline void StoreTileAcc(const TileArgs& a,
                                                                              const __m512 (&acc)[R][T]) {
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int j = 0; j < T; ++j) _mm512_storeu_ps(a.acc + (r * T + j) * 16, acc[r][j]);
}

// The tile's outputs: s[r * T + j] = Sum16(acc[r][j]).
template <int R, int T>
MATSPEC_AVX512_TARGET __attribute__((always_inline)) inline void FinishTile(const __m512 (&acc)[R][T], float* s) {
  __m512 flat[R * T];  // a copy, so that acc itself stays in registers
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int j = 0; j < T; ++j) flat[r * T + j] = acc[r][j];
  SumAll16<R * T>(flat, s);
}

}  // namespace matspec::matmul_internal

#endif  // defined(__x86_64__)

#endif  // MATSPEC_KERNELS_CPU_MATMUL_AVX512_REDUCE_H_
