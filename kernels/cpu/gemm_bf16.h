// Internal to the CPU MatMul: the many-token product (prefill) for bf16
// weights on CPUs with AVX512_BF16. kernels/cpu/matmul.cc hands it every
// product with t >= kGemmMinTokens that would otherwise run on the
// avx512-bf16 tiles with bf16 weights (x rounded to bf16).
//
// Same bits as the tiles. Each output is summed exactly as the tiles of
// kernels/cpu/matmul_avx512_bf16.cc sum it: one 16-lane accumulator per
// output takes the 32-column steps of k in order (vdpbf16ps, the last step's
// weights masked), then the tree of matmul_avx512_reduce.h reduces it. So MatMul stays batch-invariant across the
// switch: a token's outputs do not depend on whether its batch took this path,
// nor on the thread count (tests/matmul_batch_test.cc checks it across t).
//
// What differs from the tiles is only the data movement: x is rounded once
// into a packed layout (per 4-token tile: [step][token][32 bf16], so a tile's
// inner loop reads x sequentially), weight tiles of a few rows stay in L1 while
// every token tile of an L2-sized token block runs against them.
#ifndef MATSPEC_KERNELS_CPU_GEMM_BF16_H_
#define MATSPEC_KERNELS_CPU_GEMM_BF16_H_

#include <cstdint>

#include "kernels/cpu_context.h"
#include "kernels/matmul.h"

namespace matspec::gemm_internal {

// From this many tokens the GEMM is used: above the verification batches
// (k + 1 <= 17 tokens), which the tiles are tuned for. Measured on Zen 4 with
// weights from DRAM (4096 x 1024, 1 thread), GEMM / tiles time: 0.93 at
// t = 16, 1.02 at t = 32, 0.89 at t = 128. Batch invariance makes the value a
// speed choice only, never a correctness one.
inline constexpr int64_t kGemmMinTokens = 24;

#if defined(__x86_64__)
// y = x W^T (or y += ...) for p.w.dtype == kBF16 on an AVX512_BF16 CPU, with
// ctx.num_threads threads (ctx.pool when set). p must be Valid(), t > 0,
// rows > 0, k > 0. fma: sum with f32 FMAs instead of vdpbf16ps (the same
// bits; only where matmul_internal::Bf16FmaExactOnThisCpu()).
void GemmAvx512Bf16(const CpuContext& ctx, const MatMulParams& p, bool fma = false);
#endif

}  // namespace matspec::gemm_internal

#endif  // MATSPEC_KERNELS_CPU_GEMM_BF16_H_
