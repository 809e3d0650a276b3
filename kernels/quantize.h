// Block quantization of weights (kQ8, kQ4; layouts in kernels/dtype.h) and of
// activations (the int8 blocks the quantized MatMul multiplies).
//
// Weights: each block of 32 gets the f16 scale d that maps its largest
// magnitude to the end of the integer range, and each element the nearest
// integer of x / d (ties to even), with d already rounded to f16 so that
// dequantizing gives the nearest representable value:
//   q8: d = max|x| / 127, q = round(x / d) in [-127, 127];
//   q4: d = -m / 8 where m is the element of largest magnitude (signed), so
//       that m itself maps to -8 exactly and the other side keeps 7 steps;
//       q = clamp(round(x / d), -8, 7), stored as q + 8.
// A block of zeros gets d = 0 and q = 0. Non-finite inputs are the caller's
// to refuse (QuantizeMatrix reports them).
#ifndef MATSPEC_KERNELS_QUANTIZE_H_
#define MATSPEC_KERNELS_QUANTIZE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "kernels/tensor_view.h"

namespace matspec {

// Quantizes one row of n f32 values (n a multiple of kQuantBlock) to `to`
// (kQ8 or kQ4): values gets DTypeRowBytes(to, n) bytes, scales n / 32 f16.
void QuantizeRow(const float* x, int64_t n, DType to, void* values, uint16_t* scales);

// Quantizes the dense matrix `src` (any dense dtype, ld may exceed cols) to
// `to` with a leading dimension of src.cols: values must hold
// src.rows * DTypeRowBytes(to, src.cols) bytes, scales src.rows * cols / 32
// f16. Rows run on num_threads OpenMP threads. InvalidArgument naming `name`
// when cols is not a multiple of 32, `to` is not quantized, src already is,
// or src holds a NaN or an infinity (row and column named).
absl::Status QuantizeMatrix(const MatrixView& src, DType to, const std::string& name, int num_threads,
                            void* values, uint16_t* scales);

// The view of a matrix quantized by QuantizeMatrix into (values, scales).
MatrixView QuantizedView(DType to, int64_t rows, int64_t cols, const void* values, const uint16_t* scales);

// out[i] = x[i] after the activation quantization the quantized MatMul paths
// apply (QuantizeActivationBlock, then back to f32), for n = k columns:
// the reference fed these values differs from those paths only by f32
// rounding. out may be x.
void QuantizeActivationsLikeMatMul(const float* x, int64_t n, float* out);

// The activation quantization of one block of up to 32 values (len; the rest
// of the block counts as zeros): q[i] = round(x[i] / d) in [-127, 127] with
// d = max|x| / 127 in f32 (d = 0 for a zero block; d = NaN when the block
// holds a NaN or an infinity, so the products become NaN instead of hiding
// it). Returns d. Every quantized MatMul path quantizes x through this one
// function, so x's integers and scales are the same on every path.
float QuantizeActivationBlock(const float* x, int64_t len, int8_t* q);

}  // namespace matspec

#endif  // MATSPEC_KERNELS_QUANTIZE_H_
