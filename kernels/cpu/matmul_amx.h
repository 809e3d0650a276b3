// Internal to the CPU MatMul: bf16 weights on Intel AMX (AMX-TILE +
// AMX-BF16, Sapphire Rapids and later), the amx-bf16 path of kernels/matmul.h.
// kernels/cpu/matmul.cc owns the threads; this file the arithmetic.
//
// TDPBF16PS multiplies a tile of 16 weight rows x 32 bf16 columns (A, read
// straight from the weights, rows w.ld apart) by a tile of 16 column pairs x
// up to 16 tokens (B, x in the pair-interleaved "VNNI" layout below) into 16 x
// 16 f32 accumulators (C). Every output element takes the 32-column steps of
// k in order, from zero, one TDPBF16PS per step; the hardware's sum within a
// step is its own (it is not the SDM pseudo-code's chain of FMAs, nor one
// rounding: measured, bench/RESULTS.md §5.10) but it is the same for an
// element whatever the other rows and tokens of its tiles are (a 1 x 1 tile
// against the same element in a 16 x 16 one: 0 of 256 differ; the batch and
// row-gather tests of tests/matmul_batch_test.cc hold it to that). So the path
// is batch-invariant at every token count, prefill included, but its bits are
// not those of the vdpbf16ps tiles: it is a path of its own, never mixed with
// them for one matrix.
//
// Why: one TDPBF16PS does 8192 multiply-adds, so up to 16 tokens are all bound
// by the weight reads. On this project's Xeon (family 6, model 207) verifying
// 8 tokens on the x8 inflated model costs 1.13x a one-token step, against
// 1.78x on the vdpbf16ps / f32-FMA tiles, and one token reads as fast as there
// (bench/RESULTS.md §5.10).
//
// Taken only for k a multiple of 32 (a step never reads past a row's end);
// other bf16 weights take the avx512-bf16 tiles, every token count alike.
#ifndef MATSPEC_KERNELS_CPU_MATMUL_AMX_H_
#define MATSPEC_KERNELS_CPU_MATMUL_AMX_H_

#include <cstdint>

#include "kernels/matmul.h"

namespace matspec::amx_internal {

// Tokens per B tile: a product of t <= 16 tokens is one group of t; longer
// ones groups of 16, the last padded with zero tokens.
inline int64_t GroupTokens(int64_t t) { return t <= 16 ? t : 16; }
inline int64_t NumGroups(int64_t t) { return (t + GroupTokens(t) - 1) / GroupTokens(t); }

// Bytes of packed x for t tokens of k columns (k a multiple of 32).
inline int64_t PackedXBytes(int64_t t, int64_t k) { return NumGroups(t) * GroupTokens(t) * k * 2; }

// True when the AMX path takes this product (bf16 weights, k % 32 == 0).
inline bool Takes(const MatMulParams& p) { return p.w.dtype == DType::kBF16 && p.w.cols % 32 == 0; }

#if defined(__x86_64__)
// Token row j (of t) of x into the packed layout: rounded to bf16 exactly as
// the avx512-bf16 tiles round it (RoundToBf16LikeMatMul), then, per token
// group g of nt = GroupTokens(t) tokens, as 32-bit column pairs
//   xv32[(g * k / 2 + pair) * nt + j % nt] = (x[j][2 pair], x[j][2 pair + 1]),
// so that the B tile of 32-column step s of group g is 16 rows of nt pairs,
// 4 * nt bytes apart, at xv + (g * k + 32 * s) * nt. x == nullptr writes a
// zero token (the padding of the last group, rows t .. NumGroups * nt).
void PackXRow(const float* x, int64_t k, int64_t j, int64_t t, uint16_t* xv);

// Output rows [r_begin, r_end) of p (rows of W, or of p.row_ids) against
// every token, from x packed by PackXRow; r_begin a multiple of 32 (a task
// boundary of matmul.cc).
// Configures the tiles of the calling thread and releases them on return.
void RunRows(const MatMulParams& p, const uint16_t* xv, int64_t r_begin, int64_t r_end);
#endif

}  // namespace matspec::amx_internal

#endif  // MATSPEC_KERNELS_CPU_MATMUL_AMX_H_
