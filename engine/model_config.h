// The model's architecture as read from a Hugging Face `config.json`.
// Only fields matspec uses are kept; per-layer FFN widths are always a list
// (a scalar `intermediate_size` is expanded to one entry per layer).
#ifndef MATSPEC_ENGINE_MODEL_CONFIG_H_
#define MATSPEC_ENGINE_MODEL_CONFIG_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace matspec {

struct ModelConfig {
  std::string model_type;             // "llama"
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_layers = 0;             // num_hidden_layers
  std::vector<int64_t> ffn_widths;    // intermediate_size per layer, num_layers entries
  int64_t num_heads = 0;              // num_attention_heads
  int64_t num_kv_heads = 0;           // num_key_value_heads (defaults to num_heads)
  int64_t head_dim = 0;               // head_dim (defaults to hidden_size / num_heads)
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  int64_t max_position_embeddings = 2048;
  bool tie_word_embeddings = false;
  std::string hidden_act = "silu";
  std::vector<int32_t> eos_token_ids;  // eos_token_id: int or list; may be empty
  int32_t bos_token_id = -1;           // -1: none
  std::string torch_dtype;             // informational ("bfloat16", ...)
  // Every slice's FFN widths must be multiples of this: 1, or kQuantBlock (32)
  // when the model's FFN weights are block-quantized (set by the model, not
  // read from config.json).
  int64_t ffn_width_multiple = 1;

  int64_t max_ffn_width() const;
};

// Parses config.json text. `source` names the file in error messages. Errors:
// InvalidArgument for malformed JSON, missing or ill-typed required fields,
// non-positive sizes, an intermediate_size list whose length is not
// num_hidden_layers, heads that do not divide, unsupported model_type or
// hidden_act (only "llama" with "silu" today).
absl::StatusOr<ModelConfig> ParseModelConfig(std::string_view json_text, std::string_view source);

// Reads and parses <path>; NotFound if the file is missing.
absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& path);

}  // namespace matspec

#endif  // MATSPEC_ENGINE_MODEL_CONFIG_H_
