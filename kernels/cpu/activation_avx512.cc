// AVX-512 SwiGLU (kernels/cpu/activation_avx512.h).
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

void SiluRowsAvx512(const GatedActivationParams& p) {
  const __m512 one = _mm512_set1_ps(1.f);
  for (int64_t r = 0; r < p.rows; ++r) {
    const float* gate = p.gate + r * p.stride;
    const float* up = p.up + r * p.stride;
    float* out = p.out + r * p.stride;
    for (int64_t i = 0; i < p.n; i += 16) {
      const __mmask16 m = p.n - i >= 16 ? static_cast<__mmask16>(0xffff)
                                        : static_cast<__mmask16>((1u << (p.n - i)) - 1);
      const __m512 g = _mm512_maskz_loadu_ps(m, gate + i);
      const __m512 e = cpu_internal::Exp16(_mm512_sub_ps(_mm512_setzero_ps(), g));
      const __m512 silu = _mm512_div_ps(g, _mm512_add_ps(one, e));
      _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(silu, _mm512_maskz_loadu_ps(m, up + i)));
    }
  }
}

}  // namespace matspec::activation_internal

#pragma GCC diagnostic pop
#pragma GCC pop_options

namespace matspec::activation_internal {

bool HasAvx512Silu() { return GetCpuFeatures().avx512; }

}  // namespace matspec::activation_internal

#else

namespace matspec::activation_internal {

bool HasAvx512Silu() { return false; }
void SiluRowsAvx512(const GatedActivationParams&) {}

}  // namespace matspec::activation_internal

#endif
