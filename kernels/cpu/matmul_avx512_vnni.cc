// AVX512_VNNI tiles for quantized weights (kQ8, kQ4). x comes quantized per
// block of 32 (QuantizeXRowVnni). Every row and token of a tile advance
// together, one step at a time:
//   q8: a step is a 64-column chunk (two blocks A, B): 64 int8 weights,
//      flipped to unsigned by xor 0x80 (w + 128, in [1, 255]); lanes 0-7
//      are A's, 8-15 B's;
//   q4: a step is 128 columns (four blocks A-D, 64 bytes of each row): the
//      low nibbles are columns [A0-15 B0-15 C0-15 D0-15], the high ones
//      [A16-31 B16-31 C16-31 D16-31] (w + 8, in [0, 15]); x comes as those
//      two vectors, so lane l holds 8 columns of block l / 4;
//   vpdpbusd(bias, w_unsigned, x_int8) (twice for q4, low then high): 16
//      int32 lanes, each the exact dot product of its columns; the bias lanes
//      (-128 or -8 times the sum of those x values, precomputed with x)
//      remove the offset exactly;
//   acc += float(lanes) * (d_w * d_x), each lane with the scales of its block.
// Each output has one 16-lane accumulator over k in step order and the tree
// reduction of matmul_avx512_reduce.h, whatever the tile shape: batch
// invariant. k is a multiple of 32; a last partial step loads the blocks
// that exist (x's padding is zeros, its bias and scale lanes zero).
#if defined(__x86_64__)

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/cpu/matmul_tiles.h"
#include "kernels/quantize.h"

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "kernels/cpu/matmul_avx512_reduce.h"

namespace matspec::matmul_internal {
namespace {

// The scales of up to 16 blocks (the mask) from column c, one lane per block,
// for every row of a tile: the weight scales, and for one token already
// multiplied by x's block scales (block_d). Several tokens form the same
// products per step, so every tile shape multiplies the same two floats.
template <int R, int T>
inline void LoadGroupScales(const TileArgs& a, const char* x, int64_t kp, int64_t c, __mmask16 blocks,
                            __m512 (&sv)[R]) {
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) sv[r] = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(blocks, a.scale_rows[r] + c / 32));
  if constexpr (T == 1) {
    const __m512 x_blocks = _mm512_maskz_loadu_ps(blocks, reinterpret_cast<const float*>(x + 3 * kp) + c / 32);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) sv[r] = _mm512_mul_ps(sv[r], x_blocks);
  }
}

// The q8 tiles: one 64-column chunk per step.
struct Q8 {
  // The weight chunk at column c of a row, as unsigned bytes in column order.
  static inline __m512i LoadW(const char* row, int64_t c, bool full) {
    const __m512i v = full ? _mm512_loadu_si512(row + c)
                           : _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + c)));
    return _mm512_xor_si512(v, _mm512_set1_epi8(static_cast<char>(0x80)));
  }

  // Lane l of a chunk takes the scale of block FirstScaleIndex()[l] (0: the
  // chunk's first block, 1: the second); adding 2 moves to the next chunk.
  static inline __m512i FirstScaleIndex() {
    return _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  }

  // The weight scales of the chunk at column c, per lane.
  static inline __m512 LoadScales(const uint16_t* scales, int64_t c, bool full) {
    uint32_t bits = scales[c / 32];
    if (full) bits |= static_cast<uint32_t>(scales[c / 32 + 1]) << 16;
    const __m128 f = _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(bits)));
    return _mm512_permutexvar_ps(FirstScaleIndex(), _mm512_castps128_ps512(f));
  }

  template <int R, int T>
  struct Tile {
    // One 64-column chunk at c. scale(r, j, dx) gives the per-lane product of
    // row r's and token j's block scales, dx being token j's scale lanes for
    // the chunk: acc += float(lanes) * (w scale * x scale), the one form every
    // tile shape uses (batch invariance).
    template <typename ScaleOf>
    static inline void Step(const TileArgs& a, const char* x, int64_t kp, int64_t c, bool full, ScaleOf scale,
                            __m512 (&acc)[R][T]) {
      __m512i w[R];
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) w[r] = LoadW(a.w_rows[r], c, full);
#pragma GCC unroll 8
      for (int j = 0; j < T; ++j) {
        const char* xj = x + j * a.x_ld;
        const __m512i xq = _mm512_loadu_si512(xj + c);
        const __m512i bias = _mm512_loadu_si512(xj + kp + c);
        const float* dx = reinterpret_cast<const float*>(xj + 2 * kp + c);
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
          const __m512 f = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(bias, w[r], xq));
          acc[r][j] = _mm512_fmadd_ps(f, scale(r, j, dx), acc[r][j]);
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
      const __m512i first_idx = FirstScaleIndex();
      int64_t c = a.k0;
      while (c < end) {
        const int64_t group_end = std::min(end, c + 512);
        const __mmask16 blocks = static_cast<__mmask16>((1u << ((group_end - c) / 32)) - 1);
        // The group's scales; one permutation per chunk then spreads a
        // chunk's two blocks over its lanes.
        __m512 sv[R];
        LoadGroupScales<R, T>(a, x, kp, c, blocks, sv);
        __m512i idx = first_idx;
        for (; c < group_end; c += 64, idx = _mm512_add_epi32(idx, _mm512_set1_epi32(2))) {
          if (a.prefetch_bytes > 0) {
#pragma GCC unroll 8
            for (int r = 0; r < R; ++r) {
              _mm_prefetch(a.w_rows[r] + a.prefetch_bytes + c, _MM_HINT_T1);
              if ((c & 1023) == 0) {
                _mm_prefetch(reinterpret_cast<const char*>(a.scale_rows[r]) + a.scale_prefetch_bytes + c / 16,
                             _MM_HINT_T1);
              }
            }
          }
          Step(a, x, kp, c, true,
               [&](int r, int, const float* dx) {
                 if constexpr (T == 1) return _mm512_permutexvar_ps(idx, sv[r]);
                 return _mm512_mul_ps(_mm512_permutexvar_ps(idx, sv[r]), _mm512_loadu_ps(dx));
               },
               acc);
        }
      }
      if (a.k1 < a.k) {
        StoreTileAcc(a, acc);
        return;
      }
      if (c < a.k) {  // one last block of 32
        Step(a, x, kp, c, false,
             [&](int r, int, const float* dx) {
               return _mm512_mul_ps(LoadScales(a.scale_rows[r], c, false), _mm512_loadu_ps(dx));
             },
             acc);
      }
      FinishTile(acc, a.s);
    }
  };
};

// The q4 tiles: 128 columns (64 bytes of a row) per step.
struct Q4 {
  template <int R, int T>
  struct Tile {
    static void Run(const TileArgs& a) {
      const char* x = static_cast<const char*>(a.x);
      const int64_t kp = QuantXPaddedK(a.k);
      __m512 acc[R][T];
      LoadTileAcc(a, acc);
      const __m512i nibble = _mm512_set1_epi8(0x0f);
      // Lane l of step s within a group of 16 blocks takes block 4s + l / 4.
      const __m512i first_idx = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
      int64_t c = a.k0;
      while (c < a.k1) {
        // Scales 16 blocks (4 steps) at a time, as the q8 tiles do.
        const int64_t group_end = std::min(a.k1, c + 512);
        const __mmask16 blocks = static_cast<__mmask16>((1u << ((group_end - c) / 32)) - 1);
        __m512 sv[R];
        LoadGroupScales<R, T>(a, x, kp, c, blocks, sv);
        __m512i idx = first_idx;
        for (; c < group_end; c += 128, idx = _mm512_add_epi32(idx, _mm512_set1_epi32(4))) {
          const bool full = c + 128 <= group_end;
          // A last partial step: the bytes of its 1-3 blocks only.
          const __mmask64 bytes = full ? ~__mmask64{0} : (__mmask64{1} << ((group_end - c) / 2)) - 1;
          if (a.prefetch_bytes > 0) {
#pragma GCC unroll 8
            for (int r = 0; r < R; ++r) {
              _mm_prefetch(a.w_rows[r] + a.prefetch_bytes + c / 2, _MM_HINT_T1);
              if ((c & 1023) == 0) {
                _mm_prefetch(reinterpret_cast<const char*>(a.scale_rows[r]) + a.scale_prefetch_bytes + c / 16,
                             _MM_HINT_T1);
              }
            }
          }
          // Token j's values (low, high), bias lanes and, for several
          // tokens, scale lanes of this step.
          __m512i xlo[T], xhi[T], bias[T];
          __m512 dx[T];
#pragma GCC unroll 8
          for (int j = 0; j < T; ++j) {
            const char* xj = x + j * a.x_ld;
            xlo[j] = _mm512_loadu_si512(xj + c);
            xhi[j] = _mm512_loadu_si512(xj + c + 64);
            bias[j] = _mm512_loadu_si512(xj + kp + c);
            if constexpr (T > 1) dx[j] = _mm512_loadu_ps(reinterpret_cast<const float*>(xj + 2 * kp + c));
          }
#pragma GCC unroll 8
          for (int r = 0; r < R; ++r) {
            const char* p = a.w_rows[r] + c / 2;
            const __m512i v = full ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi8(bytes, p);
            const __m512i lo = _mm512_and_si512(v, nibble);
            const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), nibble);
            const __m512 sw = _mm512_permutexvar_ps(idx, sv[r]);
#pragma GCC unroll 8
            for (int j = 0; j < T; ++j) {
              const __m512i dot = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(bias[j], lo, xlo[j]), hi, xhi[j]);
              const __m512 s = T == 1 ? sw : _mm512_mul_ps(sw, dx[j]);
              acc[r][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), s, acc[r][j]);
            }
          }
        }
      }
      if (a.k1 < a.k) {
        StoreTileAcc(a, acc);
        return;
      }
      FinishTile(acc, a.s);
    }
  };
};

// Quantizes one block of 32 (len <= 32 values; zeros past len) into q as
// QuantizeActivationBlock does, bit for bit: the same amax, 127 / amax and
// products, vcvtps2dq rounding to nearest even as nearbyint does in the
// default mode, the same clamp. A block holding NaN or infinity goes to the
// scalar code. Returns the block's scale.
inline float QuantizeBlock32(const float* x, int64_t len, int8_t* q) {
  const __mmask16 m0 = len >= 16 ? 0xffff : static_cast<__mmask16>((1u << len) - 1);
  const __mmask16 m1 = len >= 32 ? 0xffff : len > 16 ? static_cast<__mmask16>((1u << (len - 16)) - 1) : 0;
  const __m512 v0 = _mm512_maskz_loadu_ps(m0, x), v1 = _mm512_maskz_loadu_ps(m1, x + 16);
  constexpr int kNonFinite = 0x01 | 0x08 | 0x10 | 0x80;  // QNaN, +inf, -inf, SNaN
  if ((_mm512_fpclass_ps_mask(v0, kNonFinite) | _mm512_fpclass_ps_mask(v1, kNonFinite)) != 0) {
    return QuantizeActivationBlock(x, len, q);
  }
  const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
  if (amax == 0.f) {
    std::memset(q, 0, kQuantBlock);
    return 0.f;
  }
  const __m512 inv = _mm512_set1_ps(127.f / amax);
  const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
  const __m512i i0 = _mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(v0, inv)), lo), hi);
  const __m512i i1 = _mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(v1, inv)), lo), hi);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(q), _mm512_cvtsepi32_epi8(i0));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(q + 16), _mm512_cvtsepi32_epi8(i1));
  return amax / 127.f;
}

}  // namespace

void QuantizeXRowVnni(const float* x, int64_t k, DType w_dtype, char* out) {
  const int64_t kp = QuantXPaddedK(k);
  int8_t* q = reinterpret_cast<int8_t*>(out);
  int32_t* bias = reinterpret_cast<int32_t*>(out + kp);
  float* d = reinterpret_cast<float*>(out + 2 * kp);
  float* block_d = reinterpret_cast<float*>(out + 3 * kp);
  const bool q4 = w_dtype == DType::kQ4;
  const int64_t step = q4 ? 128 : 64;  // columns of one tile step
  const __m512i neg_b = _mm512_set1_epi32(q4 ? -8 : -128);
  const __m512i ones = _mm512_set1_epi8(1);
  for (int64_t c = 0; c < kp; c += step) {
    alignas(64) int8_t blocks[128];
    float dc[4] = {0.f, 0.f, 0.f, 0.f};
    for (int h = 0; h < step / 32; ++h) {
      const int64_t b = c + 32 * h;
      if (b < k) {
        dc[h] = QuantizeBlock32(x + b, std::min<int64_t>(kQuantBlock, k - b), blocks + 32 * h);
      } else {
        std::memset(blocks + 32 * h, 0, kQuantBlock);
      }
      block_d[b / 32] = dc[h];
    }
    const __m512i v0 = _mm512_load_si512(blocks);
    if (q4) {
      // [A0-15 A16-31 B0-15 B16-31 | C.. D..] -> low [A0-15 B0-15 C0-15 D0-15],
      // high [A16-31 B16-31 C16-31 D16-31]; lane l's bias sums both halves.
      const __m512i v1 = _mm512_load_si512(blocks + 64);
      const __m512i lo = _mm512_permutex2var_epi64(v0, _mm512_set_epi64(13, 12, 9, 8, 5, 4, 1, 0), v1);
      const __m512i hi = _mm512_permutex2var_epi64(v0, _mm512_set_epi64(15, 14, 11, 10, 7, 6, 3, 2), v1);
      _mm512_storeu_si512(q + c, lo);
      _mm512_storeu_si512(q + c + 64, hi);
      const __m512i sums = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, lo), ones, hi);
      _mm512_storeu_si512(bias + c / 4, _mm512_mullo_epi32(sums, neg_b));
      _mm512_storeu_si512(bias + c / 4 + 16, _mm512_setzero_si512());
      const __m512 scale = _mm512_permutexvar_ps(_mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0),
                                                 _mm512_castps128_ps512(_mm_loadu_ps(dc)));
      _mm512_storeu_ps(d + c / 4, scale);
      _mm512_storeu_ps(d + c / 4 + 16, _mm512_setzero_ps());
    } else {
      _mm512_storeu_si512(q + c, v0);
      const __m512i sums = _mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, v0);  // 4 bytes a lane
      _mm512_storeu_si512(bias + c / 4, _mm512_mullo_epi32(sums, neg_b));
      _mm512_storeu_ps(d + c / 4, _mm512_mask_blend_ps(0xff00, _mm512_set1_ps(dc[0]), _mm512_set1_ps(dc[1])));
    }
  }
}

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
    d.quantize_x = &QuantizeXRowVnni;
    d.software_prefetch = true;
    d.acc_lanes = 16;
    d.max_tokens = 4;
    for (int i = 0; i < kMaxTileTokens; ++i) d.rows[i] = rows[i];
    d.cached_single_token_rows = 4;
  }
  FillTiles<Q8::Tile, 8, 4>(set.dtypes[DTypeIndex(DType::kQ8)].tiles);
  FillTiles<Q4::Tile, 8, 4>(set.dtypes[DTypeIndex(DType::kQ4)].tiles);
}

}  // namespace matspec::matmul_internal

#endif  // defined(__x86_64__)
