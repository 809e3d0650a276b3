// AVX2 attention for one (token, head) pair (kernels/cpu/attention_avx2.h).
#include "kernels/cpu/attention_avx2.h"

#include "kernels/cpu/cpu_features.h"

#if defined(__x86_64__)

#include <immintrin.h>

#include <cmath>
#include <cstdint>

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

namespace matspec::attention_internal {
namespace {

// exp of 8 floats, within 2 ulp of expf for x in [-87, 88] (softmax weights:
// x <= 0). x = n ln2 + r with |r| <= ln2 / 2 (ln2 in two parts so that r is
// exact), exp(r) by a polynomial with Cephes' expf coefficients, then 2^n built
// in the exponent bits. x is clamped to [-87, 88] first, where 2^n stays a
// normal number: below, the result is ~1e-38 instead of a denormal or 0 (a
// weight that vanishes next to the maximum's 1); NaN gives that too.
inline __m256 Exp8(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.f)), _mm256_set1_ps(88.f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 poly = _mm256_set1_ps(1.9875691500e-4f);
  poly = _mm256_fmadd_ps(poly, r, _mm256_set1_ps(1.3981999507e-3f));
  poly = _mm256_fmadd_ps(poly, r, _mm256_set1_ps(8.3334519073e-3f));
  poly = _mm256_fmadd_ps(poly, r, _mm256_set1_ps(4.1665795894e-2f));
  poly = _mm256_fmadd_ps(poly, r, _mm256_set1_ps(1.6666665459e-1f));
  poly = _mm256_fmadd_ps(poly, r, _mm256_set1_ps(5.0000001201e-1f));
  const __m256 y = _mm256_add_ps(_mm256_fmadd_ps(poly, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.f));
  const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(bits));
}

// The lane sums of four vectors: ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)) each.
inline __m128 Sum8x4(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
  const __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
  return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

// q . k over head_dim = 8 * C: one FMA chain in chunk order.
template <int C>
inline __m256 DotLanes(const float* q, const float* k) {
  __m256 a = _mm256_mul_ps(_mm256_loadu_ps(q), _mm256_loadu_ps(k));
#pragma GCC unroll 16
  for (int c = 1; c < C; ++c) a = _mm256_fmadd_ps(_mm256_loadu_ps(q + 8 * c), _mm256_loadu_ps(k + 8 * c), a);
  return a;
}

// Lanes [0, left) of 8 set.
inline __m256 LaneMask(int64_t left) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(left < 8 ? left : 8)), lanes));
}

template <int C>
void Attend(const AttentionParams& p, int64_t j, int64_t h, float* scores) {
  constexpr int64_t d = 8 * C;
  const int64_t group = p.num_heads / p.num_kv_heads;
  const int64_t kv_head = h / group;
  const int64_t kv_row = p.num_kv_heads * d;  // floats between cache slots
  const auto [first, count] = VisibleSlotsOf(p, j);
  const float* q = p.q + j * p.q_stride + h * d;
  const float* k = p.k_cache + first * kv_row + kv_head * d;
  const float* v = p.v_cache + first * kv_row + kv_head * d;

  // Pass 1: raw dot products, four keys at a time (the same bits as one).
  int64_t s = 0;
  for (; s + 4 <= count; s += 4) {
    const float* ks = k + s * kv_row;
    _mm_storeu_ps(scores + s, Sum8x4(DotLanes<C>(q, ks), DotLanes<C>(q, ks + kv_row),
                                     DotLanes<C>(q, ks + 2 * kv_row), DotLanes<C>(q, ks + 3 * kv_row)));
  }
  for (; s < count; ++s) {
    const __m256 a = DotLanes<C>(q, k + s * kv_row);
    scores[s] = _mm_cvtss_f32(Sum8x4(a, a, a, a));
  }

  // Scale, soft-cap, maximum; then the weights (into scores) and their f64 sum.
  const __m256 scale = _mm256_set1_ps(p.scale), minus_inf = _mm256_set1_ps(-INFINITY);
  __m256 max8 = minus_inf;
  for (s = 0; s < count; s += 8) {
    const __m256 m = LaneMask(count - s);
    __m256 x = _mm256_mul_ps(_mm256_loadu_ps(scores + s), scale);
    if (p.softcap > 0.f) {
      alignas(32) float tmp[8];
      _mm256_store_ps(tmp, x);
      for (int i = 0; i < 8; ++i) tmp[i] = p.softcap * std::tanh(tmp[i] / p.softcap);
      x = _mm256_load_ps(tmp);
    }
    x = _mm256_blendv_ps(minus_inf, x, m);
    _mm256_storeu_ps(scores + s, x);
    max8 = _mm256_max_ps(max8, x);
  }
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(max8), _mm256_extractf128_ps(max8, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
  const __m256 max_score = _mm256_set1_ps(_mm_cvtss_f32(m4));
  __m256d sum_lo = _mm256_setzero_pd(), sum_hi = _mm256_setzero_pd();
  for (s = 0; s < count; s += 8) {
    const __m256 w =
        _mm256_and_ps(Exp8(_mm256_sub_ps(_mm256_loadu_ps(scores + s), max_score)), LaneMask(count - s));
    _mm256_storeu_ps(scores + s, w);
    sum_lo = _mm256_add_pd(sum_lo, _mm256_cvtps_pd(_mm256_castps256_ps128(w)));
    sum_hi = _mm256_add_pd(sum_hi, _mm256_cvtps_pd(_mm256_extractf128_ps(w, 1)));
  }
  const __m256d sum4 = _mm256_add_pd(sum_lo, sum_hi);
  __m128d sum2 = _mm_add_pd(_mm256_castpd256_pd128(sum4), _mm256_extractf128_pd(sum4, 1));
  sum2 = _mm_add_sd(sum2, _mm_unpackhi_pd(sum2, sum2));
  const __m256 inv = _mm256_set1_ps(static_cast<float>(1.0 / _mm_cvtsd_f64(sum2)));

  // Pass 2: the weighted values; up to head_dim 32 even and odd keys apart
  // (two FMA chains per chunk within the 16 registers).
  float* out = p.out + j * p.out_stride + h * d;
  if constexpr (C <= 4) {
    __m256 even[C], odd[C];
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) even[c] = odd[c] = _mm256_setzero_ps();
    for (s = 0; s + 2 <= count; s += 2) {
      const __m256 w0 = _mm256_set1_ps(scores[s]), w1 = _mm256_set1_ps(scores[s + 1]);
      const float* v0 = v + s * kv_row;
#pragma GCC unroll 16
      for (int c = 0; c < C; ++c) {
        even[c] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(v0 + 8 * c), even[c]);
        odd[c] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(v0 + kv_row + 8 * c), odd[c]);
      }
    }
    if (s < count) {
      const __m256 w0 = _mm256_set1_ps(scores[s]);
#pragma GCC unroll 16
      for (int c = 0; c < C; ++c) even[c] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(v + s * kv_row + 8 * c), even[c]);
    }
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) _mm256_storeu_ps(out + 8 * c, _mm256_mul_ps(_mm256_add_ps(even[c], odd[c]), inv));
  } else {
    __m256 acc[C];
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) acc[c] = _mm256_setzero_ps();
    for (s = 0; s < count; ++s) {
      const __m256 w = _mm256_set1_ps(scores[s]);
      const float* vs = v + s * kv_row;
#pragma GCC unroll 16
      for (int c = 0; c < C; ++c) acc[c] = _mm256_fmadd_ps(w, _mm256_loadu_ps(vs + 8 * c), acc[c]);
    }
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) _mm256_storeu_ps(out + 8 * c, _mm256_mul_ps(acc[c], inv));
  }
}

}  // namespace

void AttendAvx2(const AttentionParams& p, int64_t j, int64_t h, float* scores) {
  switch (p.head_dim) {
    case 16: return Attend<2>(p, j, h, scores);
    case 32: return Attend<4>(p, j, h, scores);
    case 64: return Attend<8>(p, j, h, scores);
    case 128: return Attend<16>(p, j, h, scores);
    default: return;  // Avx2AttentionApplies is false
  }
}

}  // namespace matspec::attention_internal

#pragma GCC pop_options

namespace matspec::attention_internal {

bool Avx2AttentionApplies(const AttentionParams& p) {
  const int64_t d = p.head_dim;
  return GetCpuFeatures().avx2_fma_f16c && (d == 16 || d == 32 || d == 64 || d == 128);
}

}  // namespace matspec::attention_internal

#else  // !defined(__x86_64__)

namespace matspec::attention_internal {

bool Avx2AttentionApplies(const AttentionParams&) { return false; }
void AttendAvx2(const AttentionParams&, int64_t, int64_t, float*) {}

}  // namespace matspec::attention_internal

#endif
