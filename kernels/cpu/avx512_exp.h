// Internal to the AVX-512 CPU kernels: exp of 16 floats, within 2 ulp of expf
// on the range that matters (softmax weights, SiLU). x = n ln2 + r with
// |r| <= ln2 / 2 (ln2 in two parts so that r is exact), exp(r) by a
// polynomial with Cephes' expf coefficients, then 2^n by vscalefps. x is
// clamped to [-104, 89] first: below, the result is 0; above, +inf; NaN gives 0.
// Include only inside a region compiled for AVX-512 F (a target pragma).
#ifndef MATSPEC_KERNELS_CPU_AVX512_EXP_H_
#define MATSPEC_KERNELS_CPU_AVX512_EXP_H_

#if defined(__x86_64__)

#include <immintrin.h>

namespace matspec::cpu_internal {

inline __m512 Exp16(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-104.f)), _mm512_set1_ps(89.f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 poly = _mm512_set1_ps(1.9875691500e-4f);
  poly = _mm512_fmadd_ps(poly, r, _mm512_set1_ps(1.3981999507e-3f));
  poly = _mm512_fmadd_ps(poly, r, _mm512_set1_ps(8.3334519073e-3f));
  poly = _mm512_fmadd_ps(poly, r, _mm512_set1_ps(4.1665795894e-2f));
  poly = _mm512_fmadd_ps(poly, r, _mm512_set1_ps(1.6666665459e-1f));
  poly = _mm512_fmadd_ps(poly, r, _mm512_set1_ps(5.0000001201e-1f));
  const __m512 y = _mm512_add_ps(_mm512_fmadd_ps(poly, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.f));
  return _mm512_scalef_ps(y, n);
}

}  // namespace matspec::cpu_internal

#endif  // defined(__x86_64__)

#endif  // MATSPEC_KERNELS_CPU_AVX512_EXP_H_
