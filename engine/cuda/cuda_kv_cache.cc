#include "engine/cuda/cuda_kv_cache.h"

#include "absl/strings/str_cat.h"
#include "engine/status_macros.h"
#include "kernels/cuda/kv_append_cuda.h"

namespace matspec {

CudaKvCache::CudaKvCache(const std::vector<bool>& stored, int64_t num_kv_heads, int64_t head_dim,
                         int64_t capacity)
    : KvCache(static_cast<int64_t>(stored.size()), capacity),
      row_floats_(num_kv_heads * head_dim),
      keys_(stored.size(), nullptr),
      values_(stored.size(), nullptr) {
  const size_t plane = WorkspaceArena::AlignUp(static_cast<size_t>(capacity * row_floats_) * sizeof(float));
  size_t layers = 0;
  for (bool s : stored) layers += s ? 1 : 0;
  absl::StatusOr<DeviceBuffer> buffer = DeviceBuffer::Allocate(2 * layers * plane + sizeof(int64_t));
  if (!buffer.ok()) {
    status_ = absl::Status(buffer.status().code(),
                           absl::StrCat("KV cache for ", capacity, " positions on the GPU: ", buffer.status().message()));
    return;
  }
  buffer_ = std::move(*buffer);
  char* next = buffer_.As<char>();
  for (size_t l = 0; l < stored.size(); ++l) {
    if (!stored[l]) continue;
    keys_[l] = reinterpret_cast<float*>(next);
    values_[l] = reinterpret_cast<float*>(next + plane);
    next += 2 * plane;
  }
  device_length_ = reinterpret_cast<int64_t*>(buffer_.As<char>() + 2 * layers * plane);
}

absl::Status CudaKvCache::UploadLength(cudaStream_t stream) const {
  RETURN_IF_ERROR(status_);
  return SetCounterCuda(device_length_, length(), stream);
}

}  // namespace matspec
