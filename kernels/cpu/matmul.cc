// CPU matrix product y = x W^T: dispatch, threads and blocking. The arithmetic
// lives in the tile kernels (kernels/cpu/matmul_tiles.h, one file per
// instruction set); this file decides which tiles run where.
//
// Work layout. Output rows (= weight rows) are split into contiguous ranges:
// one per OpenMP thread, or a few per thread of a CpuThreadPool. A thread walks
// its rows R at a time and runs every token of a block of x against those R
// rows while they sit in L1/L2, so each weight byte comes from memory once per
// token block: verifying k+1 tokens reads the weights once, like a single
// decode step. The tokens are cut into tiles of T <= max_tokens, as evenly as
// possible (9 tokens on avx512-bf16: 5 + 4), and each set's table gives the R
// for that T (DTypeTiles::rows): enough independent accumulator chains to hide
// the FMA / vdpbf16ps latency, few enough accumulators to stay in registers.
// Up to kFewTokens tokens, k is cut into column blocks so that the block of
// every token's x and the tile's R rows fit L1 together; for longer prompts
// token blocks keep x in L2 and, with several token tiles, k is cut so the R
// rows stay in L1. Between column blocks the accumulators wait in memory.
// Either way each output is summed by one accumulator chain over k in order,
// so how rows, tokens, columns and threads are grouped never changes an
// output's bits (batch invariance).
//
// Weights of 1 MiB and more are taken to come from DRAM (a model's matrices
// are read in turn, so one that does not fit L2 is not in any cache the next
// time). The R rows of a tile are then R interleaved streams, which the
// hardware prefetcher follows poorly, so the x86 tiles prefetch the next
// tile's rows into L2 in software, one cache line per row per step; with
// that, one token reads 8 rows at a time on avx512-bf16 and 4 on the f32-FMA
// sets. Sets without software prefetch (portable) read DRAM weights one row
// at a time for up to kStreamMaxTokens tokens (a single sequential stream).
// Smaller weights take cached_single_token_rows rows for one token.
//
// On avx512-bf16, 2 or more tokens against bf16 weights may take f32-FMA tiles
// (and GEMM) instead of the vdpbf16ps ones (CpuContext::bf16_sums): the same bits
// (checked on the running CPU first), about 1.5x the arithmetic rate where
// vdpbf16ps issues slower than two FMAs (Intel Xeon); their x is the bf16
// rounding widened to f32 and split into even and odd columns (SplitX).
//
// On amx-bf16, bf16 weights whose k is a multiple of 32 take the AMX tiles
// (kernels/cpu/matmul_amx.h) at every token count instead: x packed once per
// call into the workspace, the threads splitting the rows in 32-row blocks as
// below. Other weights take the avx512-bf16 set.
//
// The bf16 copy of x (avx512-bf16) is made once per call into the context's
// workspace (kernels/cpu_workspace.h: no allocation per decode step); its rows are padded to
// 32 elements + 64 bytes so that token rows never alias in L1. Quantized
// weights (q8, q4) take x quantized per block of 32 (QuantizeXRow), made the
// same way; their rows and block scales are read as two arrays.
#include "kernels/matmul.h"

#include <algorithm>
#include <cassert>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/gemm_bf16.h"
#include "kernels/cpu/matmul_amx.h"
#include "kernels/cpu/matmul_tiles.h"
#include "kernels/cpu_thread_pool.h"
#include "kernels/cpu_workspace.h"

namespace matspec {
namespace {

using matmul_internal::DTypeIndex;
using matmul_internal::DTypeTiles;
using matmul_internal::TileArgs;
using matmul_internal::TileSet;

// Below this many multiply-adds a team costs more than it saves.
constexpr int64_t kMinParallelMacs = int64_t{1} << 17;
// Budget for the block of x all tokens of a token block share: half of L2.
constexpr int64_t kXBlockBytes = 512 * 1024;
// Columns per tile call when a product is cut along k (a multiple of 128).
constexpr int64_t kColumnBlock = 1024;
// Up to this many tokens x is cut into column blocks that fit, with the
// weight rows of a tile, in this much of L1; blocks are at least
// kMinColumnBlock columns.
constexpr int64_t kFewTokens = 16;
constexpr int64_t kL1Bytes = 24 * 1024;
constexpr int64_t kMinColumnBlock = 256;
// Weights of this many bytes (L2) and more are taken to stream from DRAM.
constexpr int64_t kCacheResidentBytes = 1 << 20;
// Sets without software prefetch: up to this many tokens, weights from DRAM
// are read one row at a time, each row against kStreamTileTokens tokens per
// pass (its later passes hit L1).
// A light first pass keeps more weight loads in flight than a heavy one:
// measured on Zen 4, 4 tokens cost 1.1-1.2x one token this way, against
// 1.6-1.7x for 4 rows x 3 tokens and 1.3-1.5x for 1 row x 4 tokens.
constexpr int64_t kStreamMaxTokens = 4;
constexpr int kStreamTileTokens = 2;
// ... when rows are at least this long. Shorter rows are read 4 at a time
// anyway: 4 consecutive short rows are nearly one stream, and one short row
// per tile call costs more in call and reduction than it streams (the bundled
// model's 4096 x 192 head: 12 GB/s one row at a time, 35 GB/s four at a time).
constexpr int64_t kLongRowBytes = 1024;

// Whether a product of t tokens on `set` with bf16 weights takes the f32-FMA
// tiles or GEMM (CpuContext::bf16_sums).
bool UsesBf16Fma(const TileSet& set, const CpuContext& ctx, const MatMulParams& p) {
#if defined(__x86_64__)
  if (p.t < 2 || p.w.dtype != DType::kBF16 || &set != &matmul_internal::Avx512Bf16TileSet()) return false;
  switch (ctx.bf16_sums) {
    case CpuContext::Bf16Sums::kDot: return false;
    case CpuContext::Bf16Sums::kFma: return matmul_internal::Bf16FmaExactOnThisCpu();
    case CpuContext::Bf16Sums::kAuto:
      return matmul_internal::Bf16FmaExactOnThisCpu() && matmul_internal::Bf16FmaFasterOnThisCpu();
  }
#endif
  (void)set, (void)ctx, (void)p;
  return false;
}

const TileSet& TileSetFor(MatMulPath path, const CpuContext& ctx) {
  switch (path) {
#if defined(__x86_64__)
    case MatMulPath::kAmxBf16:  // for what the AMX tiles do not take
    case MatMulPath::kAvx512Bf16:
      return ctx.f32_activations ? matmul_internal::Avx512TileSet()
                                 : matmul_internal::Avx512Bf16TileSet();
    case MatMulPath::kAvx512: return matmul_internal::Avx512TileSet();
    case MatMulPath::kAvx2: return matmul_internal::Avx2TileSet();
#endif
    default: return matmul_internal::PortableTileSet();
  }
}

int64_t RoundUp(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// Everything one call shares between its threads.
struct Plan {
  const MatMulParams* p;
  const DTypeTiles* dt;
  const void* x;        // x as the tiles take it
  int64_t x_ld;         // its row pitch in elements
  int rows_per_tile;    // R
  int tile_tokens;      // T at most
  int64_t token_block;  // tokens per L2 block (a multiple of tile_tokens)
  int64_t prefetch_bytes;
  int64_t k_block;      // columns per tile call (k: no column blocks)
  int64_t scale_prefetch_bytes;
};

int64_t WeightRow(const MatMulParams& p, int64_t i) {
  return p.row_ids != nullptr ? p.row_ids[i] : i;
}

// Bytes per element of x as the tiles take it (1 for quantized x: its rows
// are measured in bytes, QuantXRowBytes).
int64_t XElemBytes(const DTypeTiles& dt) { return dt.bf16_x ? 2 : dt.quant_x ? 1 : 4; }

// Accumulators that fit this many floats wait on the stack between column
// blocks (every product of up to 16 tokens); larger ones in a vector.
constexpr int64_t kStackAccFloats = 4096;

// Rows [r_begin, r_end) of the plan against every token.
void RunRows(const Plan& plan, int64_t r_begin, int64_t r_end) {
  const MatMulParams& p = *plan.p;
  const DTypeTiles& dt = *plan.dt;
  const int64_t k = p.w.cols;
  const int64_t x_elem = XElemBytes(dt);
  const int64_t kc = plan.k_block;
  // Accumulators of every token tile of a token block, between column blocks.
  float stack_acc[kStackAccFloats];
  std::vector<float> heap_acc;
  float* acc = nullptr;
  if (kc < k) {
    const int64_t floats = RoundUp(std::min(p.t, plan.token_block), plan.tile_tokens) *
                           plan.rows_per_tile * dt.acc_lanes;
    if (floats > kStackAccFloats) heap_acc.resize(floats);
    acc = floats > kStackAccFloats ? heap_acc.data() : stack_acc;
  }
  const char* rows[matmul_internal::kMaxTileRows];
  const uint16_t* scale_rows[matmul_internal::kMaxTileRows];
  float s[matmul_internal::kMaxTileRows * matmul_internal::kMaxTileTokens];
  for (int64_t j0 = 0; j0 < p.t; j0 += plan.token_block) {
    const int64_t j_end = std::min(p.t, j0 + plan.token_block);
    for (int64_t r0 = r_begin; r0 < r_end; r0 += plan.rows_per_tile) {
      const int nr = static_cast<int>(std::min<int64_t>(plan.rows_per_tile, r_end - r0));
      for (int r = 0; r < nr; ++r) {
        rows[r] = static_cast<const char*>(p.w.Row(WeightRow(p, r0 + r)));
        if (dt.quant_x) scale_rows[r] = p.w.ScaleRow(WeightRow(p, r0 + r));
      }
      const bool prefetch = r0 + 2 * nr <= r_end;
      TileArgs a{rows, nullptr, plan.x_ld, k, 0, k, prefetch ? plan.prefetch_bytes : 0, nullptr, s,
                 scale_rows, prefetch ? plan.scale_prefetch_bytes : 0};
      for (int64_t k0 = 0; k0 < k; k0 += kc) {
        a.k0 = k0;
        a.k1 = std::min(k, k0 + kc);
        for (int64_t j = j0; j < j_end; j += plan.tile_tokens) {
          const int nt = static_cast<int>(std::min<int64_t>(plan.tile_tokens, j_end - j));
          a.x = static_cast<const char*>(plan.x) + j * plan.x_ld * x_elem;
          if (acc != nullptr) a.acc = acc + (j - j0) * plan.rows_per_tile * dt.acc_lanes;
          dt.tiles[nr - 1][nt - 1](a);
          if (a.k1 < k) continue;
          for (int r = 0; r < nr; ++r) {
            const int64_t col = WeightRow(p, r0 + r);
            for (int jj = 0; jj < nt; ++jj) {
              float& y = p.y[(j + jj) * p.y_ld + col];
              y = p.accumulate ? y + s[r * nt + jj] : s[r * nt + jj];
            }
          }
        }
      }
    }
  }
}

// The converted copy of x (bf16 or quantized) for sets that make one. Up to
// kKeepConvertedXBytes it lives in the context's workspace, kept from call to
// call (decode and verification then allocate nothing); larger ones (long
// prompts on sets without the GEMM) are freed after the call.
constexpr int64_t kKeepConvertedXBytes = int64_t{256} << 10;

// The token tile: T tokens for a product of t, the token count split as
// evenly as max_tokens allows (9 tokens: 5 + 4, not 8 + 1).
int TileTokens(int64_t t, int max_tokens) {
  const int64_t tiles = (t + max_tokens - 1) / max_tokens;
  return static_cast<int>((t + tiles - 1) / tiles);
}

// RunMatMul's last step: the x_rows rows of x converted (round_row), then the
// row tasks, on ctx.pool when it has one and there are threads > 1, else on an
// OpenMP team.
template <class RoundRow, class RunTask>
void RunTasks(const CpuContext& ctx, int64_t threads, int64_t tasks, int64_t x_rows,
              const RoundRow& round_row, const RunTask& run_task) {
  // A few rows (decoding, verification) are not worth a parallel loop of
  // their own, on the pool as on an OpenMP team.
  const bool few_rows = x_rows <= 16;
  if (few_rows) {
    for (int64_t j = 0; j < x_rows; ++j) round_row(j);
  }
  if (threads > 1 && ctx.pool != nullptr) {
    if (!few_rows) ctx.pool->ParallelFor(x_rows, round_row);
    ctx.pool->ParallelFor(tasks, run_task);
    return;
  }
#pragma omp parallel num_threads(static_cast<int>(threads)) if (threads > 1)
  {
    if (!few_rows) {
#pragma omp for schedule(static)
      for (int64_t j = 0; j < x_rows; ++j) round_row(j);
    }
#pragma omp for schedule(static) nowait
    for (int64_t task = 0; task < tasks; ++task) run_task(task);
  }
}

// Threads for a product of n output rows in `units` units of work: at most
// ctx.num_threads (and the pool's size), one when the product is small.
int64_t ThreadsFor(const CpuContext& ctx, const MatMulParams& p, int64_t n, int64_t units) {
  int64_t threads = std::clamp<int64_t>(ctx.num_threads, 1, units);
  if (ctx.pool != nullptr) threads = std::min<int64_t>(threads, ctx.pool->num_threads());
  if (n * p.w.cols * p.t < kMinParallelMacs) threads = 1;
  return threads;
}

// Contiguous ranges of units: one per OpenMP thread; on a pool, a few per
// thread, claimed dynamically (a descheduled worker then holds up little).
int64_t TasksFor(const CpuContext& ctx, int64_t threads, int64_t units) {
  return ctx.pool != nullptr && threads > 1 ? std::min(units, 4 * threads) : threads;
}

#if defined(__x86_64__)
// The amx-bf16 product (amx_internal::Takes(p)): x packed once, then the rows
// in tasks of whole 32-row blocks.
void RunAmxMatMul(const CpuContext& ctx, const MatMulParams& p, int64_t n) {
  const int64_t k = p.w.cols;
  AlignedBuffer local_x;
  AlignedBuffer& x_buffer = WorkspaceSlot(ctx.workspace, CpuWorkspace::Slot::kConvertedX, local_x);
  auto* xv = static_cast<uint16_t*>(x_buffer.Reserve(amx_internal::PackedXBytes(p.t, k)));
  const int64_t x_rows = amx_internal::NumGroups(p.t) * amx_internal::GroupTokens(p.t);
  const int64_t blocks = (n + 31) / 32;
  const int64_t threads = ThreadsFor(ctx, p, n, blocks);
  const int64_t tasks = TasksFor(ctx, threads, blocks);
  const int64_t rows_per_task = (blocks + tasks - 1) / tasks * 32;
  RunTasks(
      ctx, threads, tasks, x_rows,
      [&](int64_t j) { amx_internal::PackXRow(j < p.t ? p.x + j * p.x_ld : nullptr, k, j, p.t, xv); },
      [&](int64_t task) {
        const int64_t r_begin = task * rows_per_task;
        if (r_begin < n) amx_internal::RunRows(p, xv, r_begin, std::min(n, r_begin + rows_per_task));
      });
  x_buffer.ShrinkTo(kKeepConvertedXBytes);
}
#endif

// amx: the product may take the AMX tiles (the amx-bf16 path, bf16 x).
void RunMatMul(const TileSet& set, const CpuContext& ctx, const MatMulParams& p, bool amx) {
  assert(p.Valid());
  if (p.t <= 0 || p.w.rows <= 0 || (p.row_ids != nullptr && p.num_row_ids <= 0)) return;
  const int64_t n = p.row_ids != nullptr ? p.num_row_ids : p.w.rows, k = p.w.cols;
  if (k == 0) {  // empty sum
    if (!p.accumulate) {
      for (int64_t j = 0; j < p.t; ++j) {
        for (int64_t i = 0; i < n; ++i) p.y[j * p.y_ld + WeightRow(p, i)] = 0.f;
      }
    }
    return;
  }
#if defined(__x86_64__)
  if (amx && amx_internal::Takes(p)) {
    RunAmxMatMul(ctx, p, n);
    return;
  }
  // Many tokens (prefill) with bf16 weights on the avx512-bf16 tiles: the
  // packed GEMM, which sums every output as the tiles do (same bits).
  if (p.t >= gemm_internal::kGemmMinTokens && p.w.dtype == DType::kBF16 &&
      &set == &matmul_internal::Avx512Bf16TileSet()) {
    gemm_internal::GemmAvx512Bf16(ctx, p, UsesBf16Fma(set, ctx, p));
    return;
  }
#endif
#if defined(__x86_64__)
  const DTypeTiles& dt =
      UsesBf16Fma(set, ctx, p) ? matmul_internal::Avx512Bf16FmaTiles() : set.dtypes[DTypeIndex(p.w.dtype)];
#else
  const DTypeTiles& dt = set.dtypes[DTypeIndex(p.w.dtype)];
#endif
  const int64_t row_bytes = DTypeRowBytes(p.w.dtype, k);
  Plan plan{&p, &dt, p.x, p.x_ld, 1, TileTokens(p.t, dt.max_tokens), 1, 0, k, 0};
  AlignedBuffer local_x;
  AlignedBuffer& x_buffer = WorkspaceSlot(ctx.workspace, CpuWorkspace::Slot::kConvertedX, local_x);
  uint16_t* x_bf16 = nullptr;
  if (dt.bf16_x) {
    // Rows 64 bytes longer than a multiple of 64: token rows a power of two
    // apart would share one L1 set (8 ways) between all tokens of a tile.
    plan.x_ld = RoundUp(k, 32) + 32;
    x_bf16 = static_cast<uint16_t*>(x_buffer.Reserve(p.t * plan.x_ld * 2));
    plan.x = x_bf16;
  }
  float* x_split = nullptr;
  if (dt.split_x) {  // floats; 16 more than a multiple of 32, as above
    plan.x_ld = RoundUp(k, 32) + 16;
    x_split = static_cast<float*>(x_buffer.Reserve(p.t * plan.x_ld * 4));
    plan.x = x_split;
  }
  if (dt.quant_x) {  // rows in bytes; a multiple of 64 + 64 as above
    plan.x_ld = matmul_internal::QuantXRowBytes(k);
    x_bf16 = static_cast<uint16_t*>(x_buffer.Reserve(p.t * plan.x_ld));
    plan.x = x_bf16;
  }
  char* x_quant = reinterpret_cast<char*>(x_bf16);
  // (A 512 x 1024 bf16 matrix, exactly 1 MiB, streams: 9 GB/s as if cached.)
  // Quantized weights are judged by their bf16 size: a model's small
  // matrices (k_proj, v_proj) come from DRAM all the same, and as "cached"
  // ones without prefetch they took a third of a q4 decode step's product
  // time for 7 % of its weights.
  const int64_t footprint = IsQuantized(p.w.dtype) ? n * k * 2 : n * row_bytes;
  const bool streamed = p.row_ids == nullptr && footprint >= kCacheResidentBytes;
  if (streamed && !dt.software_prefetch && row_bytes >= kLongRowBytes &&
      p.t <= kStreamMaxTokens) {
    plan.rows_per_tile = 1;  // one sequential stream
    plan.tile_tokens = kStreamTileTokens;
  } else {
    plan.rows_per_tile = !streamed && p.t == 1 ? dt.cached_single_token_rows
                                               : dt.rows[plan.tile_tokens - 1];
    // Several rows from DRAM: prefetch the next tile's rows.
    if (streamed) {
      plan.prefetch_bytes = plan.rows_per_tile * DTypeRowBytes(p.w.dtype, p.w.ld);
      plan.scale_prefetch_bytes = plan.rows_per_tile * QuantScaleBytes(p.w.dtype, p.w.ld);
    }
  }
  const int64_t x_elem_bytes = XElemBytes(dt);
  const int64_t x_row_bytes = x_elem_bytes * plan.x_ld;
  plan.token_block = std::max<int64_t>(1, kXBlockBytes / x_row_bytes / plan.tile_tokens) *
                     plan.tile_tokens;
  // Several token tiles per row tile: cut k so that a tile's weight rows stay
  // in L1 while every token tile of the block runs against them.
  if (dt.acc_lanes > 0 && p.t > plan.tile_tokens && k > kColumnBlock) plan.k_block = kColumnBlock;
  // A few tokens: cut k so that the columns of every token and of the R rows
  // sit in L1 together (at k = 4096, 8 bf16 tokens alone are 64 KiB).
  if (dt.acc_lanes > 0 && p.t > 1 && p.t <= kFewTokens) {
    const int64_t bytes_per_column = (p.t + plan.rows_per_tile) * x_elem_bytes;
    plan.k_block = std::max<int64_t>(kMinColumnBlock, kL1Bytes / bytes_per_column / 128 * 128);
    if (plan.k_block >= k) plan.k_block = k;
  }

  const int64_t tiles = (n + plan.rows_per_tile - 1) / plan.rows_per_tile;
  const int64_t threads = ThreadsFor(ctx, p, n, tiles);
  const int64_t tasks = TasksFor(ctx, threads, tiles);
  const int64_t rows_per_task = (tiles + tasks - 1) / tasks * plan.rows_per_tile;
  auto round_row = [&](int64_t j) {
    if (dt.quant_x) {
      dt.quantize_x(p.x + j * p.x_ld, k, p.w.dtype, x_quant + j * plan.x_ld);
    } else if (dt.split_x) {
#if defined(__x86_64__)
      matmul_internal::SplitXLikeBf16Tiles(p.x + j * p.x_ld, k, RoundUp(k, 32), x_split + j * plan.x_ld);
#endif
    } else {
      set.round_x(p.x + j * p.x_ld, k, plan.x_ld, x_bf16 + j * plan.x_ld);
    }
  };
  const bool converts_x = dt.bf16_x || dt.quant_x || dt.split_x;
  auto run_task = [&](int64_t task) {
    const int64_t r_begin = task * rows_per_task;
    RunRows(plan, r_begin, std::min(n, r_begin + rows_per_task));
  };
  RunTasks(ctx, threads, tasks, converts_x ? p.t : 0, round_row, run_task);
  x_buffer.ShrinkTo(kKeepConvertedXBytes);
}
}  // namespace

bool MatMulParams::Valid() const {
  const bool quant_ok = !IsQuantized(w.dtype) ||
                        (w.scales != nullptr && w.cols % kQuantBlock == 0 && w.ld % kQuantBlock == 0);
  return x != nullptr && y != nullptr && w.data != nullptr && t >= 0 && w.rows >= 0 &&
         w.cols >= 0 && w.ld >= w.cols && x_ld >= w.cols && y_ld >= w.rows && num_row_ids >= 0 && quant_ok;
}

std::vector<MatMulPath> AvailableMatMulPaths() {
  const CpuFeatures& f = GetCpuFeatures();
  std::vector<MatMulPath> paths;
  if (f.amx_bf16) paths.push_back(MatMulPath::kAmxBf16);
  if (f.avx512_bf16) paths.push_back(MatMulPath::kAvx512Bf16);
  if (f.avx512) paths.push_back(MatMulPath::kAvx512);
  if (f.avx2_fma_f16c) paths.push_back(MatMulPath::kAvx2);
  paths.push_back(MatMulPath::kPortable);
  return paths;
}

const char* MatMulPathName(MatMulPath path) {
  switch (path) {
    case MatMulPath::kAmxBf16: return "amx-bf16";
    case MatMulPath::kAvx512Bf16: return "avx512-bf16";
    case MatMulPath::kAvx512: return "avx512";
    case MatMulPath::kAvx2: return "avx2+fma+f16c";
    case MatMulPath::kPortable: return "portable";
  }
  return "?";
}

bool MatMulRoundsXToBf16(MatMulPath path, const CpuContext& ctx, DType dtype) {
  return TileSetFor(path, ctx).dtypes[DTypeIndex(dtype)].bf16_x;
}

const char* QuantMatMulKernelName(MatMulPath path) {
  const CpuContext ctx;
  const TileSet& set = TileSetFor(path, ctx);
  return set.dtypes[DTypeIndex(DType::kQ8)].acc_lanes > 0 ? "avx512-vnni" : "portable";
}

void MatMulWithPath(MatMulPath path, const CpuContext& ctx, const MatMulParams& p) {
  RunMatMul(TileSetFor(path, ctx), ctx, p, path == MatMulPath::kAmxBf16 && !ctx.f32_activations);
}

void MatMul(const CpuContext& ctx, const MatMulParams& p) {
  static const MatMulPath best = AvailableMatMulPaths().front();
  MatMulWithPath(best, ctx, p);
}

void MatMulPortable(const CpuContext& ctx, const MatMulParams& p) {
  MatMulWithPath(MatMulPath::kPortable, ctx, p);
}

const char* MatMulIsaName() { return MatMulPathName(AvailableMatMulPaths().front()); }

bool Bf16FmaTilesAvailable() {
#if defined(__x86_64__)
  return GetCpuFeatures().avx512_bf16 && matmul_internal::Bf16FmaExactOnThisCpu();
#else
  return false;
#endif
}

const char* Bf16MultiTokenKernelName(CpuContext::Bf16Sums mode) {
  if (!GetCpuFeatures().avx512_bf16) return "";
  MatMulParams p;
  p.t = 2;
  p.w.dtype = DType::kBF16;
  CpuContext ctx;
  ctx.bf16_sums = mode;
  return UsesBf16Fma(TileSetFor(MatMulPath::kAvx512Bf16, ctx), ctx, p) ? "f32 fma" : "vdpbf16ps";
}

void RoundToBf16LikeMatMul(const float* x, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, &x[i], sizeof bits);
    if ((bits & 0x7f800000u) == 0) bits &= 0x80000000u;  // subnormal: signed zero
    float f;
    std::memcpy(&f, &bits, sizeof f);
    out[i] = Bf16ToF32(F32ToBf16(f));
  }
}

void MatMulReference(const MatMulParams& p) {
  for (int64_t j = 0; j < p.t; ++j) {
    const float* xj = p.x + j * p.x_ld;
    float* yj = p.y + j * p.y_ld;
    const int64_t n = p.row_ids != nullptr ? p.num_row_ids : p.w.rows;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t r = WeightRow(p, i);
      double s = 0.0;
      for (int64_t c = 0; c < p.w.cols; ++c) {
        s += static_cast<double>(xj[c]) * static_cast<double>(p.w.At(r, c));
      }
      yj[r] = static_cast<float>(p.accumulate ? static_cast<double>(yj[r]) + s : s);
    }
  }
}

}  // namespace matspec
