// AVX-512 SwiGLU, GELU-tanh and soft-cap (kernels/cpu/activation_avx512.h).
#include "kernels/cpu/activation_avx512.h"

#include <cstdint>

#include "kernels/cpu/cpu_features.h"

#if defined(__x86_64__)

#include <immintrin.h>

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")
// GCC 12's AVX-512 headers start some intrinsics from an "undefined" vector,
// which its flow analysis reports as uninitialized (a false positive).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "kernels/cpu/avx512_exp.h"

namespace matspec::activation_internal {

namespace {

// out = act(gate) * up over p's rows, 16 elements at a time; act maps a
// vector of gate values to their activations.
template <typename Act>
inline void GatedRowsAvx512(const GatedActivationParams& p, Act act) {
  for (int64_t r = 0; r < p.rows; ++r) {
    const float* gate = p.gate + r * p.stride;
    const float* up = p.up + r * p.stride;
    float* out = p.out + r * p.stride;
    for (int64_t i = 0; i < p.n; i += 16) {
      const __mmask16 m = p.n - i >= 16 ? static_cast<__mmask16>(0xffff)
                                        : static_cast<__mmask16>((1u << (p.n - i)) - 1);
      const __m512 g = _mm512_maskz_loadu_ps(m, gate + i);
      _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(act(g), _mm512_maskz_loadu_ps(m, up + i)));
    }
  }
}

}  // namespace

void SiluRowsAvx512(const GatedActivationParams& p) {
  const __m512 one = _mm512_set1_ps(1.f);
  GatedRowsAvx512(p, [&](__m512 g) {
    return _mm512_div_ps(g, _mm512_add_ps(one, cpu_internal::Exp16(_mm512_sub_ps(_mm512_setzero_ps(), g))));
  });
}

void GeluTanhRowsAvx512(const GatedActivationParams& p) {
  const __m512 one = _mm512_set1_ps(1.f), k = _mm512_set1_ps(-2.f * 0.7978845608028654f);
  const __m512 c = _mm512_set1_ps(0.044715f), overflow = _mm512_set1_ps(88.f);
  GatedRowsAvx512(p, [&](__m512 g) {
    // -2u = -2 sqrt(2/pi) (g + 0.044715 g^3)
    const __m512 minus_2u = _mm512_mul_ps(k, _mm512_fmadd_ps(_mm512_mul_ps(c, g), _mm512_mul_ps(g, g), g));
    const __m512 e = cpu_internal::Exp16(minus_2u);
    // Where exp(-2u) overflows, 1 + tanh(u) is 0 in f32 and so is the result.
    const __mmask16 finite = _mm512_cmp_ps_mask(minus_2u, overflow, _CMP_LT_OQ);
    return _mm512_maskz_div_ps(finite, g, _mm512_add_ps(one, e));
  });
}

void LogitSoftcapAvx512(float* x, int64_t n, float cap) {
  const __m512 vcap = _mm512_set1_ps(cap), two_over_cap = _mm512_set1_ps(2.f / cap);
  const __m512 one = _mm512_set1_ps(1.f), two = _mm512_set1_ps(2.f);
  constexpr int kNonFinite = 0x01 | 0x08 | 0x10 | 0x80;  // QNaN, +inf, -inf, SNaN
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
    const __m512 e = cpu_internal::Exp16(_mm512_mul_ps(v, two_over_cap));
    const __m512 t = _mm512_sub_ps(one, _mm512_div_ps(two, _mm512_add_ps(e, one)));
    const __mmask16 finite = m & static_cast<__mmask16>(~_mm512_fpclass_ps_mask(v, kNonFinite));
    _mm512_mask_storeu_ps(x + i, finite, _mm512_mul_ps(vcap, t));
  }
}

}  // namespace matspec::activation_internal

#pragma GCC diagnostic pop
#pragma GCC pop_options

namespace matspec::activation_internal {

bool HasAvx512Activations() { return GetCpuFeatures().avx512; }

}  // namespace matspec::activation_internal

#else

namespace matspec::activation_internal {

bool HasAvx512Activations() { return false; }
void SiluRowsAvx512(const GatedActivationParams&) {}
void GeluTanhRowsAvx512(const GatedActivationParams&) {}
void LogitSoftcapAvx512(float*, int64_t, float) {}

}  // namespace matspec::activation_internal

#endif
