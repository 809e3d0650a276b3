// The llama decoder layer, written once for every backend against Ops
// (engine/ops.h): RMSNorm, q/k/v projections, RoPE, the k/v into the cache,
// grouped-query attention, the o projection added to the residual stream,
// then the SwiGLU FFN over the slice's prefix of the hidden units (gate/up
// their first `width` rows, down its first `width` columns). The CPU model
// (engine/llama_model.cc) and the GPU model (engine/cuda/cuda_llama_model.cc)
// differ only in where their buffers live and which Ops they pass.
#ifndef MATSPEC_ENGINE_LLAMA_LAYER_H_
#define MATSPEC_ENGINE_LLAMA_LAYER_H_

#include <cstdint>
#include <span>

#include "absl/status/status.h"

#include "engine/llama_model.h"
#include "engine/model.h"
#include "engine/model_config.h"
#include "engine/ops.h"

namespace matspec {

// One forward's buffers, in the memory of the Ops' device ([t, ...] f32 rows,
// t = the rows of every sequence of the forward together).
struct LlamaActivations {
  float* x = nullptr;     // [t, hidden] the residual stream, updated in place
  float* h = nullptr;     // [t, hidden] normalised input of a block
  float* q = nullptr;     // [t, heads * head_dim]
  float* k = nullptr;     // [t, kv_heads * head_dim] new keys (unused by a one-sequence host forward)
  float* v = nullptr;     // [t, kv_heads * head_dim] new values, likewise
  float* attn = nullptr;  // [t, heads * head_dim]
  float* gate = nullptr;  // [t, max ffn width]
  float* up = nullptr;    // [t, max ffn width]
  const int64_t* positions = nullptr;  // [t] absolute positions of the new tokens, sequence by sequence
  float* attn_scratch = nullptr;       // the CPU attention's scratch (null on the GPU)
};

// One sequence of a forward: its t rows (consecutive in the activations, in
// the order of the sequences) and its layer's cache, contiguous
// [capacity, kv_heads * head_dim] keys and values.
struct LlamaLayerKv {
  float* keys = nullptr;
  float* values = nullptr;
  KvLength len;    // where the t new tokens go
  int64_t t = 0;   // rows of this sequence
};

// Runs layer `layer` of `config` over the rows of one or more sequences
// (continuous batching: every product reads the weights once for all rows;
// attention runs per sequence over its own cache). One sequence with a host
// length gets its new k/v projected straight into its cache rows; otherwise
// they go to a.k / a.v and are appended at each sequence's length (host or
// device). Taps (host buffers only) see "attn_residual" and "layer_out".
absl::Status RunLlamaLayer(const Ops& ops, const ModelConfig& config, const LlamaLayerWeights& w, int64_t layer,
                           int64_t width, std::span<const LlamaLayerKv> seqs, const LlamaActivations& a,
                           const ActivationTap* tap);

}  // namespace matspec

#endif  // MATSPEC_ENGINE_LLAMA_LAYER_H_
