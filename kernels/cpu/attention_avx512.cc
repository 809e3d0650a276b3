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

// Heads h .. h + Q - 1 (one KV head's) of token j, head_dim = 16 * C. The
// heads share every key and value row load; each head's arithmetic is that
// of Q = 1. scores: Q rows, score_stride floats apart.
template <int C, int Q>
void Attend(const AttentionParams& p, int64_t j, int64_t h, float* scores, int64_t score_stride) {
  constexpr int64_t d = 16 * C;
  const int64_t group = p.num_heads / p.num_kv_heads;
  const int64_t kv_head = h / group;
  const int64_t kv_row = p.num_kv_heads * d;  // floats between cache slots
  const auto [first, count] = VisibleSlotsOf(p, j);
  const float* k = p.k_cache + first * kv_row + kv_head * d;
  const float* v = p.v_cache + first * kv_row + kv_head * d;

  // Pass 1: raw dot products, four keys at a time (the same bits as one).
  __m512 qv[Q][C];
#pragma GCC unroll 4
  for (int b = 0; b < Q; ++b)
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) qv[b][c] = _mm512_loadu_ps(p.q + j * p.q_stride + (h + b) * d + 16 * c);
  int64_t s = 0;
  for (; s + 4 <= count; s += 4) {
    const float* ks = k + s * kv_row;
#pragma GCC unroll 4
    for (int b = 0; b < Q; ++b) {
      const __m128 sums = matmul_internal::Sum16x4(DotLanes<C>(qv[b], ks), DotLanes<C>(qv[b], ks + kv_row),
                                                   DotLanes<C>(qv[b], ks + 2 * kv_row),
                                                   DotLanes<C>(qv[b], ks + 3 * kv_row));
      _mm_storeu_ps(scores + b * score_stride + s, sums);
    }
  }
  for (; s < count; ++s) {
#pragma GCC unroll 4
    for (int b = 0; b < Q; ++b) scores[b * score_stride + s] = matmul_internal::Sum16(DotLanes<C>(qv[b], k + s * kv_row));
  }

  // Per head: scale, soft-cap, maximum; the weights (into scores) and their f64 sum.
  double sums[Q];
  const __m512 scale = _mm512_set1_ps(p.scale);
  for (int b = 0; b < Q; ++b) {
    float* row = scores + b * score_stride;
    __m512 max16 = _mm512_set1_ps(-INFINITY);
    for (s = 0; s < count; s += 16) {
      const __mmask16 m = TailMask(count - s);
      __m512 x = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, row + s), scale);
      if (p.softcap > 0.f) {
        alignas(64) float tmp[16];
        _mm512_store_ps(tmp, x);
        for (int i = 0; i < 16; ++i) tmp[i] = p.softcap * std::tanh(tmp[i] / p.softcap);
        x = _mm512_load_ps(tmp);
      }
      _mm512_mask_storeu_ps(row + s, m, x);
      max16 = _mm512_mask_max_ps(max16, m, max16, x);
    }
    const __m512 max_score = _mm512_set1_ps(_mm512_reduce_max_ps(max16));
    __m512d sum_lo = _mm512_setzero_pd(), sum_hi = _mm512_setzero_pd();
    for (s = 0; s < count; s += 16) {
      const __mmask16 m = TailMask(count - s);
      const __m512 w =
          _mm512_maskz_mov_ps(m, cpu_internal::Exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, row + s), max_score)));
      _mm512_mask_storeu_ps(row + s, m, w);
      sum_lo = _mm512_add_pd(sum_lo, _mm512_cvtps_pd(_mm512_castps512_ps256(w)));
      sum_hi = _mm512_add_pd(sum_hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(w), 1))));
    }
    sums[b] = _mm512_reduce_add_pd(_mm512_add_pd(sum_lo, sum_hi));
  }

  // Pass 2: the weighted values, even and odd keys apart.
  __m512 even[Q][C], odd[Q][C];
#pragma GCC unroll 4
  for (int b = 0; b < Q; ++b)
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) even[b][c] = odd[b][c] = _mm512_setzero_ps();
  for (s = 0; s + 2 <= count; s += 2) {
    __m512 w0[Q], w1[Q];
#pragma GCC unroll 4
    for (int b = 0; b < Q; ++b) {
      w0[b] = _mm512_set1_ps(scores[b * score_stride + s]);
      w1[b] = _mm512_set1_ps(scores[b * score_stride + s + 1]);
    }
    const float* v0 = v + s * kv_row;
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) {
      const __m512 a = _mm512_loadu_ps(v0 + 16 * c), e = _mm512_loadu_ps(v0 + kv_row + 16 * c);
#pragma GCC unroll 4
      for (int b = 0; b < Q; ++b) {
        even[b][c] = _mm512_fmadd_ps(w0[b], a, even[b][c]);
        odd[b][c] = _mm512_fmadd_ps(w1[b], e, odd[b][c]);
      }
    }
  }
  if (s < count) {
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) {
      const __m512 a = _mm512_loadu_ps(v + s * kv_row + 16 * c);
#pragma GCC unroll 4
      for (int b = 0; b < Q; ++b) even[b][c] = _mm512_fmadd_ps(_mm512_set1_ps(scores[b * score_stride + s]), a, even[b][c]);
    }
  }
#pragma GCC unroll 4
  for (int b = 0; b < Q; ++b) {
    const __m512 inv = _mm512_set1_ps(static_cast<float>(1.0 / sums[b]));
    float* out = p.out + j * p.out_stride + (h + b) * d;
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) _mm512_storeu_ps(out + 16 * c, _mm512_mul_ps(_mm512_add_ps(even[b][c], odd[b][c]), inv));
  }
}

}  // namespace

int AttentionAvx512Heads(const AttentionParams& p) {
  const int64_t group = p.num_heads / p.num_kv_heads;
  // Three heads hold 3 x 3 x C accumulators and query chunks: within the 32
  // registers up to head_dim 32 (C = 2).
  if (group % 3 == 0 && p.head_dim <= 32) return 3;
  return group % 2 == 0 && p.head_dim <= 64 ? 2 : 1;
}

void AttendAvx512(const AttentionParams& p, int64_t j, int64_t h, float* scores, int64_t score_stride) {
  const int heads = AttentionAvx512Heads(p);
  const bool two = heads == 2;
  switch (p.head_dim) {
    case 16:
      if (heads == 3) return Attend<1, 3>(p, j, h, scores, score_stride);
      return two ? Attend<1, 2>(p, j, h, scores, score_stride) : Attend<1, 1>(p, j, h, scores, score_stride);
    case 32:
      if (heads == 3) return Attend<2, 3>(p, j, h, scores, score_stride);
      return two ? Attend<2, 2>(p, j, h, scores, score_stride) : Attend<2, 1>(p, j, h, scores, score_stride);
    case 64: return two ? Attend<4, 2>(p, j, h, scores, score_stride) : Attend<4, 1>(p, j, h, scores, score_stride);
    case 128: return Attend<8, 1>(p, j, h, scores, score_stride);
    case 256: return Attend<16, 1>(p, j, h, scores, score_stride);
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
int AttentionAvx512Heads(const AttentionParams&) { return 1; }
void AttendAvx512(const AttentionParams&, int64_t, int64_t, float*, int64_t) {}

}  // namespace matspec::attention_internal

#endif
