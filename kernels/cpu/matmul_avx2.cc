// AVX2 + FMA + F16C tiles, f32 x. One 8-lane accumulator per output element,
// k in steps of 8; the k tail is copied into zero-padded buffers so the same
// vector code finishes it; then one fixed lane reduction.
#if defined(__x86_64__)

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/cpu/matmul_tiles.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

namespace matspec::matmul_internal {
namespace {

template <DType D>
inline __m256 Load8(const char* row, int64_t c) {
  if constexpr (D == DType::kF32) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + c);
  } else {
    const __m128i h = _mm_loadu_si128(
        reinterpret_cast<const __m128i*>(reinterpret_cast<const uint16_t*>(row) + c));
    if constexpr (D == DType::kF16) {
      return _mm256_cvtph_ps(h);
    } else {  // bf16: the upper half of an f32
      return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
  }
}

// (l0 + l4) ... then pairs, then the last two: the reduction every AVX2 tile uses.
inline float Sum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

template <DType D>
struct Avx2 {
  template <int R, int T>
  struct Tile {
    static void Run(const TileArgs& a) {
      const float* x = static_cast<const float*>(a.x);
      __m256 acc[R][T];
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
        for (int j = 0; j < T; ++j) {
          acc[r][j] = a.k0 == 0 ? _mm256_setzero_ps() : _mm256_loadu_ps(a.acc + (r * T + j) * 8);
        }
      const int64_t k8 = a.k1 == a.k ? a.k / 8 * 8 : a.k1;
      const int64_t elem = DTypeSize(D);
      for (int64_t c = a.k0; c < k8; c += 8) {
        if (a.prefetch_bytes > 0 && (c * elem) % 64 == 0) {
#pragma GCC unroll 8
          for (int r = 0; r < R; ++r) {
            _mm_prefetch(a.w_rows[r] + a.prefetch_bytes + c * elem, _MM_HINT_T1);
          }
        }
        // R weight vectors, then one x vector at a time: 3 x 4 accumulators +
        // 3 + 1 fill the 16 registers without a spill.
        __m256 wv[R];
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) wv[r] = Load8<D>(a.w_rows[r], c);
#pragma GCC unroll 8
        for (int j = 0; j < T; ++j) {
          const __m256 xv = _mm256_loadu_ps(x + j * a.x_ld + c);
#pragma GCC unroll 8
          for (int r = 0; r < R; ++r) acc[r][j] = _mm256_fmadd_ps(wv[r], xv, acc[r][j]);
        }
      }
      if (a.k1 < a.k) {
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
          for (int j = 0; j < T; ++j) _mm256_storeu_ps(a.acc + (r * T + j) * 8, acc[r][j]);
        return;
      }
      if (k8 < a.k) {  // tail: zero-padded copies, the same FMA
        const int64_t len = a.k - k8;
        alignas(32) char wt[32] = {};
        alignas(32) float xt[8] = {};
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
          std::memcpy(wt, a.w_rows[r] + k8 * elem, len * elem);
          const __m256 wv = Load8<D>(wt, 0);
#pragma GCC unroll 8
          for (int j = 0; j < T; ++j) {
            std::memcpy(xt, x + j * a.x_ld + k8, len * sizeof(float));
            acc[r][j] = _mm256_fmadd_ps(wv, _mm256_load_ps(xt), acc[r][j]);
          }
        }
      }
      // Unrolled so that acc stays in registers (a loop would keep a copy in memory).
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
        for (int j = 0; j < T; ++j) a.s[r * T + j] = Sum8(acc[r][j]);
    }
  };
};

#pragma GCC pop_options

TileSet MakeSet() {
  TileSet set;
  set.name = "avx2+fma+f16c";
  // R weight vectors + 1 x vector + R*T accumulators of the 16 registers:
  // 4 rows for 1 and 2 tokens, 3 rows for 3 and 4. Every dtype prefetches DRAM
  // weights in software, so that one token keeps 4 independent FMA chains
  // (one row at a time, one chain, is latency-bound at ~13-16 GB/s).
  for (DTypeTiles& d : set.dtypes) {
    SetUniformShape(d, 4, 3, 4, 8);
    d.rows[1] = 4;
    d.software_prefetch = true;
  }
  FillTiles<Avx2<DType::kF32>::Tile, 4, 4>(set.dtypes[DTypeIndex(DType::kF32)].tiles);
  FillTiles<Avx2<DType::kF16>::Tile, 4, 4>(set.dtypes[DTypeIndex(DType::kF16)].tiles);
  FillTiles<Avx2<DType::kBF16>::Tile, 4, 4>(set.dtypes[DTypeIndex(DType::kBF16)].tiles);
  AddPortableQuantTiles(set);  // q8 / q4
  return set;
}

}  // namespace

const TileSet& Avx2TileSet() {
  static const TileSet set = MakeSet();
  return set;
}

}  // namespace matspec::matmul_internal

#endif  // defined(__x86_64__)
