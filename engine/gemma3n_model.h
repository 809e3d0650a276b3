// The Gemma 3n text decoder (spec: shared/reference/gemma3n_text_spec.md,
// which follows HF transformers' Gemma3nForCausalLM): AltUp residual streams,
// LAuReL, per-layer embeddings, q/k/v norms, RoPE θ by layer type, sliding and
// full attention, KV sharing (consumer layers read their producer's cache),
// Gaussian top-k sparsity over the slice's actual FFN width, the tied head and
// the final soft-cap. Weights are views into the WeightStore (names under
// "model.language_model." or "model."; vision/audio tensors are never read);
// compute is f32.
//
// Slicing (spec §7.4, the no-surgery formulation): a SliceView runs its kept
// layers in ascending original order, each with its original per-layer input
// slot, layer type, sparsity and KV role, and FFN prefix width
// slice.ffn_widths[l]. Skipped layers pass the streams through. A slice that
// skips a KV producer is refused (ReservedLayers() lists the producers, e.g.
// {18, 19} for E4B).
//
// KV cache (engine/gemma3n_kv_cache.h): only the KV-owning kept layers (l <
// first_kv_shared_layer) store anything; full-attention owners keep every
// position, sliding-window owners a ring of sliding_window + max_rollback
// slots. Forward also accepts a plain KvCache (every owner at full capacity),
// with bit-identical results.
#ifndef MATSPEC_ENGINE_GEMMA3N_MODEL_H_
#define MATSPEC_ENGINE_GEMMA3N_MODEL_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/gemma3n_config.h"
#include "engine/gemma3n_kv_cache.h"
#include "engine/model.h"
#include "engine/weight_store.h"
#include "kernels/attention.h"
#include "kernels/cpu_context.h"
#include "kernels/tensor_view.h"

namespace matspec {

struct Gemma3nLayerWeights {
  VectorView input_norm, post_attn_norm, pre_ffn_norm, post_ffn_norm;  // [D]
  MatrixView q;                      // [H*hd, D]
  MatrixView k, v;                   // [G*hd, D]; unbound (data null) for consumers
  MatrixView o;                      // [D, H*hd]
  VectorView q_norm, k_norm;         // [hd]; k_norm unbound for consumers
  MatrixView gate, up;               // [F, D]
  MatrixView down;                   // [D, F]
  VectorView correct_output_scale;   // [D]
  std::vector<float> correction;     // [N, N], clamped to ±altup_coef_clip
  std::vector<float> prediction;     // [N*N, N]
  MatrixView router;                 // [N, D]
  VectorView router_norm;            // [D]
  MatrixView laurel_left;            // [R, D]
  MatrixView laurel_right;           // [D, R]
  VectorView laurel_norm;            // [D]
  MatrixView pli_gate;               // [P, D]
  MatrixView pli_proj;               // [D, P]
  VectorView post_pli_norm;          // [D]
};

class Gemma3nModel final : public Model {
 public:
  // Binds every tensor the text decoder uses (store must outlive the model).
  // NotFound / InvalidArgument name the missing or mis-shaped tensor.
  static absl::StatusOr<std::unique_ptr<Gemma3nModel>> Create(const Gemma3nConfig& config,
                                                              const WeightStore& store);

  const ModelConfig& config() const override { return config_.base; }
  const Gemma3nConfig& gemma_config() const { return config_; }
  // "model.language_model." or "model.": where the text tensors were found.
  const std::string& tensor_prefix() const { return prefix_; }

  std::unique_ptr<KvCache> NewKvCache(const SliceView& slice, int64_t capacity) const override;
  std::unique_ptr<ForwardScratch> NewScratch() const override;
  absl::Status Forward(const ForwardArgs& args) const override;
  // One forward over every segment's rows (engine/gemma3n_layer.h): the
  // products, norms and AltUp steps once for all rows, the attention per
  // sequence over its own cache (rings included), the head once over the
  // gathered head rows. Bit-identical to each segment's Forward alone.
  absl::Status ForwardBatch(const SliceView& slice, std::span<const BatchSegment> segments,
                            ForwardScratch* scratch) const override;
  // The slice's EFFECTIVE parameters (no embedding tables), which is what the
  // official slice table's "# Effective Params" column counts (spec §7.7).
  // TotalParameterCount adds embed_tokens (the tied head) and the kept slots
  // of embed_tokens_per_layer.
  int64_t ParameterCount(const SliceView& slice) const override;
  int64_t TotalParameterCount(const SliceView& slice) const;
  int64_t WeightBytesRead(const SliceView& slice) const override;
  // The KV producer layers (e.g. {18, 19} for E4B / E2B), which no slice may skip.
  std::vector<int64_t> ReservedLayers() const override { return config_.producers; }
  void set_num_threads(int n) override { ctx_.num_threads = n < 1 ? 1 : n; }
  void set_f32_activations(bool on) override { ctx_.f32_activations = on; }

  // Load time: positions a rollback may discard (Truncate below the highest
  // position written) in caches created after this call; sizes the sliding-window
  // rings. Default kDefaultMaxRollback; a deeper rollback makes Forward fail.
  static constexpr int64_t kDefaultMaxRollback = 64;
  void set_max_rollback(int64_t n) { max_rollback_ = n < 0 ? 0 : n; }
  int64_t max_rollback() const { return max_rollback_; }

  // Checks the slice against this model: widths sized to the layer count, kept
  // layers ascending and matching the non-zero widths, each kept width in
  // [1, full], no KV producer (ReservedLayers()) skipped.
  absl::Status CheckSlice(const SliceView& slice) const;

 private:
  // The CUDA model copies the bound views and re-points them at device memory.
  friend class CudaGemma3nModel;

  struct Scratch;  // the activations of one forward (gemma3n_model.cc)

  Gemma3nModel() = default;
  // The forward of Forward (one segment, with taps) and ForwardBatch.
  absl::Status Run(const SliceView& slice, std::span<const BatchSegment> segments, Scratch& s,
                   const ActivationTap* tap) const;

  Gemma3nConfig config_;
  std::string prefix_;
  CpuContext ctx_;  // the default context of new scratch
  MatrixView embed_;                  // [V, D], also the head
  MatrixView embed_per_layer_;        // [Vp, L*P]
  MatrixView per_layer_projection_;   // [L*P, D]
  VectorView per_layer_projection_norm_;  // [P]
  std::vector<MatrixView> altup_proj_, altup_unembed_;  // N-1 each, [D, D]
  VectorView final_norm_;
  std::vector<Gemma3nLayerWeights> layers_;
  std::vector<float> sparsity_multiplier_;  // per layer; 0 = no sparsity

  int64_t max_rollback_ = kDefaultMaxRollback;
};

// The attention of Gemma 3n layer `layer` over a contiguous cache: t new
// tokens after `past`, q and out rows [t, heads * head_dim] packed, scale 1 (no
// 1/sqrt(head_dim), no soft-cap), the layer type's sliding window. Shared by
// the CPU and CUDA forwards; the caller sets the scratch if its kernel needs one.
AttentionParams Gemma3nAttentionParams(const Gemma3nConfig& config, int64_t layer, const float* q,
                                       const float* k_cache, const float* v_cache, int64_t past, int64_t t,
                                       float* out);

// Reads config.json at `config_json_path` and binds the model to `store`.
absl::StatusOr<std::unique_ptr<Model>> CreateGemma3nModel(const std::string& config_json_path,
                                                          const WeightStore& store);

}  // namespace matspec

#endif  // MATSPEC_ENGINE_GEMMA3N_MODEL_H_
