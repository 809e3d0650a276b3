// The one place where CUDA runtime and cuBLAS return codes become absl::Status.
// Every CUDA call in matspec goes through CUDA_RETURN_IF_ERROR (or CudaStatusFrom
// when the caller wants the status itself), so each error names the call, the
// file and the line. Nothing here exits or aborts: an error ends one request.
//
// Codes map to canonical codes as a caller needs them: out of memory is
// ResourceExhausted, a missing device or driver is Unavailable, a bad argument
// is InvalidArgument, anything else (including launch failures and sticky
// device errors) is Internal.
#ifndef MATSPEC_KERNELS_CUDA_CUDA_STATUS_H_
#define MATSPEC_KERNELS_CUDA_CUDA_STATUS_H_

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "absl/status/status.h"

namespace matspec {

// OK for cudaSuccess; otherwise "<file>:<line>: <expr>: <cudaErrorName>: <text>".
// A non-sticky error is also cleared from the runtime's last-error slot, so a
// later cudaGetLastError() after a kernel launch does not report it again.
absl::Status CudaStatusFrom(cudaError_t code, const char* expr, const char* file, int line);

// OK for CUBLAS_STATUS_SUCCESS; otherwise the same shape of message.
absl::Status CudaStatusFrom(cublasStatus_t code, const char* expr, const char* file, int line);

}  // namespace matspec

// Evaluates `expr` (a cudaError_t or cublasStatus_t) once and returns the
// converted status from the enclosing function when it is not success.
#define CUDA_RETURN_IF_ERROR(expr)                                                                      \
  do {                                                                                                  \
    ::absl::Status matspec_cuda_status_ = ::matspec::CudaStatusFrom((expr), #expr, __FILE__, __LINE__); \
    if (!matspec_cuda_status_.ok()) return matspec_cuda_status_;                                        \
  } while (0)

#endif  // MATSPEC_KERNELS_CUDA_CUDA_STATUS_H_
