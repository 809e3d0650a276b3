// AVX-512 tiles with f32 x (every weight dtype; also the bf16-weight path when
// a context asks for f32 activations). Two 16-lane accumulators per output
// element (even and odd steps of 16 columns), the k tail through masked loads
// (which never touch the padding of a slice), then their sum and the reduction
// of matmul_avx512_reduce.h.
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

#include "kernels/cpu/matmul_avx512_reduce.h"
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")

namespace matspec::matmul_internal {
namespace {

// Sixteen weights as f32; lanes past `mask` are zero.
template <DType D>
inline __m512 Load16(const char* row, int64_t c, __mmask16 mask) {
  if constexpr (D == DType::kF32) {
    return _mm512_maskz_loadu_ps(mask, reinterpret_cast<const float*>(row) + c);
  } else {
    const __m256i h = _mm256_maskz_loadu_epi16(mask, reinterpret_cast<const uint16_t*>(row) + c);
    if constexpr (D == DType::kF16) {
      return _mm512_cvtph_ps(h);
    } else {  // bf16: the upper half of an f32
      return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
  }
}

// Column step s (16 columns) goes to accumulator s % 2 of its output: two
// independent chains per output, so that even one row at a time keeps the FMA
// units busy while its weights stream in.
template <DType D>
struct Avx512 {
  template <int R, int T>
  struct Tile {
    // One 16-column step at c into accumulators [H]; mask selects the columns
    // that exist.
    template <int H>
    static inline void Step(const TileArgs& a, const float* x, int64_t c, __mmask16 mask,
                            __m512 (&acc)[R][T][2]) {
      __m512 xv[T];
#pragma GCC unroll 8
      for (int j = 0; j < T; ++j) xv[j] = _mm512_maskz_loadu_ps(mask, x + j * a.x_ld + c);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const __m512 wv = Load16<D>(a.w_rows[r], c, mask);
#pragma GCC unroll 8
        for (int j = 0; j < T; ++j) acc[r][j][H] = _mm512_fmadd_ps(wv, xv[j], acc[r][j][H]);
      }
    }

    static void Run(const TileArgs& a) {
      const float* x = static_cast<const float*>(a.x);
      constexpr int64_t kElem = DTypeSize(D);
      __m512 acc[R][T][2];
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
        for (int j = 0; j < T; ++j)
#pragma GCC unroll 2
          for (int h = 0; h < 2; ++h) {
            acc[r][j][h] = a.k0 == 0 ? _mm512_setzero_ps()
                                     : _mm512_loadu_ps(a.acc + ((r * T + j) * 2 + h) * 16);
          }
      const int64_t end = a.k1 == a.k ? a.k / 32 * 32 : a.k1;
      int64_t c = a.k0;
      if (a.prefetch_bytes > 0) {
        for (; c < end; c += 32) {
#pragma GCC unroll 8
          for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
            for (int64_t b = 0; b < 32 * kElem; b += 64) {
              _mm_prefetch(a.w_rows[r] + a.prefetch_bytes + c * kElem + b, _MM_HINT_T1);
            }
          }
          Step<0>(a, x, c, 0xffff, acc);
          Step<1>(a, x, c + 16, 0xffff, acc);
        }
      }
      for (; c < end; c += 32) {
        Step<0>(a, x, c, 0xffff, acc);
        Step<1>(a, x, c + 16, 0xffff, acc);
      }
      if (a.k1 < a.k) {
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
          for (int j = 0; j < T; ++j)
#pragma GCC unroll 2
            for (int h = 0; h < 2; ++h) {
              _mm512_storeu_ps(a.acc + ((r * T + j) * 2 + h) * 16, acc[r][j][h]);
            }
        return;
      }
      // The tail: at most one whole step (into [0]) and one partial step.
      if (c + 16 <= a.k) {
        Step<0>(a, x, c, 0xffff, acc);
        c += 16;
        if (c < a.k) Step<1>(a, x, c, static_cast<__mmask16>((1u << (a.k - c)) - 1), acc);
      } else if (c < a.k) {
        Step<0>(a, x, c, static_cast<__mmask16>((1u << (a.k - c)) - 1), acc);
      }
      __m512 flat[R * T];  // a copy, so that acc itself stays in registers
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
        for (int j = 0; j < T; ++j) flat[r * T + j] = _mm512_add_ps(acc[r][j][0], acc[r][j][1]);
      SumAll16<R * T>(flat, a.s);
    }
  };
};

}  // namespace
}  // namespace matspec::matmul_internal

#pragma GCC pop_options
#pragma GCC diagnostic pop

namespace matspec::matmul_internal {
namespace {

TileSet MakeSet() {
  TileSet set;
  set.name = "avx512";
  // 4 rows x 3 tokens x 2 accumulators + 3 x vectors + 1 weight vector of the
  // 32 registers.
  for (DTypeTiles& d : set.dtypes) {
    SetUniformShape(d, 4, 4, 3, 32);
    d.software_prefetch = true;
  }
  FillTiles<Avx512<DType::kF32>::Tile, 4, 3>(set.dtypes[DTypeIndex(DType::kF32)].tiles);
  FillTiles<Avx512<DType::kF16>::Tile, 4, 3>(set.dtypes[DTypeIndex(DType::kF16)].tiles);
  FillTiles<Avx512<DType::kBF16>::Tile, 4, 3>(set.dtypes[DTypeIndex(DType::kBF16)].tiles);
  AddQuantTiles(set);  // q8 / q4
  return set;
}

}  // namespace

const TileSet& Avx512TileSet() {
  static const TileSet set = MakeSet();
  return set;
}

}  // namespace matspec::matmul_internal

#endif  // defined(__x86_64__)
