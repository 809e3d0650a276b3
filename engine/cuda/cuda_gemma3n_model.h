// CudaGemma3nModel: the Gemma 3n text decoder (engine/gemma3n_model.h, spec
// shared/reference/gemma3n_text_spec.md) on one GPU: the CPU model's decoder
// itself (engine/gemma3n_layer.h) over CudaOps (the kernels of kernels/cuda/,
// the Gemma-only ones in gemma3n_ops_cuda.h), so that every slice of the
// official table drafts on the GPU over the one set of device weights. This
// model keeps only its buffers, the device weights, the positions and the head.
//
// Decisions:
// - Weights: every tensor the text decoder reads is uploaded once (the tied
//   head is the embedding, stored once); slices read FirstRows / FirstCols
//   views of it, no copies. The small AltUp prediction / correction matrices
//   (clamped on load, as on the CPU) are uploaded as f32.
// - The per-layer embedding table (embed_tokens_per_layer, [262144, L*P]:
//   4.7 GB of bf16 for E4B, the largest tensor) stays in HOST memory: it is
//   copied once into pinned, mapped memory, and a kernel gathers each token's
//   row over PCIe (zero-copy, L*P*2 bytes = 17.9 KB per token for E4B). It is
//   read sparsely, and the gather stays on the device with no host decision,
//   so the speculation round keeps its one sync per round. host_weight_bytes()
//   counts it; device_weight_bytes() does not.
// - KV caches: a CudaKvCache storing the KV-owning layers the slice keeps,
//   each at full capacity, sliding-window owners included (AttentionCuda
//   applies the window). No GPU ring yet: for E4B that is 80 KB per position
//   (20 owners x 2 x 2 heads x 256 x f32), 2.6 GB at a 32k context, where the
//   CPU's rings hold 512 + 64 positions for the 16 sliding owners.
// - Slice checks, parameter and byte counts are the CPU model's (it is kept
//   for them: its views point into the host store and are never read here).
// - ForwardDeviceLength (the cache length read from device memory) is the
//   same forward with k/v appended at the device offset, so rounds replay as
//   CUDA graphs as for llama.
// - ForwardBatch (batched_forward()): the rows of every segment as ONE
//   forward through the shared decoder (engine/gemma3n_layer.h runs the
//   attention per sequence), products split by ProductGroups so that every
//   row keeps its kernel path; each segment's head rows collapsed as alone,
//   then the head over all of them. Host lengths only (no graphs), as for
//   llama.
#ifndef MATSPEC_ENGINE_CUDA_CUDA_GEMMA3N_MODEL_H_
#define MATSPEC_ENGINE_CUDA_CUDA_GEMMA3N_MODEL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/cuda/cuda_kv_cache.h"
#include "engine/cuda/cuda_model.h"
#include "engine/gemma3n_layer.h"
#include "engine/gemma3n_model.h"
#include "engine/weight_store.h"

namespace matspec {

class CudaGemma3nModel final : public CudaModel {
 public:
  // Binds the checkpoint (errors as Gemma3nModel::Create), then uploads it to
  // GPU `device`. Unavailable without a usable GPU; ResourceExhausted naming
  // the bytes needed and free when the weights or the pinned table do not fit.
  static absl::StatusOr<std::unique_ptr<CudaGemma3nModel>> Create(const std::string& config_json_path,
                                                                  const WeightStore& store, int device = 0);
  ~CudaGemma3nModel() override;

  const ModelConfig& config() const override { return cpu_->config(); }
  const Gemma3nConfig& gemma_config() const { return cpu_->gemma_config(); }
  std::unique_ptr<KvCache> NewKvCache(const SliceView& slice, int64_t capacity) const override;
  int64_t ParameterCount(const SliceView& slice) const override { return cpu_->ParameterCount(slice); }
  int64_t WeightBytesRead(const SliceView& slice) const override { return cpu_->WeightBytesRead(slice); }
  std::vector<int64_t> ReservedLayers() const override { return cpu_->ReservedLayers(); }

  absl::Status EnsureCapacity(int64_t t) override;
  bool batched_forward() const override { return true; }
  int64_t device_weight_bytes() const override { return static_cast<int64_t>(weights_.size()); }
  // Bytes of the per-layer embedding table held in pinned host memory.
  int64_t host_weight_bytes() const { return host_table_bytes_; }

 private:
  CudaGemma3nModel() = default;
  absl::Status Upload();
  absl::Status CheckSliceAndCache(const SliceView& slice, const CudaKvCache& kv) const override;
  // With a device length, k/v go through k_new_/v_new_ before the append.
  absl::Status Queue(const SliceView& slice, const int32_t* tokens, int64_t t, CudaKvCache& kv, int64_t past,
                     const int64_t* d_past, float* logits, bool all_logits) override;
  absl::Status QueueBatch(const SliceView& slice, const BatchLayout& layout, const int32_t* tokens,
                          std::span<CudaKvCache* const> caches, float* logits) override;
  // The activations in this model's scratch, and the weights outside the layers.
  Gemma3nActivations Activations();
  Gemma3nStreamWeights StreamWeights() const;
  // Layer l's arguments over t rows of `slice`.
  Gemma3nLayerArgs LayerArgs(const SliceView& slice, int64_t l, int64_t t) const;
  // Rows a batched forward's products may share and keep each row's bits:
  // the least MatMulCudaRowInvariantRows of the matrices the slice reads.
  int64_t SharedProductRows(const SliceView& slice) const;

  std::unique_ptr<Gemma3nModel> cpu_;  // host views, slice checks and counts
  Gemma3nConfig config_;

  // Device copies of the CPU model's views.
  DeviceBuffer weights_;
  MatrixView embed_, per_layer_projection_;
  VectorView per_layer_projection_norm_, final_norm_;
  std::vector<MatrixView> altup_proj_, altup_unembed_;
  std::vector<Gemma3nLayerWeights> layers_;
  DeviceBuffer altup_matrices_;                      // f32: per layer prediction [N*N, N], correction [N, N]
  std::vector<const float*> prediction_, correction_;  // into altup_matrices_
  std::vector<float> sparsity_multiplier_;

  // The per-layer embedding table in pinned, mapped host memory.
  void* host_table_ = nullptr;
  int64_t host_table_bytes_ = 0;
  MatrixView embed_per_layer_;  // the mapped device pointer (device == kCuda)

  // Scratch for up to capacity_t_ tokens ([t, ...] f32 rows); a forward's
  // Gemma3nActivations point into it.
  std::vector<DeviceBuffer> streams_, pred_;  // N each, [t, D]
  DeviceBuffer pli_, an_, lau_, low_, q_, attn_, tmp_, hmid_, y_, gate_, up_, raw_, coefs_, gpl_, pl_emb_, pl_up_;
  DeviceBuffer positions_, ids_pl_, k_new_, v_new_;
};

}  // namespace matspec

#endif  // MATSPEC_ENGINE_CUDA_CUDA_GEMMA3N_MODEL_H_
