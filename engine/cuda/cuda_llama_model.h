// CudaLlamaModel: the llama-family forward (see engine/llama_model.h) on one
// GPU. The checkpoint's tensors are uploaded once, in their dtype, into one
// device buffer; the views of LlamaWeights are re-pointed at it. A draft slice
// reads the same device weights through narrower views (FFN prefixes through
// the leading dimension), so it adds no weight memory on the GPU either.
//
// The Model-level entry points are CudaModel's (engine/cuda/cuda_model.h):
// Forward (host in/out), ForwardDevice (the hot path, queued without a sync)
// and ForwardDeviceLength (tokens at the cache's device length, for the
// CUDA-graph replay of a round) and ForwardBatch (continuous batching: the
// rows of every segment through ONE embedding gather, one norm, RoPE and
// SwiGLU launch each per layer and shared weight reads in every projection and
// the head; the KV append and attention per segment over its own cache; see
// QueueBatch below). Everything uses the CUDA launchers of
// kernels/cuda/ and scratch that is sized up front (EnsureCapacity), so nothing
// allocates while a round is queued or captured.
#ifndef MATSPEC_ENGINE_CUDA_CUDA_LLAMA_MODEL_H_
#define MATSPEC_ENGINE_CUDA_CUDA_LLAMA_MODEL_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/cuda/cuda_kv_cache.h"
#include "engine/cuda/cuda_model.h"
#include "engine/llama_layer.h"
#include "engine/llama_model.h"
#include "engine/weight_store.h"

namespace matspec {

class CudaLlamaModel final : public CudaModel {
 public:
  // Binds the checkpoint's tensors (NotFound / InvalidArgument as on the CPU),
  // then uploads them to GPU `device`. Unavailable without a usable GPU;
  // ResourceExhausted "... needed X bytes, Y free" when the weights do not fit.
  static absl::StatusOr<std::unique_ptr<CudaLlamaModel>> Create(const ModelConfig& config,
                                                                const WeightStore& store, int device = 0);

  const ModelConfig& config() const override { return config_; }
  // A CudaKvCache; check its status() (GPU memory may run out).
  std::unique_ptr<KvCache> NewKvCache(const SliceView& slice, int64_t capacity) const override;
  int64_t ParameterCount(const SliceView& slice) const override;
  int64_t WeightBytesRead(const SliceView& slice) const override;

  absl::Status EnsureCapacity(int64_t t) override;
  bool batched_forward() const override { return true; }
  int64_t device_weight_bytes() const override { return static_cast<int64_t>(weights_.size()); }

 private:
  CudaLlamaModel() = default;
  absl::Status CheckSliceAndCache(const SliceView& slice, const CudaKvCache& kv) const override;
  // With a device length, k/v go through k_new_/v_new_ before the append.
  absl::Status Queue(const SliceView& slice, const int32_t* tokens, int64_t t, CudaKvCache& kv, int64_t past,
                     const int64_t* d_past, float* logits, bool all_logits) override;

  // The batch's rows, segment after segment, as one forward: positions
  // uploaded from the layout, the layer of engine/llama_layer.h over CudaOps
  // whose products follow ProductGroups (segments of <= 16 rows share them,
  // longer ones get their own, as alone: bit-identical to each segment's
  // Forward with 16-bit weights; with f32 weights every segment has its own
  // products, which cuBLAS would otherwise not reproduce), the final norm per
  // segment into gathered rows, the head over those rows grouped the same way.
  // So a batch reads the weights once per 16 rows of short segments, not once
  // per forward: the price of each request getting exactly its own tokens
  // (one cuBLAS product over all rows would round x to bf16 where a request
  // alone keeps f32, and change greedy tokens). A wider f32-x kernel would
  // lift the 16.
  absl::Status QueueBatch(const SliceView& slice, const BatchLayout& layout, const int32_t* tokens,
                          std::span<CudaKvCache* const> caches, float* logits) override;
  // The scratch buffers as the layer's activations.
  LlamaActivations Activations();
  // Rows up to which the slice's layer products may share a product
  // (MatMulCudaRowInvariantRows of the least invariant weight dtype).
  int64_t SharedProductRows(const SliceView& slice) const;

  ModelConfig config_;
  DeviceBuffer weights_;
  LlamaWeights w_;  // views into weights_ (device == kCuda)

  // Scratch for up to capacity_t_ tokens ([t, ...] f32 rows); k_new_ and
  // v_new_ hold the new tokens' k/v before a device-offset append.
  DeviceBuffer x_, h_, q_, attn_, gate_, up_, positions_, k_new_, v_new_;
};

}  // namespace matspec

#endif  // MATSPEC_ENGINE_CUDA_CUDA_LLAMA_MODEL_H_
