// Model: one architecture's forward pass over the one WeightStore. The same
// Forward runs prefill (T = prompt), decode (T = 1), the draft (T = 1 through a
// narrower SliceView) and verification (T = k+1). There is no draft-model
// class: the draft is the same Model called with another SliceView and its own
// KvCache.
#ifndef MATSPEC_ENGINE_MODEL_H_
#define MATSPEC_ENGINE_MODEL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/kv_cache.h"
#include "engine/model_config.h"
#include "engine/slice_view.h"

namespace matspec {

// Observes named intermediate activations ("embed", "attn_out", "ffn_out",
// "final_norm", ...) so tests can diff a slice against a cut checkpoint layer by
// layer. layer is -1 outside the decoder layers. data is [rows, cols] f32.
using ActivationTap =
    std::function<void(std::string_view name, int64_t layer, const float* data, int64_t rows, int64_t cols)>;

struct ForwardArgs {
  const SliceView* slice = nullptr;  // which sub-model runs; validated for this model
  const int32_t* tokens = nullptr;   // [t] token ids, each in [0, vocab)
  int64_t t = 0;                     // >= 1
  KvCache* kv = nullptr;             // tokens[0] sits at position kv->length(); advanced by t
  float* logits = nullptr;           // [all_logits ? t : 1, vocab] f32, or nullptr to skip the head
  bool all_logits = false;           // logits for every token (verify) or the last only (decode)
  const ActivationTap* tap = nullptr;  // optional

  absl::Status Validate(int64_t vocab) const;
};

class Model {
 public:
  virtual ~Model() = default;

  virtual const ModelConfig& config() const = 0;
  int64_t vocab_size() const { return config().vocab_size; }
  SliceView FullSlice() const { return IdentitySlice(config().ffn_widths); }

  // A cache for `slice` (it stores only the layers the slice runs) holding up to
  // `capacity` positions.
  virtual std::unique_ptr<KvCache> NewKvCache(const SliceView& slice, int64_t capacity) const = 0;

  // Runs the slice over args.t new tokens. Not thread-safe: one Forward at a time
  // per Model (it reuses its scratch buffers).
  virtual absl::Status Forward(const ForwardArgs& args) = 0;

  // Parameters the slice uses (embedding and head counted once when tied).
  virtual int64_t ParameterCount(const SliceView& slice) const = 0;
  // Weight bytes one T = 1 forward through the slice reads.
  virtual int64_t WeightBytesRead(const SliceView& slice) const = 0;
  // Layers a slice may not skip, and why (empty for llama).
  virtual std::vector<int64_t> ReservedLayers() const { return {}; }

  // Worker threads the CPU kernels use.
  virtual void set_num_threads(int n) = 0;
};

}  // namespace matspec

#endif  // MATSPEC_ENGINE_MODEL_H_
