// CudaContext, DeviceBuffer and the device probe (see cuda_context.h).
#include "kernels/cuda/cuda_context.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kernels/cuda/cuda_status.h"

namespace matspec {

absl::Status CudaDeviceAvailable() {
  int count = 0;
  const cudaError_t code = cudaGetDeviceCount(&count);
  if (code != cudaSuccess) {
    (void)cudaGetLastError();  // leave no stale error behind for later launch checks
    // What is missing, in the user's words: the driver, or the device.
    const char* what = code == cudaErrorInsufficientDriver ? "no usable NVIDIA driver (libcuda) for this CUDA runtime"
                       : code == cudaErrorNoDevice         ? "no NVIDIA GPU visible to the driver"
                                                           : "no CUDA device";
    return absl::UnavailableError(absl::StrCat(what, ": cudaGetDeviceCount failed with ",
                                               std::string(cudaGetErrorName(code)), " (",
                                               std::string(cudaGetErrorString(code)), ")"));
  }
  if (count <= 0) return absl::UnavailableError("no NVIDIA GPU visible to the driver: cudaGetDeviceCount returned 0");
  return absl::OkStatus();
}

// ------------------------------------------------------------- DeviceBuffer --

DeviceBuffer::~DeviceBuffer() { Release(); }

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    Release();
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

void DeviceBuffer::Release() noexcept {
  if (data_ != nullptr) {
    // An error here (a faulted context) cannot be reported from a destructor;
    // the memory goes with the context in that case.
    if (cudaFree(data_) != cudaSuccess) (void)cudaGetLastError();
  }
  data_ = nullptr;
  bytes_ = 0;
}

absl::Status DeviceBuffer::Reserve(size_t bytes) {
  if (bytes <= bytes_) return absl::OkStatus();
  Release();
  absl::StatusOr<DeviceBuffer> grown = Allocate(bytes);
  if (!grown.ok()) return grown.status();
  *this = std::move(*grown);
  return absl::OkStatus();
}

absl::StatusOr<DeviceBuffer> DeviceBuffer::Allocate(size_t bytes) {
  DeviceBuffer buffer;
  if (bytes == 0) return buffer;
  void* data = nullptr;
  const cudaError_t code = cudaMalloc(&data, bytes);
  if (code == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    size_t free_bytes = 0, total_bytes = 0;
    if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) {
      (void)cudaGetLastError();
      return absl::ResourceExhaustedError(
          absl::StrCat("GPU out of memory: needed ", bytes, " bytes, free bytes unknown"));
    }
    return absl::ResourceExhaustedError(absl::StrCat("GPU out of memory: needed ", bytes, " bytes, ",
                                                     free_bytes, " free (of ", total_bytes, ")"));
  }
  CUDA_RETURN_IF_ERROR(code);
  buffer.data_ = data;
  buffer.bytes_ = bytes;
  return buffer;
}

// -------------------------------------------------------------- CudaContext --

absl::StatusOr<std::unique_ptr<CudaContext>> CudaContext::Create(size_t workspace_bytes, int device) {
  if (absl::Status s = CudaDeviceAvailable(); !s.ok()) return s;
  int count = 0;
  CUDA_RETURN_IF_ERROR(cudaGetDeviceCount(&count));
  if (device < 0 || device >= count) {
    return absl::InvalidArgumentError(
        absl::StrCat("CUDA device ", device, " does not exist (", count, " present)"));
  }
  CUDA_RETURN_IF_ERROR(cudaSetDevice(device));

  // The constructor is private, so make_unique cannot be used.
  std::unique_ptr<CudaContext> ctx(new CudaContext());
  ctx->device_ = device;
  CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&ctx->stream_, cudaStreamNonBlocking));
  CUDA_RETURN_IF_ERROR(cublasCreate(&ctx->cublas_));
  CUDA_RETURN_IF_ERROR(cublasSetMathMode(ctx->cublas_, CUBLAS_DEFAULT_MATH));
  {
    absl::StatusOr<DeviceBuffer> cublas_ws = DeviceBuffer::Allocate(kCublasWorkspaceBytes);
    if (!cublas_ws.ok()) return cublas_ws.status();
    ctx->cublas_workspace_ = std::move(*cublas_ws);
  }
  absl::StatusOr<cublasHandle_t> bound = ctx->CublasOn(ctx->stream_);
  if (!bound.ok()) return bound.status();
  if (absl::Status s = ctx->ReserveWorkspace(workspace_bytes); !s.ok()) return s;
  return ctx;
}

CudaContext::~CudaContext() {
  // Destructors report nothing: every call's error is dropped (and cleared).
  if (stream_ != nullptr && cudaStreamSynchronize(stream_) != cudaSuccess) (void)cudaGetLastError();
  if (cublas_ != nullptr) (void)cublasDestroy(cublas_);
  if (stream_ != nullptr && cudaStreamDestroy(stream_) != cudaSuccess) (void)cudaGetLastError();
  // workspace_ and cublas_workspace_ free themselves after this body.
}

absl::StatusOr<cublasHandle_t> CudaContext::CublasOn(cudaStream_t stream) {
  if (cublas_ == nullptr) return absl::FailedPreconditionError("CudaContext has no cuBLAS handle");
  if (!cublas_bound_ || stream != cublas_stream_) {
    // cublasSetStream resets the workspace to cuBLAS's own pool: set ours again.
    CUDA_RETURN_IF_ERROR(cublasSetStream(cublas_, stream));
    CUDA_RETURN_IF_ERROR(cublasSetWorkspace(cublas_, cublas_workspace_.data(), cublas_workspace_.size()));
    cublas_stream_ = stream;
    cublas_bound_ = true;
  }
  return cublas_;
}

absl::Status CudaContext::ReserveWorkspace(size_t bytes) {
  if (bytes <= workspace_.size()) return absl::OkStatus();
  CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
  workspace_ = DeviceBuffer();  // free first so the old and new never coexist
  absl::StatusOr<DeviceBuffer> grown = DeviceBuffer::Allocate(bytes);
  if (!grown.ok()) return grown.status();
  workspace_ = std::move(*grown);
  return absl::OkStatus();
}

absl::Status CudaContext::Synchronize() const {
  CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
  return absl::OkStatus();
}

}  // namespace matspec
