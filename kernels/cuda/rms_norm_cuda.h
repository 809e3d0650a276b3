// CUDA RMSNorm, the contract of kernels/rms_norm.h on device memory. The sum of
// squares is accumulated in f64 like the CPU kernel and the remaining f32
// operations are the CPU's in the same order (IEEE sqrt and division), so the
// result matches the CPU to the last bit or one ulp. Asynchronous on `stream`;
// allocates nothing.
#ifndef MATSPEC_KERNELS_CUDA_RMS_NORM_CUDA_H_
#define MATSPEC_KERNELS_CUDA_RMS_NORM_CUDA_H_

#include <cuda_runtime_api.h>

#include "absl/status/status.h"
#include "kernels/rms_norm.h"

namespace matspec {

// p.x, p.out: [rows, dim] f32 device memory (out may equal x). p.weight: a
// device view (device == kCuda) of dim elements, any dtype, or data == nullptr
// for scale 1. InvalidArgument for inconsistent parameters.
absl::Status RmsNormCuda(const RmsNormParams& p, cudaStream_t stream);

}  // namespace matspec

#endif  // MATSPEC_KERNELS_CUDA_RMS_NORM_CUDA_H_
