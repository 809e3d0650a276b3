// The explicit execution context of the CUDA kernels, and device memory that
// frees itself.
//
//   CudaContext   one device, one stream, one cuBLAS handle (with its own
//                 workspace, so cuBLAS never allocates and can be captured in a
//                 CUDA graph) and one scratch workspace for the matspec launchers.
//   DeviceBuffer  RAII cudaMalloc / cudaFree; an allocation failure says how many
//                 bytes were asked for and how many were free.
//   CudaWorkspace a non-owning (pointer, bytes) scratch region handed to launchers.
//   WorkspaceArena carves aligned sub-buffers out of a workspace; run once with a
//                 null base it measures the bytes a launcher needs, so the size
//                 query and the launch share one layout.
//
// Nothing here is process-wide except what CUDA itself makes so (the current
// device of the calling thread is set by Create). A CudaContext is used by one
// host thread at a time. Every launcher that shares a workspace must run on the
// same stream (they then never overlap); two streams need two workspaces.
#ifndef MATSPEC_KERNELS_CUDA_CUDA_CONTEXT_H_
#define MATSPEC_KERNELS_CUDA_CUDA_CONTEXT_H_

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace matspec {

// OK when at least one CUDA device can be used; Unavailable("no CUDA device: …")
// otherwise. Any error from cudaGetDeviceCount (no driver, no device, driver too
// old) counts as "no device". Cheap; tests call it to decide whether to skip.
absl::Status CudaDeviceAvailable();

// Owned device memory. Move-only; the destructor frees and never throws.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  // cudaMalloc of `bytes` on the current device (0 bytes gives an empty
  // buffer). ResourceExhausted "GPU out of memory: needed X bytes, Y free (of
  // Z)" when the device has not enough memory; other CUDA errors as statuses.
  static absl::StatusOr<DeviceBuffer> Allocate(size_t bytes);
  // Makes size() >= bytes: keeps the buffer when it is large enough, else
  // frees it and allocates a new one (contents are not kept; the caller makes
  // sure no queued work still uses the old memory). Errors as Allocate, with
  // the buffer left empty.
  absl::Status Reserve(size_t bytes);

  void* data() const { return data_; }
  size_t size() const { return bytes_; }
  template <typename T>
  T* As() const {
    return static_cast<T*>(data_);
  }

 private:
  void Release() noexcept;

  void* data_ = nullptr;
  size_t bytes_ = 0;
};

// A scratch region for one launcher call. Launchers never allocate: they take
// what their *WorkspaceBytes query asked for from here.
struct CudaWorkspace {
  void* data = nullptr;
  size_t bytes = 0;
};

// Bump allocator over a workspace. With base == nullptr nothing is
// dereferenceable and only used() is meaningful (the size query).
class WorkspaceArena {
 public:
  static constexpr size_t kAlignment = 256;  // what cuBLAS and CUB want

  explicit WorkspaceArena(void* base) : base_(reinterpret_cast<uintptr_t>(base)) {}

  // The next `count` elements of T, aligned to kAlignment.
  template <typename T>
  T* Take(size_t count) {
    const size_t offset = used_;
    used_ += AlignUp(count * sizeof(T));
    return reinterpret_cast<T*>(base_ + offset);
  }
  size_t used() const { return used_; }

  static constexpr size_t AlignUp(size_t bytes) { return (bytes + kAlignment - 1) / kAlignment * kAlignment; }

 private:
  uintptr_t base_;
  size_t used_ = 0;
};

class CudaContext {
 public:
  // cuBLAS's own workspace: 32 MiB is what NVIDIA recommends for Hopper.
  static constexpr size_t kCublasWorkspaceBytes = size_t{32} << 20;

  // Uses device `device`, creates a non-blocking stream, a cuBLAS handle bound
  // to it (default math mode: no TF32) and a scratch workspace of
  // `workspace_bytes`. Unavailable when there is no usable device,
  // InvalidArgument for a device index out of range, ResourceExhausted when
  // memory runs out.
  static absl::StatusOr<std::unique_ptr<CudaContext>> Create(size_t workspace_bytes = 0, int device = 0);

  ~CudaContext();
  CudaContext(const CudaContext&) = delete;
  CudaContext& operator=(const CudaContext&) = delete;

  int device() const { return device_; }
  cudaStream_t stream() const { return stream_; }

  // The cuBLAS handle, bound to `stream` with the context's cuBLAS workspace
  // (cublasSetStream resets the workspace, so both are set together, and only
  // when the stream changes). Not thread-safe.
  absl::StatusOr<cublasHandle_t> CublasOn(cudaStream_t stream);

  // The scratch workspace for launchers running on stream().
  CudaWorkspace workspace() const { return {workspace_.data(), workspace_.size()}; }
  size_t workspace_bytes() const { return workspace_.size(); }

  // Grows the workspace to at least `bytes` (synchronises the stream first; never
  // call it while a graph is being captured). Never shrinks.
  absl::Status ReserveWorkspace(size_t bytes);

  // Waits for all work queued on stream() and reports any asynchronous error.
  absl::Status Synchronize() const;

 private:
  CudaContext() = default;

  int device_ = 0;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  cudaStream_t cublas_stream_ = nullptr;  // the stream cublas_ is bound to
  bool cublas_bound_ = false;
  DeviceBuffer cublas_workspace_;
  DeviceBuffer workspace_;
};

}  // namespace matspec

#endif  // MATSPEC_KERNELS_CUDA_CUDA_CONTEXT_H_
