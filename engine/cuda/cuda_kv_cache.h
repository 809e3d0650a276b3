// CudaKvCache: the KvCache of the CUDA backend. Keys and values live in GPU
// memory, f32, laid out [capacity, num_kv_heads, head_dim] per stored layer (the
// layout AttentionCuda reads). The length bookkeeping is the base class's, so
// rollback stays O(1): Truncate() moves a number on the host and the rejected
// slots are overwritten by the next forward.
//
// For graph replay the cache also holds its length in device memory
// (device_length()): a captured step reads it, writes its k/v there and
// increments it. The host length stays the truth; UploadLength() queues a copy
// of it before a replay, and the caller advances the host length by the
// replayed steps.
#ifndef MATSPEC_ENGINE_CUDA_CUDA_KV_CACHE_H_
#define MATSPEC_ENGINE_CUDA_CUDA_KV_CACHE_H_

#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "engine/kv_cache.h"
#include "kernels/cuda/cuda_context.h"

namespace matspec {

class CudaKvCache final : public KvCache {
 public:
  // Allocates one device buffer for every stored layer. When the GPU has not
  // enough memory the cache is left empty and status() says how much was
  // needed and how much was free; a forward over it then fails with that status.
  CudaKvCache(const std::vector<bool>& stored, int64_t num_kv_heads, int64_t head_dim, int64_t capacity);

  absl::Status status() const override { return status_; }
  bool stores_on_device(int64_t layer) const { return keys_[layer] != nullptr; }
  int64_t row_floats() const { return row_floats_; }

  // [capacity, num_kv_heads, head_dim] f32 device memory of one stored layer.
  float* device_keys(int64_t layer) const { return keys_[layer]; }
  float* device_values(int64_t layer) const { return values_[layer]; }

  // One int64 in device memory: the length a device-length step reads.
  int64_t* device_length() const { return device_length_; }
  // Queues *device_length() = length() on `stream`.
  absl::Status UploadLength(cudaStream_t stream) const;

  // GPU bytes held for keys and values.
  int64_t bytes() const override { return static_cast<int64_t>(buffer_.size()); }

 private:
  int64_t row_floats_;
  absl::Status status_;
  DeviceBuffer buffer_;
  std::vector<float*> keys_;
  std::vector<float*> values_;
  int64_t* device_length_ = nullptr;  // in buffer_, after the planes
};

}  // namespace matspec

#endif  // MATSPEC_ENGINE_CUDA_CUDA_KV_CACHE_H_
