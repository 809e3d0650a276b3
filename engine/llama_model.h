// The llama-family decoder (model_type "llama"; MatLM is one): RMSNorm, RoPE
// with rope_theta, grouped-query attention, SwiGLU FFN, tied or untied head.
// Weights are views into the WeightStore in their checkpoint dtype; compute is
// f32. A SliceView selects the layers that run and the FFN prefix width of
// each: gate/up use their first f rows, down its first f columns.
#ifndef MATSPEC_ENGINE_LLAMA_MODEL_H_
#define MATSPEC_ENGINE_LLAMA_MODEL_H_

#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model.h"
#include "engine/weight_store.h"
#include "kernels/attention.h"
#include "kernels/cpu_context.h"
#include "kernels/tensor_view.h"

namespace matspec {

struct LlamaLayerWeights {
  VectorView input_norm;  // [hidden]
  VectorView post_norm;   // [hidden]
  MatrixView q;           // [heads * head_dim, hidden]
  MatrixView k;           // [kv_heads * head_dim, hidden]
  MatrixView v;           // [kv_heads * head_dim, hidden]
  MatrixView o;           // [hidden, heads * head_dim]
  MatrixView gate;        // [ffn, hidden]
  MatrixView up;          // [ffn, hidden]
  MatrixView down;        // [hidden, ffn]
};

// Every tensor the llama forward reads, as views in their checkpoint dtype.
// The CPU model reads them in place; the CUDA model uploads them and re-points
// the views at device memory.
struct LlamaWeights {
  MatrixView embed;       // [vocab, hidden]
  MatrixView lm_head;     // [vocab, hidden]; the embedding itself when tied
  VectorView final_norm;  // [hidden]
  std::vector<LlamaLayerWeights> layers;

  bool tied() const { return lm_head.data == embed.data; }
};

// Binds every tensor of `config` in `store`. NotFound / InvalidArgument name
// the missing or mis-shaped tensor.
absl::StatusOr<LlamaWeights> BindLlamaWeights(const ModelConfig& config, const WeightStore& store);

// Parameters the slice uses (embedding and head counted once when tied), and
// the weight bytes one T = 1 forward through it reads.
int64_t LlamaParameterCount(const ModelConfig& config, const LlamaWeights& w, const SliceView& slice);
int64_t LlamaWeightBytesRead(const ModelConfig& config, const LlamaWeights& w, const SliceView& slice);

// The llama attention over one layer's cache: t new tokens after `past`,
// q and out rows [t, heads * head_dim] packed, scale 1/sqrt(head_dim). Shared
// by the CPU and CUDA forwards; the caller sets the scratch if its kernel needs one.
AttentionParams LlamaAttentionParams(const ModelConfig& config, const float* q, const float* k_cache,
                                     const float* v_cache, int64_t past, int64_t t, float* out);

class LlamaModel final : public Model {
 public:
  // Binds every tensor of `config` in `store` (which must outlive the model).
  // NotFound / InvalidArgument name the missing or mis-shaped tensor.
  static absl::StatusOr<std::unique_ptr<LlamaModel>> Create(const ModelConfig& config,
                                                            const WeightStore& store);

  const ModelConfig& config() const override { return config_; }
  std::unique_ptr<KvCache> NewKvCache(const SliceView& slice, int64_t capacity) const override;
  std::unique_ptr<ForwardScratch> NewScratch() const override;
  absl::Status Forward(const ForwardArgs& args) const override;
  absl::Status ForwardBatch(const SliceView& slice, std::span<const BatchSegment> segments,
                            ForwardScratch* scratch) const override;
  int64_t ParameterCount(const SliceView& slice) const override;
  int64_t WeightBytesRead(const SliceView& slice) const override;
  void set_num_threads(int n) override { ctx_.num_threads = n < 1 ? 1 : n; }
  void set_f32_activations(bool on) override { ctx_.f32_activations = on; }

 private:
  struct Scratch;  // the activations of one forward (llama_model.cc)

  LlamaModel() = default;
  // The forward of Forward (one segment, with taps) and ForwardBatch.
  absl::Status Run(const SliceView& slice, std::span<const BatchSegment> segments, Scratch& s,
                   const ActivationTap* tap) const;

  ModelConfig config_;
  CpuContext ctx_;  // the default context of new scratch
  LlamaWeights w_;
};

}  // namespace matspec

#endif  // MATSPEC_ENGINE_LLAMA_MODEL_H_
