// The many-token bf16 product on AVX512_BF16 (kernels/cpu/gemm_bf16.h says
// what it computes and why its bits equal the tiles').
//
// With fma = true (CpuContext::bf16_sums) the kernels sum with f32 FMAs and
// x is packed widened to f32, split into even and odd columns per step.
//
// Layout and blocking:
//  - x is rounded to bf16 once per call (vcvtneps2bf16, as the tiles' RoundX)
//    into 4-token tiles [step][token][32 columns], zero past k and past t, so
//    the inner loop reads x as one sequential stream.
//  - A kernel call is kTileRows weight rows x 4 tokens over a column block:
//    each output keeps its one accumulator in a register, and a step loads
//    kTileRows weight vectors and 4 x vectors for 4 * kTileRows vdpbf16ps.
//  - Token blocks of at most kXBlockBytes of packed x stay in L2; within a
//    block a thread walks its rows 3 at a time and runs every token tile
//    against them while they sit in L1, so weights come from memory once per
//    token block and x from L2. k is cut into kColumnBlock columns so that
//    the 3 rows stay in L1 (k = 4096: 1.1x faster than whole rows); the
//    accumulators wait in memory between column blocks, which keeps every
//    output's arithmetic that of one pass.
//  - Before a row tile's token tiles run, the next row tile's columns are
//    prefetched into L2 (weights come from DRAM; measured 5-8% faster at
//    t = 512, 1.1-1.3x at t = 16-32).
//  - Threads split the rows (contiguous ranges of 3-row tiles); every thread
//    reads all of packed x.
#if defined(__x86_64__)

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "kernels/cpu/gemm_bf16.h"
#include "kernels/cpu_thread_pool.h"
#include "kernels/cpu_workspace.h"

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx2,fma,f16c")
// GCC 12's AVX-512 headers start some intrinsics from an "undefined" vector,
// which its flow analysis reports as uninitialized (a false positive).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "kernels/cpu/matmul_avx512_reduce.h"

namespace matspec::gemm_internal {
namespace {

// Rows per kernel call: 6 x 4 = 24 accumulators. Measured at t = 512, 1 thread
// (CPU time, min of 9): 4096 x 1024 33.1 / 23.1 / 22.6 ms and 1024 x 4096 35.5
// / 26.5 / 25.2 ms for 3 / 4 / 6 rows.
constexpr int kTileRows = 6;
constexpr int kTileTokens = 4;
constexpr int64_t kStep = 32;  // columns per vdpbf16ps
// Packed x per token block: most of L2 (measured on Zen 4, 1 MiB L2: 640 KB
// 3-5% faster than 384 KB or 896 KB, 10% faster than 192 KB at k = 4096).
constexpr int64_t kXBlockBytes = 640 * 1024;
// Columns per kernel call (a multiple of 64): 3 weight rows of this many
// columns (6 KB) stay in L1 beside the x tile being read.
constexpr int64_t kColumnBlock = 1024;
// Floats parked per kernel call between column blocks.
constexpr int64_t kParkFloats = kTileRows * kTileTokens * 16;
// Below this many multiply-adds one thread does the whole product.
constexpr int64_t kMinParallelMacs = int64_t{1} << 17;

// Rounds tokens [j0, j0 + kTileTokens) of x into out[step][token][kStep]:
// bf16 (X = uint16_t), or for the FMA kernels (X = float) the bf16 values
// widened to f32, each step's 16 even columns then its 16 odd ones (as the
// FMA tiles' SplitX).
template <typename X>
void PackTokenTile(const MatMulParams& p, int64_t j0, int64_t steps, X* out) {
  const int64_t k = p.w.cols;
  for (int jj = 0; jj < kTileTokens; ++jj) {
    const int64_t j = j0 + jj;
    const float* x = j < p.t ? p.x + j * p.x_ld : nullptr;
    for (int64_t s = 0; s < steps; ++s) {
      X* o = out + (s * kTileTokens + jj) * kStep;
      __m256bh halves[2];
      for (int h = 0; h < 2; ++h) {
        const int64_t c = s * kStep + h * 16;
        __m512 v = _mm512_setzero_ps();
        if (x != nullptr && c < k) {
          v = k - c >= 16 ? _mm512_loadu_ps(x + c)
                          : _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << (k - c)) - 1), x + c);
        }
        halves[h] = _mm512_cvtneps_pbh(v);
      }
      if constexpr (std::is_same_v<X, float>) {
        const __m512i pairs =
            _mm512_inserti64x4(_mm512_castsi256_si512(reinterpret_cast<const __m256i&>(halves[0])),
                               reinterpret_cast<const __m256i&>(halves[1]), 1);
        matmul_internal::StoreSplitBf16Pairs(pairs, o);
      } else {
        for (int h = 0; h < 2; ++h) {
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + h * 16), reinterpret_cast<const __m256i&>(halves[h]));
        }
      }
    }
  }
}

// Dot products of R weight rows with the kTileTokens tokens of one packed
// tile over the whole of k: s[r * kTileTokens + j]. One accumulator per
// output over k in steps of 32, the last step masked, then SumAll16: the
// bf16 tiles' arithmetic exactly (matmul_avx512_bf16.cc).
// X = float: the same sums with two f32 FMAs per vdpbf16ps, odd column first,
// under DAZ/FTZ (matmul_avx512_bf16.cc says why the bits are the same).
template <int R, typename X>
struct Kernel {
  using Acc = __m512[R][kTileTokens];

  // One 32-column step at column c; xs is the step's packed x.
  template <bool kMasked>
  static inline void Step(const uint16_t* const* w, int64_t c, const X* xs, __mmask32 mask, Acc& acc) {
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512i wv = kMasked ? _mm512_maskz_loadu_epi16(mask, w[r] + c) : _mm512_loadu_si512(w[r] + c);
      if constexpr (std::is_same_v<X, float>) {
        const __m512 we = matmul_internal::Bf16PairsEven(wv), wo = matmul_internal::Bf16PairsOdd(wv);
#pragma GCC unroll 4
        for (int j = 0; j < kTileTokens; ++j) acc[r][j] = matmul_internal::FmaBf16Pairs(acc[r][j], we, wo, xs + j * kStep);
      } else {
#pragma GCC unroll 4
        for (int j = 0; j < kTileTokens; ++j) {
          acc[r][j] = _mm512_dpbf16_ps(
              acc[r][j], reinterpret_cast<const __m512bh&>(wv),
              reinterpret_cast<const __m512bh&>(*reinterpret_cast<const __m512i*>(xs + j * kStep)));
        }
      }
    }
  }

  // Columns [k0, k1) of the product (k0 a multiple of 64; k1 too unless k1 ==
  // k). The accumulators wait in park[R][kTileTokens][16] between column
  // blocks: read when k0 > 0, written when k1 < k. When k1 == k, s gets the
  // dot products s[r * kTileTokens + j].
  static void Run(const uint16_t* const* w, const void* packed, int64_t k, int64_t k0, int64_t k1,
                  float* park, float* s) {
    const X* xp = static_cast<const X*>(packed);
    std::optional<matmul_internal::DenormalsAreZero> daz;
    if constexpr (std::is_same_v<X, float>) daz.emplace();
    Acc acc;
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
      for (int j = 0; j < kTileTokens; ++j) {
        acc[r][j] = k0 == 0 ? _mm512_setzero_ps() : _mm512_loadu_ps(park + (r * kTileTokens + j) * 16);
      }
    const int64_t full = k1 / kStep, steps = (k1 + kStep - 1) / kStep;
    constexpr int64_t kXStep = kTileTokens * kStep;  // packed x elements per step
    int64_t st = k0 / kStep;
    for (; st < full; ++st) Step<false>(w, st * kStep, xp + st * kXStep, 0, acc);
    if (k1 < k) {
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
        for (int j = 0; j < kTileTokens; ++j) _mm512_storeu_ps(park + (r * kTileTokens + j) * 16, acc[r][j]);
      return;
    }
    if (st < steps) {  // the partial last step
      const __mmask32 mask = static_cast<__mmask32>((uint64_t{1} << (k - st * kStep)) - 1);
      Step<true>(w, st * kStep, xp + st * kXStep, mask, acc);
    }
    __m512 flat[R * kTileTokens];  // a copy, so that acc itself stays in registers
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
      for (int j = 0; j < kTileTokens; ++j) flat[r * kTileTokens + j] = acc[r][j];
    matmul_internal::SumAll16<R * kTileTokens>(flat, s);
  }
};

using KernelFn = void (*)(const uint16_t* const*, const void*, int64_t, int64_t, int64_t, float*, float*);
template <typename X, size_t... I>
constexpr std::array<KernelFn, sizeof...(I)> MakeKernels(std::index_sequence<I...>) {
  return {&Kernel<static_cast<int>(I) + 1, X>::Run...};
}
constexpr std::array<KernelFn, kTileRows> kDotKernels =
    MakeKernels<uint16_t>(std::make_index_sequence<kTileRows>{});
constexpr std::array<KernelFn, kTileRows> kFmaKernels = MakeKernels<float>(std::make_index_sequence<kTileRows>{});

// Packed x larger than this (16 MiB) is freed after the call rather than
// kept in the workspace for the next one (a long prompt should not pin its size).
constexpr int64_t kKeepPackedBytes = int64_t{16} << 20;

struct Plan {
  const MatMulParams* p;
  const char* xp;           // packed x
  const std::array<KernelFn, kTileRows>* kernels;  // kDotKernels or kFmaKernels
  int64_t tile_bytes;       // packed bytes per token tile
  int64_t token_tiles;      // ceil(t / kTileTokens)
  int64_t tiles_per_block;  // token tiles per L2 block
};

int64_t WeightRow(const MatMulParams& p, int64_t i) { return p.row_ids != nullptr ? p.row_ids[i] : i; }

// Output rows (indices into the row list) [r_begin, r_end) against every token.
void RunRows(const Plan& plan, int64_t r_begin, int64_t r_end) {
  const MatMulParams& p = *plan.p;
  const int64_t k = p.w.cols;
  const uint16_t* w[kTileRows];
  int64_t cols[kTileRows];
  float s[kTileRows * kTileTokens];
  std::vector<float> park(k > kColumnBlock ? plan.tiles_per_block * kParkFloats : 0);
  for (int64_t q0 = 0; q0 < plan.token_tiles; q0 += plan.tiles_per_block) {
    const int64_t q_end = std::min(plan.token_tiles, q0 + plan.tiles_per_block);
    for (int64_t r0 = r_begin; r0 < r_end; r0 += kTileRows) {
      const int nr = static_cast<int>(std::min<int64_t>(kTileRows, r_end - r0));
      for (int r = 0; r < nr; ++r) {
        cols[r] = WeightRow(p, r0 + r);
        w[r] = static_cast<const uint16_t*>(p.w.data) + cols[r] * p.w.ld;
      }
      const KernelFn kernel = (*plan.kernels)[nr - 1];
      for (int64_t k0 = 0; k0 < k; k0 += kColumnBlock) {
        const int64_t k1 = std::min(k, k0 + kColumnBlock);
        if (r0 + kTileRows < r_end) {  // the next row tile's columns, into L2
          for (int r = 0; r < kTileRows && r0 + kTileRows + r < r_end; ++r) {
            const char* row = reinterpret_cast<const char*>(static_cast<const uint16_t*>(p.w.data) +
                                                            WeightRow(p, r0 + kTileRows + r) * p.w.ld);
            for (int64_t c = k0 * 2; c < k1 * 2; c += 64) _mm_prefetch(row + c, _MM_HINT_T1);
          }
        }
        for (int64_t q = q0; q < q_end; ++q) {
          kernel(w, plan.xp + q * plan.tile_bytes, k, k0, k1, park.data() + (q - q0) * kParkFloats, s);
          if (k1 < k) continue;
          const int nt = static_cast<int>(std::min<int64_t>(kTileTokens, p.t - q * kTileTokens));
          for (int jj = 0; jj < nt; ++jj) {
            float* y = p.y + (q * kTileTokens + jj) * p.y_ld;
            for (int r = 0; r < nr; ++r) {
              y[cols[r]] = p.accumulate ? y[cols[r]] + s[r * kTileTokens + jj] : s[r * kTileTokens + jj];
            }
          }
        }
      }
    }
  }
}

}  // namespace

void GemmAvx512Bf16(const CpuContext& ctx, const MatMulParams& p, bool fma) {
  const int64_t n = p.row_ids != nullptr ? p.num_row_ids : p.w.rows, k = p.w.cols;
  const int64_t steps = (k + kStep - 1) / kStep;
  const int64_t x_bytes = fma ? 4 : 2;
  Plan plan{&p, nullptr, fma ? &kFmaKernels : &kDotKernels, steps * kTileTokens * kStep * x_bytes,
            (p.t + kTileTokens - 1) / kTileTokens, 1};
  plan.tiles_per_block = std::max<int64_t>(1, kXBlockBytes / plan.tile_bytes);
  AlignedBuffer local_packed;
  AlignedBuffer& packed = WorkspaceSlot(ctx.workspace, CpuWorkspace::Slot::kPackedX, local_packed);
  char* xp = static_cast<char*>(packed.Reserve(plan.token_tiles * plan.tile_bytes));
  plan.xp = xp;

  const int64_t row_tiles = (n + kTileRows - 1) / kTileRows;
  int64_t threads = std::clamp<int64_t>(ctx.num_threads, 1, row_tiles);
  if (ctx.pool != nullptr) threads = std::min<int64_t>(threads, ctx.pool->num_threads());
  if (n * k * p.t < kMinParallelMacs) threads = 1;
  // Contiguous row ranges: one per OpenMP thread; on a pool, a few per thread,
  // claimed dynamically (a descheduled worker then holds up little).
  const int64_t tasks = ctx.pool != nullptr && threads > 1 ? std::min(row_tiles, 4 * threads) : threads;
  const int64_t rows_per_task = (row_tiles + tasks - 1) / tasks * kTileRows;
  auto pack = [&](int64_t q) {
    if (fma) {
      PackTokenTile(p, q * kTileTokens, steps, reinterpret_cast<float*>(xp + q * plan.tile_bytes));
    } else {
      PackTokenTile(p, q * kTileTokens, steps, reinterpret_cast<uint16_t*>(xp + q * plan.tile_bytes));
    }
  };
  auto run_task = [&](int64_t task) {
    const int64_t r_begin = task * rows_per_task;
    if (r_begin < n) RunRows(plan, r_begin, std::min(n, r_begin + rows_per_task));
  };
  if (threads > 1 && ctx.pool != nullptr) {
    ctx.pool->ParallelFor(plan.token_tiles, pack);
    ctx.pool->ParallelFor(tasks, run_task);
  } else {
#pragma omp parallel num_threads(static_cast<int>(threads)) if (threads > 1)
    {
#pragma omp for schedule(static)
      for (int64_t q = 0; q < plan.token_tiles; ++q) pack(q);
#pragma omp for schedule(static) nowait
      for (int64_t task = 0; task < tasks; ++task) run_task(task);
    }
  }
  packed.ShrinkTo(kKeepPackedBytes);
}

}  // namespace matspec::gemm_internal

#pragma GCC diagnostic pop
#pragma GCC pop_options

#endif  // defined(__x86_64__)
