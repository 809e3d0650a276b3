// Matrix product against a weight view: y[t, n] = sum_k x[t, k] * W[n, k]
// (x times W transposed, the layout of every HF linear layer), f32 accumulation.
// W may be bf16, f16, f32 or block-quantized (q8, q4: kernels/dtype.h) and may
// be a slice (FirstRows / FirstCols) of a larger matrix: only W.rows x W.cols
// elements are read, rows W.ld apart.
// At T = 1 this is the bf16 matrix-vector product that dominates decoding.
#ifndef MATSPEC_KERNELS_MATMUL_H_
#define MATSPEC_KERNELS_MATMUL_H_

#include <cstdint>
#include <vector>

#include "kernels/cpu_context.h"
#include "kernels/tensor_view.h"

namespace matspec {

struct MatMulParams {
  const float* x = nullptr;  // [t, x_ld] f32 input; first w.cols columns are used
  int64_t x_ld = 0;          // elements between rows of x; >= w.cols
  int64_t t = 0;             // number of rows (tokens)
  MatrixView w;              // [n, k] weight view, k = w.cols
  float* y = nullptr;        // [t, y_ld] f32 output; first w.rows columns written
  int64_t y_ld = 0;          // elements between rows of y; >= w.rows
  bool accumulate = false;   // y += x W^T instead of y = x W^T
  // Optional row gather (a draft's reduced-vocabulary head): when set, only
  // the W rows row_ids[0 .. num_row_ids) are multiplied, each product written
  // to the y column of the same index; other y columns are not touched. The
  // ids must lie in [0, w.rows) (the caller checks; on CUDA they are device
  // memory).
  const int32_t* row_ids = nullptr;
  int64_t num_row_ids = 0;

  // True when pointers are set and strides cover the shapes.
  bool Valid() const;
};

// The CPU implementations, best first. MatMul takes the first one the CPU has
// (chosen once, from cpuid).
enum class MatMulPath {
  kAmxBf16,     // bf16 weights with k % 32 == 0: x rounded to bf16, AMX TDPBF16PS
                // (kernels/cpu/matmul_amx.h), every token count; else as kAvx512Bf16
  kAvx512Bf16,  // bf16 weights: x rounded to bf16, vdpbf16ps; other weights: as kAvx512
  kAvx512,      // AVX-512 F/BW/VL/DQ, f32 x, f32 FMA
  kAvx2,        // AVX2 + FMA + F16C, f32 x, f32 FMA
  kPortable,    // plain C++ the compiler vectorises as it can
};

// CPU: parallel over output rows with ctx.num_threads threads (on ctx.pool
// when set, else an OpenMP team), on the best path of this machine.
//
// Batch invariance (every path): each output element is bit-identical
// whatever t is (a row alone or inside any batch, with or without a row
// gather) and whatever ctx.num_threads and ctx.pool are. Greedy speculative decoding relies
// on it: verifying k+1 tokens reproduces single-token decoding bit for bit.
//
// Accuracy: f32 x (kMatMulTol against MatMulReference) except on kAmxBf16 and
// kAvx512Bf16 with bf16 weights and !ctx.f32_activations, where x is first rounded to bf16
// exactly as RoundToBf16LikeMatMul does and the products accumulate in f32.
// Quantized weights (every path, whatever ctx.f32_activations): x is
// quantized per block of 32 to int8 with an f32 scale exactly as
// QuantizeActivationsLikeMatMul (kernels/quantize.h) does; each block's dot
// product is exact in int32 and the blocks accumulate in f32 (scaled by both
// scales). kAvx512 and kAvx512Bf16 use AVX512_VNNI (vpdpbusd) where the CPU
// has it; other paths use portable tiles (QuantMatMulKernelName).
void MatMul(const CpuContext& ctx, const MatMulParams& p);

// MatMul on one given path; the path must be in AvailableMatMulPaths().
void MatMulWithPath(MatMulPath path, const CpuContext& ctx, const MatMulParams& p);

// The paths this CPU can run, best first (always ends with kPortable).
std::vector<MatMulPath> AvailableMatMulPaths();

// "amx-bf16", "avx512-bf16", "avx512", "avx2+fma+f16c" or "portable".
const char* MatMulPathName(MatMulPath path);

// True when MatMulWithPath(path, ctx, p) rounds x to bf16 for weights of `dtype`.
bool MatMulRoundsXToBf16(MatMulPath path, const CpuContext& ctx, DType dtype);

// "avx512-vnni" or "portable": the tiles `path` runs quantized weights on.
const char* QuantMatMulKernelName(MatMulPath path);

// out[i] = x[i] rounded to bf16 and widened back to f32, exactly as the bf16-x
// path rounds it: round to nearest even, f32 subnormals flushed to a zero of
// the same sign (vcvtneps2bf16 treats them as zero), NaN kept NaN. out may be x.
void RoundToBf16LikeMatMul(const float* x, int64_t n, float* out);

// The plain triple loop, f64 accumulation. The oracle for MatMul.
void MatMulReference(const MatMulParams& p);

// MatMulWithPath(MatMulPath::kPortable, ...), kept for existing callers.
void MatMulPortable(const CpuContext& ctx, const MatMulParams& p);

// The path MatMul takes on this machine (MatMulPathName of it).
const char* MatMulIsaName();

// How 2 or more tokens meet bf16 weights on the AVX512_BF16 path with `mode`
// (CpuContext::bf16_sums): "vdpbf16ps" or "f32 fma"; "" on CPUs without
// AVX512_BF16.
const char* Bf16MultiTokenKernelName(CpuContext::Bf16Sums mode = CpuContext::Bf16Sums::kAuto);

// Whether this CPU can run the f32-FMA tiles and GEMM (they reproduce
// vdpbf16ps here): what kFma needs.
bool Bf16FmaTilesAvailable();

}  // namespace matspec

#endif  // MATSPEC_KERNELS_MATMUL_H_
