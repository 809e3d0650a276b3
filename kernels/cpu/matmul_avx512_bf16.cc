// AVX512_BF16 tiles for bf16 weights: x rounded to bf16 once per call
// (vcvtneps2bf16: round to nearest even, subnormals to zero), then vdpbf16ps,
// which multiplies 32 bf16 pairs exactly and adds them into 16 f32 lanes. One
// accumulator per output element, k in steps of 32, the weight tail through a
// masked load (x rows are zero-padded to 32), then one fixed lane reduction.
// f16 and f32 weights take the f32-x AVX-512 tiles.
#if defined(__x86_64__)

#include <immintrin.h>

#include <cstdint>

#include "kernels/cpu/matmul_tiles.h"

#pragma GCC push_options
// GCC 12's AVX-512 headers start some intrinsics from an "undefined" vector,
// which its flow analysis reports as uninitialized (a false positive).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx2,fma,f16c")

namespace matspec::matmul_internal {
namespace {

// Lane i + lane i+8, then i + i+4, then pairs, then the last two.
inline float Sum16(__m512 v) {
  const __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

void RoundX(const float* x, int64_t n, int64_t padded_n, uint16_t* out) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256bh b = _mm512_cvtneps_pbh(_mm512_loadu_ps(x + i));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), reinterpret_cast<const __m256i&>(b));
  }
  if (i < n) {
    const __mmask16 mask = static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m256bh b = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(mask, x + i));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), reinterpret_cast<const __m256i&>(b));
    i += 16;
  }
  for (; i < padded_n; i += 16) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), _mm256_setzero_si256());
  }
}

template <int R, int T>
struct Bf16Tile {
  static inline void Step(const TileArgs& a, const uint16_t* x, int64_t c, __mmask32 mask,
                          __m512 (&acc)[R][T]) {
    __m512i xv[T];
#pragma GCC unroll 8
    for (int j = 0; j < T; ++j) xv[j] = _mm512_loadu_si512(x + j * a.x_ld + c);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512i wv =
          _mm512_maskz_loadu_epi16(mask, reinterpret_cast<const uint16_t*>(a.w_rows[r]) + c);
#pragma GCC unroll 8
      for (int j = 0; j < T; ++j) {
        acc[r][j] = _mm512_dpbf16_ps(acc[r][j], reinterpret_cast<const __m512bh&>(wv),
                                     reinterpret_cast<const __m512bh&>(xv[j]));
      }
    }
  }

  static void Run(const TileArgs& a) {
    const uint16_t* x = static_cast<const uint16_t*>(a.x);
    __m512 acc[R][T];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
      for (int j = 0; j < T; ++j) acc[r][j] = _mm512_setzero_ps();
    const int64_t k32 = a.k / 32 * 32;
    int64_t c = 0;
    if (a.prefetch_bytes > 0) {
      for (; c < k32; c += 32) {
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) _mm_prefetch(a.w_rows[r] + a.prefetch_bytes + 2 * c, _MM_HINT_T0);
        Step(a, x, c, ~__mmask32{0}, acc);
      }
    }
    for (; c < k32; c += 32) Step(a, x, c, ~__mmask32{0}, acc);
    if (c < a.k) Step(a, x, c, static_cast<__mmask32>((uint64_t{1} << (a.k - c)) - 1), acc);
    for (int r = 0; r < R; ++r)
      for (int j = 0; j < T; ++j) a.s[r * T + j] = Sum16(acc[r][j]);
  }
};

}  // namespace
}  // namespace matspec::matmul_internal

#pragma GCC pop_options
#pragma GCC diagnostic pop

namespace matspec::matmul_internal {
namespace {

TileSet MakeSet() {
  TileSet set = Avx512TileSet();  // f16 / f32 weights, and the shape
  set.name = "avx512-bf16";
  const int bf16 = DTypeIndex(DType::kBF16);
  set.bf16_x[bf16] = true;
  set.round_x = &RoundX;
  for (auto& row : set.tiles[bf16]) {
    for (TileFn& f : row) f = nullptr;
  }
  FillTiles<Bf16Tile, 4, 6>(set.tiles[bf16]);
  return set;
}

}  // namespace

const TileSet& Avx512Bf16TileSet() {
  static const TileSet set = MakeSet();
  return set;
}

}  // namespace matspec::matmul_internal

#endif  // defined(__x86_64__)
