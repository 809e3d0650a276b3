// AVX512_BF16 tiles for bf16 weights: x rounded to bf16 once per call
// (vcvtneps2bf16: round to nearest even, subnormals to zero), then vdpbf16ps,
// which multiplies 32 bf16 pairs exactly and adds them into 16 f32 lanes. One
// accumulator per output element over k in steps of 32, the weight tail
// through a masked load (x rows are zero-padded to 32), then the reduction of
// matmul_avx512_reduce.h. f16 and f32 weights take the f32-x AVX-512 tiles.
//
// The same sums with f32 FMAs (Bf16FmaTile, for 2+ tokens): vdpbf16ps adds,
// per lane, the product of the odd pair element into the accumulator and then
// that of the even one, each exact product added with one rounding to nearest
// even, denormal inputs read as zero and denormal results flushed (the Intel
// SDM's pseudo-code). Two FMAs on the widened values with MXCSR's DAZ and FTZ
// set do exactly that, so Bf16FmaTile gives the bits of Bf16Tile; x comes
// rounded to bf16 as for Bf16Tile, widened to f32 and split per 32-column
// chunk into its 16 even then its 16 odd columns (SplitX). Where vdpbf16ps is
// slow and 512-bit FMAs are fast (Intel Xeon: two FMAs issue for each
// vdpbf16ps), this is the faster way to verify a few tokens.
// Bf16FmaExactOnThisCpu checks the premise on the running CPU before the
// driver may use the FMA tiles (kernels/matmul.h: Bf16FewTokenKernel).
#if defined(__x86_64__)

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>

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

// x rounded as RoundX does, widened back to f32 and split per 32-column chunk
// c into out[c .. c+15] = its even columns, out[c+16 .. c+31] = its odd ones;
// zeros up to padded_n (a multiple of 32).
void SplitX(const float* x, int64_t n, int64_t padded_n, float* out) {
  for (int64_t c = 0; c < padded_n; c += 32) {
    const int64_t left = n - c;
    const __mmask16 m0 = left >= 16 ? 0xffff : left > 0 ? static_cast<__mmask16>((1u << left) - 1) : 0;
    const __mmask16 m1 = left >= 32 ? 0xffff : left > 16 ? static_cast<__mmask16>((1u << (left - 16)) - 1) : 0;
    const __m256bh lo = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m0, x + c));
    const __m256bh hi = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m1, x + c + 16));
    // 16 dwords, each an (even, odd) pair of bf16 values.
    const __m512i pairs = _mm512_inserti64x4(_mm512_castsi256_si512(reinterpret_cast<const __m256i&>(lo)),
                                             reinterpret_cast<const __m256i&>(hi), 1);
    StoreSplitBf16Pairs(pairs, out + c);
  }
}

// The column loop of the bf16 tiles (Tile::Step sums one 32-column step of
// x's type X): columns [a.k0, a.k1) in order, the weight tail through a
// masked step, the accumulators parked between column blocks or reduced.
template <class Tile, int R, int T, typename X>
inline void RunBf16Columns(const TileArgs& a, const X* x) {
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
      Tile::Step(a, x, c, ~__mmask32{0}, acc);
    }
  }
  for (; c < end; c += 32) Tile::Step(a, x, c, ~__mmask32{0}, acc);
  if (a.k1 < a.k) {
    StoreTileAcc(a, acc);
    return;
  }
  if (c < a.k) Tile::Step(a, x, c, static_cast<__mmask32>((uint64_t{1} << (a.k - c)) - 1), acc);
  FinishTile(acc, a.s);
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

  static void Run(const TileArgs& a) { RunBf16Columns<Bf16Tile, R, T>(a, static_cast<const uint16_t*>(a.x)); }
};

// Bf16Tile's sums with f32 FMAs (x from SplitX: x_ld in floats). The R
// weight chunks are widened once per step and every token's x is read from
// L1 as the FMA's memory operand: 2R + 2RT vector operations per step.
template <int R, int T>
struct Bf16FmaTile {
  static inline void Step(const TileArgs& a, const float* x, int64_t c, __mmask32 mask, __m512 (&acc)[R][T]) {
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512i w = _mm512_maskz_loadu_epi16(mask, reinterpret_cast<const uint16_t*>(a.w_rows[r]) + c);
      const __m512 we = Bf16PairsEven(w), wo = Bf16PairsOdd(w);
#pragma GCC unroll 8
      for (int j = 0; j < T; ++j) acc[r][j] = FmaBf16Pairs(acc[r][j], we, wo, x + j * a.x_ld + c);
    }
  }

  static void Run(const TileArgs& a) {
    const DenormalsAreZero daz;
    RunBf16Columns<Bf16FmaTile, R, T>(a, static_cast<const float*>(a.x));
  }
};

// Whether FmaBf16Pairs gives vdpbf16ps's bits on this CPU: lanes of random
// pairs at many scales, sums that cancel, products that underflow, denormal
// bf16 inputs and signed zeros (a fixed pseudo-random set, ~1 ms).
bool CheckFmaReproducesDot() {
  const DenormalsAreZero daz;
  uint64_t state = 0x9e3779b97f4a7c15ull;
  auto next = [&state] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<uint32_t>(state >> 32);
  };
  auto bf16_of = [](float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return static_cast<uint16_t>(u >> 16);
  };
  auto widen = [](uint16_t h) {
    const uint32_t u = static_cast<uint32_t>(h) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  };
  for (int trial = 0; trial < 4000; ++trial) {
    const int mode = trial % 5;
    alignas(64) uint16_t w[32], xb[32];
    alignas(64) float acc[16], xs[32];
    for (int i = 0; i < 32; ++i) {
      // Roughly normal-sized values from the top bits, then scaled per mode.
      float fw = (static_cast<float>(next() >> 8) / 8388608.f - 1.f) * 2.f;
      float fx = (static_cast<float>(next() >> 8) / 8388608.f - 1.f) * 2.f;
      if (mode == 1) {
        fw = std::ldexp(fw, static_cast<int>(next() % 60) - 30);
        fx = std::ldexp(fx, static_cast<int>(next() % 60) - 30);
      } else if (mode == 3) {
        fw = std::ldexp(fw, -60 - static_cast<int>(next() % 10));
        fx = std::ldexp(fx, -60 - static_cast<int>(next() % 10));
      }
      w[i] = bf16_of(fw);
      xb[i] = bf16_of(fx);
      if (mode == 4) (next() % 2 ? w[i] : xb[i]) = static_cast<uint16_t>(next() & 0x807f);  // denormal or zero
    }
    for (int l = 0; l < 16; ++l) {
      const float pe = widen(w[2 * l]) * widen(xb[2 * l]), po = widen(w[2 * l + 1]) * widen(xb[2 * l + 1]);
      acc[l] = mode == 2   ? -(pe + po) * (1.f + 1e-6f * static_cast<float>(next() % 5))  // cancellation
               : mode >= 3 ? (next() % 2 ? 0.f : -0.f)
                           : (static_cast<float>(next() >> 8) / 8388608.f - 1.f) * 4.f;
      xs[l] = widen(xb[2 * l]);
      xs[16 + l] = widen(xb[2 * l + 1]);
    }
    const __m512 a = _mm512_load_ps(acc);
    const __m512i wv = _mm512_load_si512(w);
    const __m512 dot = _mm512_dpbf16_ps(a, reinterpret_cast<const __m512bh&>(wv),
                                        reinterpret_cast<const __m512bh&>(*reinterpret_cast<const __m512i*>(xb)));
    const __m512 fma = FmaBf16Pairs(a, Bf16PairsEven(wv), Bf16PairsOdd(wv), xs);
    if (_mm512_cmpneq_epi32_mask(_mm512_castps_si512(dot), _mm512_castps_si512(fma)) != 0) return false;
  }
  return true;
}

// Issue rate of 12 independent chains of `op`, in instructions per second:
// the best of three short runs (~0.1 ms each).
template <typename Op>
double ChainRate(Op op) {
  double best = 0;
  for (int attempt = 0; attempt < 3; ++attempt) {
    __m512 acc[12];
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
    constexpr int kIterations = 4096;
    const auto start = std::chrono::steady_clock::now();
    for (int it = 0; it < kIterations; ++it) {
#pragma GCC unroll 12
      for (int i = 0; i < 12; ++i) acc[i] = op(acc[i]);
      __asm__ volatile("" : "+v"(acc[0]), "+v"(acc[1]), "+v"(acc[2]), "+v"(acc[3]));
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    __m512 sum = acc[0];
    for (int i = 1; i < 12; ++i) sum = _mm512_add_ps(sum, acc[i]);
    volatile float sink = _mm512_reduce_add_ps(sum);
    (void)sink;
    if (seconds > 0) best = std::max(best, 12.0 * kIterations / seconds);
  }
  return best;
}

// True when two FMAs issue faster than one vdpbf16ps by a margin (for the
// widening) on this CPU: one FmaBf16Pairs then beats one vdpbf16ps.
bool MeasureFmaPairsFaster() {
  const __m512bh b = reinterpret_cast<const __m512bh&>(static_cast<const __m512i&>(_mm512_set1_epi16(0x3f80)));
  const __m512 f = _mm512_set1_ps(1.0001f), g = _mm512_set1_ps(0.9999f);
  const double dot = ChainRate([&](__m512 v) { return _mm512_dpbf16_ps(v, b, b); });
  const double fma = ChainRate([&](__m512 v) { return _mm512_fmadd_ps(v, f, g); });
  return fma > 2.0 * 1.15 * dot;
}

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
  // R for T tokens: at least 4 chains, at most 24 accumulators, and R + T
  // loads per R*T vdpbf16ps. Measured on Zen 4 (1 vdpbf16ps per cycle, 6
  // cycles latency) from DRAM: 8 tokens as 4 + 4 cost 1.2-1.4x one token,
  // against 1.6-1.8x as one tile of 3 rows x 8 tokens; 9 tokens as 5 + 4
  // 1.25-1.65x, against 1.5-1.9x as 3 x 3. One token streams 8 rows at a time.
  SetPrefetchingShape(d, 5, {8, 8, 8, 6, 4, 4, 3, 3}, 4);
  FillTiles<Bf16Tile, 8, 5>(d.tiles);
  return set;
}

DTypeTiles MakeFmaTiles() {
  DTypeTiles d;
  d.split_x = true;
  // R for T tokens: R*T accumulators + 2 widened weight chunks within the 32
  // registers; x is a memory operand.
  SetPrefetchingShape(d, 8, {8, 8, 6, 5, 4, 4, 3, 3}, 4);
  FillTiles<Bf16FmaTile, 8, 8>(d.tiles);
  return d;
}

}  // namespace


const TileSet& Avx512Bf16TileSet() {
  static const TileSet set = MakeSet();
  return set;
}

const DTypeTiles& Avx512Bf16FmaTiles() {
  static const DTypeTiles tiles = MakeFmaTiles();
  return tiles;
}

void SplitXLikeBf16Tiles(const float* x, int64_t n, int64_t padded_n, float* out) { SplitX(x, n, padded_n, out); }

bool Bf16FmaExactOnThisCpu() {
  static const bool exact = CheckFmaReproducesDot();
  return exact;
}

bool Bf16FmaFasterOnThisCpu() {
  static const bool faster = MeasureFmaPairsFaster();
  return faster;
}

}  // namespace matspec::matmul_internal

#endif  // defined(__x86_64__)
