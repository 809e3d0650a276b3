// AVX512_BF16 tiles for bf16 weights: x rounded to bf16 once per call
// (vcvtneps2bf16: round to nearest even, subnormals to zero), then vdpbf16ps,
// which multiplies 32 bf16 pairs exactly and adds them into 16 f32 lanes. One
// accumulator per output element over k in steps of 32, the weight tail
// through a masked load (x rows are zero-padded to 32), then the reduction of
// matmul_avx512_reduce.h. f16 and f32 weights take the f32-x AVX-512 tiles.
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

// One accumulator per output element, 32 columns per step. A tile of R rows
// x T tokens keeps R*T independent vdpbf16ps chains, which is what hides the
// instruction's latency; the driver therefore never runs one row against one
// token (the R for each T is chosen in MakeSet). Per step, the smaller of the
// R weight vectors and the T x vectors is held in registers and the other is
// loaded as it is used: R*T accumulators + min(R, T) + 1 of the 32 registers.
template <int R, int T>
struct Bf16Tile {
  // One 32-column step at c; mask selects the weight columns that exist.
  static inline void Step(const TileArgs& a, const uint16_t* x, int64_t c, __mmask32 mask,
                          __m512 (&acc)[R][T]) {
    if constexpr (T <= R) {
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
    } else {
      __m512i wv[R];
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        wv[r] = _mm512_maskz_loadu_epi16(mask, reinterpret_cast<const uint16_t*>(a.w_rows[r]) + c);
      }
#pragma GCC unroll 8
      for (int j = 0; j < T; ++j) {
        const __m512i xv = _mm512_loadu_si512(x + j * a.x_ld + c);
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
          acc[r][j] = _mm512_dpbf16_ps(acc[r][j], reinterpret_cast<const __m512bh&>(wv[r]),
                                       reinterpret_cast<const __m512bh&>(xv));
        }
      }
    }
  }

  static void Run(const TileArgs& a) {
    const uint16_t* x = static_cast<const uint16_t*>(a.x);
    __m512 acc[R][T];
    LoadTileAcc(a, acc);
    const int64_t end = a.k1 == a.k ? a.k / 32 * 32 : a.k1;
    int64_t c = a.k0;
    if (a.prefetch_bytes > 0) {
      // One cache line of each row per step, prefetch_bytes ahead, into L2:
      // measured on Zen 4, one token streams 20-25 GB/s this way against
      // 11-17 GB/s prefetching into L1 (which the tile's own rows and x need).
      for (; c < end; c += 32) {
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) _mm_prefetch(a.w_rows[r] + a.prefetch_bytes + 2 * c, _MM_HINT_T1);
        Step(a, x, c, ~__mmask32{0}, acc);
      }
    }
    for (; c < end; c += 32) Step(a, x, c, ~__mmask32{0}, acc);
    if (a.k1 < a.k) {
      StoreTileAcc(a, acc);
      return;
    }
    if (c < a.k) Step(a, x, c, static_cast<__mmask32>((uint64_t{1} << (a.k - c)) - 1), acc);
    FinishTile(acc, a.s);
  }
};

}  // namespace
}  // namespace matspec::matmul_internal

#pragma GCC diagnostic pop
#pragma GCC pop_options

namespace matspec::matmul_internal {
namespace {

TileSet MakeSet() {
  TileSet set = Avx512TileSet();  // f16 / f32 weights
  set.name = "avx512-bf16";
  set.round_x = &RoundX;
  DTypeTiles& d = set.dtypes[DTypeIndex(DType::kBF16)];
  d = DTypeTiles{};
  d.bf16_x = true;
  d.software_prefetch = true;
  d.acc_lanes = 16;
  // R for T tokens: at least 4 chains, at most 24 accumulators, and R + T
  // loads per R*T vdpbf16ps. Measured on Zen 4 (1 vdpbf16ps per cycle, 6
  // cycles latency) from DRAM: 8 tokens as 4 + 4 cost 1.2-1.4x one token,
  // against 1.6-1.8x as one tile of 3 rows x 8 tokens; 9 tokens as 5 + 4
  // 1.25-1.65x, against 1.5-1.9x as 3 x 3. One token streams 8 rows at a time.
  d.max_tokens = 5;
  const int rows[kMaxTileTokens] = {8, 8, 8, 6, 4, 4, 3, 3};
  for (int i = 0; i < kMaxTileTokens; ++i) d.rows[i] = rows[i];
  d.cached_single_token_rows = 4;
  FillTiles<Bf16Tile, 8, 5>(d.tiles);
  return set;
}

}  // namespace

const TileSet& Avx512Bf16TileSet() {
  static const TileSet set = MakeSet();
  return set;
}

}  // namespace matspec::matmul_internal

#endif  // defined(__x86_64__)
