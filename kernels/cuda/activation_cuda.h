// CUDA gated FFN activation and residual add, the contracts of
// kernels/activation.h on device memory. Element-wise; the arithmetic is the
// CPU's without fused multiply-adds, so the only difference from the CPU is the
// last ulp of expf / tanhf. Asynchronous on `stream`; allocate nothing.
#ifndef MATSPEC_KERNELS_CUDA_ACTIVATION_CUDA_H_
#define MATSPEC_KERNELS_CUDA_ACTIVATION_CUDA_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"
#include "kernels/activation.h"

namespace matspec {

// p.gate, p.up, p.out: [rows, stride] f32 device memory; out may equal gate.
// Only the first n elements of each row are read or written.
absl::Status GatedActivationCuda(const GatedActivationParams& p, cudaStream_t stream);

// x[i] += y[i] for i < n, device memory.
absl::Status AddInPlaceCuda(float* x, const float* y, int64_t n, cudaStream_t stream);

}  // namespace matspec

#endif  // MATSPEC_KERNELS_CUDA_ACTIVATION_CUDA_H_
