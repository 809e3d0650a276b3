// AVX512_BF16 tiles for bf16 weights: x rounded to bf16 once per call
// (vcvtneps2bf16: round to nearest even, subnormals to zero), then vdpbf16ps,
// which multiplies 32 bf16 pairs exactly and adds them into 16 f32 lanes. Two
// accumulators per output element (even and odd steps of 32 columns), the
// weight tail through a masked load (x rows are zero-padded to 32), then their
// sum and the reduction of matmul_avx512_reduce.h. f16 and f32 weights take the f32-x AVX-512 tiles.
#if defined(__x86_64__)

#include <immintrin.h>

#include <cstdint>

#include "kernels/cpu/matmul_tiles.h"

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx2,fma,f16c")
// GCC 12's AVX-512 headers start some intrinsics from an "undefined" vector,
// which its flow analysis reports as uninitialized (a false positive).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "kernels/cpu/matmul_avx512_reduce.h"

namespace matspec::matmul_internal {
namespace {

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

// Column step s (32 columns) goes to accumulator s % 2 of its output: two
// independent chains per output, so that even one row at a time keeps the
// dot-product unit busy while its weights stream in.
template <int R, int T>
struct Bf16Tile {
  // One 32-column step at c into accumulators [H]; mask selects the weight
  // columns that exist.
  template <int H>
  static inline void Step(const TileArgs& a, const uint16_t* x, int64_t c, __mmask32 mask,
                          __m512 (&acc)[R][T][2]) {
    __m512i xv[T];
#pragma GCC unroll 8
    for (int j = 0; j < T; ++j) xv[j] = _mm512_loadu_si512(x + j * a.x_ld + c);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512i wv =
          _mm512_maskz_loadu_epi16(mask, reinterpret_cast<const uint16_t*>(a.w_rows[r]) + c);
#pragma GCC unroll 8
      for (int j = 0; j < T; ++j) {
        acc[r][j][H] = _mm512_dpbf16_ps(acc[r][j][H], reinterpret_cast<const __m512bh&>(wv),
                                        reinterpret_cast<const __m512bh&>(xv[j]));
      }
    }
  }

  static void Run(const TileArgs& a) {
    const uint16_t* x = static_cast<const uint16_t*>(a.x);
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
    const int64_t end = a.k1 == a.k ? a.k / 64 * 64 : a.k1;
    int64_t c = a.k0;
    if (a.prefetch_bytes > 0) {
      for (; c < end; c += 64) {
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
          _mm_prefetch(a.w_rows[r] + a.prefetch_bytes + 2 * c, _MM_HINT_T0);
          _mm_prefetch(a.w_rows[r] + a.prefetch_bytes + 2 * c + 64, _MM_HINT_T0);
        }
        Step<0>(a, x, c, ~__mmask32{0}, acc);
        Step<1>(a, x, c + 32, ~__mmask32{0}, acc);
      }
    }
    for (; c < end; c += 64) {
      Step<0>(a, x, c, ~__mmask32{0}, acc);
      Step<1>(a, x, c + 32, ~__mmask32{0}, acc);
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
    if (c + 32 <= a.k) {
      Step<0>(a, x, c, ~__mmask32{0}, acc);
      c += 32;
      if (c < a.k) Step<1>(a, x, c, static_cast<__mmask32>((uint64_t{1} << (a.k - c)) - 1), acc);
    } else if (c < a.k) {
      Step<0>(a, x, c, static_cast<__mmask32>((uint64_t{1} << (a.k - c)) - 1), acc);
    }
    __m512 flat[R * T];  // a copy, so that acc itself stays in registers
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
      for (int j = 0; j < T; ++j) flat[r * T + j] = _mm512_add_ps(acc[r][j][0], acc[r][j][1]);
    SumAll16<R * T>(flat, a.s);
  }
};

}  // namespace
}  // namespace matspec::matmul_internal

#pragma GCC diagnostic pop
#pragma GCC pop_options

namespace matspec::matmul_internal {
namespace {

TileSet MakeSet() {
  TileSet set = Avx512TileSet();  // f16 / f32 weights, the tile shape and acc_lanes
  set.name = "avx512-bf16";
  const int bf16 = DTypeIndex(DType::kBF16);
  set.bf16_x[bf16] = true;
  set.round_x = &RoundX;
  for (auto& row : set.tiles[bf16]) {
    for (TileFn& f : row) f = nullptr;
  }
  FillTiles<Bf16Tile, 4, 3>(set.tiles[bf16]);
  return set;
}

}  // namespace

const TileSet& Avx512Bf16TileSet() {
  static const TileSet set = MakeSet();
  return set;
}

}  // namespace matspec::matmul_internal

#endif  // defined(__x86_64__)
