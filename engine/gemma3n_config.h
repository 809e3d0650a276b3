// The Gemma 3n text decoder's configuration, read from a Hugging Face
// config.json of either layout: Gemma3nForConditionalGeneration (model_type
// "gemma3n", the text fields nested under "text_config") or Gemma3nForCausalLM
// (model_type "gemma3n_text", fields at the top level). Besides the Gemma-only
// fields it fills a generic ModelConfig (model_type "gemma3n") for the engine,
// and derives the KV-sharing map of spec §6.1: which layers own a cache, which
// read another layer's (the "consumers"), and which layers a slice may never
// skip (the producers).
#ifndef MATSPEC_ENGINE_GEMMA3N_CONFIG_H_
#define MATSPEC_ENGINE_GEMMA3N_CONFIG_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model_config.h"
#include "engine/slice_view.h"

namespace matspec {

struct Gemma3nConfig {
  // Generic view: vocab_size, hidden_size, num_layers, ffn_widths, num_heads,
  // num_kv_heads, head_dim, rms_norm_eps, rope_theta (the full-attention θ),
  // max_position_embeddings, tie_word_embeddings (always true), hidden_act
  // ("gelu_pytorch_tanh"), eos/bos ids, torch_dtype; model_type "gemma3n".
  ModelConfig base;

  int64_t vocab_size_per_layer_input = 262144;  // Vp: rows of embed_tokens_per_layer
  int64_t hidden_size_per_layer_input = 256;    // P
  int64_t altup_num_inputs = 4;                 // N
  int64_t altup_active_idx = 0;
  double altup_coef_clip = 120.0;               // <= 0: no clamp
  bool altup_correct_scale = true;
  int64_t laurel_rank = 64;
  int64_t num_kv_shared_layers = 15;
  int64_t sliding_window = 512;
  double rope_theta_sliding = 10000.0;
  double rope_theta_full = 1000000.0;
  double final_logit_softcapping = 30.0;        // <= 0: none
  std::vector<bool> sliding;                    // per layer: sliding_attention?
  std::vector<double> activation_sparsity;      // per layer target sparsity in [0, 1)

  // Derived (spec §6.1). kv_source[l] == l for a layer that owns its cache,
  // else the producer whose cache the consumer reads.
  int64_t first_kv_shared_layer = 0;
  std::vector<int64_t> kv_source;
  // Sorted producer layers: those a slice may not skip.
  std::vector<int64_t> producers;

  int64_t num_layers() const { return base.num_layers; }
  bool IsConsumer(int64_t layer) const { return kv_source[layer] != layer; }
};

// Parses config.json text of either layout. `source` names the file in errors.
// InvalidArgument for malformed JSON, a model_type other than "gemma3n" /
// "gemma3n_text", missing or ill-typed required fields, non-positive sizes,
// per-layer lists (intermediate_size, layer_types, activation_sparsity_pattern)
// of the wrong length, unknown layer types or activations, heads that do not
// divide, altup_active_idx out of range, or a consumer layer with no producer.
absl::StatusOr<Gemma3nConfig> ParseGemma3nConfig(std::string_view json_text, std::string_view source);

// Reads and parses <path>; NotFound if the file is missing.
absl::StatusOr<Gemma3nConfig> LoadGemma3nConfig(const std::string& path);

// True when the JSON text's model_type is "gemma3n" or "gemma3n_text" (no other
// validation); lets a loader pick the architecture before parsing.
bool IsGemma3nConfigJson(std::string_view json_text);

// Effective parameters of a slice: every parameter it uses except the two
// embedding tables (embed_tokens, which is also the tied head, and
// embed_tokens_per_layer) -- the "# Effective Params" column of the official
// slice table (spec §7.7). K/V projections of consumer layers are counted, as
// the table does. Per-layer slots of per_layer_model_projection of skipped
// layers are not.
int64_t Gemma3nEffectiveParameters(const Gemma3nConfig& config, const SliceView& slice);

// Parameters of the two embedding tables (the rest of the total).
int64_t Gemma3nEmbeddingParameters(const Gemma3nConfig& config, const SliceView& slice);

}  // namespace matspec

#endif  // MATSPEC_ENGINE_GEMMA3N_CONFIG_H_
