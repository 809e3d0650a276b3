// AVX-512 attention for one (token, head) pair (kernels/cpu/attention_avx512.h).
#include "kernels/cpu/attention_avx512.h"

#include "kernels/cpu/cpu_features.h"

#if defined(__x86_64__)

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")
// GCC 12's AVX-512 headers start some intrinsics from an "undefined" vector,
// which its flow analysis reports as uninitialized (a false positive).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "kernels/cpu/avx512_exp.h"
#include "kernels/cpu/matmul_avx512_reduce.h"

namespace matspec::attention_internal {
namespace {

__mmask16 TailMask(int64_t left) {
  return left >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << left) - 1);
}

// q . k over head_dim = 16 * C: one FMA chain in chunk order.
template <int C>
inline __m512 DotLanes(const __m512* q, const float* k) {
  __m512 a = _mm512_mul_ps(q[0], _mm512_loadu_ps(k));
#pragma GCC unroll 16
  for (int c = 1; c < C; ++c) a = _mm512_fmadd_ps(q[c], _mm512_loadu_ps(k + 16 * c), a);
  return a;
}

// head_dim = 16 * C.
template <int C>
void Attend(const AttentionParams& p, int64_t j, int64_t h, float* scores) {
  constexpr int64_t chunks = C, d = 16 * C;
  const int64_t group = p.num_heads / p.num_kv_heads;
  const int64_t kv_head = h / group;
  const int64_t kv_row = p.num_kv_heads * d;  // floats between cache slots
  const int64_t pos = p.past + j;
  const int64_t first = p.sliding_window > 0 ? std::max<int64_t>(0, pos - p.sliding_window + 1) : 0;
  const int64_t count = pos - first + 1;

  const float* q = p.q + j * p.q_stride + h * d;
  const float* k = p.k_cache + first * kv_row + kv_head * d;
  const float* v = p.v_cache + first * kv_row + kv_head * d;
  float* out = p.out + j * p.out_stride + h * d;

  // Pass 1: raw dot products, four keys at a time (the same bits as one).
  __m512 qv[C];
#pragma GCC unroll 16
  for (int64_t c = 0; c < chunks; ++c) qv[c] = _mm512_loadu_ps(q + 16 * c);
  int64_t s = 0;
  for (; s + 4 <= count; s += 4) {
    const float* ks = k + s * kv_row;
    const __m128 sums = matmul_internal::Sum16x4(DotLanes<C>(qv, ks), DotLanes<C>(qv, ks + kv_row),
                                                 DotLanes<C>(qv, ks + 2 * kv_row), DotLanes<C>(qv, ks + 3 * kv_row));
    _mm_storeu_ps(scores + s, sums);
  }
  for (; s < count; ++s) scores[s] = matmul_internal::Sum16(DotLanes<C>(qv, k + s * kv_row));

  // Scale, soft-cap, maximum.
  __m512 max16 = _mm512_set1_ps(-INFINITY);
  const __m512 scale = _mm512_set1_ps(p.scale);
  for (s = 0; s < count; s += 16) {
    const __mmask16 m = TailMask(count - s);
    __m512 x = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, scores + s), scale);
    if (p.softcap > 0.f) {
      alignas(64) float tmp[16];
      _mm512_store_ps(tmp, x);
      for (int i = 0; i < 16; ++i) tmp[i] = p.softcap * std::tanh(tmp[i] / p.softcap);
      x = _mm512_load_ps(tmp);
    }
    _mm512_mask_storeu_ps(scores + s, m, x);
    max16 = _mm512_mask_max_ps(max16, m, max16, x);
  }
  const __m512 max_score = _mm512_set1_ps(_mm512_reduce_max_ps(max16));

  // Pass 2: weights (into scores), their f64 sum, the weighted values.
  __m512d sum_lo = _mm512_setzero_pd(), sum_hi = _mm512_setzero_pd();
  for (s = 0; s < count; s += 16) {
    const __mmask16 m = TailMask(count - s);
    const __m512 w = _mm512_maskz_mov_ps(m, cpu_internal::Exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, scores + s), max_score)));
    _mm512_mask_storeu_ps(scores + s, m, w);
    sum_lo = _mm512_add_pd(sum_lo, _mm512_cvtps_pd(_mm512_castps512_ps256(w)));
    sum_hi = _mm512_add_pd(sum_hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(w), 1))));
  }
  const double sum = _mm512_reduce_add_pd(_mm512_add_pd(sum_lo, sum_hi));

  __m512 even[C], odd[C];
#pragma GCC unroll 16
  for (int64_t c = 0; c < chunks; ++c) even[c] = odd[c] = _mm512_setzero_ps();
  for (s = 0; s + 2 <= count; s += 2) {
    const __m512 w0 = _mm512_set1_ps(scores[s]), w1 = _mm512_set1_ps(scores[s + 1]);
    const float* v0 = v + s * kv_row;
#pragma GCC unroll 16
    for (int64_t c = 0; c < chunks; ++c) {
      even[c] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(v0 + 16 * c), even[c]);
      odd[c] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(v0 + kv_row + 16 * c), odd[c]);
    }
  }
  if (s < count) {
    const __m512 w0 = _mm512_set1_ps(scores[s]);
#pragma GCC unroll 16
    for (int64_t c = 0; c < chunks; ++c) even[c] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(v + s * kv_row + 16 * c), even[c]);
  }
  const __m512 inv = _mm512_set1_ps(static_cast<float>(1.0 / sum));
#pragma GCC unroll 16
  for (int64_t c = 0; c < chunks; ++c) _mm512_storeu_ps(out + 16 * c, _mm512_mul_ps(_mm512_add_ps(even[c], odd[c]), inv));
}

}  // namespace

void AttendOneAvx512(const AttentionParams& p, int64_t j, int64_t h, float* scores) {
  switch (p.head_dim) {
    case 16: return Attend<1>(p, j, h, scores);
    case 32: return Attend<2>(p, j, h, scores);
    case 64: return Attend<4>(p, j, h, scores);
    case 128: return Attend<8>(p, j, h, scores);
    case 256: return Attend<16>(p, j, h, scores);
    default: return;  // Avx512AttentionApplies is false
  }
}

}  // namespace matspec::attention_internal

#pragma GCC diagnostic pop
#pragma GCC pop_options

namespace matspec::attention_internal {

bool Avx512AttentionApplies(const AttentionParams& p) {
  const int64_t d = p.head_dim;
  return GetCpuFeatures().avx512 && (d == 16 || d == 32 || d == 64 || d == 128 || d == 256);
}

}  // namespace matspec::attention_internal

#else  // !defined(__x86_64__)

namespace matspec::attention_internal {

bool Avx512AttentionApplies(const AttentionParams&) { return false; }
void AttendOneAvx512(const AttentionParams&, int64_t, int64_t, float*) {}

}  // namespace matspec::attention_internal

#endif
