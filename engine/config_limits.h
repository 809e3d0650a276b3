// Documented upper bounds on the sizes a config.json may declare (llama and
// Gemma 3n), checked while parsing, before anything is allocated from them.
// Each is far above any released checkpoint (Llama 3.1 405B: 126 layers,
// hidden 16384, FFN 53248, vocab 128256; Gemma 3n E4B: 35 layers, vocab
// 262400) and low enough that per-layer tables, scratch rows and the KV cache
// arithmetic cannot overflow int64. A value above its cap is InvalidArgument
// naming the file, the field and the cap (docs/errors.md lists them).
#ifndef MATSPEC_ENGINE_CONFIG_LIMITS_H_
#define MATSPEC_ENGINE_CONFIG_LIMITS_H_

#include <cstdint>

namespace matspec {

inline constexpr int64_t kMaxConfigLayers = 1024;              // num_hidden_layers
inline constexpr int64_t kMaxConfigHiddenSize = 1 << 17;       // hidden_size, hidden_size_per_layer_input
inline constexpr int64_t kMaxConfigFfnWidth = 1 << 20;         // intermediate_size (each entry)
inline constexpr int64_t kMaxConfigVocab = 1 << 24;            // vocab_size, vocab_size_per_layer_input
inline constexpr int64_t kMaxConfigHeads = 1024;               // num_attention_heads, num_key_value_heads
inline constexpr int64_t kMaxConfigHeadDim = 4096;             // head_dim
inline constexpr int64_t kMaxConfigPositions = int64_t{1} << 24;  // max_position_embeddings, sliding_window
inline constexpr int64_t kMaxConfigSmall = 1024;               // altup_num_inputs, laurel_rank, ...

}  // namespace matspec

#endif  // MATSPEC_ENGINE_CONFIG_LIMITS_H_
