// CPU matrix product y = x W^T against bf16 / f16 / f32 weight views.
//
// Work layout. Output rows (= weight rows) are split statically over the OpenMP
// team. Each thread takes its rows in small groups and runs every token of x
// against a group while those weight rows sit in L1, so each weight byte comes
// from memory once per call whatever t is: verifying k+1 tokens reads the
// weights once, like a single decode step. k is cut into chunks so that the
// slice of x for all tokens stays in L2 (this only matters when t * k is large).
//
// Two paths with the same structure: AVX2 + FMA + F16C intrinsics, chosen once
// at run time with __builtin_cpu_supports, and a portable one the compiler
// vectorises as it can. Both accumulate in f32 with several accumulators.
#include "kernels/matmul.h"

#include <algorithm>
#include <cassert>
#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MATSPEC_HAVE_X86 1
#define MATSPEC_AVX2 __attribute__((target("avx2,fma,f16c")))
#else
#define MATSPEC_HAVE_X86 0
#endif

namespace matspec {
namespace {

// Below this many multiply-adds a team costs more than it saves.
constexpr int64_t kMinParallelMacs = int64_t{1} << 17;
// Weight rows a thread owns as one unit of the static schedule (a multiple of
// both row blockings below).
constexpr int64_t kRowGroup = 12;
// Tokens run against one group of weight rows per kernel call.
constexpr int kTokenBlock = 4;
// Budget (floats) for the x chunk of all tokens: 128 KiB, well inside L2.
constexpr int64_t kXChunkFloats = 32 * 1024;

int64_t ChunkCols(int64_t t, int64_t k) {
  int64_t c = kXChunkFloats / std::max<int64_t>(t, 1);
  c = std::max<int64_t>(512, c / 64 * 64);  // a multiple of every SIMD step
  return c >= k ? k : c;
}

// One kernel call: s[r * T + j] = sum over c in [k0, k1) of W[r, c] * x[j, c]
// for R weight rows starting at `w` (rows w_ld elements apart) and T tokens
// starting at `x` (rows x_ld apart).
struct BlockArgs {
  const char* w;
  int64_t w_ld_bytes;
  const float* x;
  int64_t x_ld;
  int64_t k0;
  int64_t k1;
};

// ---------------------------------------------------------------- portable --

template <DType D>
inline float LoadW(const char* row, int64_t c) {
  return LoadAsF32(row, D, c);
}

// Eight partial sums: the compiler vectorises this for any target without
// reassociation flags.
inline float Dot8(const float* a, const float* b, int64_t n) {
  float acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int l = 0; l < 8; ++l) acc[l] += a[i + l] * b[i + l];
  }
  float v = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; i < n; ++i) v += a[i] * b[i];
  return v;
}

// Each weight row is converted to f32 a chunk at a time into an L1 buffer,
// and every token takes its dot product with that chunk.
template <DType D, int R, int T>
void BlockPortable(const BlockArgs& a, float* s) {
  constexpr int64_t kChunk = 256;
  float wbuf[kChunk];
  for (int i = 0; i < R * T; ++i) s[i] = 0.f;
  for (int r = 0; r < R; ++r) {
    const char* row = a.w + r * a.w_ld_bytes;
    for (int64_t c0 = a.k0; c0 < a.k1; c0 += kChunk) {
      const int64_t len = std::min(kChunk, a.k1 - c0);
      for (int64_t i = 0; i < len; ++i) wbuf[i] = LoadW<D>(row, c0 + i);
      for (int j = 0; j < T; ++j) s[r * T + j] += Dot8(wbuf, a.x + j * a.x_ld + c0, len);
    }
  }
}

// -------------------------------------------------------------------- AVX2 --

#if MATSPEC_HAVE_X86

template <DType D>
MATSPEC_AVX2 inline __m256 Load8(const char* row, int64_t c) {
  if constexpr (D == DType::kF32) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + c);
  } else {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(
        reinterpret_cast<const uint16_t*>(row) + c));
    if constexpr (D == DType::kF16) {
      return _mm256_cvtph_ps(h);
    } else {  // bf16: the upper half of an f32
      return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
  }
}

MATSPEC_AVX2 inline float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

template <DType D, int R, int T>
MATSPEC_AVX2 void BlockAvx2(const BlockArgs& a, float* s) {
  // Single token: U = 4 vectors per row in flight. Decode is memory bound, and
  // on one Zen core more independent loads in flight measured faster (about
  // 16 GB/s at 4 rows x 4, against 12-13 at 4 x 2); x comes from L1.
  constexpr int U = (R * T <= 4) ? 4 / T : 1;
  __m256 acc[U][R][T];
#pragma GCC unroll 16
  for (int u = 0; u < U; ++u)
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
      for (int j = 0; j < T; ++j) acc[u][r][j] = _mm256_setzero_ps();

  int64_t c = a.k0;
  for (; c + 8 * U <= a.k1; c += 8 * U) {
#pragma GCC unroll 16
    for (int u = 0; u < U; ++u) {
      __m256 xv[T];  // each x vector is loaded once and used by all R rows
#pragma GCC unroll 16
      for (int j = 0; j < T; ++j) xv[j] = _mm256_loadu_ps(a.x + j * a.x_ld + c + 8 * u);
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        const __m256 wv = Load8<D>(a.w + r * a.w_ld_bytes, c + 8 * u);
#pragma GCC unroll 16
        for (int j = 0; j < T; ++j) acc[u][r][j] = _mm256_fmadd_ps(wv, xv[j], acc[u][r][j]);
      }
    }
  }
  for (; c + 8 <= a.k1; c += 8) {
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const __m256 wv = Load8<D>(a.w + r * a.w_ld_bytes, c);
#pragma GCC unroll 16
      for (int j = 0; j < T; ++j) {
        acc[0][r][j] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(a.x + j * a.x_ld + c), acc[0][r][j]);
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    const char* row = a.w + r * a.w_ld_bytes;
    for (int j = 0; j < T; ++j) {
      __m256 sum = acc[0][r][j];
      for (int u = 1; u < U; ++u) sum = _mm256_add_ps(sum, acc[u][r][j]);
      float v = HorizontalSum(sum);
      const float* xj = a.x + j * a.x_ld;
      for (int64_t cc = c; cc < a.k1; ++cc) v += LoadW<D>(row, cc) * xj[cc];
      s[r * T + j] = v;
    }
  }
}

#endif  // MATSPEC_HAVE_X86

template <DType D, int R, int T, bool kSimd>
void Block(const BlockArgs& a, float* s) {
#if MATSPEC_HAVE_X86
  if constexpr (kSimd) {
    BlockAvx2<D, R, T>(a, s);
    return;
  }
#endif
  BlockPortable<D, R, T>(a, s);
}

// Runs rows [r0, r0 + R) against all tokens over columns [k0, k1), writing or
// adding into y. `store` is true for the first column chunk of a
// non-accumulating product.
template <DType D, int R, bool kSimd>
void RowGroup(const MatMulParams& p, int64_t r0, int64_t k0, int64_t k1, bool store) {
  const int64_t elem = DTypeSize(D);
  // With a row gather R is 1 and r0 indexes row_ids: the W row and y column.
  const int64_t wr = p.row_ids != nullptr ? p.row_ids[r0] : r0;
  BlockArgs a{static_cast<const char*>(p.w.Row(wr)), p.w.ld * elem, nullptr, p.x_ld, k0, k1};
  float s[R * kTokenBlock];
  for (int64_t j0 = 0; j0 < p.t; j0 += kTokenBlock) {
    const int tb = static_cast<int>(std::min<int64_t>(kTokenBlock, p.t - j0));
    a.x = p.x + j0 * p.x_ld;
    switch (tb) {
      case 1: Block<D, R, 1, kSimd>(a, s); break;
      case 2: Block<D, R, 2, kSimd>(a, s); break;
      case 3: Block<D, R, 3, kSimd>(a, s); break;
      default: Block<D, R, 4, kSimd>(a, s); break;
    }
    for (int j = 0; j < tb; ++j) {
      float* yj = p.y + (j0 + j) * p.y_ld + wr;
      for (int r = 0; r < R; ++r) yj[r] = store ? s[r * tb + j] : yj[r] + s[r * tb + j];
    }
  }
}

// Rows [r_begin, r_end) over columns [k0, k1): four rows at a time for a single
// token (memory bound: enough independent accumulators is all that matters),
// three at a time for several tokens: 3 x 4 accumulators + 4 x vectors + 1
// weight vector fill the 16 AVX2 registers, and that tile measured fastest
// (about 40 GMAC/s on one core, against 26 for 2 x 4 and 35-37 for 4 x 3).
template <DType D, bool kSimd>
void RowRange(const MatMulParams& p, int64_t r_begin, int64_t r_end, int64_t k0, int64_t k1,
              bool store) {
  int64_t r = r_begin;
  if (p.row_ids != nullptr) {
    // Gathered rows are not evenly spaced: one at a time.
  } else if (p.t == 1) {
    for (; r + 4 <= r_end; r += 4) RowGroup<D, 4, kSimd>(p, r, k0, k1, store);
  } else {
    for (; r + 3 <= r_end; r += 3) RowGroup<D, 3, kSimd>(p, r, k0, k1, store);
  }
  for (; r < r_end; ++r) RowGroup<D, 1, kSimd>(p, r, k0, k1, store);
}

template <DType D, bool kSimd>
void MatMulTyped(const CpuContext& ctx, const MatMulParams& p) {
  const int64_t n = p.row_ids != nullptr ? p.num_row_ids : p.w.rows, k = p.w.cols;
  const int64_t groups = (n + kRowGroup - 1) / kRowGroup;
  int64_t threads = std::clamp<int64_t>(ctx.num_threads, 1, groups);
  if (n * k * p.t < kMinParallelMacs) threads = 1;
  const int64_t chunk = ChunkCols(p.t, k);
  if (k == 0) {  // empty sum
    if (!p.accumulate) {
      for (int64_t j = 0; j < p.t; ++j) {
        for (int64_t i = 0; i < n; ++i) p.y[j * p.y_ld + (p.row_ids != nullptr ? p.row_ids[i] : i)] = 0.f;
      }
    }
    return;
  }
#pragma omp parallel num_threads(static_cast<int>(threads)) if (threads > 1)
  {
    for (int64_t k0 = 0; k0 < k; k0 += chunk) {
      const int64_t k1 = std::min(k, k0 + chunk);
      const bool store = k0 == 0 && !p.accumulate;
      // Same iteration space in every chunk: each thread keeps its rows.
#pragma omp for schedule(static) nowait
      for (int64_t g = 0; g < groups; ++g) {
        RowRange<D, kSimd>(p, g * kRowGroup, std::min(n, (g + 1) * kRowGroup), k0, k1, store);
      }
    }
  }
}

template <bool kSimd>
void MatMulDispatch(const CpuContext& ctx, const MatMulParams& p) {
  assert(p.Valid());
  if (p.t <= 0 || p.w.rows <= 0 || (p.row_ids != nullptr && p.num_row_ids <= 0)) return;
  switch (p.w.dtype) {
    case DType::kBF16: MatMulTyped<DType::kBF16, kSimd>(ctx, p); return;
    case DType::kF16: MatMulTyped<DType::kF16, kSimd>(ctx, p); return;
    case DType::kF32: MatMulTyped<DType::kF32, kSimd>(ctx, p); return;
  }
}

bool CpuHasAvx2() {
#if MATSPEC_HAVE_X86
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                          __builtin_cpu_supports("f16c");
  return has;
#else
  return false;
#endif
}

}  // namespace

bool MatMulParams::Valid() const {
  return x != nullptr && y != nullptr && w.data != nullptr && t >= 0 && w.rows >= 0 &&
         w.cols >= 0 && w.ld >= w.cols && x_ld >= w.cols && y_ld >= w.rows && num_row_ids >= 0;
}

void MatMul(const CpuContext& ctx, const MatMulParams& p) {
  if (CpuHasAvx2()) {
    MatMulDispatch<true>(ctx, p);
  } else {
    MatMulDispatch<false>(ctx, p);
  }
}

void MatMulPortable(const CpuContext& ctx, const MatMulParams& p) {
  MatMulDispatch<false>(ctx, p);
}

const char* MatMulIsaName() { return CpuHasAvx2() ? "avx2+fma+f16c" : "portable"; }

void MatMulReference(const MatMulParams& p) {
  for (int64_t j = 0; j < p.t; ++j) {
    const float* xj = p.x + j * p.x_ld;
    float* yj = p.y + j * p.y_ld;
    const int64_t n = p.row_ids != nullptr ? p.num_row_ids : p.w.rows;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t r = p.row_ids != nullptr ? p.row_ids[i] : i;
      double s = 0.0;
      for (int64_t c = 0; c < p.w.cols; ++c) {
        s += static_cast<double>(xj[c]) * static_cast<double>(p.w.At(r, c));
      }
      yj[r] = static_cast<float>(p.accumulate ? static_cast<double>(yj[r]) + s : s);
    }
  }
}

}  // namespace matspec
