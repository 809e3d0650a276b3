// Conversion of CUDA runtime and cuBLAS codes into absl::Status (see cuda_status.h).
#include "kernels/cuda/cuda_status.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace matspec {
namespace {

std::string Where(const char* expr, const char* file, int line) {
  return absl::StrCat(std::string(file != nullptr ? file : "?"), ":", line, ": ",
                      std::string(expr != nullptr ? expr : "?"), ": ");
}

}  // namespace

absl::Status CudaStatusFrom(cudaError_t code, const char* expr, const char* file, int line) {
  if (code == cudaSuccess) return absl::OkStatus();
  // Reset the last-error slot; sticky errors (a faulted context) stay reported
  // by every later call anyway, and this call is harmless for them.
  (void)cudaGetLastError();
  const std::string message = absl::StrCat(Where(expr, file, line), std::string(cudaGetErrorName(code)), ": ",
                                           std::string(cudaGetErrorString(code)));
  switch (code) {
    case cudaErrorMemoryAllocation:
      return absl::ResourceExhaustedError(message);
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorInitializationError:
    case cudaErrorDevicesUnavailable:
    case cudaErrorSystemDriverMismatch:
    case cudaErrorCompatNotSupportedOnDevice:
      return absl::UnavailableError(message);
    case cudaErrorInvalidValue:
    case cudaErrorInvalidConfiguration:
    case cudaErrorInvalidDevicePointer:
    case cudaErrorInvalidDevice:
      return absl::InvalidArgumentError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::Status CudaStatusFrom(cublasStatus_t code, const char* expr, const char* file, int line) {
  if (code == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  const std::string message = absl::StrCat(Where(expr, file, line), std::string(cublasGetStatusName(code)),
                                           ": ", std::string(cublasGetStatusString(code)));
  switch (code) {
    case CUBLAS_STATUS_ALLOC_FAILED:
      return absl::ResourceExhaustedError(message);
    case CUBLAS_STATUS_NOT_INITIALIZED:
      return absl::UnavailableError(message);
    case CUBLAS_STATUS_INVALID_VALUE:
      return absl::InvalidArgumentError(message);
    case CUBLAS_STATUS_NOT_SUPPORTED:
    case CUBLAS_STATUS_ARCH_MISMATCH:
      return absl::UnimplementedError(message);
    default:
      return absl::InternalError(message);
  }
}

}  // namespace matspec
