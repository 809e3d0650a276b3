// AVX512_VNNI tiles for quantized weights (kQ8, kQ4). x comes quantized per
// block of 32 (QuantizeXRow). One step covers a 64-column chunk (two blocks)
// of every row and token of the tile:
//   w: q8: 64 int8, flipped to unsigned by xor 0x80 (w + 128, in [1, 255]);
//      q4: 32 bytes unpacked to 64 nibbles (w + 8, in [0, 15]) in column order;
//   vpdpbusd(bias, w_unsigned, x_int8): 16 int32 lanes, lane l the exact dot
//      product of 4 columns; the bias lanes (-128 or -8 times the sum of
//      those 4 x values, precomputed with x) remove the offset exactly;
//   acc += (float(lanes) * d_x) * d_w, lanes 0-7 with the scales of the first
//      block and lanes 8-15 with those of the second.
// Each output has one 16-lane accumulator over k in chunk order and the tree
// reduction of matmul_avx512_reduce.h, whatever the tile shape: batch
// invariant. k is a multiple of 32; a last half chunk loads one block only
// (x's padding is zeros, its bias lanes zero).
#if defined(__x86_64__)

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/cpu/matmul_tiles.h"

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "kernels/cpu/matmul_avx512_reduce.h"

namespace matspec::matmul_internal {
namespace {

template <DType D>
struct Vnni {
  // The weight chunk at column c of a row, as unsigned bytes in column order.
  static inline __m512i LoadW(const char* row, int64_t c, bool full) {
    if constexpr (D == DType::kQ8) {
      const __m512i v = full ? _mm512_loadu_si512(row + c)
                             : _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + c)));
      return _mm512_xor_si512(v, _mm512_set1_epi8(static_cast<char>(0x80)));
    } else {
      const char* p = row + c / 2;
      const __m256i v = full ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))
                             : _mm256_zextsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
      const __m256i low = _mm256_set1_epi8(0x0f);
      const __m256i lo = _mm256_and_si256(v, low);                         // [A 0-15 | B 0-15]
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);  // [A 16-31 | B 16-31]
      const __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
      return _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0));
    }
  }

  // The weight scales of the chunk at column c: lanes 0-7 block c/32, 8-15 the next.
  static inline __m512 LoadScales(const uint16_t* scales, int64_t c, bool full) {
    uint32_t bits = scales[c / 32];
    if (full) bits |= static_cast<uint32_t>(scales[c / 32 + 1]) << 16;
    const __m128 f = _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(bits)));
    const __m512i idx = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(f));
  }

  template <int R, int T>
  struct Tile {
    // One 64-column chunk at c. dw(r) gives row r's scale vector for it.
    template <typename ScalesOf>
    static inline void Step(const TileArgs& a, const char* x, int64_t kp, int64_t c, bool full, ScalesOf dw,
                            __m512 (&acc)[R][T]) {
      __m512i w[R];
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) w[r] = LoadW(a.w_rows[r], c, full);
#pragma GCC unroll 8
      for (int j = 0; j < T; ++j) {
        const char* xj = x + j * a.x_ld;
        const __m512i xq = _mm512_loadu_si512(xj + c);
        const __m512i bias = _mm512_loadu_si512(xj + kp + c);
        const __m512 dx = _mm512_loadu_ps(reinterpret_cast<const float*>(xj + 2 * kp + c));
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
          const __m512 f = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(bias, w[r], xq));
          acc[r][j] = _mm512_fmadd_ps(_mm512_mul_ps(f, dx), dw(r), acc[r][j]);
        }
      }
    }

    static void Run(const TileArgs& a) {
      const char* x = static_cast<const char*>(a.x);
      const int64_t kp = QuantXPaddedK(a.k);
      __m512 acc[R][T];
      LoadTileAcc(a, acc);
      const int64_t end = a.k1 == a.k ? a.k / 64 * 64 : a.k1;
      // Scales 16 blocks (8 chunks) at a time: one load and conversion per
      // row, then one permutation per chunk spreads a chunk's two scales.
      const __m512i first_idx = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
      int64_t c = a.k0;
      while (c < end) {
        const int64_t group_end = std::min(end, c + 512);
        const __mmask16 blocks = static_cast<__mmask16>((1u << ((group_end - c) / 32)) - 1);
        __m512 sv[R];
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
          sv[r] = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(blocks, a.scale_rows[r] + c / 32));
        }
        __m512i idx = first_idx;
        for (; c < group_end; c += 64, idx = _mm512_add_epi32(idx, _mm512_set1_epi32(2))) {
          if (a.prefetch_bytes > 0) {
#pragma GCC unroll 8
            for (int r = 0; r < R; ++r) {
              _mm_prefetch(a.w_rows[r] + a.prefetch_bytes + DTypeRowBytes(D, c), _MM_HINT_T1);
              if ((c & 1023) == 0) {
                _mm_prefetch(reinterpret_cast<const char*>(a.scale_rows[r]) + a.scale_prefetch_bytes + c / 16,
                             _MM_HINT_T1);
              }
            }
          }
          Step(a, x, kp, c, true, [&](int r) { return _mm512_permutexvar_ps(idx, sv[r]); }, acc);
        }
      }
      if (a.k1 < a.k) {
        StoreTileAcc(a, acc);
        return;
      }
      if (c < a.k) {  // one last block of 32
        Step(a, x, kp, c, false, [&](int r) { return LoadScales(a.scale_rows[r], c, false); }, acc);
      }
      FinishTile(acc, a.s);
    }
  };
};

}  // namespace
}  // namespace matspec::matmul_internal

#pragma GCC diagnostic pop
#pragma GCC pop_options

namespace matspec::matmul_internal {

void AddVnniQuantTiles(TileSet& set) {
  // R for T tokens: R*T accumulators + R weight chunks + R scale vectors + 3 x
  // vectors within the 32 registers.
  const int rows[kMaxTileTokens] = {8, 6, 4, 4, 4, 4, 4, 4};
  for (DType dtype : {DType::kQ8, DType::kQ4}) {
    DTypeTiles& d = set.dtypes[DTypeIndex(dtype)];
    d = DTypeTiles{};
    d.quant_x = true;
    d.software_prefetch = true;
    d.acc_lanes = 16;
    d.max_tokens = 4;
    for (int i = 0; i < kMaxTileTokens; ++i) d.rows[i] = rows[i];
    d.cached_single_token_rows = 4;
  }
  FillTiles<Vnni<DType::kQ8>::Tile, 8, 4>(set.dtypes[DTypeIndex(DType::kQ8)].tiles);
  FillTiles<Vnni<DType::kQ4>::Tile, 8, 4>(set.dtypes[DTypeIndex(DType::kQ4)].tiles);
}

}  // namespace matspec::matmul_internal

#endif  // defined(__x86_64__)
